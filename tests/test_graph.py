"""Networks as graphs: add and concat, wiring, the engine's passes over branches, text and model files."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from xlcnn import layers as L
from xlcnn.architecture import format_architecture, parse_architecture, parse_network
from xlcnn.cli import main
from xlcnn.datasets import generate_shapes, write_shapes
from xlcnn.engine import backward_batch, forward, forward_batch, loss_and_gradients
from xlcnn.errors import ModelError, ShapeError, UsageError
from xlcnn.graph import INPUT, topological_order
from xlcnn.network import (Add, Concat, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax, infer_shapes, load_model,
                           random_model, save_model)
from xlcnn.pipeline import train_from_folder
from xlcnn.resources import default_model_path
from xlcnn.train import TrainConfig

from test_gradients import batch_loss, numerical_gradient, rel_error

# input -> conv a (3x3, padding 1) and conv b (1x1) on the input, add(a, b), relu, flatten, dense, softmax
ADDED = "a=conv3x3x2-p1, b=conv1x1x2(input), add(a,b), relu, dense"
ADDED_LAYERS = (Conv2D(2, 3, padding=1), Conv2D(2, 1), Add(), ReLU(), Flatten(), Dense(3), Softmax())
ADDED_INPUTS = ((INPUT,), (INPUT,), (0, 1), (2,), (3,), (4,), (5,))
# conv a feeds both a relu and the concat: its gradient is the sum of the two
STACKED = "a=conv3x3x2-same, relu, b=conv1x1x3, concat(a,b), maxpool2, dense"
STACKED_LAYERS = (Conv2D(2, 3, padding=1), ReLU(), Conv2D(3, 1), Concat(), MaxPool2D(2), Flatten(), Dense(3),
                  Softmax())
STACKED_INPUTS = ((INPUT,), (0,), (1,), (0, 2), (3,), (4,), (5,), (6,))


def branched_model(text, size=6, seed=5):
    """A small model of ``text`` with random biases (zero biases would put cells on ReLU's kink)."""
    layers, inputs = parse_network(text, 3)
    model = random_model(layers, image_size=size, seed=seed, channels=2, inputs=inputs)
    rng = np.random.default_rng(seed + 1)
    for p in model.params:
        if "bias" in p:
            p["bias"] = rng.normal(0, 0.5, p["bias"].shape)
    return model


def _conv(x, w, b, padding):
    """By hand: one picture (C, H, W), filters (K, C, F, F), stride 1."""
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    k_count, _, size, _ = w.shape
    side = xp.shape[1] - size + 1
    out = np.empty((k_count, side, side))
    for k in range(k_count):
        for i in range(side):
            for j in range(side):
                out[k, i, j] = np.sum(xp[:, i:i + size, j:j + size] * w[k]) + b[k]
    return out


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


# ---------------------------------------------------------------- the layer pairs


@pytest.mark.parametrize("shapes", [[(2, 3, 4, 4)] * 3, [(3, 4, 4)] * 2, [(2, 5)] * 2, [(5,)] * 2])
def test_add_pair(shapes):
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=shape) for shape in shapes]
    out = L.add_forward(xs)
    np.testing.assert_allclose(out, sum(xs), rtol=0, atol=1e-15)
    dout = rng.normal(size=out.shape)
    for n, dx in enumerate(L.add_backward(dout, xs)):
        # the sum is linear, so a step of 1 adds no truncation error, only less rounding
        numeric = numerical_gradient(lambda v: L.add_forward(xs[:n] + [v] + xs[n + 1:]), xs[n], dout, h=1.0)
        assert rel_error(dx, numeric) < 1e-8


@pytest.mark.parametrize("shapes, out_shape", [
    ([(2, 1, 3, 3), (2, 2, 3, 3), (2, 3, 3, 3)], (2, 6, 3, 3)),    # a batch of maps: along C
    ([(1, 3, 3), (2, 3, 3)], (3, 3, 3)),                            # one picture's maps
    ([(2, 4), (2, 3)], (2, 7)),                                     # a batch of vectors: end to end
    ([(4,), (3,)], (7,)),
])
def test_concat_pair(shapes, out_shape):
    rng = np.random.default_rng(2)
    xs = [rng.normal(size=shape) for shape in shapes]
    out = L.concat_forward(xs)
    assert out.shape == out_shape
    if len(out_shape) >= 3:   # by hand: channel k of the output is channel k - (channels before) of its input
        np.testing.assert_array_equal(out[..., 0, :, :], xs[0][..., 0, :, :])
        np.testing.assert_array_equal(out[..., -1, :, :], xs[-1][..., -1, :, :])
    dout = rng.normal(size=out.shape)
    for n, dx in enumerate(L.concat_backward(dout, xs)):
        numeric = numerical_gradient(lambda v: L.concat_forward(xs[:n] + [v] + xs[n + 1:]), xs[n], dout, h=1.0)
        assert dx.shape == xs[n].shape and rel_error(dx, numeric) < 1e-8


