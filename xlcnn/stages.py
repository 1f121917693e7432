"""Where each number of the NumPy engine lives in the workbook: one list of (stage, cells, values).

The builder stores these values beside the formulas (so viewers that do not
recalculate show the true numbers); verify compares an engine's recalculation with
them. Both read the same list, so a stage cannot be placed one way and checked another.
"""

from dataclasses import dataclass

import numpy as np

from .engine import descent_step, forward, forward_batch, loss_and_gradients
from .graph import INPUT
from .kinds import CLASSES
from .layers import effective_kernel, pad_input
from .plans import FoldSheet, NormSheet, ScatterSheet

# the sheets that hold one layer's output: every kind's but the probabilities' (checked with the loss)
LAYER_KINDS = tuple(cls.kind for cls in CLASSES if not cls.gives_probabilities)


@dataclass
class Stage:
    """Cells of ``blocks`` (in order, each row by row) and the values they must hold."""

    name: str
    blocks: list
    values: np.ndarray      # floats, one dimension (row-major); text (the prediction) as an object array
    step: int = 0           # the forward pass (0 before any descent step)


def output_blocks(output):
    """The blocks of a layer's output: each map's interior (no padding border), or the vector itself."""
    return [output.interior(c) for c in range(len(output.maps))] if hasattr(output, "maps") else [output]


def workbook_stages(layout, model, pixels, label, learning_rate=0.0, targets=None):
    """Every stage of every pass (forward, gradients, descent steps) with the engine's values.

    ``model`` holds the weights of the first pass; later passes use the weights after
    each gradient-descent step at ``learning_rate``, as the workbook's formulas do.
    ``label`` None (not chosen yet) leaves out the loss, which the workbook shows blank.
    A regression gives its ``targets`` (one per output) instead of a label.
    Returns (stages, forward passes).
    """
    stages, passes = [], []
    for step, view in enumerate([layout, *layout.passes]):
        reference = forward(model, pixels, label, targets)
        passes.append(reference)
        stages += _forward_stages(view, layout.pass_sheets(step), model, reference, label, step)
        if targets is not None:
            stages += _regression_stages(view, reference, targets, step)
        if step < len(layout.gradients):
            truth = np.array([label]) if targets is None else np.asarray(targets, dtype=float)[None]
            gradient_stages, model = _gradient_stages(layout, step, model, pixels, truth, learning_rate)
            stages += gradient_stages
    if layout.descent is not None:
        stages.append(Stage(layout.descent.name, [layout.descent.losses],
                            np.array([p.loss for p in passes])))
    return stages, passes


def _stage(name, blocks, values, step=0):
    return Stage(name, list(blocks), np.asarray(values, dtype=float).reshape(-1), step)


def _forward_stages(view, sheets, model, reference, label, step):
    """Every stage of one forward pass; in a later pass also its new weights."""
    out = []
    for plan in sheets:
        if plan.kind == "input" and plan.normalised is not None:
            out.append(_stage(f"{plan.name} (normalised)", output_blocks(plan.normalised),
                              model.network_input(reference.pixels), step))
        if plan.kind == "filters":
            layer, p = model.layers[plan.layer], model.params[plan.layer]
            if step:
                blocks = [block for slices in plan.weight for block in slices]
                bias = p.get("bias", np.zeros(len(plan.bias)))    # a bias-free conv's cells hold a fixed 0
                out.append(_stage(plan.name, blocks + list(plan.bias),
                                  np.concatenate([p["weight"].reshape(-1), bias]), step))
            if plan.effective is not None:
                blocks = [block for slices in plan.effective for block in slices]
                out.append(_stage(f"{plan.name} (as used)", blocks,
                                  effective_kernel(p["weight"], layer.dilation, layer.flip), step))
        if isinstance(plan, NormSheet):
            out += _norm_stages(plan, model, reference, step)
        if isinstance(plan, FoldSheet):
            out += _fold_stages(plan, model, reference, step)
        if plan.kind in LAYER_KINDS:
            if step and model.layers[plan.layer].fully_connected:   # its weights, moved by the descent step
                p = model.params[plan.layer]
                weight = p["weight"].T if plan.rows_are_inputs else p["weight"]
                out.append(_stage(f"{plan.name} (weights)", [plan.weight, plan.bias],
                                  np.concatenate([weight.reshape(-1), p["bias"]]), step))
            out.append(_stage(plan.name, output_blocks(plan.output),
                              reference.stages[plan.layer].output, step))
        if plan.kind == "im2col":
            out += _im2col_stages(plan, model, reference, step)
        if isinstance(plan, ScatterSheet):
            out += _scatter_stages(plan, model, reference, step)
    if model.classifier:
        out += _classifier_stages(view, model, reference, label, step)
    return out


