"""The registry of layer kinds and the interface every kind module provides.

Every module of ``xlcnn/kinds/`` (but the shared ``base``) is one kind, listed once in the
registry; every kind class reads its own ``--arch`` spelling back, survives the model
file, gives outputs of the shape it infers, and (when it has one) a backward pass that
agrees with central differences on a tiny random input.
"""

import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest

from xlcnn import kinds
from xlcnn.errors import ShapeError
from xlcnn.kinds import LAYER_TYPES, MODULES, Layer, parse_layer
from xlcnn.kinds.base import Merge
from xlcnn.kinds.softmax import softmax_cross_entropy, softmax_forward
from xlcnn.network import layer_from_dict, layer_to_dict

# A small example of every kind (several where options change the arithmetic) and the shapes
# of one picture's inputs. A kind missing here fails test_every_kind_has_an_example.
EXAMPLES = {
    "conv2d": [({"filters": 2, "kernel": 3}, [(2, 5, 5)]),
               ({"filters": 3, "kernel": 2, "stride": 2, "padding": 1}, [(2, 6, 6)]),
               ({"filters": 2, "kernel": 2, "padding": 1, "dilation": 2, "flip": True}, [(3, 6, 6)]),
               ({"filters": 4, "kernel": 3, "groups": 2, "padding": 1}, [(4, 5, 5)]),
               ({"filters": 6, "kernel": 2, "stride": 2, "depthwise": True, "bias": False}, [(3, 5, 5)]),
               ({"filters": 3, "kernel": 3, "dilation": 2, "flip": True, "groups": 3}, [(3, 6, 6)])],
    "tconv": [({"filters": 2, "kernel": 3, "stride": 2, "padding": 1}, [(3, 3, 3)]),
              ({"filters": 3, "kernel": 2, "stride": 2}, [(2, 3, 4)]), ({"filters": 1, "kernel": 3}, [(2, 2, 2)])],
    "bn": [({}, [(3, 4, 4)]), ({"eps": 0.001}, [(5,)])],
    "relu": [({}, [(2, 3, 3)]), ({}, [(5,)])],
    "leakyrelu": [({"alpha": 0.2}, [(2, 3, 3)])],
    "sigmoid": [({}, [(2, 3, 3)])],
    "tanh": [({}, [(4,)])],
    "abs": [({}, [(2, 3, 3)]), ({}, [(5,)])],
    "maxpool2d": [({"size": 2}, [(2, 4, 4)]), ({"size": 3, "stride": 2}, [(1, 7, 7)]),
                  ({"size": 3, "stride": 2, "padding": 1}, [(2, 6, 6)]), ({"size": 2, "ceil": True}, [(1, 5, 5)])],
    "avgpool2d": [({"size": 2}, [(2, 5, 5)]), ({"size": 3, "stride": 1}, [(1, 5, 5)]),
                  ({"size": 3, "stride": 2, "padding": 1, "ceil": True}, [(2, 6, 6)])],
    "gap": [({}, [(2, 3, 4)])],
    "flatten": [({}, [(2, 3, 2)])],
    "dense": [({"units": 3}, [(5,)])],
    "softmax": [({}, [(4,)])],
    "add": [({}, [(2, 3, 3), (2, 3, 3)]), ({}, [(4,), (4,), (4,)])],
    "concat": [({}, [(1, 3, 3), (2, 3, 3)]), ({}, [(2,), (3,)])],
}
CASES = [(kind, fields, shapes) for kind, examples in EXAMPLES.items() for fields, shapes in examples]
CASE_IDS = [f"{kind}-{n}" for kind, examples in EXAMPLES.items() for n in range(len(examples))]


def tiny_case(kind, fields, shapes, seed=0):
    """(layer, batch of inputs (2, ...) each, parameters), all random but seeded."""
    rng = np.random.default_rng(seed)
    layer = LAYER_TYPES[kind](**fields)
    xs = [rng.normal(size=(2, *shape)) for shape in shapes]
    params = {name: rng.normal(size=shape) for name, shape in layer.parameter_shapes(shapes[0]).items()}
    for name in layer.positive_parameters:   # a variance: its size drawn at random, its sign not
        params[name] = np.abs(params[name]) + 0.1
    return layer, xs, params