# ---------------------------------------------------------------- the text form


def test_branches_parse_into_layers_and_wiring():
    assert parse_network(ADDED, 3) == (ADDED_LAYERS, ADDED_INPUTS)
    assert parse_network(STACKED, 3) == (STACKED_LAYERS, STACKED_INPUTS)


@pytest.mark.parametrize("text", [ADDED, STACKED, "s=add(a,b), a=conv3x3x2(input), b=conv3x3x2(input), relu(s), dense"])
def test_branch_text_prints_and_parses_back(text):
    layers, inputs = parse_network(text, 3)
    printed = format_architecture(layers, inputs)
    assert parse_network(printed, 3) == (layers, inputs)
    assert format_architecture(*parse_network(printed, 3)) == printed


def test_printed_branches_name_only_what_is_read_out_of_order():
    assert format_architecture(ADDED_LAYERS, ADDED_INPUTS) == \
        "conv1=conv3x3x2-p1,conv2=conv1x1x2(input),add(conv1,conv2),relu,flatten,dense3,softmax"
    assert format_architecture(STACKED_LAYERS, STACKED_INPUTS) == \
        "conv1=conv3x3x2-p1,relu,conv2=conv1x1x3,concat(conv1,conv2),maxpool2,flatten,dense3,softmax"


def test_names_may_be_read_before_they_are_written():
    text = "s=add(a,b), a=conv3x3x2-p1(input), b=conv1x1x2(input), relu(s), dense"
    assert parse_network(text, 3) == (ADDED_LAYERS, ADDED_INPUTS)


@pytest.mark.parametrize("text", ["conv3x3x4,relu,maxpool2,dense", "conv5x5x6-same,tanh,avgpool2,dense120,dense"])
def test_a_chain_is_still_a_chain(text):
    layers, inputs = parse_network(text, 3)
    assert inputs is None and parse_architecture(text, 3) == layers
    assert format_architecture(layers) == format_architecture(layers, inputs)
    assert "=" not in format_architecture(layers) and "(" not in format_architecture(layers)


@pytest.mark.parametrize("text, error, words", [
    ("a=conv3x3x2, add(a,c)", UsageError, r"reads 'c', but no layer is named so"),
    ("a=conv3x3x2, b=conv3x3x2(input), add(a,bb)", UsageError, r"did you mean b\?"),
    ("a=relu(b), b=relu(a), dense", ShapeError, r"--arch: the layers a -> b -> a read each other in a loop"),
    ("a=relu(a), dense", ShapeError, r"a reads itself"),
    ("a=conv3x3x2, b=conv3x3x2(input), relu, dense", ShapeError, r"--arch: a is never used"),
    ("a=conv3x3x2, b=conv3x3x2, a=relu", UsageError, r"'a' is given twice \(items 1 and 3\)"),
    ("conv3x3x2, add", UsageError, r"item 2, 'add': add joins two or more"),
    ("a=conv3x3x2, concat(a)", UsageError, r"concat joins two or more"),
    ("a=conv3x3x2, relu(a,input)", UsageError, r"a relu layer reads one input"),
    ("a=conv3x3x2, add(a,input", UsageError, r"unbalanced parentheses"),
    ("input=conv3x3x2", UsageError, r"'input' names the picture"),
    ("a=conv3x3x2, relu()", UsageError, r"a name is missing"),
])
def test_bad_branches_are_one_clear_line(text, error, words):
    with pytest.raises(error, match=words) as caught:
        parse_network(text, 3)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text, words", [
    ("a=conv3x3x2, b=conv1x1x2(input), add(a,b), dense", r"layer 3 \(add\): cannot add tensors of shapes "
                                                         r"\(2, 4, 4\) and \(2, 6, 6\)"),
    ("a=conv3x3x2, b=conv1x1x2(input), concat(a,b), dense", r"cannot stack tensors of shapes \(2, 4, 4\) and "
                                                            r"\(2, 6, 6\)"),
    ("a=conv3x3x2, f=flatten, b=conv1x1x2(input), concat(f,b), dense", r"concat needs maps of one height"),
])
def test_joining_tensors_that_do_not_fit_shows_their_shapes(text, words):
    layers, inputs = parse_network(text, 3)
    with pytest.raises(ShapeError, match=words):
        infer_shapes(layers, (2, 6, 6), inputs=inputs)


