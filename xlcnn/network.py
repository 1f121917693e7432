"""The architecture as data: layer descriptions, shape inference, parameters, model files.

Array order everywhere: tensors are (channels, height, width); conv weights are
(K, C, F, F) and dense weights (outputs, inputs), as in PyTorch. Flatten reads a
(C, H, W) tensor in C order. A network is a chain of layers, or a graph whose wiring
(which layers each layer reads) is kept beside the layers: see ``graph.py``.
"""

import json
import os
import zipfile
from dataclasses import MISSING, asdict, dataclass, replace
from dataclasses import fields as dataclass_fields

import numpy as np

from .architecture import parse_architecture
from .errors import ModelError, ShapeError, UsageError, did_you_mean
from .graph import INPUT, as_inputs, check_wiring, sources
# the layer classes live in kinds/, one module per kind; re-exported here, their old address
from .kinds import *  # noqa: F401,F403
from .kinds import LAYER_TYPES

FORMAT_VERSION = 2         # 2: each layer names the layers it reads; 1 (a chain) still loads
MAX_CLASS_NAME = 100        # characters; names are shown in cells and in the drop-down list


# ---------------------------------------------------------------- layer descriptions

def layer_to_dict(layer):
    """The layer as a JSON-ready dict; an ``optional`` field (see ``kinds.base``) only when away from its default."""
    skipped = {f.name for f in dataclass_fields(layer)
               if f.metadata.get("optional") and getattr(layer, f.name) == f.default}
    return {"type": layer.kind, **{k: v for k, v in asdict(layer).items() if k not in skipped}}


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
    return layer.describe()


# ---------------------------------------------------------------- shapes


def infer_shapes(layers, input_shape, classifier=True, inputs=None):
    """Output shape of every layer, refusing impossible combinations before anything is built.

    ``input_shape`` is (C, H, W). Spatial shapes are (C, H, W), vectors (N,). A
    classifier must end in dense -> softmax; other networks (a lesson that stops
    after its first maps) may end anywhere. ``inputs`` is the wiring of a graph (None: a
    chain); the layers are walked in order, each from the shapes of the layers it reads.
    """
    check_wiring(inputs, len(layers), lambda index: f"layer {index + 1} ({describe(layers[index])})")
    shapes = []
    for number, (layer, reads) in enumerate(zip(layers, sources(inputs, len(layers))), start=1):
        shapes.append(_layer_output_shape(number, layer, source_shapes(reads, shapes, input_shape)))
    _check_order(layers, classifier)
    return shapes


def source_shapes(reads, shapes, input_shape):
    """The shapes of the tensors a layer reads, from the layers' output ``shapes`` and the network's input."""
    return [tuple(input_shape) if source == INPUT else shapes[source] for source in reads]


def _layer_output_shape(number, layer, in_shapes):
    return layer.output_shape(in_shapes, f"layer {number} ({describe(layer)})")


def _check_order(layers, classifier):
    if not layers:
        raise ShapeError("the network has no layers; a classifier needs at least flatten, dense and softmax")
    if any(layer.gives_probabilities for layer in layers[:-1]):
        raise ShapeError("softmax may appear only as the last layer")
    if not classifier:
        return
    if not layers[-1].gives_probabilities:
        raise ShapeError("the last layer must be softmax (the classifier's output)")
    if not any(layer.fully_connected for layer in layers):
        raise ShapeError("the network needs a dense layer to produce one logit per class")


def is_classifier(layers):
    """True when the network ends in softmax, so the workbook ends with probabilities and a loss."""
    return bool(layers) and layers[-1].gives_probabilities


# ---------------------------------------------------------------- the model


DEFAULT_CLASSES = ("circle", "square", "triangle")
# the example networks, as text: the one place outside ``kinds/`` that spells particular layers
EXAMPLE_ARCHITECTURE = "conv3x3x8-same,relu,maxpool2,dense"   # the --arch help's example
DEFAULT_ARCH_TEXT = "conv3x3x4,relu,maxpool2,dense"
DEFAULT_ARCHITECTURE = parse_architecture(DEFAULT_ARCH_TEXT, len(DEFAULT_CLASSES))


def lesson_architecture(classes, filters=4, kernel=3, pool=2):
    """The classic lesson network: filters, the switch, pooling, then the classifier's end."""
    text = f"conv{kernel}x{kernel}x{filters},relu,maxpool{pool},flatten,dense{classes},softmax"
    return parse_architecture(text, classes)


