"""Networks as text, presets, named filters, and every new layer kind against independent references."""

import numpy as np
import pytest

from xlcnn import layers as L
from xlcnn.architecture import format_architecture, layer_names, parse_architecture, until_count
from xlcnn.errors import ShapeError, UsageError
from xlcnn.kernels import NAMED_KERNELS, named_filters, parse_filter_names
from xlcnn.network import (AvgPool2D, Conv2D, Dense, Flatten, LeakyReLU, MaxPool2D, ReLU, Sigmoid, Softmax,
                           Tanh, infer_shapes, random_model, save_model, load_model)
from xlcnn.pipeline import choose_model
from xlcnn.presets import load_preset, preset_names
from xlcnn.summary import summarize

from test_gradients import batch_loss, numerical_gradient, rel_error


# ---------------------------------------------------------------- text form


def test_parse_the_two_blocks_network():
    layers = parse_architecture("conv3x3x4-same, relu, maxpool2, conv3x3x8-same, relu, maxpool2, dense", 3)
    assert layers == (Conv2D(4, 3, padding=1), ReLU(), MaxPool2D(2), Conv2D(8, 3, padding=1), ReLU(), MaxPool2D(2),
                      Flatten(), Dense(3), Softmax())
    assert infer_shapes(layers, (3, 28, 28))[-3] == (392,)


@pytest.mark.parametrize("text, layer", [
    ("conv5x5x6-s2-p1-d2-flip", Conv2D(6, 5, stride=2, padding=1, dilation=2, flip=True)),
    ("conv3x3x2-d2-same", Conv2D(2, 3, padding=2, dilation=2)),
    ("conv1x1x4", Conv2D(4, 1)),
    ("avgpool3-s2", AvgPool2D(3, 2)),
    ("leakyrelu0.2", LeakyReLU(0.2)),
    ("LeakyReLU", LeakyReLU()),
    ("sigmoid", Sigmoid()),
    ("tanh", Tanh()),
])
def test_parse_items(text, layer):
    assert parse_architecture(text, 3)[0] == layer


def test_text_round_trip():
    layers = parse_architecture("conv5x5x6-same,tanh,avgpool2,conv5x5x16,tanh,avgpool2,dense120,tanh,dense84,"
                                "leakyrelu0.1,dense", 3)
    assert parse_architecture(format_architecture(layers), 3) == layers


@pytest.mark.parametrize("text, words", [
    ("conv3x3", "item 1"), ("conv3x5x4", "square"), ("relu,pool2", "item 2"), ("conv4x4x2-same", "odd"), ("", "empty"),
])
def test_bad_text_names_the_item(text, words):
    with pytest.raises(UsageError, match=words):
        parse_architecture(text, 3)


def test_impossible_sizes_show_the_arithmetic():
    with pytest.raises(ShapeError, match=r"layer 3 .*2 - 3"):
        infer_shapes(parse_architecture("conv3x3x4-s2,relu,maxpool3,dense", 3), (3, 5, 5))


def test_until_names():
    layers = parse_architecture("conv3x3x4,relu,maxpool2,conv3x3x8,relu,avgpool2,dense", 3)
    assert layer_names(layers)[:6] == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2"]
    assert until_count(layers, "conv2") == 4 and until_count(layers, "3") == 3
    with pytest.raises(UsageError, match="conv1, relu1"):
        until_count(layers, "conv9")


# ---------------------------------------------------------------- presets and named filters


def test_presets_parse_and_fit():
    names = preset_names()
    assert {"terminator", "edges", "two-blocks", "lenet-like", "same-padding", "stride-2", "average-pool",
            "one-by-one"} <= set(names)
    for name in names:
        recipe = load_preset(name)
        assert len(recipe.description) > 80
        layers, inputs = recipe.network()
        infer_shapes(layers, (3, recipe.size, recipe.size), bool(recipe.classes), inputs)


def test_terminator_preset_is_the_shipped_model():
    choice = choose_model(preset="terminator")
    assert choice.model.trained and "shipped" in choice.name


def test_unknown_preset_and_filter():
    with pytest.raises(UsageError, match="edges"):
        load_preset("nope")
    with pytest.raises(UsageError, match="sobel-x"):
        parse_filter_names("sobel-z")


def test_named_filters_see_the_photo_in_grey():
    w = named_filters(("sobel-x", "laplacian"), 3)
    assert w.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(w.sum(axis=1)[0], NAMED_KERNELS["sobel-x"])


def test_edges_choice_has_hand_made_weights():
    model = choose_model(preset="edges").model
    assert model.hand_made and not model.classifier
    assert [layer.kind for layer in model.layers] == ["conv2d", "relu"]


# ---------------------------------------------------------------- engine against independent references