def test_wiring_that_reads_ahead_is_refused():
    with pytest.raises(ShapeError, match="layer 1 .* reads layer 2, which does not come before it"):
        infer_shapes((ReLU(), ReLU()), (1, 4, 4), classifier=False, inputs=((1,), (0,)))
    with pytest.raises(ShapeError, match="never used"):
        infer_shapes((ReLU(), ReLU()), (1, 4, 4), classifier=False, inputs=((INPUT,), (INPUT,)))


def test_topological_order_keeps_the_written_order_where_it_can():
    assert topological_order([(INPUT,), (INPUT,), (0, 1)], "abc") == [0, 1, 2]
    assert topological_order([(1, 2), (INPUT,), (INPUT,)], "abc") == [1, 2, 0]


# ---------------------------------------------------------------- the engine on branches


def test_shapes_of_the_branched_networks():
    assert infer_shapes(ADDED_LAYERS, (2, 6, 6), inputs=ADDED_INPUTS) == [
        (2, 6, 6), (2, 6, 6), (2, 6, 6), (2, 6, 6), (72,), (3,), (3,)]
    assert infer_shapes(STACKED_LAYERS, (2, 6, 6), inputs=STACKED_INPUTS) == [
        (2, 6, 6), (2, 6, 6), (3, 6, 6), (5, 6, 6), (5, 3, 3), (45,), (3,), (3,)]


def test_added_forward_equals_numpy_by_hand():
    model = branched_model(ADDED)
    pixels = np.random.default_rng(7).uniform(0, 255, (2, 6, 6))
    p = model.params
    x = pixels * model.input_scale
    summed = _conv(x, p[0]["weight"], p[0]["bias"], 1) + _conv(x, p[1]["weight"], p[1]["bias"], 0)
    logits = p[5]["weight"] @ np.maximum(summed, 0).reshape(-1) + p[5]["bias"]
    result = forward(model, pixels, label=1)
    np.testing.assert_allclose(result.stages[2].output, summed, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.logits, logits, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.probabilities, _softmax(logits), rtol=1e-12)
    assert result.loss == pytest.approx(-np.log(_softmax(logits)[1]), rel=1e-12)