def numerical_gradient(f, x, h=1e-6):
    """d f / d x by central differences, one element at a time (``x`` is changed and restored)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        plus = f()
        x[index] = old - h
        minus = f()
        x[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


# ---------------------------------------------------------------- the registry


def test_the_registry_lists_every_kind_module_exactly_once():
    found = {info.name for info in pkgutil.iter_modules(kinds.__path__)} - {"base"}
    listed = [module.__name__.rsplit(".", 1)[1] for module in MODULES]
    assert sorted(listed) == sorted(found)
    assert len(listed) == len(set(listed))
    assert list(LAYER_TYPES) == listed   # each module's kind is named after it, in the registry's order


def test_each_kind_module_holds_its_one_layer_class():
    for module in MODULES:
        classes = [value for value in vars(module).values()
                   if isinstance(value, type) and issubclass(value, Layer) and value.__module__ == module.__name__]
        assert len(classes) == 1, module.__name__
        assert LAYER_TYPES[classes[0].kind] is classes[0]


def test_every_kind_has_an_example():
    assert sorted(EXAMPLES) == sorted(LAYER_TYPES)


def test_the_families_are_read_from_the_classes():
    assert {cls.kind for cls in kinds.ACTIVATIONS} == {"relu", "leakyrelu", "sigmoid", "tanh", "abs"}
    assert {cls.kind for cls in kinds.POOLS} == {"maxpool2d", "avgpool2d", "gap"}
    assert {cls.kind for cls in kinds.MERGES} == {"add", "concat"}


# ---------------------------------------------------------------- the interface, kind by kind


@pytest.mark.parametrize("kind, fields, shapes", CASES, ids=CASE_IDS)
def test_the_spelling_reads_back_and_the_model_file_round_trips(kind, fields, shapes):
    layer = LAYER_TYPES[kind](**fields)
    assert parse_layer(layer.spelling(), 7, "--arch") == layer
    assert layer_from_dict(layer_to_dict(layer)) == layer
    assert layer.describe() and isinstance(layer.describe(), str)


@pytest.mark.parametrize("kind, fields, shapes", CASES, ids=CASE_IDS)
def test_forward_gives_the_inferred_shape_for_a_batch_and_for_one_picture(kind, fields, shapes):
    layer, xs, params = tiny_case(kind, fields, shapes)
    out_shape = layer.output_shape([tuple(s) for s in shapes], "layer 1")
    out = layer.forward(xs, params)
    assert out.shape == (2, *out_shape)
    np.testing.assert_allclose(layer.forward([x[0] for x in xs], params), out[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind, fields, shapes", CASES, ids=CASE_IDS)
def test_backward_matches_central_differences(kind, fields, shapes):
    layer, xs, params = tiny_case(kind, fields, shapes, seed=1)
    if not layer.has_backward:
        with pytest.raises(NotImplementedError):
            layer.backward(np.ones_like(xs[0]), xs, params)
        return
    weights = np.random.default_rng(2).normal(size=layer.forward(xs, params).shape)

    def loss():   # a random weighting of every output: its gradient is the backward pass of dout = weights
        return float(np.sum(layer.forward(xs, params) * weights))

    dxs, grads = layer.backward(weights, xs, params)
    assert len(dxs) == len(xs)
    assert sorted(grads) == sorted(params)
    for x, dx in zip(xs, dxs):
        assert dx.shape == x.shape
        np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-5, atol=1e-7)
    for name, value in params.items():
        assert grads[name].shape == value.shape
        np.testing.assert_allclose(grads[name], numerical_gradient(loss, value), rtol=1e-5, atol=1e-7)


def test_the_softmax_gradient_comes_with_the_loss():
    """Softmax has no backward of its own: softmax_cross_entropy gives (p - y) / N for the logits."""
    z, labels = np.random.default_rng(3).normal(size=(3, 4)), np.array([0, 3, 1])
    _, dz = softmax_cross_entropy(z, labels)
    np.testing.assert_allclose(dz, numerical_gradient(lambda: softmax_cross_entropy(z, labels)[0], z),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dz * 3 + np.eye(4)[labels], softmax_forward(z), rtol=1e-12)


@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_only_merges_read_several_inputs(kind):
    layer, _, _ = tiny_case(kind, *EXAMPLES[kind][0])
    shapes = EXAMPLES[kind][0][1]
    if isinstance(layer, Merge):
        with pytest.raises(ShapeError, match="joins two or more"):
            layer.output_shape([shapes[0]], "layer 1")
    else:
        with pytest.raises(ShapeError, match="only add and concat join several"):
            layer.output_shape([shapes[0], shapes[0]], "layer 1")


# ---------------------------------------------------------------- one home per kind

# How source text names each kind: its class, its kind string and their natural spellings in
# code, comments and messages ("transposed convolution" is tconv's name and a "convolutional
# neural network" the whole network's, neither conv2d's). Spreadsheet function names (TANH, MAX, AVERAGE) are the
# spreadsheet's words, not the kind's; NumPy's ``.flatten()``, ``np.concatenate`` and
# ``math.tanh`` are NumPy's and Python's.
MENTIONS = {
    "conv2d": [r"Conv2D|conv2d|\bconv_|(?<!transposed )[Cc]onvolution(?!al)"],
    "tconv": [r"TransposedConv", r"[\"']tconv[\"']", r"\btconv_", r"(?i)transposed[ _]conv"],
    "bn": [r"BatchNorm", r"[\"']bn[\"']", r"\bbn_(?:forward|backward)", r"(?i)batch[ _]?norm"],
    "relu": [r"(?i)(?<![a-z_])(?<!leaky )relu"],
    "leakyrelu": [r"(?i)leaky"],
    "sigmoid": [r"(?i)sigmoid"],
    "abs": [r"\bAbs\b", r"[\"']abs[\"']", r"\babs_(?:forward|backward)"],
    "tanh": [r"(?<!math\.)(?<!np\.)\b[Tt]anh"],
    "maxpool2d": [r"(?i)max[ _]?pool"],
    "avgpool2d": [r"(?i)(avg|average)[ _]?pool"],
    "gap": [r"GlobalAvgPool", r"[\"']gap[\"']", r"\bgap_(?:forward|backward)"],
    "flatten": [r"(?i)(?<!\.)flatten"],
    "dense": [r"(?i)dense"],
    "softmax": [r"(?i)softmax"],
    "add": [r"\bAdd\b(?! [a-z])", r"[\"']add[\"']", r"\badd_(?:forward|backward)", r"(?<![.\w])(?<!def )add\("],
    "concat": [r"(?i)concat(?!enate)"],
}


def modules_mentioning(kind):
    """The modules of xlcnn/ outside the kind's own module and the registry whose source names the kind."""
    root = Path(kinds.__file__).parent.parent
    own = {root / "kinds" / f"{kind}.py", root / "kinds" / "__init__.py"}
    patterns = [re.compile(pattern) for pattern in MENTIONS[kind]]
    return sorted(str(path.relative_to(root)) for path in root.rglob("*.py")
                  if path not in own and any(p.search(path.read_text(encoding="utf-8")) for p in patterns))


