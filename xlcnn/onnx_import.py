"""ONNX models in: a network trained in PyTorch or Keras and exported to ONNX becomes an xlcnn model.

The file is only read, never run: the graph's nodes are walked in their stored order (ONNX
stores them so that every node comes after what it reads), and each one becomes a layer
through the kind that names its operator (``onnx_ops`` and ``from_onnx`` in ``kinds/``).
Around the layers the importer keeps what the exporters add: stored tensors (weights,
target shapes), the shape arithmetic of ``x.view(x.size(0), -1)`` (Shape, Gather,
Unsqueeze, Concat on known shapes), nodes that pass their input on (Identity, Dropout)
and a bias added after a matrix product (MatMul then Add). Anything else is refused in one
line that names the node, its operator and what would make it fit.

Weights become float64. The input is (batch, channels, height, width); a height or width
left open by the exporter is the one ``size`` chooses.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ExtraMissingError, ModelError, ShapeError, UsageError
from .graph import INPUT
from .kinds import LAYER_TYPES
from .network import Model
from .onnx_node import Node

OLDEST_OPSET = 11
PASSED_ON = ("Identity", "Dropout")         # at inference they hand their input on unchanged
NORMALISING = ("Sub", "Div", "Mul")         # read as the input's normalisation when they apply to the picture
KINDS_BY_OP = {op: cls for cls in LAYER_TYPES.values() for op in cls.onnx_ops}
PROBABILITIES = next(cls for cls in LAYER_TYPES.values() if cls.gives_probabilities)
CLASS_NAMES_KEY = "class_names"     # metadata_props: a JSON list of the classes, in output order
INPUT_SCALE_KEY = "xlcnn_input_scale"   # metadata_props: what each 0-255 pixel is multiplied by


def onnx_package():
    """The ``onnx`` package, or a one-line error naming the extra that installs it."""
    try:
        import onnx
    except ImportError:
        raise ExtraMissingError("ONNX models need the onnx package; install it with: pip install 'xlcnn[onnx]'") from None
    return onnx


def load_onnx(path, size=None, class_names=()):
    """(Model, notes) from the ONNX file at ``path``; ``notes`` are lines the user should read.

    ``size`` fixes a height and width the graph leaves open (and must equal a fixed one);
    ``class_names`` (from --classes) win over the names stored in the file's metadata.
    """
    onnx = onnx_package()
    proto = _read(onnx, Path(path))
    _check_opset(onnx, proto, path)
    graph = proto.graph
    stored = {tensor.name: _array(tensor, f"{path}: tensor {tensor.name!r}") for tensor in graph.initializer}
    walk = _Walk(onnx, stored, _readers(graph))
    input_name, input_shape = _input(graph, stored, size, path)
    walk.tensors[input_name] = Tensor(INPUT, input_shape)
    for node in graph.node:
        walk.node(node)
    notes = []
    layers, params, wiring = walk.finish(graph, notes)
    metadata = {entry.key: entry.value for entry in proto.metadata_props}
    classes = class_names or _stored_classes(metadata, path)
    outputs = next((layer.units for layer in reversed(layers) if layer.fully_connected), 0)
    if outputs and not classes:
        classes = tuple(f"class {n}" for n in range(1, outputs + 1))
    elif outputs and len(classes) != outputs:
        raise UsageError(f"{path} gives {outputs} outputs, but {len(classes)} class names are given")
    channels, height, width = input_shape
    normalised = walk.mean is not None
    model = Model(layers=tuple(layers), params=params, class_names=tuple(classes) if outputs else (),
                  input_mean=tuple(walk.mean) if normalised else None,
                  input_std=tuple(walk.std if walk.std is not None else np.ones(len(walk.mean))) if normalised else None,
                  image_size=height, image_width=None if width == height else width, channels=channels,
                  input_scale=_input_scale(metadata, path), trained=True,
                  description=f"imported from {Path(path).name}", inputs=wiring)
    try:
        model.validate()
    except (ModelError, ShapeError) as exc:
        raise ModelError(f"{path}: {exc}") from None
    return model, notes


# ---------------------------------------------------------------- the file


def _read(onnx, path):
    from google.protobuf.message import DecodeError    # onnx's own dependency
    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except (DecodeError, ValueError, OSError, RuntimeError) as exc:
        raise ModelError(f"{path}: not an ONNX model ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if not proto.ir_version or not proto.HasField("graph") or not proto.graph.node:
        raise ModelError(f"{path}: not an ONNX model (no graph of nodes in it)")
    if proto.graph.sparse_initializer:
        raise ModelError(f"{path}: holds sparse tensors ({proto.graph.sparse_initializer[0].values.name}); xlcnn "
                         "reads stored weights held whole")
    for tensor in _every_tensor(proto.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            where = dict((entry.key, entry.value) for entry in tensor.external_data).get("location", "another file")
            raise ModelError(f"{path}: keeps its weights in a separate file ({tensor.name} in {where}); xlcnn reads "
                             "one self-contained file: export with torch.onnx.export(..., external_data=False) or "
                             "save with onnx.save_model(model, path, save_as_external_data=False)")
    return proto


def _every_tensor(graph):
    """The stored tensors and those inside nodes' attributes (a Constant's value): none may point outside."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("sparse_tensor"):
                yield attribute.sparse_tensor.values
            yield from (sparse.values for sparse in attribute.sparse_tensors)