def test_stacked_forward_equals_numpy_by_hand():
    model = branched_model(STACKED)
    pixels = np.random.default_rng(8).uniform(0, 255, (2, 6, 6))
    p = model.params
    a = _conv(pixels * model.input_scale, p[0]["weight"], p[0]["bias"], 1)
    b = _conv(np.maximum(a, 0), p[2]["weight"], p[2]["bias"], 0)
    stacked = np.concatenate([a, b])
    pooled = stacked.reshape(5, 3, 2, 3, 2).max(axis=(2, 4))
    logits = p[6]["weight"] @ pooled.reshape(-1) + p[6]["bias"]
    result = forward(model, pixels, label=0)
    np.testing.assert_allclose(result.stages[3].output, stacked, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.logits, logits, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("text", [ADDED, STACKED])
def test_branched_gradients_match_central_differences(text):
    model = branched_model(text)
    rng = np.random.default_rng(9)
    pixels, labels = rng.uniform(0, 255, size=(3, 2, 6, 6)), np.array([0, 1, 2])

    def loss():
        return batch_loss(model, pixels, labels)
    first, grads, _ = loss_and_gradients(model, pixels, labels)
    assert loss() == first
    checked = 0
    for p, g in zip(model.params, grads):
        for key, value in p.items():
            assert rel_error(g[key], numerical_gradient(lambda v: loss(), value, np.array(1.0))) < 1e-6, key
            checked += 1
    assert checked == 6    # weight and bias of both convolutions and of the dense layer
    # the input feeds both branches (ADDED) or one branch whose output feeds two layers (STACKED);
    # pixels of 0 to 1, unscaled, keep the input's gradients as large as the weights'
    model.input_scale, pixels = 1.0, pixels / 255
    outputs = forward_batch(model, pixels)
    dlogits = L.softmax_cross_entropy(outputs[-2], labels)[1]
    _, _, dinput = backward_batch(model, outputs, dlogits)
    assert rel_error(dinput, numerical_gradient(lambda v: loss(), pixels, np.array(1.0))) < 1e-6


def test_upstream_of_a_shared_output_is_the_sum_of_its_readers():
    model = branched_model(STACKED)
    pixels, labels = np.random.default_rng(10).uniform(0, 255, size=(2, 2, 6, 6)), np.array([1, 2])
    keep = []
    loss_and_gradients(model, pixels, labels, keep)
    outputs = forward_batch(model, pixels)
    from_relu = L.relu_backward(keep[1], outputs[1], L.tie_margin(outputs[1]))
    from_concat = keep[3][:, :2]
    np.testing.assert_allclose(keep[0], from_relu + from_concat, rtol=1e-12, atol=1e-15)


def test_a_graph_network_trains():
    images, labels, names = generate_shapes(30, size=12, seed=4)
    layers, inputs = parse_network("a=conv3x3x3-same, b=conv1x1x3(input), add(a,b), relu, maxpool2, dense", 3)
    model = random_model(layers, names, image_size=12, seed=0, inputs=inputs)
    from xlcnn.train import train_model
    result = train_model(model, images, labels, TrainConfig(epochs=4, lr=0.01, seed=1))
    assert result.history[-1].loss < result.history[0].loss and model.trained


# ---------------------------------------------------------------- model files


def test_graph_model_file_round_trip(tmp_path):
    model = branched_model(STACKED)
    save_model(model, tmp_path / "g.npz")
    loaded = load_model(tmp_path / "g.npz")
    assert loaded.layers == model.layers and loaded.inputs == STACKED_INPUTS
    for p, q in zip(model.params, loaded.params):
        for key in p:
            np.testing.assert_array_equal(p[key], q[key])
    with np.load(tmp_path / "g.npz") as data:
        assert int(data["xlcnn_format"]) == 2
        architecture = json.loads(str(data["architecture"]))
    assert architecture[3] == {"type": "concat", "inputs": ["layer0", "layer2"]}
    assert architecture[0]["inputs"] == ["input"]


def test_format_1_files_still_load(tmp_path):
    with np.load(default_model_path()) as data:
        assert int(data["xlcnn_format"]) == 1    # the shipped model is a format 1 file
    shipped = load_model(default_model_path())
    assert shipped.inputs is None and len(shipped.layers) == 6
    model = random_model()    # written as format 1 by hand: a list of layers, no inputs
    save_model(model, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as data:
        arrays = {key: data[key] for key in data.files}
    arrays["xlcnn_format"] = np.array(1)
    arrays["architecture"] = np.array(json.dumps([{k: v for k, v in d.items() if k != "inputs"}
                                                  for d in json.loads(str(arrays["architecture"]))]))
    np.savez(tmp_path / "v1.npz", **arrays)
    loaded = load_model(tmp_path / "v1.npz")
    assert loaded.layers == model.layers and loaded.inputs is None


@pytest.mark.parametrize("change, words", [
    (lambda arch: arch[2].update(inputs=["layer7"]), "reads 'layer7', which is neither"),
    (lambda arch: arch[0].update(inputs=["layer2"]), "does not come before it"),
    (lambda arch: arch[1].pop("inputs"), "names no \"inputs\""),
])
def test_bad_wiring_in_a_file_is_refused(tmp_path, change, words):
    save_model(branched_model(ADDED), tmp_path / "g.npz")
    with np.load(tmp_path / "g.npz") as data:
        arrays = {key: data[key] for key in data.files}
    architecture = json.loads(str(arrays["architecture"]))
    change(architecture)
    arrays["architecture"] = np.array(json.dumps(architecture))
    np.savez(tmp_path / "g.npz", **arrays)
    with pytest.raises(ModelError, match=words):
        load_model(tmp_path / "g.npz")


# ---------------------------------------------------------------- the commands


def _one_line_error(result, code):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xlcnn: error: ") and "Traceback" not in result.output
    return lines[0]


def test_build_draws_branched_model_files_and_refuses_added_vectors_in_one_line(tmp_path, monkeypatch):
    """The workbook side is tested in test_branches.py; here: a model file's wiring reaches the workbook."""
    monkeypatch.chdir(tmp_path)
    vectors = "a=conv3x3x2-same, f=flatten(a), b=conv1x1x2(input), g=flatten(b), add(f,g), dense"
    for name, text in (("g", ADDED), ("s", STACKED), ("v", vectors)):   # photos have three channels (branched_model: two)
        save_model(random_model(*parse_network(text, 3)[:1], image_size=8, channels=3,
                                inputs=parse_network(text, 3)[1]), tmp_path / f"{name}.npz")
    for name in ("g", "s"):
        result = CliRunner().invoke(main, ["build", "--model", f"{name}.npz", "-o", f"{name}.xlsx"])
        assert result.exit_code == 0, result.output
    line = _one_line_error(CliRunner().invoke(main, ["build", "--model", "v.npz", "-o", "v.xlsx"]), 2)
    assert "adds feature maps only" in line and not (tmp_path / "v.xlsx").exists()


def test_train_command_trains_a_branched_network(tmp_path):
    write_shapes(tmp_path / "d", per_class=6, size=16)
    model, result, _ = train_from_folder(tmp_path / "d", tmp_path / "g.npz", size=12, arch=STACKED,
                                         config=TrainConfig(epochs=2, seed=0))
    assert load_model(tmp_path / "g.npz").inputs == STACKED_INPUTS and result.history
