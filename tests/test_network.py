"""Tests for xlcnn.network (shapes, seeded models, model files) and the engine's forward pass."""

import pathlib

import numpy as np
import pytest

from xlcnn import engine
from xlcnn import layers as L
from xlcnn.errors import ModelError, ShapeError
from xlcnn.kinds.conv2d import conv_output_size
from xlcnn.network import (DEFAULT_ARCHITECTURE, DEFAULT_CLASSES, Conv2D, Dense, Flatten, MaxPool2D, Model,
                           ReLU, Softmax, infer_shapes, load_model, random_model, save_model)

# ---------------------------------------------------------------- output sizes


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "expected"), [
    (28, 3, 1, 0, 26),
    (28, 3, 2, 0, 13),
    (7, 3, 2, 1, 4),
    (32, 5, 1, 2, 32),
    (5, 3, 2, 0, 2),
    (227, 11, 4, 0, 55),
    (5, 3, 1, 1, 5),
    (5, 5, 1, 0, 1),
    (6, 3, 3, 0, 2),
    (26, 2, 2, 0, 13),
    (13, 2, 2, 0, 6),
    (1, 3, 1, 1, 1),
])
def test_conv_output_size_table(size, kernel, stride, padding, expected):
    assert conv_output_size(size, kernel, stride, padding) == expected


# ---------------------------------------------------------------- shape inference


def test_infer_shapes_default_at_28():
    assert infer_shapes(DEFAULT_ARCHITECTURE, (3, 28, 28)) == [
        (4, 26, 26),  # conv 3x3, 4 filters
        (4, 26, 26),  # relu
        (4, 13, 13),  # max pool 2
        (676,),       # flatten 4*13*13
        (3,),         # dense
        (3,),         # softmax
    ]


def test_infer_shapes_default_at_64():
    assert infer_shapes(DEFAULT_ARCHITECTURE, (3, 64, 64)) == [
        (4, 62, 62), (4, 62, 62), (4, 31, 31), (3844,), (3,), (3,)]


def test_infer_shapes_non_square_and_strided():
    layers = (Conv2D(8, 5, stride=2, padding=2), ReLU(), MaxPool2D(3, stride=2), Flatten(), Dense(10),
              Dense(4), Softmax())
    # conv: (20-5+4)//2+1 = 10, (31-5+4)//2+1 = 16; pool 3/2: 4, 7
    assert infer_shapes(layers, (1, 20, 31)) == [
        (8, 10, 16), (8, 10, 16), (8, 4, 7), (224,), (10,), (4,), (4,)]


def _message(layers, input_shape=(3, 5, 5)):
    with pytest.raises(ShapeError) as info:
        infer_shapes(layers, input_shape)
    return str(info.value)


def test_kernel_larger_than_input_names_layer_and_arithmetic():
    message = _message((Conv2D(4, 7), ReLU(), Flatten(), Dense(3), Softmax()))
    assert "layer 1" in message
    assert "5 - 7" in message
    assert "-2" in message


def test_padding_can_make_a_large_kernel_fit():
    assert infer_shapes((Conv2D(4, 7, padding=1), Flatten(), Dense(3), Softmax()), (3, 5, 5))[0] == (4, 1, 1)


def test_pool_larger_than_map():
    message = _message((Conv2D(2, 3), ReLU(), MaxPool2D(4), Flatten(), Dense(3), Softmax()))
    assert "layer 3" in message
    assert "3 - 4" in message


@pytest.mark.parametrize(("layer", "words"), [
    (Conv2D(0, 3), ("layer 1", "filters", "0")),
    (Conv2D(4, 0), ("layer 1", "kernel", "0")),
    (Conv2D(4, 3, stride=0), ("layer 1", "stride", "0")),
    (Conv2D(4, 3, stride=-1), ("layer 1", "stride", "-1")),
    (Conv2D(4, 3, padding=-1), ("layer 1", "padding", "-1")),
])
def test_bad_conv_settings(layer, words):
    message = _message((layer, Flatten(), Dense(3), Softmax()))
    for word in words:
        assert word in message


