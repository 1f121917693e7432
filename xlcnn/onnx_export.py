"""xlcnn models out as ONNX: a model file, or the weights as they stand in a workbook, for onnxruntime and
every framework that reads ONNX.

Each layer writes its own node (``to_onnx`` in ``kinds/``). The graph ends with the logits, as
PyTorch's models do (the loss there takes logits): the final probabilities layer is left out, and ``xlcnn
build --model`` adds it back. The class names and the input scale travel in the metadata.
Weights are written as float32, the type every ONNX runtime computes in.
"""

import json
from pathlib import Path

import numpy as np

from .atomic import write_whole
from .errors import UsageError
from .graph import INPUT, sources
from .network import load_model
from .onnx_import import CLASS_NAMES_KEY, INPUT_SCALE_KEY, onnx_package
from .verify import XLSX_SUFFIXES, model_from_workbook

OPSET = 17          # old enough for every runtime of the last years, new enough for every operator written
INPUT_NAME, OUTPUT_NAME = "pixels", "logits"


def export_model(source, output):
    """Write the ONNX form of ``source``: an xlcnn model file (.npz) or a workbook xlcnn built (.xlsx), whose
    weights are read as they stand in its cells (a student's edits included). Returns the model written."""
    onnx = onnx_package()
    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise UsageError(f"-o {output}: an ONNX model file must end in .onnx")
    source = Path(source)
    if source.suffix.lower() not in (".npz", *XLSX_SUFFIXES):
        raise UsageError(f"{source}: xlcnn export reads a model file (.npz) or a workbook xlcnn built (.xlsx)")
    if source.suffix.lower() == ".npz":
        model = load_model(source)
    else:
        model, _ = model_from_workbook(source)
    proto = model_to_onnx(onnx, model)
    write_whole(output, lambda partial: partial.write_bytes(proto.SerializeToString()), "the ONNX model")
    return model


def model_to_onnx(onnx, model):
    """The ModelProto of ``model``: input "pixels" (batch, C, H, W), already scaled; output its logits."""
    helper = onnx.helper
    layers = list(model.layers)
    count = len(layers) - 1 if layers[-1].gives_probabilities else len(layers)
    nodes, stored = [], []
    first = INPUT_NAME
    if model.normalised:     # (pixels - mean) / std, as torchvision's Normalize, before every layer
        for op, values in (("Sub", model.input_mean), ("Div", model.input_std)):
            stored.append(onnx.numpy_helper.from_array(np.array(values, dtype=np.float32).reshape(1, -1, 1, 1),
                                                       f"input.{op.lower()}"))
            nodes.append(helper.make_node(op, [first, stored[-1].name], [f"normalised.{op.lower()}"],
                                          name=f"normalise ({op})"))
            first = nodes[-1].output[0]
    shapes = model.shapes()
    for index, (layer, reads) in enumerate(zip(layers[:count], sources(model.inputs, count))):
        in_shape = model.input_shape if reads[0] == INPUT else shapes[reads[0]]
        op, attrs, weights = layer.to_onnx(model.params[index], in_shape)
        op = layer.onnx_many if len(reads) > 2 and layer.onnx_many else op
        names = [first if source == INPUT else f"layer{source}" for source in reads]
        for number, value in enumerate(weights, start=1):    # named after the node's input they are
            stored.append(onnx.numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32),
                                                       f"layer{index}.input{number}"))
            names.append(stored[-1].name)
        out = OUTPUT_NAME if index == count - 1 else f"layer{index}"
        nodes.append(helper.make_node(op, names, [out], name=f"{index + 1} {layer.spelling()}", **attrs))
    height = model.image_size
    width = model.image_width or height
    graph = helper.make_graph(
        nodes, "xlcnn", [helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT,
                                                       ["batch", model.channels, height, width])],
        [helper.make_tensor_value_info(OUTPUT_NAME, onnx.TensorProto.FLOAT, ["batch", *shapes[count - 1]])],
        stored)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="xlcnn",
                              doc_string=model.description or "")
    proto.ir_version = 8      # what onnxruntime releases since 2021 read
    helper.set_model_props(proto, {CLASS_NAMES_KEY: json.dumps(list(model.class_names), ensure_ascii=False),
                                   INPUT_SCALE_KEY: repr(float(model.input_scale))})
    onnx.checker.check_model(proto)
    return proto
