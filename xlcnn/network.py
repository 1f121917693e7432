"""The architecture as data: layer descriptions, shape inference, parameters, model files.

Array order everywhere: tensors are (channels, height, width); conv weights are
(K, C, F, F) and dense weights (outputs, inputs), as in PyTorch. Flatten reads a
(C, H, W) tensor in C order.
"""

import json
import os
import zipfile
from dataclasses import MISSING, asdict, dataclass, replace
from dataclasses import fields as dataclass_fields

import numpy as np

from .errors import ModelError, ShapeError, UsageError, did_you_mean

FORMAT_VERSION = 1
MAX_CLASS_NAME = 100        # characters; names are shown in cells and in the drop-down list


# ---------------------------------------------------------------- layer descriptions


@dataclass(frozen=True)
class Conv2D:
    """K filters of F x F x C, moved with stride S over the input with P zeros around it.

    ``dilation`` D spreads the filter's taps D cells apart (D - 1 holes between them);
    ``flip`` makes it a true convolution: the kernel is turned 180 degrees before use.
    """

    filters: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    flip: bool = False
    kind = "conv2d"

    @property
    def span(self):
        """Side of the window the filter covers: D * (F - 1) + 1."""
        return self.dilation * (self.kernel - 1) + 1

    def tap_at(self, a, b):
        """The stored weight (u, v) that position (a, b) of the effective kernel holds, or None for a hole."""
        if a % self.dilation or b % self.dilation:
            return None
        u, v = a // self.dilation, b // self.dilation
        return (self.kernel - 1 - u, self.kernel - 1 - v) if self.flip else (u, v)

    def offset_of(self, u, v):
        """Where stored weight (u, v) sits in the effective kernel: the inverse of ``tap_at``."""
        if self.flip:
            u, v = self.kernel - 1 - u, self.kernel - 1 - v
        return u * self.dilation, v * self.dilation


@dataclass(frozen=True)
class ReLU:
    """max(0, x), cell by cell."""

    kind = "relu"


@dataclass(frozen=True)
class LeakyReLU:
    """x where x > 0, alpha * x elsewhere: a switch that lets a little through."""

    alpha: float = 0.01
    kind = "leakyrelu"


@dataclass(frozen=True)
class Sigmoid:
    """1 / (1 + e^-x): squeezes any number into (0, 1)."""

    kind = "sigmoid"


@dataclass(frozen=True)
class Tanh:
    """tanh(x): squeezes any number into (-1, 1)."""

    kind = "tanh"


@dataclass(frozen=True)
class _Pool:
    """Windows of size x size, moved by stride (0 means "same as size")."""

    size: int = 2
    stride: int = 0

    @property
    def step(self):
        return self.stride or self.size


@dataclass(frozen=True)
class MaxPool2D(_Pool):
    """The largest value of each size x size window, windows moved by stride."""

    kind = "maxpool2d"


@dataclass(frozen=True)
class AvgPool2D(_Pool):
    """The mean of each size x size window, windows moved by stride."""

    kind = "avgpool2d"


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


ACTIVATIONS = (ReLU, LeakyReLU, Sigmoid, Tanh)
POOLS = (MaxPool2D, AvgPool2D)
LAYER_TYPES = {cls.kind: cls for cls in (Conv2D, *ACTIVATIONS, *POOLS, Flatten, Dense, Softmax)}


def layer_to_dict(layer):
    return {"type": layer.kind, **asdict(layer)}