@dataclass
class Model:
    """A network with its weights, class names and preprocessing settings.

    ``params[i]`` holds ``{"weight": ..., "bias": ...}`` for layer i (empty for layers
    without parameters). Pixels are multiplied by ``input_scale`` before the first layer.
    ``inputs`` is the wiring of a graph (see ``graph.py``); None for a chain.
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
    inputs: tuple | None = None
    image_width: int | None = None   # a matrix's width when it is not square; None: image_size
    input_mean: tuple | None = None  # per channel, subtracted after scaling (torchvision's Normalize); None: not
    input_std: tuple | None = None   # per channel, divides after the mean is taken away

    def __post_init__(self):
        self.inputs = as_inputs(self.inputs)   # a chain's wiring written out is still a chain: None
        if self.input_mean is not None:
            self.input_mean = tuple(float(v) for v in self.input_mean)
            self.input_std = tuple(float(v) for v in self.input_std)

    @property
    def normalised(self):
        """Whether the input is normalised per channel, (pixel x scale - mean) / std, before the first layer."""
        return self.input_mean is not None

    def network_input(self, pixels):
        """What the first layer reads, from pixels (..., C, H, W): scaled, then normalised when the model is."""
        x = pixels * self.input_scale
        if not self.normalised:
            return x
        return (x - np.array(self.input_mean)[:, None, None]) / np.array(self.input_std)[:, None, None]

    def sources(self):
        """What each layer reads: layer indices, INPUT for the picture (see ``graph.sources``)."""
        return sources(self.inputs, len(self.layers))

    @property
    def input_shape(self):
        return (self.channels, self.image_size, self.image_width or self.image_size)

    @property
    def classifier(self):
        """A model with class names is a classifier; one without stops after its last layer."""
        return bool(self.class_names)

    def shapes(self):
        return infer_shapes(self.layers, self.input_shape, self.classifier, self.inputs)

    def truncated(self, count):
        """The first ``count`` layers, with their weights: a lesson that stops early."""
        if count >= len(self.layers):
            return self
        inputs = None if self.inputs is None else self.inputs[:count]
        return replace(self, layers=self.layers[:count], params=self.params[:count], class_names=(), inputs=inputs)

    def validate(self):
        """Refuse a model whose weights, classes and shapes do not agree."""
        shapes = self.shapes()
        if self.normalised:
            check_normalisation(self.input_mean, self.input_std, self.channels)
        if len(self.params) != len(self.layers):
            raise ModelError(f"{len(self.layers)} layers but parameters for {len(self.params)}")
        if self.classifier:
            self._validate_classes()
        for number, (layer, reads, p) in enumerate(zip(self.layers, self.sources(), self.params), start=1):
            expected = parameter_shapes(layer, source_shapes(reads, shapes, self.input_shape)[0])
            for name, want in expected.items():
                have = np.shape(p.get(name))
                if have != want:
                    raise ModelError(f"layer {number} ({describe(layer)}): {name} has shape {have}, expected {want}")
            for name in layer.positive_parameters:
                if not np.all(np.asarray(p[name]) > 0):
                    raise ModelError(f"layer {number} ({describe(layer)}): every {name} must be above 0")
        return shapes

    def _validate_classes(self):
        last_dense = max(i for i, layer in enumerate(self.layers) if layer.fully_connected)
        if self.layers[last_dense].units != len(self.class_names):
            raise ModelError(
                f"the last dense layer has {self.layers[last_dense].units} outputs "
                f"but there are {len(self.class_names)} class names")
        if len(set(self.class_names)) != len(self.class_names) or len(self.class_names) < 2:
            raise ModelError(f"need at least two different class names, got {list(self.class_names)}")
        for name in self.class_names:
            if not isinstance(name, str) or not name.strip() or len(name) > MAX_CLASS_NAME:
                raise ModelError(f"class name {name!r}: must be 1 to {MAX_CLASS_NAME} characters of text")


def check_normalisation(mean, std, channels, where="the model", error=ModelError):
    """One finite mean and one positive finite std per input channel, or one line saying what is wrong."""
    for name, values in (("mean", mean), ("std", std)):
        if len(values) != channels:
            raise error(f"{where}: {len(values)} {name} values for {channels} input channels; give one per channel")
        if not all(np.isfinite(values)):
            raise error(f"{where}: the {name} values must be finite numbers, not {list(values)}")
    if not all(v > 0 for v in std):
        raise error(f"{where}: every std must be above 0, not {list(std)}")


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
    return layer.parameter_shapes(input_shape)


def random_model(layers=DEFAULT_ARCHITECTURE, class_names=DEFAULT_CLASSES, image_size=28, seed=0, inputs=None,
                 **settings):
    """An untrained model with seeded He-initialised weights (same seed, same weights); ``inputs``: a graph's wiring."""
    layers = tuple(layers)
    input_shape = (settings.get("channels", 3), image_size, settings.get("image_width") or image_size)
    shapes = infer_shapes(layers, input_shape, bool(class_names), as_inputs(inputs))
    rng = np.random.default_rng(seed)
    params = []
    for layer, reads in zip(layers, sources(as_inputs(inputs), len(layers))):
        p = {}
        for name, shape in parameter_shapes(layer, source_shapes(reads, shapes, input_shape)[0]).items():
            fixed = layer.initial_value(name, shape)
            if fixed is not None:
                p[name] = fixed
            elif name == "weight":
                fan_in = int(np.prod(shape[1:]))
                p[name] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
            else:
                p[name] = np.zeros(shape)
        params.append(p)
    model = Model(layers, params, tuple(class_names), image_size=image_size, inputs=inputs, **settings)
    model.validate()
    return model