def test_bad_pool_settings():
    message = _message((MaxPool2D(0), Flatten(), Dense(3), Softmax()))
    assert "layer 1" in message and "size" in message
    message = _message((MaxPool2D(2, stride=-1), Flatten(), Dense(3), Softmax()))
    assert "layer 1" in message and "stride" in message


def test_pool_stride_zero_means_same_as_size():
    assert infer_shapes((MaxPool2D(2, stride=0), Flatten(), Dense(3), Softmax()), (3, 6, 6))[0] == (3, 3, 3)


def test_zero_dense_units():
    message = _message((Flatten(), Dense(0), Softmax()))
    assert "layer 2" in message and "units" in message


def test_dense_before_flatten():
    message = _message((Conv2D(4, 3), Dense(3), Softmax()))
    assert "layer 2" in message
    assert "flatten" in message


def test_conv_after_flatten():
    message = _message((Flatten(), Conv2D(4, 3), Dense(3), Softmax()))
    assert "layer 2" in message


@pytest.mark.parametrize("layers", [
    (Conv2D(4, 3), Flatten(), Dense(3)),
    (),
    (Conv2D(4, 3), Flatten(), Softmax(), Dense(3)),
])
def test_missing_or_misplaced_softmax(layers):
    assert "softmax" in _message(layers)


def test_softmax_twice():
    assert "softmax" in _message((Flatten(), Dense(3), Softmax(), Softmax()))


def test_no_dense_layer():
    assert "dense" in _message((Flatten(), Softmax()))


def test_shape_error_is_a_usage_error():
    from xlcnn.errors import UsageError, XlcnnError
    assert issubclass(ShapeError, UsageError) and issubclass(ShapeError, XlcnnError)


# ---------------------------------------------------------------- random models


def _all_arrays(model):
    return [(i, name, value) for i, p in enumerate(model.params) for name, value in sorted(p.items())]


def test_random_model_shapes():
    model = random_model()
    assert [sorted(p) for p in model.params] == [["bias", "weight"], [], [], [], ["bias", "weight"], []]
    assert model.params[0]["weight"].shape == (4, 3, 3, 3)
    assert model.params[0]["bias"].shape == (4,)
    assert model.params[4]["weight"].shape == (3, 676)
    assert model.params[4]["bias"].shape == (3,)
    assert model.class_names == DEFAULT_CLASSES


def test_random_model_same_seed_same_arrays():
    a, b = random_model(seed=5), random_model(seed=5)
    for (i, name, x), (j, name2, y) in zip(_all_arrays(a), _all_arrays(b), strict=True):
        assert (i, name) == (j, name2)
        np.testing.assert_array_equal(x, y)


def test_random_model_different_seed_different_weights():
    a, b = random_model(seed=1), random_model(seed=2)
    assert not np.array_equal(a.params[0]["weight"], b.params[0]["weight"])
    assert not np.array_equal(a.params[4]["weight"], b.params[4]["weight"])


def test_random_model_owes_nothing_to_numpys_global_random_state():
    """Same seed, same weights, whatever else drew random numbers before (the default seed included)."""
    np.random.seed(1)
    first = random_model()
    np.random.seed(2)
    np.random.random(10)
    again, other = random_model(), random_model(seed=1)
    for a, b, c in zip(first.params, again.params, other.params):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])
            assert name == "bias" or not np.array_equal(a[name], c[name])


def test_random_model_refuses_impossible_architecture():
    with pytest.raises(ShapeError):
        random_model(layers=(Conv2D(4, 9), Flatten(), Dense(3), Softmax()), image_size=5)


def test_random_model_refuses_wrong_class_count():
    with pytest.raises(ModelError):
        random_model(class_names=("a", "b"))


# ---------------------------------------------------------------- model files


def _custom_model():
    layers = (Conv2D(3, 3, stride=2, padding=1), ReLU(), MaxPool2D(3, stride=2), Flatten(), Dense(5),
              ReLU(), Dense(4), Softmax())
    return random_model(layers, class_names=("a", "b", "ç", "日本"), image_size=17, seed=9, fit="pad",
                        input_scale=0.5, trained=True, description="round trip", channels=2)