def test_every_kind_has_its_spellings():
    assert sorted(MENTIONS) == sorted(LAYER_TYPES)
    for kind, cls in LAYER_TYPES.items():   # the patterns find the class's name and the quoted kind string
        for spelled in (cls.__name__, f'"{kind}"'):
            assert any(re.search(pattern, spelled) for pattern in MENTIONS[kind]), (kind, spelled)


@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_a_kind_is_named_in_at_most_one_module_outside_its_own(kind):
    """Adding or changing a kind means its module, the registry, its texts and at most one more
    module (today: ``network.py``'s example networks and the classifier's rules, ``options.py``'s
    --true-convolution, or the layout's join rules). The plans and writers ask the layer (``has_filters``,
    ``makes_column``, ``fully_connected``, ``gives_probabilities``) and take kind names from data."""
    found = modules_mentioning(kind)
    assert len(found) <= 1, f"{kind} is named in {len(found)} modules: {', '.join(found)}"


@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_each_example_item_reads_back_as_its_kind(kind):
    for item in LAYER_TYPES[kind].examples:
        assert parse_layer(item, 3, "--arch").kind == kind


# ---------------------------------------------------------------- options and kinds added after files were written


def test_options_added_later_leave_the_files_written_before_as_they_were():
    """A plain conv layer's description has no groups, depthwise or bias entries (every model file and
    workbook written before them stays byte for byte); a layer that uses them writes and reads them."""
    plain = parse_layer("conv3x3x4", 3, "--arch")
    assert layer_to_dict(plain) == {"type": "conv2d", "filters": 4, "kernel": 3, "stride": 1, "padding": 0,
                                    "dilation": 1, "flip": False}
    grouped = parse_layer("conv3x3x4-g2-nobias", 3, "--arch")
    assert layer_to_dict(grouped)["groups"] == 2 and layer_to_dict(grouped)["bias"] is False
    assert layer_from_dict(layer_to_dict(grouped)) == grouped


