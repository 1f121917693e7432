"""The broken corners of issue 12: the input scale whatever the first layer, --until any layer,
flatten added wherever it is left out, and --filters that always apply."""

import zipfile

import numpy as np
import pytest

from xlcnn import load_image, make_workbook, verify_workbooks
from xlcnn.architecture import parse_architecture
from xlcnn.cells import Block
from xlcnn.kernels import named_filters
from xlcnn.network import (AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Softmax, random_model,
                           save_model)
from xlcnn.pipeline import choose_model
from xlcnn.resources import sample_photos
from xlcnn.workbook import build_workbook

from conftest import make_photo

# ---------------------------------------------------------------- the input scale


def test_first_layer_formulas_scale_what_they_read():
    cell, window = Block("1 Input", 10, 1, 1, 1), Block("1 Input", 10, 1, 2, 2)
    assert ReLU().forward_formula(cell, "input_scale") == "=MAX(0,'1 Input'!B11*input_scale)"
    assert Sigmoid().forward_formula(cell, "input_scale").count("'1 Input'!B11*input_scale") == 4
    assert AvgPool2D(2).forward_formula(window, "input_scale") == "=AVERAGE('1 Input'!B11:C12)*input_scale"
    assert Flatten().forward_formula(cell, "input_scale") == "='1 Input'!B11*input_scale"
    # MAX(window) * scale is the largest scaled value only for a positive scale
    assert MaxPool2D(2).forward_formula(window, "s") == "=MAX(MAX('1 Input'!B11:C12)*s,MIN('1 Input'!B11:C12)*s)"
    assert MaxPool2D(2).forward_formula(window) == "=MAX('1 Input'!B11:C12)"   # later layers read scaled numbers


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _sigmoid_conv_avgpool_loss(model, pixels, label):
    """The README's sigmoid,conv1x1x2-valid-s2,sigmoid,avgpool3,dense network by hand, without xlcnn's engine."""
    x = _sigmoid(pixels.transpose(2, 0, 1) * model.input_scale)
    w, b = model.params[1]["weight"][:, :, 0, 0], model.params[1]["bias"]
    y = _sigmoid(np.einsum("kc,chw->khw", w, x[:, ::2, ::2]) + b[:, None, None])
    side = y.shape[1] // 3
    pooled = y[:, :3 * side, :3 * side].reshape(y.shape[0], side, 3, side, 3).mean(axis=(2, 4))
    dense = model.params[5]
    z = dense["weight"] @ pooled.reshape(-1) + dense["bias"]
    return np.log(np.exp(z - z.max()).sum()) - (z[label] - z.max())


@pytest.mark.usefixtures("libreoffice")
def test_networks_that_do_not_start_with_a_convolution_verify(tmp_path):
    """Pooling, an activation or flatten first: the workbook scales the input exactly as the engine does.

    Also --until a dense layer, a model file that ends in a dense layer without classes, and a
    negative input scale under a first max pool (MAX(window) * scale would pick the wrong cell).
    """
    photo = sample_photos()[0]
    builds = {
        "maxpool-first": dict(arch="maxpool2,conv3x3x2,relu,dense", steps=1),
        "sigmoid-first": dict(arch="sigmoid,conv1x1x2-valid,sigmoid,avgpool3,dense", steps=1),
        "sigmoid-s2": dict(arch="sigmoid,conv1x1x2-valid-s2,sigmoid,avgpool3,dense"),
        "tanh-pool": dict(arch="tanh,maxpool2,conv3x3x2,leakyrelu,dense", steps=1),
        "flatten-dense": dict(arch="flatten,dense", steps=1),
        "dense": dict(arch="dense5,relu,dense"),
        "until-dense1": dict(until="dense1"),
    }
    books = {name: make_workbook(photo, tmp_path / f"{name}.xlsx", **options) for name, options in builds.items()}
    headless = random_model((Conv2D(2, 3), ReLU(), MaxPool2D(2), Flatten(), Dense(4)), (), image_size=12, seed=3)
    save_model(headless, tmp_path / "headless.npz")
    books["dense-without-classes"] = make_workbook(photo, tmp_path / "headless.xlsx", model_path=tmp_path / "headless.npz")
    negative = random_model((MaxPool2D(2), Flatten(), Dense(3), Softmax()), image_size=12, seed=4, input_scale=-1 / 255)
    books["negative-scale"] = build_workbook(negative, make_photo(12, seed=4), tmp_path / "negative.xlsx")
    reports = dict(zip(books, verify_workbooks([book.path for book in books.values()])))
    for name, report in reports.items():
        assert report.ok, (name, report.table())
    assert any(check.stage.startswith("Grad") for check in reports["maxpool-first"].checks)
    model = choose_model(arch=builds["sigmoid-s2"]["arch"]).model
    pixels = np.asarray(load_image(photo, size=28))
    assert reports["sigmoid-s2"].loss == pytest.approx(_sigmoid_conv_avgpool_loss(model, pixels, 0), rel=1e-12)


def test_backprop_walk_stops_at_the_first_layer_with_weights(tmp_path):
    result = make_workbook(sample_photos()[0], tmp_path / "b.xlsx", arch="sigmoid,maxpool2,conv3x3x2,relu,dense",
                           steps=1)
    grads = [name for name in result.sheets if name.startswith("Grad")]
    assert grads == ["Grad 8 Dense", "Grad 7 Flatten", "Grad 6 ReLU", "Grad 5 Conv"]   # no sigmoid or pool


# ---------------------------------------------------------------- flatten and --until


@pytest.mark.parametrize("text, kinds", [
    ("dense", ["flatten", "dense", "softmax"]),
    ("flatten,dense", ["flatten", "dense", "softmax"]),
    ("relu,dense7,tanh,dense", ["relu", "flatten", "dense", "tanh", "dense", "softmax"]),
    ("conv3x3x2,dense", ["conv2d", "flatten", "dense", "softmax"]),
])
def test_flatten_is_added_wherever_it_is_left_out(text, kinds):
    assert [layer.kind for layer in parse_architecture(text, 3)] == kinds


@pytest.mark.parametrize("options", [
    dict(arch="dense"), dict(arch="flatten,dense", steps=1, size=14),    # 14 px: the descent step in a quarter of the time
    dict(until="dense1"), dict(until="flatten1"), dict(until="5")])
def test_networks_starting_with_dense_and_until_any_layer_build(tmp_path, options):
    result = make_workbook(sample_photos()[0], tmp_path / "x.xlsx", **options)
    assert result.formulas > 0


# ---------------------------------------------------------------- --filters


def _manifest_text(path):
    with zipfile.ZipFile(path) as z:
        return z.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in z.namelist() else "".join(
            z.read(name).decode() for name in z.namelist() if name.startswith("xl/worksheets/"))


def test_filters_always_apply_even_on_the_default_network(tmp_path):
    names = ("sobel-x", "sobel-y", "laplacian", "blur")     # four filters: the default network's shape
    choice = choose_model(filters=",".join(names))
    model = choice.model
    assert not model.trained and model.hand_made
    np.testing.assert_array_equal(model.params[0]["weight"], named_filters(names, 3))
    result = make_workbook(sample_photos()[0], tmp_path / "f.xlsx", filters=",".join(names))
    text = _manifest_text(result.path)
    assert "Hand-made weights" in text and "other weights random" in text
    assert "Trained model" not in text and "trained on generated" not in text