# ---------------------------------------------------------------- model files


def save_model(model, path):
    """Write the model as an .npz of plain arrays (no pickled objects); see the README."""
    arrays = {
        "xlcnn_format": np.array(FORMAT_VERSION),
        "architecture": np.array(json.dumps(architecture_to_json(model.layers, model.inputs))),
        "class_names": np.array(list(model.class_names), dtype=str),
        "image_size": np.array(model.image_size),
        **({"image_width": np.array(model.image_width)} if model.image_width else {}),   # a matrix's, not square
        "channels": np.array(model.channels),
        "fit": np.array(model.fit),
        "input_scale": np.array(float(model.input_scale)),
        "trained": np.array(bool(model.trained)),
        "description": np.array(model.description),
        "train_accuracy": np.array(float(model.train_accuracy)),
        "val_accuracy": np.array(float(model.val_accuracy)),
    }
    if model.normalised:
        arrays["input_mean"], arrays["input_std"] = np.array(model.input_mean), np.array(model.input_std)
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


def architecture_to_json(layers, inputs=None):
    """The layers as JSON-ready dicts, each with the ``inputs`` it reads: "input" or "layer{i}" (format 2).

    "layer{i}" is the name the layer's parameters have in the file (``layer{i}.weight``).
    """
    return [{**layer_to_dict(layer), "inputs": [_source_name(s) for s in reads]}
            for layer, reads in zip(layers, sources(inputs, len(layers)))]


def architecture_from_json(descriptions, version=FORMAT_VERSION):
    """(layers, inputs) from ``architecture_to_json``'s dicts; format 1 lists a chain's layers without inputs."""
    if not isinstance(descriptions, list):
        raise ModelError(f"the architecture must be a list of layers, not {descriptions!r}")
    if version == 1:
        return tuple(layer_from_dict(d) for d in descriptions), None
    layers, wiring = [], []
    for index, data in enumerate(descriptions):
        if not isinstance(data, dict) or not isinstance(data.get("inputs"), list):
            raise ModelError(f"layer {index + 1}: {data!r} names no \"inputs\" (a list such as [\"input\"])")
        layers.append(layer_from_dict({k: v for k, v in data.items() if k != "inputs"}))
        wiring.append(tuple(_source_index(name, index, len(descriptions)) for name in data["inputs"]))
    return tuple(layers), as_inputs(wiring)


def _source_name(source):
    return "input" if source == INPUT else f"layer{source}"


def _source_index(name, index, count):
    names = {_source_name(source): source for source in range(INPUT, count)}
    if name not in names:
        raise ModelError(f"layer {index + 1} reads {name!r}, which is neither \"input\" nor a layer of this file "
                         f"(\"layer0\" to \"layer{count - 1}\")")
    return names[name]


def _model_from_arrays(arrays):
    version = int(arrays["xlcnn_format"])
    if version not in (1, FORMAT_VERSION):
        raise ModelError(f"model format {version} is not supported (this xlcnn reads 1 and {FORMAT_VERSION})")
    layers, inputs = architecture_from_json(json.loads(str(arrays["architecture"])), version)
    params = []
    for i in range(len(layers)):
        prefix = f"layer{i}."
        p = {key[len(prefix):]: np.asarray(value, dtype=np.float64)
             for key, value in arrays.items() if key.startswith(prefix)}
        for name, value in p.items():
            if not np.all(np.isfinite(value)):
                raise ModelError(f"layer {i + 1} {name} holds NaN or infinite values")
        params.append(p)
    model = Model(
        layers=layers,
        params=params,
        class_names=tuple(str(name) for name in arrays["class_names"]),
        image_size=int(arrays["image_size"]),
        image_width=int(arrays["image_width"]) if "image_width" in arrays else None,
        channels=int(arrays.get("channels", 3)),
        fit=str(arrays.get("fit", "crop")),
        input_scale=float(arrays.get("input_scale", 1 / 255)),
        input_mean=tuple(arrays["input_mean"]) if "input_mean" in arrays else None,
        input_std=tuple(arrays["input_std"]) if "input_std" in arrays else None,
        trained=bool(arrays.get("trained", False)),
        description=str(arrays.get("description", "")),
        train_accuracy=float(arrays.get("train_accuracy", np.nan)),
        val_accuracy=float(arrays.get("val_accuracy", np.nan)),
        inputs=inputs,
    )
    model.validate()
    return model