@pytest.mark.parametrize("item, words", [("conv3x3x4-dw-g2", "leave out -g"), ("tconv3x2x4", "square")])
def test_contradictory_options_are_refused(item, words):
    with pytest.raises(Exception, match=words):
        parse_layer(item, 3, "--arch")


@pytest.mark.parametrize("item, shape, words", [
    ("conv3x3x4-g3", (6, 5, 5), "must divide"), ("conv3x3x5-dw", (2, 5, 5), "must be a multiple of the 2 input"),
    ("tconv3x3x2-p2", (1, 1, 1), "cuts away"), ("bn-eps0", (3,), None)])
def test_shapes_that_do_not_fit_are_refused(item, shape, words):
    layer = parse_layer(item, 3, "--arch")
    if words is None:
        assert layer.output_shape([shape], "layer 1") == shape
        return
    with pytest.raises(ShapeError, match=words):
        layer.output_shape([shape], "layer 1")


def test_grouped_parameters_have_pytorch_shapes():
    depthwise = parse_layer("conv3x3x8-dw-nobias", 3, "--arch")
    assert depthwise.parameter_shapes((4, 9, 9)) == {"weight": (8, 1, 3, 3)}
    assert parse_layer("conv3x3x6-g3", 3, "--arch").parameter_shapes((3, 9, 9))["weight"] == (6, 1, 3, 3)
    assert parse_layer("tconv3x3x5", 3, "--arch").parameter_shapes((2, 4, 4))["weight"] == (2, 5, 3, 3)


def test_the_course_transposed_example_and_the_naive_loops():
    """3 x 3 input, stride 2, kernel 3, padding 1 -> 5 x 5 ((3 - 1) 2 - 2 + 3); overlaps add up."""
    from xlcnn.kinds.tconv import tconv_forward, tconv_forward_naive
    layer = parse_layer("tconv3x3x1-s2-p1", 3, "--arch")
    assert layer.output_shape([(1, 3, 3)], "layer 1") == (1, 5, 5)
    x, w, b = np.ones((1, 3, 3)), np.ones((1, 1, 3, 3)), np.zeros(1)
    out = tconv_forward(x, w, b, 2, 1)[0]
    assert out[0, 0] == 1 and out[1, 1] == 4 and out[0, 1] == 2   # one patch; four patches overlap; two
    rng = np.random.default_rng(4)
    x, w, b = rng.normal(size=(3, 4, 3)), rng.normal(size=(3, 2, 4, 4)), rng.normal(size=2)
    np.testing.assert_allclose(tconv_forward(x, w, b, 3, 1), tconv_forward_naive(x, w, b, 3, 1), rtol=1e-12)


def test_batch_norm_starts_as_frameworks_start_it_and_its_statistics_survive_the_model_file(tmp_path):
    from xlcnn.architecture import parse_network
    from xlcnn.errors import ModelError
    from xlcnn.network import load_model, random_model, save_model
    layers, inputs = parse_network("conv3x3x4-nobias,bn,relu,dense", 3)
    model = random_model(layers, inputs=inputs, image_size=6)
    bn = model.params[1]
    assert sorted(bn) == ["bias", "running_mean", "running_var", "weight"] and sorted(model.params[0]) == ["weight"]
    assert (bn["weight"] == 1).all() and (bn["running_var"] == 1).all() and not bn["bias"].any()
    bn["running_mean"][:] = [0.5, -1, 2, 3]
    save_model(model, tmp_path / "m.npz")
    np.testing.assert_array_equal(load_model(tmp_path / "m.npz").params[1]["running_mean"], [0.5, -1, 2, 3])
    bn["running_var"][0] = -1
    save_model(model, tmp_path / "bad.npz")
    with pytest.raises(ModelError, match="running_var must be above 0"):
        load_model(tmp_path / "bad.npz")
