"""The architecture as data: layer descriptions, shape inference, parameters, model files.

Array order everywhere: tensors are (channels, height, width); conv weights are
(K, C, F, F) and dense weights (outputs, inputs), as in PyTorch. Flatten reads a
(C, H, W) tensor in C order.
"""

import json
import os
import zipfile
from dataclasses import asdict, dataclass

import numpy as np

from .errors import ModelError, ShapeError, UsageError

FORMAT_VERSION = 1


# ---------------------------------------------------------------- layer descriptions


@dataclass(frozen=True)
class Conv2D:
    """K filters of F x F x C, moved with stride S over the input with P zeros around it."""

    filters: int
    kernel: int
    stride: int = 1
    padding: int = 0
    kind = "conv2d"


@dataclass(frozen=True)
class ReLU:
    """max(0, x), cell by cell."""

    kind = "relu"


@dataclass(frozen=True)
class MaxPool2D:
    """The largest value of each size x size window, windows moved by stride."""

    size: int = 2
    stride: int = 0  # 0 means "same as size"
    kind = "maxpool2d"

    @property
    def step(self):
        return self.stride or self.size


@dataclass(frozen=True)
class Flatten:
    """(C, H, W) -> a vector of C*H*W values in C order."""

    kind = "flatten"


@dataclass(frozen=True)
class Dense:
    """Every output is a weighted sum of every input plus a bias."""

    units: int
    kind = "dense"


@dataclass(frozen=True)
class Softmax:
    """Logits -> probabilities; the loss is the cross-entropy against the true label."""

    kind = "softmax"


LAYER_TYPES = {cls.kind: cls for cls in (Conv2D, ReLU, MaxPool2D, Flatten, Dense, Softmax)}


def layer_to_dict(layer):
    return {"type": layer.kind, **asdict(layer)}


def layer_from_dict(data):
    """Inverse of ``layer_to_dict``; refuses unknown types and fields with a clear message."""
    if not isinstance(data, dict) or data.get("type") not in LAYER_TYPES:
        raise ModelError(f"unknown layer description {data!r}; known types: {', '.join(LAYER_TYPES)}")
    fields = {k: v for k, v in data.items() if k != "type"}
    cls = LAYER_TYPES[data["type"]]
    try:
        layer = cls(**fields)
    except TypeError as exc:
        raise ModelError(f"bad {data['type']} layer {data!r}: {exc}") from None
    for name, value in fields.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise ModelError(f"{data['type']} layer: {name} must be a whole number, not {value!r}")
    return layer


def describe(layer):
    """Short human text for one layer, e.g. "conv 3x3, 4 filters, stride 1, padding 0"."""
    if isinstance(layer, Conv2D):
        return (f"conv {layer.kernel}x{layer.kernel}, {layer.filters} filters, "
                f"stride {layer.stride}, padding {layer.padding}")
    if isinstance(layer, MaxPool2D):
        return f"max pool {layer.size}x{layer.size}, stride {layer.step}"
    if isinstance(layer, Dense):
        return f"dense, {layer.units} outputs"
    return {"relu": "ReLU", "flatten": "flatten", "softmax": "softmax"}[layer.kind]


# ---------------------------------------------------------------- shapes


def conv_output_size(size, kernel, stride, padding):
    """floor((W - F + 2P) / S) + 1, the number of window positions along one side."""
    return (size - kernel + 2 * padding) // stride + 1


def infer_shapes(layers, input_shape):
    """Output shape of every layer, refusing impossible combinations before anything is built.

    ``input_shape`` is (C, H, W). Spatial shapes are (C, H, W), vectors (N,).
    """
    shapes = []
    shape = tuple(input_shape)
    for number, layer in enumerate(layers, start=1):
        shape = _layer_output_shape(number, layer, shape)
        shapes.append(shape)
    _check_order(layers)
    return shapes