def layer_from_dict(data):
    """Inverse of ``layer_to_dict``; refuses unknown types and ill-typed fields with a clear message."""
    if not isinstance(data, dict) or data.get("type") not in LAYER_TYPES:
        raise ModelError(f"unknown layer description {data!r}; known types: {', '.join(LAYER_TYPES)}")
    fields = {k: v for k, v in data.items() if k != "type"}
    cls = LAYER_TYPES[data["type"]]
    try:
        layer = cls(**fields)
    except TypeError as exc:
        raise ModelError(f"bad {data['type']} layer {data!r}: {exc}") from None
    for f in dataclass_fields(cls):
        value = getattr(layer, f.name)
        wanted = type(f.default) if f.default is not MISSING else int
        ok = isinstance(value, bool) if wanted is bool else (
            isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
            if wanted is float else isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise ModelError(f"{data['type']} layer: {f.name} must be {_TYPE_WORDS[wanted]}, not {value!r}")
    return layer


_TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false"}


def describe(layer):
    """Short human text for one layer, e.g. "conv 3x3, 4 filters, stride 1, padding 0"."""
    if isinstance(layer, Conv2D):
        text = f"conv {layer.kernel}x{layer.kernel}, {layer.filters} filters, stride {layer.stride}, padding {layer.padding}"
        if layer.dilation != 1:
            text += f", dilation {layer.dilation}"
        return text + (", flipped (true convolution)" if layer.flip else "")
    if isinstance(layer, POOLS):
        word = "max" if isinstance(layer, MaxPool2D) else "average"
        return f"{word} pool {layer.size}x{layer.size}, stride {layer.step}"
    if isinstance(layer, Dense):
        return f"dense, {layer.units} outputs"
    if isinstance(layer, LeakyReLU):
        return f"leaky ReLU ({layer.alpha:g})"
    return {"relu": "ReLU", "sigmoid": "sigmoid", "tanh": "tanh", "flatten": "flatten", "softmax": "softmax"}[layer.kind]


# ---------------------------------------------------------------- shapes


def conv_output_size(size, kernel, stride, padding, dilation=1):
    """floor((W - F + 2P) / S) + 1, the number of window positions along one side.

    With dilation D the window spans D(F - 1) + 1 cells, which takes the place of F.
    """
    return (size - dilation * (kernel - 1) - 1 + 2 * padding) // stride + 1


def infer_shapes(layers, input_shape, classifier=True):
    """Output shape of every layer, refusing impossible combinations before anything is built.

    ``input_shape`` is (C, H, W). Spatial shapes are (C, H, W), vectors (N,). A
    classifier must end in dense -> softmax; other networks (a lesson that stops
    after a convolution) may end anywhere.
    """
    shapes = []
    shape = tuple(input_shape)
    for number, layer in enumerate(layers, start=1):
        shape = _layer_output_shape(number, layer, shape)
        shapes.append(shape)
    _check_order(layers, classifier)
    return shapes


def _layer_output_shape(number, layer, shape):
    where = f"layer {number} ({describe(layer)})"
    if isinstance(layer, (Conv2D, *POOLS)):
        if len(shape) != 3:
            raise ShapeError(f"{where} needs a (channels, height, width) input, got a vector of {shape[0]}")
        if isinstance(layer, Conv2D):
            _require_positive(where, filters=layer.filters, kernel=layer.kernel, stride=layer.stride,
                              dilation=layer.dilation)
            if layer.padding < 0:
                raise ShapeError(f"{where}: padding must be 0 or more, not {layer.padding}")
            span, stride, padding, channels = layer.span, layer.stride, layer.padding, layer.filters
        else:
            _require_positive(where, size=layer.size, stride=layer.step)
            span, stride, padding, channels = layer.size, layer.step, 0, shape[0]
        return (channels, *(_side(where, side, span, stride, padding) for side in shape[1:]))
    if isinstance(layer, Flatten):
        if len(shape) != 3:
            raise ShapeError(f"{where}: the input is already a vector of {shape[0]}; remove this flatten")
        return (int(np.prod(shape)),)
    if isinstance(layer, Dense):
        if len(shape) != 1:
            raise ShapeError(f"{where} needs a vector input; put a flatten layer before it")
        _require_positive(where, units=layer.units)
        return (layer.units,)
    if isinstance(layer, Softmax) and len(shape) != 1:
        raise ShapeError(f"{where} needs a vector of logits; put flatten and dense layers before it")
    return shape  # activations and softmax keep the shape


def _side(where, side, span, stride, padding):
    room = side - span + 2 * padding
    if room < 0:
        raise ShapeError(f"{where}: window {span} does not fit in {side}: "
                         f"W - F + 2P = {side} - {span} + 2*{padding} = {room} < 0")
    return room // stride + 1


def _require_positive(where, **values):
    for name, value in values.items():
        if value < 1:
            raise ShapeError(f"{where}: {name} must be at least 1, not {value}")


def _check_order(layers, classifier):
    if not layers:
        raise ShapeError("the network has no layers; a classifier needs at least flatten, dense and softmax")
    if any(isinstance(layer, Softmax) for layer in layers[:-1]):
        raise ShapeError("softmax may appear only as the last layer")
    if not classifier:
        return
    if not isinstance(layers[-1], Softmax):
        raise ShapeError("the last layer must be softmax (the classifier's output)")
    if not any(isinstance(layer, Dense) for layer in layers):
        raise ShapeError("the network needs a dense layer to produce one logit per class")


def is_classifier(layers):
    """True when the network ends in softmax, so the workbook ends with probabilities and a loss."""
    return bool(layers) and isinstance(layers[-1], Softmax)


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
    hand_made: bool = False     # the first layer's filters set by hand (named filters): not trained

    @property
    def input_shape(self):
        return (self.channels, self.image_size, self.image_size)

    @property
    def classifier(self):
        """A model with class names is a classifier; one without stops after its last layer."""
        return bool(self.class_names)

    def shapes(self):
        return infer_shapes(self.layers, self.input_shape, self.classifier)

    def truncated(self, count):
        """The first ``count`` layers, with their weights: a lesson that stops early."""
        if count >= len(self.layers):
            return self
        return replace(self, layers=self.layers[:count], params=self.params[:count], class_names=())

    def validate(self):
        """Refuse a model whose weights, classes and shapes do not agree."""
        shapes = self.shapes()
        if len(self.params) != len(self.layers):
            raise ModelError(f"{len(self.layers)} layers but parameters for {len(self.params)}")
        if self.classifier:
            self._validate_classes()
        in_shape = self.input_shape
        for number, (layer, shape, p) in enumerate(zip(self.layers, shapes, self.params), start=1):
            expected = parameter_shapes(layer, in_shape)
            for name, want in expected.items():
                have = np.shape(p.get(name))
                if have != want:
                    raise ModelError(f"layer {number} ({describe(layer)}): {name} has shape {have}, expected {want}")
            in_shape = shape
        return shapes

    def _validate_classes(self):
        last_dense = max(i for i, layer in enumerate(self.layers) if isinstance(layer, Dense))
        if self.layers[last_dense].units != len(self.class_names):
            raise ModelError(
                f"the last dense layer has {self.layers[last_dense].units} outputs "
                f"but there are {len(self.class_names)} class names")
        if len(set(self.class_names)) != len(self.class_names) or len(self.class_names) < 2:
            raise ModelError(f"need at least two different class names, got {list(self.class_names)}")
        for name in self.class_names:
            if not isinstance(name, str) or not name.strip() or len(name) > MAX_CLASS_NAME:
                raise ModelError(f"class name {name!r}: must be 1 to {MAX_CLASS_NAME} characters of text")


def class_named(label, class_names):
    """The class ``label`` names, matched without regard to case ("Cat" -> "cat"); UsageError if none.

    An exact match wins, so classes that differ only in case stay apart.
    """
    if label in class_names:
        return label
    same = [name for name in class_names if str(name).casefold() == str(label).casefold()]
    if len(same) == 1:
        return same[0]
    raise UsageError(f"--label {label!r} is not a class of this model{did_you_mean(label, class_names)}; "
                     f"choose one of: {', '.join(class_names) or '(none: this network has no classes)'}")


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
    shapes = infer_shapes(layers, (settings.get("channels", 3), image_size, image_size), bool(class_names))
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
        with open(path, "rb") as file:
            is_zip = file.read(4) == b"PK\x03\x04"
    except FileNotFoundError:
        raise ModelError(f"{path}: model file not found") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file ({exc.strerror or exc})") from None
    # anything else (a photo, a .npy, a pickle) would reach NumPy's pickle fallback and its hint about allow_pickle
    if not is_zip:
        raise ModelError(f"{path}: not an xlcnn model file; a model is an .npz archive, as `xlcnn train` writes")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ModelError(f"{path}: holds pickled Python objects, which xlcnn never loads; "
                             "a model holds plain arrays only") from None
        raise ModelError(f"{path}: not an xlcnn model file ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
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