def _check_opset(onnx, proto, path):
    newest = onnx.defs.onnx_opset_version()
    versions = [entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx")]
    if not versions:
        raise ModelError(f"{path}: names no version of the standard ONNX operators (opset_import)")
    if not OLDEST_OPSET <= versions[0] <= newest:
        raise ModelError(f"{path}: uses opset {versions[0]}; xlcnn reads opsets {OLDEST_OPSET} to {newest} "
                         "(export again with opset_version in that range)")


def _array(tensor, where):
    """A stored tensor (an initializer, a Constant's value) as numbers, floats as float64; ModelError otherwise,
    its message starting with ``where``."""
    from onnx import numpy_helper
    try:
        value = numpy_helper.to_array(tensor)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{where} cannot be read ({exc})") from None
    if value.dtype.kind not in "fiub":
        raise ModelError(f"{where} holds {value.dtype} values, not numbers")
    if value.dtype.kind == "f":
        value = value.astype(np.float64)
        if not np.all(np.isfinite(value)):
            raise ModelError(f"{where} holds NaN or infinite values")
    return value


def _input(graph, stored, size, path):
    """The one input the graph reads, as (name, (channels, height, width))."""
    real = [value for value in graph.input if value.name not in stored]
    if len(real) != 1:
        raise ModelError(f"{path}: reads {len(real)} inputs; xlcnn feeds a network one picture")
    value = real[0]
    dims = value.type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ModelError(f"{path}: its input {value.name!r} has {len(dims)} dimensions; xlcnn feeds pictures as "
                         "(batch, channels, height, width)")
    sides = []
    for axis, dim in zip(("channels", "height", "width"), dims[1:]):
        if dim.HasField("dim_value") and dim.dim_value > 0:
            fixed = dim.dim_value
            if size is not None and axis != "channels" and fixed != size:
                raise UsageError(f"--size {size} does not fit {path}: the model reads {fixed} pixels of {axis}; "
                                 "leave out --size")
            sides.append(fixed)
        elif axis != "channels" and size is not None:
            sides.append(size)
        else:
            how = "choose it with --size" if axis != "channels" else "export the model with a fixed channel count"
            raise UsageError(f"{path}: the model leaves its input's {axis} open ({dim.dim_param or '?'}); {how}")
    return value.name, tuple(sides)


def _readers(graph):
    """How many nodes (and graph outputs) read each tensor, over the whole graph."""
    counts = {}
    for name in [name for node in graph.node for name in node.input] + [value.name for value in graph.output]:
        counts[name] = counts.get(name, 0) + 1
    return counts


def _input_scale(metadata, path):
    text = metadata.get(INPUT_SCALE_KEY, repr(1 / 255))
    try:
        scale = float(text)
    except ValueError:
        scale = float("nan")
    if not np.isfinite(scale) or scale == 0:
        raise ModelError(f"{path}: metadata {INPUT_SCALE_KEY} must be a finite number other than 0, not {text[:40]!r}")
    return scale


def _stored_classes(metadata, path):
    if CLASS_NAMES_KEY not in metadata:
        return ()
    try:
        names = json.loads(metadata[CLASS_NAMES_KEY])
    except json.JSONDecodeError:
        names = None
    if not isinstance(names, list) or not all(isinstance(name, str) and name for name in names):
        raise ModelError(f"{path}: metadata {CLASS_NAMES_KEY} must be a JSON list of names, "
                         f"not {metadata[CLASS_NAMES_KEY][:60]!r}")
    return tuple(names)


# ---------------------------------------------------------------- the walk


@dataclass(frozen=True)
class Tensor:
    """A tensor the layers compute: the layer that gives it (``INPUT``: the picture) and its shape per picture."""

    source: int
    shape: tuple


class _Walk:
    """The layers found so far, and what every tensor name of the graph stands for."""

    def __init__(self, onnx, stored, readers):
        self.onnx = onnx
        self.stored = dict(stored)     # tensor name -> array known without running the network
        self.readers = readers         # tensor name -> how many nodes (and graph outputs) read it, in the whole graph
        self.tensors = {}              # tensor name -> Tensor
        self.layers, self.params, self.wiring = [], [], []
        self.output_names = {}         # layer index -> the tensor name its node gives
        self.mean, self.std = None, None   # a normalisation of the input at the graph's start (Sub, Div)
        self.folded = []               # (what was folded, the layer it went into, numbered from 1)

    def node(self, proto):
        node = Node(proto.op_type, proto.name)
        try:
            node.attrs = {a.name: self.onnx.helper.get_attribute_value(a) for a in proto.attribute}
            self._node(node, proto)
        except (ValueError, IndexError, TypeError, KeyError, ArithmeticError) as exc:   # numbers that do not fit
            raise node.fail(f"cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")

    def _node(self, node, proto):
        if proto.domain not in ("", "ai.onnx"):
            raise node.fail(f"is an operator of the {proto.domain!r} domain", "xlcnn reads the standard operators")
        inputs = [name for name in proto.input]
        if not proto.output or not proto.output[0]:
            raise node.fail("gives no output")
        if not inputs and proto.op_type != "Constant":
            raise node.fail("reads no input")
        if proto.op_type in FOLDED:
            value = FOLDED[proto.op_type](self, node, inputs)
            if value is not None:
                self.stored[proto.output[0]] = value
                return
        if proto.op_type in PASSED_ON:
            self.tensors[proto.output[0]] = self._tensor(node, inputs[0])
        elif proto.op_type in NORMALISING and self._reads_input(inputs):
            self._normalise(node, inputs, proto.output[0])
        elif proto.op_type == "Add" and any(name in self.stored for name in inputs):
            self._bias(node, inputs, proto.output[0])
        elif proto.op_type in KINDS_BY_OP:
            self._layer(node, KINDS_BY_OP[proto.op_type], inputs, proto.output)
        else:
            known = ", ".join(sorted({*KINDS_BY_OP, *PASSED_ON, *FOLDED}))
            raise node.fail("has no xlcnn layer", f"xlcnn reads {known}, and Sub, Div or Mul normalising the input")

    def finish(self, graph, notes):
        if len(graph.output) != 1:
            raise ModelError(f"the graph gives {len(graph.output)} outputs; xlcnn shows a network with one")
        out = self.tensors.get(graph.output[0].name)
        if out is None or out.source != len(self.layers) - 1 or not self.layers:
            raise ModelError(f"the graph's output {graph.output[0].name!r} is not the last layer's")
        for what, number in self.folded:
            notes.append(f"{what} folded into the weights and biases of layer {number}: the same numbers, "
                         "which the workbook has no sheet for yet")
        last, source = self.layers[-1], self.wiring[-1][0]
        # the logits: a fully connected layer's outputs, or those scaled and shifted per output after it
        before = self.layers[source] if last.folds and source != INPUT else last
        if before.fully_connected:   # PyTorch's loss takes logits: the probabilities are not in the file
            self._append(PROBABILITIES(), {}, (len(self.layers) - 1,), (before.units,))
            notes.append(f"the model ends with {before.units} logits; the workbook adds the layer that turns them "
                         "into probabilities")
        return self.layers, self.params, self.wiring

    # -- helpers

    def _reads_input(self, inputs):
        return any(self.tensors.get(name, Tensor(0, ())).source == INPUT for name in inputs)

    def _normalise(self, node, inputs, output):
        """(x - mean) / std per channel at the input (torchvision's Normalize written into the graph); a Mul by
        1 / std as some exporters write it. Kept as the model's input_mean and input_std, so it must be the
        input's only reader, a chain from the picture to the first layer."""
        data = [name for name in inputs if name in self.tensors]
        stored = [self.stored.get(name) for name in inputs if name not in self.tensors]
        if len(data) != 1 or len(stored) != 1 or stored[0] is None or (node.op != "Mul" and inputs[0] != data[0]) \
                or self.readers.get(data[0], 0) != 1:
            raise node.fail("changes the input in a way xlcnn cannot show",
                            "xlcnn shows a normalisation (x - mean) / std per channel that alone reads the picture, "
                            "at the graph's start")
        tensor = self.tensors[data[0]]
        channels = tensor.shape[0]
        values = _per_channel(node, stored[0], tensor.shape)
        mean = self.mean if self.mean is not None else np.zeros(channels)
        std = self.std if self.std is not None else np.ones(channels)
        if node.op == "Sub" and self.std is None:
            self.mean = mean + values
        elif node.op in ("Div", "Mul") and np.all(values > 0):
            self.mean, self.std = mean, std * (values if node.op == "Div" else 1 / values)
        else:
            raise node.fail("changes the input in a way xlcnn cannot show",
                            "xlcnn shows a normalisation (x - mean) / std with every std above 0, at the start")
        self.tensors[output] = tensor

    def _only_reader(self, name, tensor):
        """Whether ``name`` is the direct output of a layer with weights and biases that nothing else reads: then a
        scale or shift after it can join its weights."""
        own = self.params[tensor.source] if tensor.source != INPUT else {}
        return ("weight" in own and "bias" in own and self.output_names.get(tensor.source) == name
                and self.readers.get(name, 0) == 1)

    def _fold(self, node, layer, params, name, tensor, output):
        """A scale and shift per output that the workbook cannot show yet, folded into the weights and
        biases of the layer just before it: exactly the same numbers come out."""
        if not self._only_reader(name, tensor):
            raise node.fail("scales what no layer with weights just computed",
                            f"xlcnn folds a {layer.describe()} into the weights of the layer right before it")
        own = self.params[tensor.source]
        own.update(layer.folded(params, own, self.layers[tensor.source].output_axis))
        self.folded.append((layer.describe(), tensor.source + 1))
        self.tensors[output] = tensor

    def _tensor(self, node, name):
        if name not in self.tensors:
            what = "which holds stored values, not a layer's output" if name in self.stored else \
                "which no earlier node gives and no initializer holds"
            raise node.fail(f"reads {name!r}, {what}", "xlcnn's layers read the picture or another layer")
        return self.tensors[name]

    def _layer(self, node, cls, inputs, outputs):
        data = [name for name in inputs if name] if cls.joins else inputs[:1]
        sources = [self._tensor(node, name) for name in data]
        computed = [name for name in inputs[1:] if name and name not in self.stored] if not cls.joins else []
        if computed:
            raise node.fail(f"reads {computed[0]!r} as weights, and the graph computes it",
                            "xlcnn reads stored weights only")
        node.constants = [self.stored.get(name) for name in inputs[1:]] if not cls.joins else []
        if any(name for name in outputs[1:]):
            raise node.fail("gives a second output (such as a pooling's indices)", "xlcnn keeps one output per node")
        layer, params = cls.from_onnx(node, sources[0].shape)
        if layer is None:      # a reshape of a vector to itself: the same tensor under another name
            self.tensors[outputs[0]] = sources[0]
            return
        if layer.folds and not layer.drawn():
            self._fold(node, layer, params, data[0], sources[0], outputs[0])
            return
        where = f"{node.where}, layer {len(self.layers) + 1}"
        try:
            shape = layer.output_shape([tensor.shape for tensor in sources], where)
        except ShapeError as exc:
            raise ModelError(str(exc)) from None
        self.tensors[outputs[0]] = self._append(layer, params, tuple(t.source for t in sources), shape)
        self.output_names[len(self.layers) - 1] = outputs[0]

    def _append(self, layer, params, sources, shape):
        self.layers.append(layer)
        self.params.append({name: np.asarray(value, dtype=np.float64) for name, value in params.items()})
        self.wiring.append(sources)
        return Tensor(len(self.layers) - 1, tuple(int(n) for n in shape))

    def _bias(self, node, inputs, output):
        """Add of a stored vector after a layer with biases (MatMul then Add): the vector joins the biases."""
        names = [name for name in inputs if name not in self.stored]
        if len(names) != 1:
            raise node.fail("adds stored values only")
        tensor = self._tensor(node, names[0])
        added = next(self.stored[name] for name in inputs if name in self.stored)
        if not self._only_reader(names[0], tensor):
            raise node.fail(f"adds a stored array of shape {added.shape} to a tensor of shape {tensor.shape}",
                            "xlcnn adds a constant only as the bias of the layer just before, which nothing else reads")
        own = self.params[tensor.source]
        own["bias"] = own["bias"] + _per_channel(node, added, tensor.shape)
        self.tensors[output] = tensor


def _per_channel(node, value, shape):
    """A stored ``value`` that ONNX broadcasts as one number per channel of maps of ``shape`` (C, H, W): a single
    number, (C, 1, 1) or (1, C, 1, 1); per unit of a vector (N,): (N,) or (1, N). As (C,) or (N,) floats."""
    count = shape[0]
    if value.size == 1:
        return np.full(count, float(value.reshape(-1)[0]))
    fits = ((count, 1, 1), (1, count, 1, 1)) if len(shape) == 3 else ((count,), (1, count))
    if tuple(value.shape) not in fits:
        raise node.fail(f"applies a stored array of shape {tuple(value.shape)} to a tensor of shape {tuple(shape)}",
                        "xlcnn takes one number per channel here: shape (C, 1, 1) or (1, C, 1, 1), a vector's (N,)")
    return value.reshape(-1).astype(np.float64)


# ---------------------------------------------------------------- shape arithmetic on known values


def _shape(walk, node, inputs):
    tensor = walk.tensors.get(inputs[0])
    return None if tensor is None else np.array([1, *tensor.shape], dtype=np.int64)


def _stored(walk, inputs):
    """The stored values of every input (None where one is computed; '' is an input left out)."""
    values = [walk.stored.get(name) if name else None for name in inputs]
    return None if any(value is None for name, value in zip(inputs, values) if name) else values


def _gather(walk, node, inputs):
    values = _stored(walk, inputs)
    return None if values is None else np.take(values[0], values[1], axis=int(node.attrs.get("axis", 0)))


def _unsqueeze(walk, node, inputs):
    values = _stored(walk, inputs)
    if values is None:
        return None
    axes = node.attrs.get("axes", values[1] if len(values) > 1 else None)
    result = values[0]
    for axis in sorted(int(a) for a in np.ravel(axes)):
        result = np.expand_dims(result, axis if axis >= 0 else axis + result.ndim + 1)
    return result


def _squeeze(walk, node, inputs):
    values = _stored(walk, inputs)
    if values is None:
        return None
    axes = node.attrs.get("axes", values[1] if len(values) > 1 and values[1] is not None else None)
    return np.squeeze(values[0], axis=None if axes is None else tuple(int(a) for a in np.ravel(axes)))


def _concat(walk, node, inputs):
    values = _stored(walk, inputs)
    return None if values is None else np.concatenate([np.atleast_1d(v) for v in values],
                                                      axis=int(node.attrs.get("axis", 0)))


def _first(walk, node, inputs):
    values = _stored(walk, inputs)
    return None if values is None else values[0]


def _constant(walk, node, inputs):
    if "value" in node.attrs:
        return _array(node.attrs["value"], f"{node.where}: its value")
    for key in ("value_float", "value_floats", "value_int", "value_ints"):
        if key in node.attrs:
            return np.array(node.attrs[key])
    raise node.fail("holds a kind of constant xlcnn does not read", "store numbers (value, value_float(s), value_int(s))")


# operators computed here when every value they read is known before the picture is
FOLDED = {"Constant": _constant, "Shape": _shape, "Gather": _gather, "Unsqueeze": _unsqueeze, "Squeeze": _squeeze,
          "Concat": _concat, "Cast": _first, "Identity": _first}