@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 2), (2, 1, 2), (1, 2, 3), (2, 0, 1)])
@pytest.mark.parametrize("flip", [False, True])
def test_dilated_and_flipped_conv_against_scipy(stride, padding, dilation, flip):
    from scipy import ndimage    # here: scipy takes a while to import, and every xdist worker collects this file
    rng = np.random.default_rng(stride + 10 * padding + 100 * dilation)
    x, w, b = rng.normal(size=(2, 11, 11)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    out = L.conv_forward(x, w, b, stride, padding, dilation, flip)
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    side = dilation * 2 + 1          # the spread kernel: odd, centred on its middle tap, `edge` taps each side
    edge = side // 2
    for k in range(3):
        kernel = np.zeros((2, side, side))
        kernel[:, ::dilation, ::dilation] = w[k]          # spread the taps by hand
        # a true convolution is ndimage's convolve, cross-correlation its correlate; each channel on its own,
        # summed, and of the same-size result only the valid part: every tap inside the padded input
        scipy_filter = ndimage.convolve if flip else ndimage.correlate
        full = sum(scipy_filter(xp[c], kernel[c], mode="constant", cval=0.0) for c in range(2))
        valid = full[edge:-edge, edge:-edge]
        np.testing.assert_allclose(out[k], valid[::stride, ::stride] + b[k], atol=1e-12)


@pytest.mark.parametrize("stride, padding, dilation, flip", [(1, 0, 2, False), (2, 1, 2, True), (1, 1, 1, True)])
def test_dilated_and_flipped_conv_gradients(stride, padding, dilation, flip):
    rng = np.random.default_rng(5)
    x, w, b = rng.normal(size=(2, 9, 9)), rng.normal(size=(2, 2, 3, 3)), rng.normal(size=2)
    out = L.conv_forward(x, w, b, stride, padding, dilation, flip)
    dout = rng.normal(size=out.shape)
    dx, dw, db = L.conv_backward(dout, x, w, stride, padding, dilation, flip)
    f = lambda **kw: L.conv_forward(kw.get("x", x), kw.get("w", w), kw.get("b", b), stride, padding, dilation, flip)
    assert rel_error(dx, numerical_gradient(lambda v: f(x=v), x, dout, 1e-3)) < 1e-6
    assert rel_error(dw, numerical_gradient(lambda v: f(w=v), w, dout, 1e-3)) < 1e-6
    assert rel_error(db, numerical_gradient(lambda v: f(b=v), b, dout, 1e-3)) < 1e-6


@pytest.mark.parametrize("size, stride", [(2, 2), (3, 2), (2, 1)])
def test_avgpool_against_loops_and_gradient(size, stride):
    rng = np.random.default_rng(size + stride)
    x = rng.normal(size=(2, 7, 7))
    out = L.avgpool_forward(x, size, stride)
    for c in range(2):
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                window = x[c, i * stride:i * stride + size, j * stride:j * stride + size]
                assert out[c, i, j] == pytest.approx(window.mean())
    dout = rng.normal(size=out.shape)
    numeric = numerical_gradient(lambda v: L.avgpool_forward(v, size, stride), x, dout, 1e-3)
    assert rel_error(L.avgpool_backward(dout, x, size, stride), numeric) < 1e-6


@pytest.mark.parametrize("forward, backward, reference", [
    (lambda x: L.leaky_relu_forward(x, 0.1), lambda d, x: L.leaky_relu_backward(d, x, 0.1),
     lambda x: np.where(x > 0, x, 0.1 * x)),
    (L.sigmoid_forward, L.sigmoid_backward, lambda x: 1 / (1 + np.exp(-x))),
    (L.tanh_forward, L.tanh_backward, lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))),
])
def test_activations_against_formulas_and_gradients(forward, backward, reference):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 5, 5))
    x[np.abs(x) < 1e-3] = 0.3
    np.testing.assert_allclose(forward(x), reference(x), atol=1e-14)
    dout = rng.normal(size=x.shape)
    assert rel_error(backward(dout, x), numerical_gradient(forward, x, dout)) < 1e-6


def test_sigmoid_is_finite_for_huge_inputs():
    assert np.array_equal(L.sigmoid_forward(np.array([-1e4, 0.0, 1e4])), [0.0, 0.5, 1.0])


def test_hidden_dense_network_gradients():
    from xlcnn.engine import loss_and_gradients
    layers = parse_architecture("conv3x3x2-d2-flip,tanh,avgpool2,dense5,sigmoid,dense4,leakyrelu0.1,dense", 3)
    model = random_model(layers, ("a", "b", "c"), image_size=9, seed=2)
    rng = np.random.default_rng(3)
    for p in model.params:
        if "bias" in p:
            p["bias"] = rng.normal(0, 0.5, p["bias"].shape)
    pixels, labels = rng.uniform(0, 255, (2, 3, 9, 9)), np.array([0, 2])
    loss, grads, _ = loss_and_gradients(model, pixels, labels)
    assert batch_loss(model, pixels, labels) == loss
    for p, g in zip(model.params, grads):
        for key, value in p.items():
            numeric = numerical_gradient(lambda v: batch_loss(model, pixels, labels), value, np.array(1.0))
            assert rel_error(g[key], numeric) < 1e-6


def test_new_layers_survive_the_model_file(tmp_path):
    layers = parse_architecture("conv3x3x2-d2-flip-p1,leakyrelu0.2,avgpool2-s1,dense6,tanh,dense", 2)
    model = random_model(layers, ("x", "y"), image_size=10, seed=1)
    save_model(model, tmp_path / "m.npz")
    assert load_model(tmp_path / "m.npz").layers == layers


# ---------------------------------------------------------------- summary


def test_summary_counts_match_the_engine():
    layers = parse_architecture("conv5x5x6-same,tanh,avgpool2,conv5x5x16,tanh,avgpool2,dense120,tanh,dense84,tanh,dense", 3)
    model = random_model(layers, ("a", "b", "c"), image_size=28)
    rows = summarize(layers, (3, 28, 28))
    assert sum(r.parameters[1] for r in rows) == sum(v.size for p in model.params for v in p.values())
    conv1 = rows[1]
    assert conv1.parameters == ("=5*5*3*6+6", 456)
    assert conv1.side == ("=INT((28-5+2*2)/1)+1", 28)
    assert rows[3].receptive_field[1] == 6 and rows[4].receptive_field[1] == 14   # 5, then +1 (pool), then +4*2
    assert rows[8].parameters[1] == 400 * 120 + 120   # rows[0] is the input