def _norm_stages(plan, model, reference, step):
    """x^, the first of a normalising layer's two steps (y is its output); in a later pass also gamma and beta."""
    layer, p = model.layers[plan.layer], model.params[plan.layer]
    out = [_stage(f"{plan.name} (normalised)", output_blocks(plan.normalised),
                  layer.normalised_one(_layer_input(model, reference, plan.layer), p), step)]
    if step:
        out.append(_stage(f"{plan.name} (gamma, beta)", [plan.gamma, plan.beta],
                          np.concatenate([p["weight"], p["bias"]]), step))
    return out


def _fold_stages(plan, model, reference, step):
    """The folded weights and biases (in the arrangement of the layer's own sheet), and the output they
    give: the normalising layer's own. The differences are left to the stored-value check: they are
    rounding leftovers around 0, which no tolerance relative to them could judge."""
    norm, index = plan.norm_layer, model.sources()[plan.norm_layer][0]
    before = model.layers[index]
    folded = model.layers[norm].folded(model.params[norm], model.params[index], before.output_axis)
    if plan.filters is not None:
        weight = effective_kernel(folded["weight"], before.dilation, before.flip)
        blocks = [block for slices in plan.weight for block in slices] + list(plan.bias)
    else:
        weight = folded["weight"].T if plan.rows_are_inputs else folded["weight"]
        blocks = [plan.weight, plan.bias]
    return [_stage(f"{plan.name} (weights)", blocks, np.concatenate([weight.reshape(-1), folded["bias"]]), step),
            _stage(plan.name, output_blocks(plan.folded), reference.stages[norm].output, step)]


def _layer_input(model, reference, index):
    """What layer ``index`` reads, as the engine gives it: the output before, or the network's input."""
    read = model.sources()[index][0]
    return reference.stages[read].output if read != INPUT else model.network_input(reference.pixels)


def _im2col_stages(plan, model, reference, step):
    """The unrolled filters and windows, and their product: the same maps as the layer's own sheet."""
    p = model.params[plan.layer]
    read = model.sources()[plan.layer][0]    # the windows hold the cells as the sheets show them: pixels unscaled
    source = reference.stages[read].output if read != INPUT else (
        model.network_input(reference.pixels) if model.normalised else reference.pixels)
    padded = pad_input(source, plan.conv.padding)
    windows = np.array([[padded[plan.input_index(n, q)] for q in range(plan.windows.width)]
                        for n in range(plan.windows.height)])
    return [_stage(f"{plan.name} (filters)", [plan.filter_rows, plan.bias],
                   np.concatenate([p["weight"].reshape(-1), p["bias"]]), step),   # (K, C, F, F): row k, tap (c, u, v)
            _stage(f"{plan.name} (windows)", [plan.windows], windows, step),
            _stage(plan.name, output_blocks(plan.output), reference.stages[plan.layer].output, step)]


def _scatter_stages(plan, model, reference, step):
    """The reach map, the output side and the worked example of a scattering layer's sheet."""
    p, layer = model.params[plan.layer], plan.scatter
    read = model.sources()[plan.layer][0]    # the example shows the cells as the sheets do: pixels unscaled
    source = reference.stages[read].output if read != INPUT else (
        model.network_input(reference.pixels) if model.normalised else reference.pixels)
    _, height, width = source.shape
    k, y, x = plan.example_at
    inputs = np.array([source[c, i, j] for c, i, j, _, _ in plan.contributions(y, x)])
    weights = np.array([p["weight"][c, k, u, v] for c, _, _, u, v in plan.contributions(y, x)])
    result = reference.stages[plan.layer].output[k, y, x]
    results = {"sum": (inputs * weights).sum(), "scale": model.input_scale, "bias": p["bias"][k], "result": result,
               "cell": result}
    return [_stage(f"{plan.name} (reach)", [plan.reach, plan.side],
                   np.append(layer.reach(height, width), plan.reach.width), step),
            _stage(f"{plan.name} (example)", [plan.inputs, plan.weights, plan.products, plan.results],
                   np.concatenate([inputs, weights, inputs * weights, [results[key] for key in plan.result_keys]]),
                   step)]