def _layer_output_shape(number, layer, shape):
    where = f"layer {number} ({describe(layer)})"
    if isinstance(layer, (Conv2D, MaxPool2D)):
        if len(shape) != 3:
            raise ShapeError(f"{where} needs a (channels, height, width) input, got a vector of {shape[0]}")
        if isinstance(layer, Conv2D):
            kernel, stride, padding, channels = layer.kernel, layer.stride, layer.padding, layer.filters
            _require_positive(where, filters=layer.filters, kernel=kernel, stride=stride)
            if padding < 0:
                raise ShapeError(f"{where}: padding must be 0 or more, not {padding}")
        else:
            kernel, stride, padding, channels = layer.size, layer.step, 0, shape[0]
            _require_positive(where, size=layer.size, stride=stride)
        sides = []
        for side in shape[1:]:
            span = side - kernel + 2 * padding
            if span < 0:
                raise ShapeError(
                    f"{where}: window {kernel} does not fit in {side}: "
                    f"W - F + 2P = {side} - {kernel} + 2*{padding} = {span} < 0")
            sides.append(span // stride + 1)
        return (channels, *sides)
    if isinstance(layer, Flatten):
        return (int(np.prod(shape)),)
    if isinstance(layer, Dense):
        if len(shape) != 1:
            raise ShapeError(f"{where} needs a vector input; put a flatten layer before it")
        _require_positive(where, units=layer.units)
        return (layer.units,)
    return shape  # ReLU and Softmax keep the shape


def _require_positive(where, **values):
    for name, value in values.items():
        if value < 1:
            raise ShapeError(f"{where}: {name} must be at least 1, not {value}")


def _check_order(layers):
    if not layers or not isinstance(layers[-1], Softmax):
        raise ShapeError("the last layer must be softmax (the classifier's output)")
    if any(isinstance(layer, Softmax) for layer in layers[:-1]):
        raise ShapeError("softmax may appear only as the last layer")
    if not any(isinstance(layer, Dense) for layer in layers):
        raise ShapeError("the network needs a dense layer to produce one logit per class")


# ---------------------------------------------------------------- the model


DEFAULT_ARCHITECTURE = (Conv2D(4, 3), ReLU(), MaxPool2D(2), Flatten(), Dense(3), Softmax())
DEFAULT_CLASSES = ("circle", "square", "triangle")


@dataclass
class Model:
    """A network with its weights, class names and preprocessing settings.

    ``params[i]`` holds ``{"weight": ..., "bias": ...}`` for layer i (empty for layers
    without parameters). Pixels are multiplied by ``input_scale`` before the first layer.
    """

    layers: tuple
    params: list
    class_names: tuple
    image_size: int = 28
    fit: str = "crop"
    input_scale: float = 1 / 255
    trained: bool = False
    description: str = ""
    channels: int = 3
    train_accuracy: float = float("nan")
    val_accuracy: float = float("nan")

    @property
    def input_shape(self):
        return (self.channels, self.image_size, self.image_size)

    def shapes(self):
        return infer_shapes(self.layers, self.input_shape)

    def validate(self):
        """Refuse a model whose weights, classes and shapes do not agree."""
        shapes = self.shapes()
        if len(self.params) != len(self.layers):
            raise ModelError(f"{len(self.layers)} layers but parameters for {len(self.params)}")
        last_dense = max(i for i, layer in enumerate(self.layers) if isinstance(layer, Dense))
        if self.layers[last_dense].units != len(self.class_names):
            raise ModelError(
                f"the last dense layer has {self.layers[last_dense].units} outputs "
                f"but there are {len(self.class_names)} class names")
        if len(set(self.class_names)) != len(self.class_names) or len(self.class_names) < 2:
            raise ModelError(f"need at least two different class names, got {list(self.class_names)}")
        in_shape = self.input_shape
        for number, (layer, shape, p) in enumerate(zip(self.layers, shapes, self.params), start=1):
            expected = parameter_shapes(layer, in_shape)
            for name, want in expected.items():
                have = np.shape(p.get(name))
                if have != want:
                    raise ModelError(f"layer {number} ({describe(layer)}): {name} has shape {have}, expected {want}")
            in_shape = shape
        return shapes


def parameter_shapes(layer, input_shape):
    """The weight and bias shapes a layer needs for a given input shape."""
    if isinstance(layer, Conv2D):
        return {"weight": (layer.filters, input_shape[0], layer.kernel, layer.kernel), "bias": (layer.filters,)}
    if isinstance(layer, Dense):
        return {"weight": (layer.units, input_shape[0]), "bias": (layer.units,)}
    return {}


def random_model(layers=DEFAULT_ARCHITECTURE, class_names=DEFAULT_CLASSES, image_size=28, seed=0, **settings):
    """An untrained model with seeded He-initialised weights (same seed, same weights)."""
    layers = tuple(layers)
    shapes = infer_shapes(layers, (settings.get("channels", 3), image_size, image_size))
    rng = np.random.default_rng(seed)
    params = []
    in_shape = (settings.get("channels", 3), image_size, image_size)
    for layer, out_shape in zip(layers, shapes):
        p = {}
        for name, shape in parameter_shapes(layer, in_shape).items():
            if name == "weight":
                fan_in = int(np.prod(shape[1:]))
                p[name] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
            else:
                p[name] = np.zeros(shape)
        params.append(p)
        in_shape = out_shape
    model = Model(layers, params, tuple(class_names), image_size=image_size, **settings)
    model.validate()
    return model


# ---------------------------------------------------------------- model files


def save_model(model, path):
    """Write the model as an .npz of plain arrays (no pickled objects); see the README."""
    arrays = {
        "xlcnn_format": np.array(FORMAT_VERSION),
        "architecture": np.array(json.dumps([layer_to_dict(layer) for layer in model.layers])),
        "class_names": np.array(list(model.class_names), dtype=str),
        "image_size": np.array(model.image_size),
        "channels": np.array(model.channels),
        "fit": np.array(model.fit),
        "input_scale": np.array(float(model.input_scale)),
        "trained": np.array(bool(model.trained)),
        "description": np.array(model.description),
        "train_accuracy": np.array(float(model.train_accuracy)),
        "val_accuracy": np.array(float(model.val_accuracy)),
    }
    for i, p in enumerate(model.params):
        for name, value in p.items():
            arrays[f"layer{i}.{name}"] = np.asarray(value, dtype=np.float64)
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_model(path):
    """Read a model file written by ``save_model``; never unpickles anything."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise ModelError(f"{path}: model file not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path}: not an xlcnn model file ({exc})") from None
    try:
        return _model_from_arrays(arrays)
    except (KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: malformed model file ({type(exc).__name__}: {exc})") from None
    except (ModelError, ShapeError, UsageError) as exc:
        raise ModelError(f"{path}: {exc}") from None


def _model_from_arrays(arrays):
    if int(arrays["xlcnn_format"]) != FORMAT_VERSION:
        raise ModelError(f"model format {int(arrays['xlcnn_format'])} is not supported (expected {FORMAT_VERSION})")
    layers = tuple(layer_from_dict(d) for d in json.loads(str(arrays["architecture"])))
    params = []
    for i in range(len(layers)):
        p = {name: np.asarray(arrays[f"layer{i}.{name}"], dtype=np.float64)
             for name in ("weight", "bias") if f"layer{i}.{name}" in arrays}
        for name, value in p.items():
            if not np.all(np.isfinite(value)):
                raise ModelError(f"layer {i + 1} {name} holds NaN or infinite values")
        params.append(p)
    model = Model(
        layers=layers,
        params=params,
        class_names=tuple(str(name) for name in arrays["class_names"]),
        image_size=int(arrays["image_size"]),
        channels=int(arrays.get("channels", 3)),
        fit=str(arrays.get("fit", "crop")),
        input_scale=float(arrays.get("input_scale", 1 / 255)),
        trained=bool(arrays.get("trained", False)),
        description=str(arrays.get("description", "")),
        train_accuracy=float(arrays.get("train_accuracy", np.nan)),
        val_accuracy=float(arrays.get("val_accuracy", np.nan)),
    )
    model.validate()
    return model