@pytest.mark.parametrize("make", [random_model, _custom_model], ids=["default", "custom"])
def test_save_load_round_trip(tmp_path, make):
    model = make()
    path = tmp_path / "model.npz"
    save_model(model, path)
    loaded = load_model(path)
    assert loaded.layers == model.layers
    assert loaded.class_names == model.class_names
    for attr in ("image_size", "channels", "fit", "input_scale", "trained", "description"):
        assert getattr(loaded, attr) == getattr(model, attr), attr
    assert len(loaded.params) == len(model.params)
    for p, q in zip(model.params, loaded.params):
        assert sorted(p) == sorted(q)
        for name in p:
            assert q[name].dtype == np.float64
            np.testing.assert_array_equal(p[name], q[name])
    assert not list(tmp_path.glob("*.tmp-*")), "temporary file left behind"


def test_saved_file_loads_without_pickle(tmp_path):
    path = tmp_path / "model.npz"
    save_model(random_model(), path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    assert all(a.dtype != object for a in arrays.values())
    assert {"xlcnn_format", "architecture", "class_names", "layer0.weight", "layer4.bias"} <= set(arrays)


class _Payload:
    """Unpickling this object would create the marker file: proof that pickle ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_object_array_is_refused_not_executed(tmp_path):
    good = tmp_path / "good.npz"
    save_model(random_model(), good)
    with np.load(good, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    marker = tmp_path / "pwned"
    arrays["description"] = np.array([_Payload(marker)], dtype=object)
    evil = tmp_path / "evil.npz"
    np.savez(evil, **arrays)
    with pytest.raises(ModelError):
        load_model(evil)
    assert not marker.exists()
    # the payload is real: loading it with pickle allowed does run it
    with np.load(evil, allow_pickle=True) as data:
        data["description"]
    assert marker.exists()


def test_pickle_file_is_refused(tmp_path):
    import pickle
    marker = tmp_path / "pwned"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ModelError):
        load_model(path)
    assert not marker.exists()


def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(ModelError, match="not found"):
        load_model(path)


@pytest.mark.parametrize("content", [
    b"",
    b"hello, I am not a model\n",
    pytest.param(b"PK\x03\x04garbage", id="zip-signature-garbage"),
])
def test_text_or_garbage_file(tmp_path, content):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert "model.npz" in str(info.value)


def test_truncated_model_file(tmp_path):
    path = tmp_path / "model.npz"
    save_model(random_model(), path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelError):
        load_model(path)


def test_corrupted_model_file(tmp_path):
    path = tmp_path / "model.npz"
    save_model(random_model(), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside layer4.weight: the zip CRC check fails
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError):
        load_model(path)


def test_npz_without_model_keys(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ModelError):
        load_model(path)


def test_class_count_disagrees_with_dense_units(tmp_path):
    model = random_model()
    model.class_names = ("circle", "square", "triangle", "star")
    path = tmp_path / "model.npz"
    save_model(model, path)
    with pytest.raises(ModelError, match="class names"):
        load_model(path)
    with pytest.raises(ModelError):
        model.validate()


def test_duplicate_class_names_refused(tmp_path):
    model = random_model()
    model.class_names = ("circle", "circle", "triangle")
    path = tmp_path / "model.npz"
    save_model(model, path)
    with pytest.raises(ModelError):
        load_model(path)


@pytest.mark.parametrize(("layer", "name", "bad"), [(0, "weight", np.nan), (4, "bias", np.nan),
                                                    (4, "weight", np.inf), (0, "bias", -np.inf)])
def test_non_finite_weights_refused(tmp_path, layer, name, bad):
    model = random_model()
    model.params[layer][name].flat[0] = bad
    path = tmp_path / "model.npz"
    save_model(model, path)
    with pytest.raises(ModelError, match="NaN or infinite"):
        load_model(path)


def test_wrong_weight_shape_refused(tmp_path):
    model = random_model()
    model.params[4]["weight"] = model.params[4]["weight"][:, :-1]
    path = tmp_path / "model.npz"
    save_model(model, path)
    with pytest.raises(ModelError, match="layer 5"):
        load_model(path)


def test_unsupported_format_version(tmp_path):
    path = tmp_path / "model.npz"
    save_model(random_model(), path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["xlcnn_format"] = np.array(99)
    np.savez(path, **arrays)
    with pytest.raises(ModelError, match="99"):
        load_model(path)


# ---------------------------------------------------------------- engine forward pass


def _photo(size=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3)).astype(np.uint8)


@pytest.mark.parametrize("size", [28, 64])
def test_forward_stage_shapes_match_infer_shapes(size):
    model = random_model(image_size=size)
    result = engine.forward(model, _photo(size))
    assert [s.output.shape for s in result.stages] == model.shapes()
    assert [s.kind for s in result.stages] == [layer.kind for layer in model.layers]
    assert [s.index for s in result.stages] == list(range(len(model.layers)))


def test_forward_probabilities_and_loss():
    model = random_model()
    for label in range(3):
        result = engine.forward(model, _photo(), label=label)
        p = result.probabilities
        assert p.shape == (3,)
        assert np.all(np.isfinite(p)) and np.all(p > 0)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_array_equal(p, result.stages[-1].output)
        np.testing.assert_array_equal(result.logits, result.stages[-2].output)
        assert result.label == label
        assert result.loss == pytest.approx(-np.log(p[label]), rel=1e-12)
        np.testing.assert_allclose(np.exp(result.log_probabilities), p, rtol=1e-12)
        assert result.prediction == int(np.argmax(p))


def test_forward_matches_layer_functions():
    model = random_model(seed=3)
    photo = _photo(seed=4)
    result = engine.forward(model, photo)
    x = photo.transpose(2, 0, 1).astype(np.float64) / 255
    conv = L.conv_forward(x, model.params[0]["weight"], model.params[0]["bias"])
    np.testing.assert_allclose(result.stages[0].output, conv, rtol=1e-12)
    pooled = L.maxpool_forward(np.maximum(conv, 0), 2, 2)
    np.testing.assert_allclose(result.stages[2].output, pooled, rtol=1e-12)
    logits = model.params[4]["weight"] @ pooled.reshape(-1) + model.params[4]["bias"]
    np.testing.assert_allclose(result.logits, logits, rtol=1e-12)


def test_forward_accepts_hwc_and_chw():
    model = random_model()
    hwc = _photo(seed=1)
    chw = hwc.transpose(2, 0, 1)
    a, b = engine.forward(model, hwc, label=2), engine.forward(model, chw, label=2)
    assert a.pixels.shape == b.pixels.shape == (3, 28, 28)
    np.testing.assert_array_equal(a.pixels, chw)
    for sa, sb in zip(a.stages, b.stages, strict=True):
        np.testing.assert_array_equal(sa.output, sb.output)
    assert a.loss == b.loss


def test_forward_loss_finite_for_extreme_logits():
    model = random_model()
    model.params[4]["weight"] = np.zeros_like(model.params[4]["weight"])
    model.params[4]["bias"] = np.array([1000.0, 0.0, -1000.0])
    result = engine.forward(model, _photo(), label=2)
    assert np.isfinite(result.loss)
    assert result.loss == pytest.approx(2000.0)
    assert result.probabilities.sum() == pytest.approx(1.0)


def test_model_is_a_dataclass_with_input_shape():
    model = Model(DEFAULT_ARCHITECTURE, random_model().params, DEFAULT_CLASSES, image_size=28)
    assert model.input_shape == (3, 28, 28)
    assert model.validate() == infer_shapes(DEFAULT_ARCHITECTURE, (3, 28, 28))


def test_validate_refuses_missing_params():
    model = random_model()
    model.params = model.params[:1]  # the dense layer's weights are gone
    with pytest.raises(ModelError):
        model.validate()