def _classifier_stages(view, model, reference, label, step):
    last = model.layers[-1]     # gives the probabilities; its sheet shows them
    output, loss = view.sheet_of(len(model.layers) - 1), view.sheet("loss")
    prefix = view.prefix
    z = reference.logits
    cells = last.checked_cells(output, z, reference.probabilities, reference.log_probabilities)
    expected = {name: (block, values) for name, block, values in cells}
    expected["one-hot"] = (loss.one_hot, np.zeros(len(z)) if label is None else np.eye(len(z))[label])
    expected["loss"] = (loss.loss, reference.loss)
    if label is None:   # not chosen yet: the loss cell is blank text, worked out like any other formula cell
        del expected["loss"]
    out = [_stage(prefix + name, [block], values, step) for name, (block, values) in expected.items()]
    prediction = np.array([model.class_names[reference.prediction]], dtype=object)
    out.append(Stage("prediction", [output.prediction], prediction, step))
    return out


def _regression_stages(view, reference, targets, step):
    """A regression's loss sheet: the outputs it reads, their squared errors and their mean."""
    loss = view.sheet("loss")
    outputs = reference.stages[-1].output
    errors = (outputs - np.asarray(targets, dtype=float)) ** 2
    expected = {"outputs": (loss.outputs, outputs), "squared errors": (loss.errors, errors),
                "loss": (loss.loss, reference.loss)}
    return [_stage(view.prefix + name, [block], values, step) for name, (block, values) in expected.items()]


def _sent_back(model, pixels, upstream):
    """sent[i]: the gradient layer i sends back to the first tensor it reads, from that of its output
    (``upstream[i]``): in a graph a tensor read by several layers gets the sum of theirs."""
    outputs = forward_batch(model, pixels[None])
    sent = {}
    for index, (layer, p, reads) in enumerate(zip(model.layers, model.params, model.sources())):
        if upstream[index] is not None and not layer.joins and not layer.gives_probabilities:
            xs = [outputs[source + 1] for source in reads]
            sent[index] = layer.backward(upstream[index], xs, p)[0][0][0]
    return sent


def _gradient_stages(layout, step, model, pixels, truth, learning_rate):
    """Every gradient sheet of one pass; returns them and the model after the descent step.

    ``truth`` is what the loss compares with: the label (1,) of a classifier, the targets (1, n) of a regression.
    """
    upstream = []
    _, grads, _ = loss_and_gradients(model, pixels[None], truth, upstream)
    sent = _sent_back(model, pixels, upstream) if layout.inputs is not None else None
    out = []
    for index, plan in sorted(layout.gradients[step].items(), reverse=True):
        layer = model.layers[index]
        parts = []
        if layer.fully_connected:
            parts += [([plan.upstream], upstream[-1][0]), ([plan.bias], grads[index]["bias"]),
                      ([plan.weight], grads[index]["weight"].T)]
        elif layer.has_filters:
            parts.append(([s for slices in plan.weight for s in slices], grads[index]["weight"]))
            if "bias" in grads[index]:    # a bias-free conv has none to learn
                parts.append((list(plan.bias), grads[index]["bias"]))
            if plan.back_kernels is not None:
                turned = effective_kernel(model.params[index]["weight"], layer.dilation, layer.flip)[..., ::-1, ::-1]
                parts.append(([s for kernels in plan.back_kernels for s in kernels], turned))
        elif layer.scatters:      # weight[c][k]: the stored (C, K, F, F) order
            parts += [([s for kernels in plan.weight for s in kernels], grads[index]["weight"]),
                      (list(plan.bias), grads[index]["bias"])]
        elif layer.normalises:
            parts += [([plan.gamma], grads[index]["weight"]), ([plan.beta], grads[index]["bias"])]
        if getattr(plan, "gathered", None) is not None:   # a fork: the sum of what its readers send back
            parts.append((output_blocks(plan.gathered), upstream[index][0]))
        if layer.joins:    # the gradient of its output, which its operands take back
            parts.append((output_blocks(plan.input), upstream[index][0]))
        elif plan.input is not None:   # what the layer sends back to the one it reads
            if sent is None and index == 0:   # the first layer's to the pixels (a bn's), which a chain does not keep
                sent = _sent_back(model, pixels, upstream)
            parts.append((output_blocks(plan.input), upstream[index - 1][0] if sent is None else sent[index]))
        blocks = [block for group, _ in parts for block in group]
        values = np.concatenate([np.asarray(array, dtype=float).reshape(-1) for _, array in parts])
        out.append(_stage(plan.name, blocks, values, step))
    return out, descent_step(model, grads, learning_rate)
