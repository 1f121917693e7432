"""Where every tensor lives, decided before the first cell is written.

``plan_layout`` turns an architecture into a list of planned sheets (``plans``). Sheet writers
and the verifier only read positions from here; neither does offset arithmetic.
Rows 0..HEADER_ROWS-1 of every sheet hold the title and the explanation.
"""

from collections import Counter
from dataclasses import dataclass, field, fields, is_dataclass, replace

from .cells import MAX_FORMULA_CHARS, Block, MAX_COLS, MAX_ROWS, safe_sheet_name
from .errors import LimitError, ShapeError, UsageError
from .graph import INPUT, sources
from .losses import REGRESSION
from .plans import (AddSheet, ChannelGrid, Im2colSheet, JoinGradSheet, ScatterGradSheet, ScatterKernelsSheet, ScatterSheet, StackedSheet, ConvExample, ConvGradSheet, ConvSheet, ConnectedExample, ConnectedGradSheet, ConnectedSheet, DescentSheet,
                    FiltersSheet, FoldSheet, ColumnSheet, InputSheet, Knows, Legend, LossSheet, ManifestSheet, MapGradSheet,
                    MapPictures, MapSheet, MapStack, NormExample, NormGradSheet, NormSheet, OverviewSheet, PoolSheet, Sheet, ProbabilitySheet, SquaredErrorSheet,
                    SummarySheet, VectorSheet, WindowExample, example_of, output_of)
from .kinds.base import class_with, kind_with
from .network import (ACTIVATIONS, CLASSES, MERGES, POOLS, infer_shapes,
                      is_classifier, require_drawn)
from .summary import COMPARED, COMPARISON_COLUMNS, bottlenecks, compared, formula_count as summary_formulas, summarize

HEADER_ROWS = 8       # title + explanation lines + one blank row
NOTICE_ROW = HEADER_ROWS - 1   # the trained/untrained notice, the last line of the header
FIRST_COL = 1         # column A holds row labels
GAP = 1               # empty rows/columns between matrices

STEP_TITLES = {   # the English stems of the sheet names; each layer kind names its own (``title``)
    "input": "Input", "filters": "Filters", **{cls.kind: cls.title for cls in CLASSES}, "loss": "Loss",
    "summary": "Summary", "overview": "Overview", "manifest": "Manifest", "grad": "Grad", "descent": "Descent", "fold": "Folded",
    "step_prefix": "S{n} ", "im2col": "im2col",
}


@dataclass
class Layout:
    """The complete plan: every sheet in the order of the story."""

    sheets: list
    input_shape: tuple
    formulas: int = 0                # formula cells the plan holds, counted from its blocks
    passes: list = field(default_factory=list)      # forward passes after each descent step (Layout views)
    gradients: list = field(default_factory=list)   # per step: {layer index: its gradient sheet}
    descent: Sheet | None = None                    # learning rate and the loss after each step
    prefix: str = ""                 # a later pass's view: what its sheet names start with ("S1 ")
    inputs: tuple | None = None      # a graph's wiring (see graph.py); None for a chain

    def sheet(self, kind, layer=None):
        for plan in self.sheets:
            if plan.kind == kind and (layer is None or plan.layer == layer):
                return plan
        raise KeyError((kind, layer))

    def output_of(self, layer):
        """The block or map stack that holds the output of ``model.layers[layer]``."""
        return output_of(self.sheet_of(layer))

    def input_of(self, layer):
        """The block or map stack ``model.layers[layer]`` reads (its first source): the output of the layer
        before in a chain, or the pixels."""
        source = sources(self.inputs, layer + 1)[layer][0]
        return self.input if source == INPUT else self.output_of(source)

    def sheet_of(self, layer):
        """The sheet that shows the output of ``model.layers[layer]``."""
        for plan in self.sheets:
            if plan.layer == layer and output_of(plan) is not None:
                return plan
        raise KeyError(layer)

    def pass_sheets(self, step=0):
        """The sheets of forward pass ``step``; pass 0 is every sheet no later pass owns."""
        if step:
            return self.passes[step - 1].sheets[1:]
        later = {id(plan) for view in self.passes for plan in view.sheets[1:]}
        return [plan for plan in self.sheets if id(plan) not in later]

    @property
    def input(self):
        return output_of(self.sheet("input"))


# ---------------------------------------------------------------- public


def plan_layout(layers, input_shape, class_names, titles=None, steps=0, max_formulas=None, inputs=None, im2col=False,
                normalised=False, regression=False, fold=False):
    """Decide the sheets and blocks for ``layers`` applied to an input of (C, H, W).

    A network that ends in probabilities gets a probabilities and a loss sheet; a ``regression`` (--loss mse)
    ends with its last layer and a loss sheet of squared errors; every network ends
    with a summary sheet of shapes, parameters and receptive fields. With ``steps`` > 0
    the workbook also walks backwards (one gradient sheet per layer), takes that many
    steps of gradient descent, and runs the forward pass again after each one.

    Excel's limits (rows, columns, formula length) and, when given, ``max_formulas``
    are checked sheet by sheet as the plan grows, so an impossible network is refused
    (LimitError) before the rest is planned and long before any cell is written.

    ``inputs`` is a graph's wiring (None: a chain); each layer's sheet reads its sources' sheets.
    ``im2col`` adds, after the first layer with filters, the same layer as a matrix product.
    ``normalised`` puts the input normalised per channel beside the pixels (the first layer reads it).
    ``fold`` adds after each layer that ``folds`` (it must read a conv or fully connected layer) the layer before with
    it folded in, as formulas of both, and the output that gives (``FoldSheet``).
    """
    classifier = is_classifier(layers)
    shapes = infer_shapes(layers, input_shape, classifier, inputs)
    require_drawn(layers)
    regression = regression and not classifier
    if inputs is not None:
        check_graph(layers, inputs)
    if fold:
        check_fold(layers, inputs)
    names = _SheetNames(layers, titles or STEP_TITLES, classifier or regression, im2col, fold)
    limits = _Limits(max_formulas)
    input_plan = _input_sheet(names.ident("input"), input_shape, _padding_after(layers, -1, inputs), normalised)
    limits.add(input_plan, _first_conv_extras(layers) + (_cells(input_plan.normalised) if normalised else 0))
    first = _forward_sheets(layers, shapes, input_shape, class_names, names, 0, input_plan, limits, inputs, regression,
                            fold)
    if im2col:
        _add_im2col(first, layers, names, limits)
    overview = _overview_sheet(names.unnumbered("overview"), input_shape, layers, shapes, len(class_names), inputs)
    sheets = [limits.add(overview, overview_formulas(overview, classifier, regression)), input_plan, *first]
    layout = Layout(sheets, tuple(input_shape), inputs=inputs)
    if steps:
        check_backprop(layers, regression)
        _plan_steps(layout, layers, shapes, input_shape, class_names, names, input_plan, first, steps, limits,
                    regression, fold)
    summary = summarize(layers, input_shape, inputs=inputs)
    sheets.append(limits.add(_summary_sheet(names.ident("summary"), len(layers), len(bottlenecks(summary)),
                                            len(compared(summary))),
                             summary_formulas(summary)))
    sheets.append(_manifest_sheet(names.unnumbered("manifest")))
    sheets[0], links = _link_overview(layout)
    limits.add(sheets[0], links)
    layout.formulas = limits.formulas
    return layout


def _forward_sheets(layers, shapes, input_shape, class_names, names, pass_index, input_plan, limits, inputs=None,
                    regression=False, fold=False):
    """The sheets of one forward pass, after the input sheet (which every pass shares).

    Each layer reads the output of its sources (``inputs``; a chain: the layer before).
    """
    sheets = [input_plan]
    later = pass_index > 0   # a later pass computes its weights: "old - rate x gradient" formulas
    outputs = {INPUT: output_of(input_plan)}

    def ident(kind, index=None):
        return names.ident(kind, index, pass_index)
    for index, (layer, shape, reads) in enumerate(zip(layers, shapes, sources(inputs, len(layers)))):
        pad = _padding_after(layers, index, inputs)
        in_shape = shapes[reads[0]] if reads[0] != INPUT else input_shape
        previous = outputs[reads[0]]
        if layer.has_filters:
            previous = previous.with_border(layer.padding)   # another reader may have asked for a wider border
            filters = _filters_sheet(ident("filters", index), layer, in_shape[0])
            sheets.append(limits.add(filters, _filters_formulas(filters, later)))
            sheets.append(_maps_sheet(ident(layer.kind, index), shape, pad, layer, previous, in_shape[0]))
            _check_filters_formula(sheets[-1], layer, previous, filters)
        elif layer.scatters:   # its kernels' sheet, then the sums of what each input cell stamps
            kernels = _scatter_kernels_sheet(ident("filters", index), layer, in_shape[0])
            scaled = reads[0] == INPUT and input_plan.normalised is None
            plan = _scatter_sheet(ident(layer.kind, index), shape, pad, layer, previous, kernels, scaled)
            sheets += [limits.add(kernels), limits.add(plan, _cells(plan.derived()))]
        elif layer.joins:    # stacked maps are copied one after the other; added ones summed cell by cell
            planner = _stacked_sheet if layer.stacks else _add_sheet
            sheets.append(planner(ident(layer.kind, index), shape, pad, tuple(outputs[s] for s in reads)))
        elif layer.normalises:
            sheets.append(_norm_sheet(ident(layer.kind, index), shape, pad,
                                      previous.with_border(0) if len(shape) == 3 else previous))
        elif isinstance(layer, (*ACTIVATIONS, *POOLS)) and len(shape) == 3:
            # windows start at the maps' first cell, not in a border another reader (a conv) asked for
            border = layer.window()[2] if layer.window() else 0     # a padded pool reads its own border
            sheets.append(_maps_sheet(ident(layer.kind, index), shape, pad, layer, previous.with_border(border)))
        elif isinstance(layer, ACTIVATIONS):
            sheets.append(_vector_sheet(ident(layer.kind, index), shape[0], previous))
        elif layer.makes_column:
            sheets.append(_column_sheet(ident(layer.kind, index), shape[0], previous))
        elif layer.fully_connected:
            rows_are_inputs = isinstance(previous, Block) and previous.width == 1
            sheets.append(_connected_sheet(ident(layer.kind, index), in_shape[0], layer.units, rows_are_inputs))
        elif layer.gives_probabilities:
            sheets.append(_probability_sheet(ident(layer.kind, index), len(class_names)))
        if sheets[-1].layer == index and sheets[-1].kind != "filters":
            limits.add(sheets[-1], _layer_formulas(sheets[-1], later, scaled=input_plan.normalised is None))
        outputs[index] = output_of(sheets[-1])
        if fold and layer.folds:
            folded = _fold_sheet(ident("fold", index), sheets, reads[0], index, shape)
            sheets.append(limits.add(folded, _cells(folded.formula_parts())))
    if is_classifier(layers):
        sheets.append(limits.add(_loss_sheet(ident("loss"), len(class_names)), 3 * len(class_names) + 1 + later))
    elif regression:   # outputs and squared errors, the loss, and (a later pass) targets that follow the first
        count = shapes[-1][0]
        sheets.append(limits.add(_squared_error_sheet(ident("loss"), outputs[len(layers) - 1]), (2 + later) * count + 1))
    return sheets[1:]


def _plan_steps(layout, layers, shapes, input_shape, class_names, names, input_plan, first, steps, limits,
                regression=False, fold=False):
    """Gradients of each pass, the descent sheet, then the forward pass on the new weights."""
    current = first
    for step in range(steps):
        gradients = _gradient_sheets(layers, shapes, input_shape, current, names, step, layout.inputs)
        for plan in gradients.values():
            limits.add(plan, _gradient_formulas(plan))
        layout.gradients.append(gradients)
        layout.sheets.extend(sorted(gradients.values(), key=lambda plan: -plan.layer))
        if step == 0:
            layout.descent = limits.add(_descent_sheet(names.unnumbered("descent"), steps), steps + 2)
            layout.sheets.append(layout.descent)
        current = _forward_sheets(layers, shapes, input_shape, class_names, names, step + 1, input_plan, limits,
                                  layout.inputs, regression, fold)
        layout.passes.append(Layout([input_plan, *current], tuple(input_shape), prefix=names.prefix(step + 1),
                                    inputs=layout.inputs))
        layout.sheets.extend(current)


def check_graph(layers, inputs):
    """What a branched network's workbook cannot show yet, refused in one line each."""
    for index, (layer, reads) in enumerate(zip(layers, inputs)):
        if len(reads) > 1 and not layer.joins:
            joiners = " and ".join(cls.kind for cls in MERGES)
            raise ShapeError(f"layer {index + 1} ({layer.kind}) reads {len(reads)} layers; in the workbook only "
                             f"{joiners} join several")
        if layer.joins and INPUT in reads:
            raise ShapeError(f"layer {index + 1} ({layer.kind}) reads the input pixels directly; the workbook "
                             f"joins the outputs of layers only (put a layer on that branch)")


def check_fold(layers, inputs=None):
    """--fold-bn: every layer that ``folds`` must read a conv or fully connected layer (a scale and shift per output
    channel folds only into the weights that make that channel); refused in one line otherwise."""
    folding = [index for index, layer in enumerate(layers) if layer.folds]
    if not folding:
        raise UsageError("--fold-bn: this network has no bn layer to fold (put bn after a conv or "
                         f"{kind_with('fully_connected')} layer)")
    for index, reads in zip(folding, (sources(inputs, len(layers))[i] for i in folding)):
        before = layers[reads[0]] if reads[0] != INPUT else None
        if before is None or not (before.has_filters or before.fully_connected):
            what = "the input pixels" if before is None else f"layer {reads[0] + 1} ({before.describe()})"
            raise UsageError(f"--fold-bn: layer {index + 1} ({layers[index].spelling()}) reads {what}; it folds "
                             f"only into the conv or {kind_with('fully_connected')} layer right before it")


def check_backprop(layers, regression=False):
    """The layers whose gradients the workbook can write as plain formulas (a ``regression``: without probabilities):
    a column of the maps, then one fully connected layer, then (a classifier) the probabilities."""
    connected = [i for i, layer in enumerate(layers) if layer.fully_connected]
    one = f"exactly one {kind_with('fully_connected')} layer (the last one)"
    if regression and len(connected) != 1:
        raise ShapeError(f"--backprop with --loss mse needs {one}")
    if not regression and (not is_classifier(layers) or len(connected) != 1):
        raise ShapeError(f"--backprop needs a classifier with {one}")
    column = next((i for i, layer in enumerate(layers) if layer.makes_column), None)
    end = ("fully_connected",) if regression else ("fully_connected", "gives_probabilities")
    tail = () if column is None else layers[column + 1:]
    if len(tail) != len(end) or not all(getattr(layer, role) for layer, role in zip(tail, end)):
        raise ShapeError("--backprop needs the network to end " + " -> ".join(map(kind_with, ("makes_column", *end))))
    for number, layer in enumerate(layers, start=1):
        if layer.has_filters and layer.stride != 1:
            raise ShapeError(f"--backprop: layer {number} has stride {layer.stride}; gradients are written for stride 1")


def _gradient_sheets(layers, shapes, input_shape, forward, names, pass_index, inputs=None):
    """One sheet per layer below the probabilities: the gradient of the loss for the layer's input and weights.

    The layers are walked in reverse order (a graph's: reverse topological order), so every
    layer that reads layer i is planned before layer i. Layers that neither have weights nor
    read one that has (directly or further back) learn nothing and get no sheet. A layer read
    by several layers (a fork) also gets, right of the rest, the sum of what each sends back.
    """
    plans = {}
    by_layer = {plan.layer: plan for plan in forward if plan.layer is not None and plan.kind != "filters"}
    reads = sources(inputs, len(layers))
    learns = _learning_layers(layers, reads)
    last = len(layers) - (2 if is_classifier(layers) else 1)   # the probabilities go back with their loss, in one step

    def border(source):   # a layer with filters that passes a gradient back slides its turned kernels over a padded one
        layer = layers[source] if source != INPUT else None
        return layer.span - 1 if layer is not None and layer.has_filters and INPUT not in reads[source] else 0
    for index in range(last, -1, -1):
        if not learns[index]:
            continue
        layer = layers[index]
        in_shape = shapes[reads[index][0]] if reads[index][0] != INPUT else input_shape
        ident = names.gradient(by_layer[index], pass_index)
        name = ident["name"]
        pad = border(reads[index][0])
        top = HEADER_ROWS + 1
        sent = _sent_back(index, plans, layers, reads, shapes, border(index)) if index < last else ()
        upstream = sent[0] if len(sent) == 1 else None
        if layer.fully_connected:
            units, inputs = layer.units, in_shape[0]
            weight, gradient = Block(name, top + 4, FIRST_COL, inputs, units), Block(name, top + 4, FIRST_COL + units + 1, inputs, 1)
            plans[index] = ConnectedGradSheet(
                **ident, upstream=Block(name, top, FIRST_COL, 1, units), upstream_label=Block(name, top, 0, 1, 1),
                bias=Block(name, top + 1, FIRST_COL, 1, units), bias_label=Block(name, top + 1, 0, 1, 1),
                weight=weight, weight_label=_label_left(weight), input=gradient, input_label=_label_above(gradient))
            continue
        if layer.has_filters:
            plan = _filters_gradient_sheet(ident, layer, in_shape, INPUT not in reads[index], pad, upstream)
        elif layer.joins:    # the gradient of its output, once: what every operand (or its channels) takes back
            widest = max(border(source) for source in reads[index])
            plan = JoinGradSheet(**ident, input=_stack(name, top, *shapes[index], widest), sent=sent)
        elif layer.scatters:
            plan = _scatter_gradient_sheet(ident, layer, in_shape, INPUT not in reads[index], pad, upstream)
        elif layer.normalises:
            plan = _norm_gradient_sheet(ident, in_shape, pad, upstream)
        else:
            margin = Block(name, HEADER_ROWS - 2, FIRST_COL, 1, 1) if layer.chooses else None   # its tie margin
            plan = MapGradSheet(**ident, input=_stack(name, top, *in_shape, pad), margin=margin, upstream=upstream,
                                margin_label=Block(name, HEADER_ROWS - 2, FIRST_COL + 1, 1, 1) if layer.chooses else None)
        if len(sent) > 1 and not layer.joins:
            plan = _gathered(plan, shapes[index], border(index), sent)
        if isinstance(layer, POOLS) and layer.overlaps:
            _check_overlapping_gradient(plan, layer, by_layer[index])
        if layer.scatters:     # checked on the upstream it reads, its own sum when it is read twice
            _check_scatter_gradient(plan, layer, by_layer[index], plan.upstream)
        plans[index] = plan
    return plans


def _check_overlapping_gradient(plan, layer, pool):
    """Where pooling windows overlap, a cell's gradient formula has a term per window that holds it: the
    longest (near the last cells, whose references are longest) must fit Excel's 8,192 characters."""
    channels, height, width = pool.source.shape
    for r in range(max(0, height - layer.size - 1), height):
        for s in range(max(0, width - layer.size - 1), width):
            holding = pool.holding(channels - 1, r, s, plan.upstream)
            text = layer.overlapping_backward_formula(pool.source.at(channels - 1, r, s), holding, plan.margin)
            if len(text) > MAX_FORMULA_CHARS:
                raise LimitError(f"sheet {plan.name!r}: the gradient of one cell under {len(holding)} overlapping "
                                 f"{layer.size}x{layer.size} windows would be a formula of {len(text):,} characters; "
                                 f"Excel allows {MAX_FORMULA_CHARS:,}: use a larger stride or a smaller window")


def _learning_layers(layers, reads):
    """learns[i]: whether layer i has weights or reads (directly or further back) a layer that has."""
    learns = []
    for layer, sources_read in zip(layers, reads):
        learns.append(layer.has_filters or layer.fully_connected or layer.scatters
                      or layer.normalises   # gamma, beta
                      or any(learns[s] for s in sources_read if s != INPUT))
    return learns


def _sent_back(source, plans, layers, reads, shapes, pad):
    """The gradient of layer ``source``'s output as each layer reading it sends it back, one block or map
    stack per read (seen with the border ``pad`` that a conv passing it on needs): a stacking join sends
    back the channels it took from ``source``, every other layer the gradient of its whole input."""
    sent = []
    for reader in sorted(set(r for r, sources_read in enumerate(reads) if source in sources_read)):
        back = plans[reader].input
        for n, read in enumerate(reads[reader]):
            if read != source:
                continue
            if isinstance(back, Block):    # a vector: what the column gets from the fully connected layer
                sent.append(back)
                continue
            view = back
            if layers[reader].stacks:
                first = sum(shapes[s][0] for s in reads[reader][:n])
                end = first + shapes[source][0]
                view = MapStack(back.maps[first:end], back.pad, back.labels[first:end])
            sent.append(view.with_border(pad))
    return tuple(sent)


def _gathered(plan, shape, pad, sent):
    """``plan`` with, right of its blocks, the sum of what the layers reading it send back (a fork), which its
    own formulas then read as their upstream gradient."""
    col = last_column(plan) + 3
    stack = _stack(plan.name, HEADER_ROWS + 2, *shape, pad, left=col)
    return replace(plan, gathered=stack, gathered_label=Block(plan.name, HEADER_ROWS + 1, col, 1, 1),
                   upstream=stack, sent=sent)


def _filters_gradient_sheet(ident, layer, in_shape, back, pad, upstream):
    """Filter and bias gradients in the filters sheet's arrangement; with ``back`` (the layer reads another
    layer, not the photo) the turned kernels and, below them, the input's gradient."""
    name = ident["name"]
    f, span = layer.kernel, layer.span
    channels = layer.group_reads(0, in_shape[0])[1]   # slices per filter: its group's channels
    weights, biases, turned = [], [], []
    row = HEADER_ROWS + 1
    for _ in range(layer.filters):
        weights.append(tuple(Block(name, row + 1, FIRST_COL + c * (f + GAP), f, f) for c in range(channels)))
        biases.append(Block(name, row + 1, FIRST_COL + channels * (f + GAP), 1, 1))
        if back:
            col = FIRST_COL + channels * (f + GAP) + 2
            turned.append(tuple(Block(name, row + 1, col + c * (span + GAP), span, span) for c in range(channels)))
        row += 1 + max(f, span if back else 0) + GAP
    return ConvGradSheet(
        **ident, weight=tuple(weights), bias=tuple(biases), filter_labels=tuple(_label_left(s[0]) for s in weights),
        bias_labels=tuple(_label_above(b) for b in biases), back_kernels=tuple(turned) if back else None,
        back_kernel_labels=tuple(tuple(_label_above(b) for b in kernels) for kernels in turned) if back else None,
        input=_stack(name, row + 1, *in_shape, pad) if back else None, upstream=upstream, padding=layer.padding)


def _scatter_gradient_sheet(ident, layer, in_shape, back, pad, upstream):
    """Kernel and bias gradients in the kernels sheet's arrangement; with ``back`` (the layer reads another
    layer, not the photo), below them the input's gradient."""
    name = ident["name"]
    weights, biases = _scatter_bands(name, layer, in_shape[0])
    return ScatterGradSheet(
        **ident, weight=weights, bias=biases, band_labels=tuple(_label_left(band[0]) for band in weights),
        kernel_labels=tuple(tuple(_label_above(block) for block in band) for band in weights),
        bias_labels=tuple(_label_above(bias) for bias in biases),
        input=_stack(name, biases[0].row + 2, *in_shape, pad) if back else None, upstream=upstream)


def _check_scatter_gradient(plan, layer, forward, upstream):
    """The longest kernel gradient (the tap that lands inside the output from the most input cells, of the
    last map and channel) must fit Excel's 8,192 characters."""
    channels = len(plan.weight)
    tap = max(((u, v) for u in range(layer.kernel) for v in range(layer.kernel)),
              key=lambda t: len(forward.weight_pairs(channels - 1, layer.filters - 1, *t, upstream)))
    try:
        layer.weight_gradient_formula(forward.weight_pairs(channels - 1, layer.filters - 1, *tap, upstream),
                                      "input_scale")
    except ValueError as exc:
        raise LimitError(f"sheet {plan.name!r}: one kernel gradient formula is too long ({exc}; one product per "
                         f"input cell): use a smaller --size") from None


def _norm_gradient_sheet(ident, in_shape, pad, upstream):
    """dL/dgamma and dL/dbeta, one row per channel (numbered); below them the input's gradient, map by map."""
    name, top, channels = ident["name"], HEADER_ROWS + 1, in_shape[0]
    gamma, beta = (Block(name, top + 1, FIRST_COL + n, channels, 1) for n in (1, 2))
    return NormGradSheet(**ident, headers=Block(name, top, FIRST_COL, 1, 3), numbers=Block(name, top + 1, FIRST_COL, channels, 1),
                         gamma=gamma, beta=beta, input=_stack(name, gamma.last_row + 2, *in_shape, pad), upstream=upstream)


def _label_above(block):
    """The cell above a block's top-left one, where its heading goes."""
    return Block(block.sheet, block.row - 1, block.col, 1, 1)


def _label_before(block):
    """The cell left of a one-cell block: its name ("mean =")."""
    return Block(block.sheet, block.row, block.col - 1, 1, 1)


def _label_left(block):
    """Column A on the row above a block: the heading of a band of blocks."""
    return Block(block.sheet, block.row - 1, 0, 1, 1)


def _descent_sheet(ident, steps):
    name = ident["name"]
    top = HEADER_ROWS + 1
    return DescentSheet(
        **ident, rate=Block(name, top, FIRST_COL + 1, 1, 1), rate_label=Block(name, top, 0, 1, 1),
        change=Block(name, top + 1, FIRST_COL + 1, 1, 1), change_label=Block(name, top + 1, 0, 1, 1),
        steps=Block(name, top + 3, 0, steps + 1, 1), steps_label=Block(name, top + 2, 0, 1, 1),
        losses=Block(name, top + 3, FIRST_COL, steps + 1, 1), losses_label=Block(name, top + 2, FIRST_COL, 1, 1),
        chart=Block(name, top + steps + 6, 0, 1, 1))


DEFAULT_MAX_FORMULAS = 2_000_000   # beyond this a workbook takes minutes to open and gigabytes to hold


class _Limits:
    """Excel's limits and the formula budget, checked for each sheet as soon as it is planned."""

    def __init__(self, max_formulas=None):
        self.max_formulas, self.formulas = max_formulas, 0

    def add(self, plan, formulas=0):
        """Check ``plan`` and count its ``formulas``; returns the plan."""
        for block in plan.all_blocks():
            if block.last_row >= MAX_ROWS:
                raise LimitError(f"sheet {plan.name!r} would need {block.last_row + 1:,} rows; "
                                 f"Excel allows {MAX_ROWS:,}")
            if block.last_col >= MAX_COLS:
                raise LimitError(f"sheet {plan.name!r} would need {block.last_col + 1:,} columns; "
                                 f"Excel allows {MAX_COLS:,}")
        self.formulas += formulas
        if self.max_formulas is not None and self.formulas > self.max_formulas:
            raise FormulaBudgetError(f"the workbook would hold at least {self.formulas:,} formulas (sheet "
                                     f"{plan.name!r} alone {formulas:,}); the budget is {self.max_formulas:,} "
                                     "(--max-formulas), beyond which a workbook is too slow to open")
        return plan


class FormulaBudgetError(LimitError):
    """A network that fits Excel but whose workbook would hold more formulas than the budget."""


def _check_filters_formula(plan, layer, source, filters):
    """The longest output formula of a layer with filters (its last cell has the longest references) must fit
    Excel's 8,192."""
    span = filters.kernels[0][0].height
    windows = [source.window(c, source.maps[c].height - span, source.maps[c].width - span, span, span)
               for c in range(len(source.maps))]
    text = layer.forward_formula(windows, filters.kernels[-1], filters.bias[-1], "input_scale", check=False)
    if len(text) > MAX_FORMULA_CHARS:
        raise LimitError(f"sheet {plan.name!r}: one {layer.noun} formula would be {len(text):,} characters "
                         f"({len(source.maps)} input maps); Excel allows {MAX_FORMULA_CHARS:,}: use fewer filters "
                         f"in the layer before (at most about {MAX_FORMULA_CHARS * len(source.maps) // len(text)})")


LEGEND_CELLS = 5   # the colour bar of a sheet's legend; its words follow in the cell after it


def legend_block(plan):
    """Where a sheet's colour legend goes: the blank row under the header, clear of what else sits there.

    The column and probabilities sheets put their column headings on that row, the filters
    sheet the copy of the explained filter's number: the legend starts after them.
    """
    if isinstance(plan, OverviewSheet):   # planned with the sheet, above its pictures
        return plan.legend
    return _legend_after(plan.name, plan.on_legend_row())


def _legend_after(name, beside):
    """The legend on the row under the header, after the block ``beside`` on that row (None: from the first column)."""
    return _legend(name, HEADER_ROWS, beside.last_col + 2 if beside else FIRST_COL)


def _legend(name, row, col, words_to=None):
    """A legend's bar from (row, col), its words in the cell after it (or, with ``words_to``, up to that column)."""
    bar = Block(name, row, col, 1, LEGEND_CELLS)
    words = bar.last_col + 1
    return Legend(bar=bar, words=Block(name, row, words, 1, (words_to or words) - words + 1))


def plan_within_limits(layers, input_shape, class_names, titles=None, steps=0, max_formulas=DEFAULT_MAX_FORMULAS,
                       inputs=None, **choices):
    """``plan_layout`` with the formula budget; a refusal names the largest --size that fits, when one does.
    ``choices`` are plan_layout's own (im2col, normalised, regression)."""
    try:
        return plan_layout(layers, input_shape, class_names, titles, steps, max_formulas, inputs, **choices)
    except LimitError as exc:
        side, refusal = _largest_side(layers, input_shape, class_names, titles, steps, max_formulas, inputs, **choices)
        table = "; `xlcnn summary` shows its table at any size"   # the numbers a teacher may have come for
        if side is not None:
            raise type(exc)(f"{exc}: the largest --size that fits this network is {side}{table}") from None
        # no picture size helps: say why at the smallest size, which names what to change instead
        raise type(refusal or exc)(f"{refusal or exc}; no --size makes this network fit{table}") from None


def largest_size_that_fits(layers, input_shape, class_names, titles=None, steps=0, max_formulas=None, inputs=None):
    """The largest picture side below the one given whose workbook fits, or None."""
    return _largest_side(layers, input_shape, class_names, titles, steps, max_formulas, inputs)[0]


def _largest_side(layers, input_shape, class_names, titles, steps, max_formulas, inputs=None, **choices):
    """(largest side that fits or None, the limit refused at the smallest side tried).

    Every map, row count, formula length and formula count grows with the side, and a
    window that fits a side fits every larger one, so "fits" holds for every side up to
    some largest one: a binary search finds it in a few plans.
    """
    channels, size, _ = input_shape
    refusals = {}

    def fits(side):
        try:
            plan_layout(layers, (channels, side, side), class_names, titles, steps, max_formulas, inputs, **choices)
            return True
        except LimitError as exc:
            refusals[side] = exc
        except ShapeError:
            pass
        return False
    low, high = 3, size          # every side from 4 up to low fits; high does not
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    side = low if low >= 4 else None
    return side, refusals[min(refusals)] if refusals else None


# ---------------------------------------------------------------- formulas each sheet holds, from its blocks


def _layer_formulas(plan, later, scaled=True):
    """The formula cells of a layer's sheet: its outputs, its worked example and (later passes) its weights."""
    if isinstance(plan, ProbabilitySheet):
        return 5 * plan.output.size + 4    # logit, z - max, e^, p, ln p per class; max, sum, class, p
    count = _cells(plan.output)
    if isinstance(plan, AddSheet):    # the copies of what it adds, beside the sum
        count += _cells(plan.terms)
    if isinstance(plan, NormSheet):   # x^ beside y; a later pass computes all its numbers and eps
        count += _cells(plan.normalised) + later * (_cells(list(plan.parameter_blocks().values())) + 1)
    if isinstance(plan, ConnectedSheet):
        count += later * (plan.weight.size + plan.bias.size)
    explain = example_of(plan)
    if explain is not None:   # only the first layer's example shows the scale, and not when it reads normalised maps
        count += _cells(explain.formula_cells(scaled=plan.layer == 0 and scaled))
    return count


def _filters_formulas(plan, later):
    """The effective kernels' taps (turned or spread copies) and, in a later pass, every weight and bias."""
    weights = _cells(plan.weight)
    return (0 if plan.effective is None else weights) + later * (weights + len(plan.bias))


def _gradient_formulas(plan):
    """Every gradient cell (a few zero taps and unreached cells are counted too: an upper bound)."""
    return sum(_cells(value) for value in plan.formula_parts())


def _cells(value):
    """The cells of a block, of the maps of a stack (without their zero border), or of nested tuples of them."""
    if isinstance(value, Block):
        return value.size
    if isinstance(value, MapStack):
        return sum(value.interior(c).size for c in range(len(value.maps)))
    if isinstance(value, (tuple, list)):
        return sum(_cells(item) for item in value)
    return 0


def renamed(layout, names):
    """The same plan with its sheets called by ``names`` ({planned name: name in the workbook}).

    For a workbook whose tabs were renamed. Objects shared in the plan stay shared in
    the copy (a later pass reuses the input sheet and reads the maps of the pass before),
    so every plan keeps pointing at the same blocks as the others.
    """
    copies = {}

    def copy(value):
        if id(value) in copies:
            return copies[id(value)]
        if isinstance(value, Block):
            new = replace(value, sheet=names.get(value.sheet, value.sheet))
        elif is_dataclass(value) and not isinstance(value, type):
            changes = {item.name: copy(getattr(value, item.name)) for item in fields(value) if item.init}
            if isinstance(value, Sheet):
                changes["name"] = names.get(value.name, value.name)
            new = replace(value, **changes)
        elif isinstance(value, dict):
            new = {key: copy(item) for key, item in value.items()}
        elif isinstance(value, (list, tuple)):
            new = type(value)(copy(item) for item in value)
        else:
            return value
        copies[id(value)] = new
        return new
    return copy(layout)


def last_column(plan):
    """The last column any block of ``plan`` reaches."""
    return max(block.last_col for block in plan.all_blocks())


def _first_conv_extras(layers):
    """The copies of the explained position on the input and filters sheets (a first layer with filters only)."""
    return 4 if layers and layers[0].has_filters else 0


# ---------------------------------------------------------------- sheet names


class _SheetNames:
    """"1 Input", "2 Filters", "3 Conv", ...; a number is added when a kind repeats.

    Worked out once, for the first forward pass; a later pass puts its prefix ("S1 ")
    in front of the same names, and a gradient sheet is named after the sheet it
    differentiates. ``ident`` gives a planner the sheet's name, kind, layer and step.
    """

    def __init__(self, layers, titles, classifier, im2col=False, fold=False):
        self.titles = titles
        order = [("input", None)]
        for index, layer in enumerate(layers):
            if layer.has_filters or layer.scatters:
                order.append(("filters", index))
            order.append((layer.kind, index))
            if fold and layer.folds:
                order.append(("fold", index))
            if im2col and index == first_with_filters(layers):
                order.append(("im2col", index))
        if classifier:
            order.append(("loss", None))
        order.append(("summary", None))
        repeats = Counter(kind for kind, index in order if index is not None)   # a layer's sheets, by kind
        seen = Counter()
        self.numbered = {}     # (kind, layer) -> (step, title)
        for step, (kind, index) in enumerate(order, start=1):
            seen[kind] += 1
            suffix = f" {seen[kind]}" if repeats[kind] > 1 else ""
            self.numbered[(kind, index)] = step, f"{titles[kind]}{suffix}"

    def prefix(self, pass_index):
        return self.titles["step_prefix"].format(n=pass_index) if pass_index else ""

    def ident(self, kind, layer=None, pass_index=0):
        step, title = self.numbered[(kind, layer)]
        name = safe_sheet_name(f"{self.prefix(pass_index)}{step} {title}")
        return {"name": name, "kind": kind, "layer": layer, "step": step, "pass_index": pass_index}

    def gradient(self, forward, pass_index):
        """The gradient sheet of the layer ``forward`` (a planned sheet of pass ``pass_index``) shows."""
        prefix = self.prefix(pass_index)
        name = safe_sheet_name(f"{prefix}{self.titles['grad']} {forward.name[len(prefix):]}")
        return {"name": name, "kind": "grad", "layer": forward.layer, "step": forward.step, "pass_index": pass_index}

    def unnumbered(self, kind):
        return {"name": safe_sheet_name(self.titles[kind]), "kind": kind}


# ---------------------------------------------------------------- one planner per sheet kind


def _padding_after(layers, index, inputs=None):
    """Zero border needed around the output of layer ``index`` (-1: the input): the widest padding of the
    layers that read it with a window (a chain: the layer after)."""
    read_by = [index + 1] if inputs is None else [i for i, reads in enumerate(inputs) if index in reads]
    return max((layers[i].window()[2] for i in read_by if i < len(layers) and layers[i].window()), default=0)


def _stack(sheet, top, channels, height, width, pad, left=FIRST_COL):
    """Maps one below the other from row ``top``, a label row above each."""
    maps = []
    row = top
    for _ in range(channels):
        maps.append(Block(sheet, row + 1, left, height + 2 * pad, width + 2 * pad))
        row += 1 + height + 2 * pad + GAP
    return MapStack(tuple(maps), pad, tuple(_label_above(block) for block in maps))


def _input_sheet(ident, input_shape, pad, normalised=False):
    """The pixels, the photo in colour to their right and, for a normalised input, between the two the
    normalised maps (with the first layer's padding) and each channel's mean and std."""
    name = ident["name"]
    channels, height, width = input_shape
    pixels = _stack(name, HEADER_ROWS + 1, channels, height, width, 0 if normalised else pad)
    view_col = pixels.maps[0].last_col + 3
    extra = {}
    if normalised:
        result = _stack(name, HEADER_ROWS + 1, channels, height, width, pad, left=view_col)
        labels = result.maps[0].last_col + 2
        mean = tuple(Block(name, m.row, labels + 1, 1, 1) for m in result.maps)
        std = tuple(Block(name, m.row + 1, labels + 1, 1, 1) for m in result.maps)
        extra = dict(normalised=result, mean=mean, std=std, mean_labels=tuple(_label_before(b) for b in mean),
                     std_labels=tuple(_label_before(b) for b in std))
        view_col = labels + 3
    view = Block(name, pixels.maps[0].row + pixels.pad, view_col, height, width)
    scale = Block(name, HEADER_ROWS - 2, FIRST_COL + 5, 1, 1)
    highlight = Block(name, view.last_row + 3, view.col + 8, 3, 1)    # copies of the explained position
    return InputSheet(
        **ident, pixels=pixels, scale=scale, scale_label=Block(name, scale.row, FIRST_COL, 1, 1),
        colour_view=view, colour_view_label=Block(name, pixels.labels[0].row, view.col, 1, 1),
        highlight=highlight, highlight_title=Block(name, highlight.row - 1, view.col, 1, 1),
        highlight_labels=Block(name, highlight.row, view.col, 3, 1), **extra)


def _filters_sheet(ident, layer, channels):
    """Filter k in a band of rows: its C slices side by side, then its bias.

    A flipped or dilated filter also gets, to the right, the effective kernel the
    layer really slides (turned and/or spread out), as formulas of the slices.
    """
    name = ident["name"]
    f, span = layer.kernel, layer.span
    with_effective = layer.flip or layer.dilation != 1
    weights, effective, biases = [], [], []
    row = HEADER_ROWS + 1
    slices = layer.group_reads(0, channels)[1]    # a grouped filter reads its group's channels only
    for _ in range(layer.filters):
        col = FIRST_COL
        weights.append(tuple(Block(name, row + 1, col + c * (f + GAP), f, f) for c in range(slices)))
        col += slices * (f + GAP)
        if with_effective:
            col += GAP
            effective.append(tuple(Block(name, row + 1, col + c * (span + GAP), span, span) for c in range(slices)))
            col += slices * (span + GAP)
        biases.append(Block(name, row + 1, col, 1, 1))
        row += 1 + (span if with_effective else f) + GAP
    highlight = Block(name, HEADER_ROWS, FIRST_COL + 3, 1, 1)

    def labels(bands):
        return tuple(tuple(_label_above(block) for block in band) for band in bands)
    grid = None
    if slices != channels:   # grouped: a grid of filters x input channels, right of the bands, shows who reads what
        # and right of the legend's words (on the row above it), which then run on over the grid's empty cells
        words = _legend_after(name, highlight).words
        top, left = HEADER_ROWS + 3, max(biases[0].col + 3, words.last_col + 1)
        grid = ChannelGrid(Block(name, top, left + 1, layer.filters, channels), Block(name, top, left, layer.filters, 1),
                           Block(name, top - 1, left + 1, 1, channels), Block(name, top - 2, left, 1, 1))
    return FiltersSheet(
        **ident, conv=layer, weight=tuple(weights), bias=tuple(biases), channels=channels, connections=grid,
        effective=tuple(effective) if with_effective else None,
        filter_labels=tuple(_label_left(slices[0]) for slices in weights), slice_labels=labels(weights),
        bias_labels=tuple(_label_above(bias) for bias in biases),
        effective_labels=labels(effective) if with_effective else None,
        highlight=highlight, highlight_label=Block(name, highlight.row, 0, 1, 1))


def _maps_sheet(ident, shape, pad, layer, source, in_channels=0):
    """Maps one below the other, and to their right the "explain this cell" block."""
    name = ident["name"]
    output = _stack(name, HEADER_ROWS + 1, *shape, pad)
    col = output.maps[0].last_col + 3
    if layer.has_filters:
        return ConvSheet(**ident, output=output, explain=_explain_conv(name, col, layer.group_reads(0, in_channels)[1], layer.kernel),
                         source=source, size=layer.span, stride=layer.stride, conv=layer)
    if isinstance(layer, POOLS):
        rows, cols = layer.window_shape(source.shape)
        return PoolSheet(**ident, output=output, explain=_explain_window(name, col, rows, cols), source=source,
                         size=rows, across=cols, stride=layer.step or 1, padding=layer.padding,
                         counts_padding=layer.counts_padding, slides=layer.window() is not None)
    return MapSheet(**ident, output=output, explain=_explain_window(name, col, 1), source=source, size=1, stride=1)



def _scatter_kernels_sheet(ident, layer, channels):
    """Input channel c in a band of rows: the K kernels its cells stamp, one per output map; then the biases."""
    weights, biases = _scatter_bands(ident["name"], layer, channels)
    return ScatterKernelsSheet(
        **ident, conv=layer, weight=weights, bias=biases, effective=None,
        filter_labels=tuple(_label_left(band[0]) for band in weights),
        slice_labels=tuple(tuple(_label_above(block) for block in band) for band in weights),
        bias_labels=tuple(_label_above(bias) for bias in biases), effective_labels=None,
        highlight=_label_left(biases[0]), highlight_label=_label_left(biases[0]))


def _scatter_bands(name, layer, channels):
    """(weight[c][k], bias[k]) blocks: a band of rows per input channel, its K kernels side by side, then a row
    of the K biases under the kernels' first columns. The kernels sheet and the gradient sheet share it."""
    f = layer.kernel
    weights, row = [], HEADER_ROWS + 1
    for _ in range(channels):
        weights.append(tuple(Block(name, row + 1, FIRST_COL + k * (f + GAP), f, f) for k in range(layer.filters)))
        row += 1 + f + GAP
    return tuple(weights), tuple(Block(name, row + 1, FIRST_COL + k * (f + GAP), 1, 1) for k in range(layer.filters))


def _scatter_sheet(ident, shape, pad, layer, source, kernels, scaled):
    """The output maps; to their right the worked example of the first cell (in reading order) that the most
    input cells reach, one row per contribution; right of it the reach map, the output side above it."""
    name = ident["name"]
    filters, height, width = shape
    output = _stack(name, HEADER_ROWS + 1, filters, height, width, pad)
    col = output.maps[0].last_col + 3
    _, in_height, in_width = source.shape
    counts = [[len(layer.reaching(y, in_height)) * len(layer.reaching(x, in_width)) for x in range(width)]
              for y in range(height)]
    most = max(max(row) for row in counts)
    at = next((0, y, x) for y in range(height) for x in range(width) if counts[y][x] == most)
    terms = max(most, 1) * source.shape[0]
    top = HEADER_ROWS + 2     # the example's title above its headings, then one row per contribution
    column = [Block(name, top + 1, col + n, terms, 1) for n in range(5)]
    keys = ("sum", "scale", "bias", "result", "cell") if scaled else ("sum", "bias", "result", "cell")
    reach = Block(name, top, column[4].col + 3, height, width)     # right of the example's columns
    side = Block(name, HEADER_ROWS, reach.col + 3, 1, 1)    # above the reach map: never among the rows a handout cuts
    results = Block(name, column[4].last_row + 1, col + 4, len(keys), 1)
    plan = ScatterSheet(
        **ident, output=output, reach=reach, reach_label=_label_above(reach), side=side,
        side_label=Block(name, side.row, reach.col, 1, 1),
        example_title=Block(name, top - 1, col, 1, 1), example_headers=Block(name, top, col, 1, 5),
        origins=column[0], inputs=column[1], taps=column[2], weights=column[3], products=column[4],
        results=results, result_labels=Block(name, results.row, col + 2, len(keys), 1), result_keys=keys,
        example_at=at, scatter=layer, source=source, kernels=kernels.weight, biases=kernels.bias)
    _check_scatter_formula(plan, layer, filters, most, counts)
    return plan


def _check_scatter_formula(plan, layer, filters, most, counts):
    """The longest output formula (the last map's, where the most input cells reach) must fit Excel's 8,192."""
    y, x = next((y, x) for y, row in reversed(list(enumerate(counts))) for x in reversed(range(len(row)))
                if row[x] == most)
    try:
        layer.cell_formula(plan.terms(filters - 1, y, x), plan.biases[-1], "input_scale")
    except ValueError as exc:
        raise LimitError(f"sheet {plan.name!r}: one output formula is too long ({exc}; {len(plan.source.maps)} "
                         "input maps): use fewer filters in the layer before") from None


def first_with_filters(layers):
    """The index of the first layer that slides filters; UsageError when there is none (--im2col)."""
    for index, layer in enumerate(layers):
        if layer.has_filters:
            return index
    noun = class_with("has_filters").noun
    raise UsageError(f"--im2col shows a {noun} as a matrix product, and this network has no {noun}")


def _add_im2col(sheets, layers, names, limits):
    """The im2col sheet, right after the sheet of the first layer with filters."""
    index = first_with_filters(layers)
    conv = next(plan for plan in sheets if plan.kind == layers[index].kind and plan.layer == index)
    filters = next(plan for plan in sheets if plan.kind == "filters" and plan.layer == index)
    if filters.connections is not None:     # one matrix product needs every filter to read every channel
        raise UsageError(f"--im2col shows a standard {layers[index].noun} as one matrix product, and layer {index + 1} "
                         f"({layers[index].describe()}) is grouped: each filter reads only its group's channels")
    plan = _im2col_sheet(names.ident("im2col", index), conv, filters)
    taps, positions = plan.windows.height, plan.windows.width
    kernels = plan.filter_rows.height
    limits.add(plan, kernels * taps + kernels + taps * positions + kernels * positions)
    sheets.insert(sheets.index(conv) + 1, plan)


def _im2col_sheet(ident, conv, filters):
    """Filters as rows (and their biases), input windows as columns below them, then the output maps."""
    name = ident["name"]
    layer = conv.conv
    kernels, height, width = conv.output.shape
    taps = conv.source.shape[0] * layer.kernel * layer.kernel
    top = HEADER_ROWS + 1
    filter_rows = Block(name, top + 1, FIRST_COL, kernels, taps)
    bias = Block(name, filter_rows.row, filter_rows.last_col + 2, kernels, 1)
    windows = Block(name, filter_rows.last_row + 4, FIRST_COL, taps, height * width)
    return Im2colSheet(
        **ident, filter_rows=filter_rows, filter_labels=Block(name, filter_rows.row, 0, kernels, 1),
        tap_labels=Block(name, top, FIRST_COL, 1, taps), bias=bias, bias_label=_label_above(bias),
        filters_label=Block(name, top, 0, 1, 1), windows=windows, window_labels=Block(name, windows.row, 0, taps, 1),
        position_labels=Block(name, windows.row - 1, FIRST_COL, 1, height * width),
        windows_label=Block(name, windows.row - 1, 0, 1, 1),
        output=_stack(name, windows.last_row + 3, kernels, height, width, 0),
        conv=layer, source=conv.source, kernels=filters.weight, biases=filters.bias)


def _explain_header(name, col):
    """Title row, then the chosen map, row and column (1-based numbers a student can change), each labelled."""
    top = HEADER_ROWS + 1
    return {"title": Block(name, top, col, 1, 1), "prompt": Block(name, top, col + 1, 1, 1),
            "choose": Block(name, top + 1, col + 1, 3, 1), "choose_labels": Block(name, top + 1, col, 3, 1)}, top + 5


def _explain_conv(name, col, channels, kernel):
    """Per input channel: the window, the filter slice, their products and the channel's sum."""
    blocks, row = _explain_header(name, col)
    f = kernel
    windows, weights, products, sums, spelled = [], [], [], [], []
    for _ in range(channels):
        windows.append(Block(name, row + 1, col, f, f))
        weights.append(Block(name, row + 1, col + f + 1, f, f))
        products.append(Block(name, row + 1, col + 2 * f + 2, f, f))
        sums.append(Block(name, row + 1, col + 3 * f + 3, 1, 1))
        spelled.append(Block(name, row + 1 + f, col, 1, 1))
        row += f + 3

    def above(blocks):
        return tuple(_label_above(block) for block in blocks)
    blocks.update(windows=tuple(windows), weights=tuple(weights), products=tuple(products), sums=tuple(sums),
                  spelled=tuple(spelled), window_labels=above(windows), weight_labels=above(weights),
                  product_labels=above(products), sum_labels=above(sums))
    return ConvExample(**_explain_results(name, col + 1, row, blocks, ("bias", "scale", "result", "cell", "same")))


NORM_EXAMPLE = ("input", "mean", "variance", "eps", "normalised", "gamma", "beta")   # its rows, in reading order


def _explain_norm(name, col):
    """The cell a normalising layer reads, its channel's numbers and x^, then the result y."""
    blocks, row = _explain_header(name, col)
    return NormExample(**_explain_results(name, col + 1, row, blocks, (*NORM_EXAMPLE, "result", "cell", "same")))


def _explain_window(name, col, size, across=None):
    """A pooling window (or one cell, for an activation) and the result it gives."""
    blocks, row = _explain_header(name, col)
    window = Block(name, row + 1, col, size, across or size)
    blocks.update(window=window, window_label=_label_above(window))
    return WindowExample(**_explain_results(name, col + 1, row + size + 2, blocks, ("result", "cell", "same")))


EXERCISES = 2   # cells per stage that --exercise hides for students to work out


def _explain_results(name, col, row, blocks, keys):
    """Result rows of a worked example, each labelled in the column before it, then room for the
    exercise table (its title and instructions, then per exercise: its name; answer, check)."""
    for n, key in enumerate(keys):
        blocks[key], blocks[f"{key}_label"] = Block(name, row + n, col, 1, 1), Block(name, row + n, col - 1, 1, 1)
    table = Block(name, row + len(keys) + 3, col, 2 * EXERCISES, 2)
    blocks.update(exercise=table, exercise_title=Block(name, table.row - 2, col, 1, 1),
                  exercise_instructions=Block(name, table.row - 1, col, 1, 1))
    return blocks


def _add_sheet(ident, shape, pad, operands):
    """Per map, a row of copies of that map of every operand and then their sum, which reads the copies."""
    if len(shape) != 3:
        raise ShapeError(f"sheet {ident['name']!r}: the workbook adds feature maps only, not vectors")
    name, (channels, height, width) = ident["name"], shape
    step = width + GAP     # a term, then the column of its "+" (the last one's "=")
    output = _stack(name, HEADER_ROWS + 1, *shape, pad, left=FIRST_COL + len(operands) * step)
    terms = []
    for n in range(len(operands)):
        maps = tuple(Block(name, m.row + pad, FIRST_COL + n * step, height, width) for m in output.maps)
        terms.append(MapStack(maps, 0, tuple(_label_above(m) for m in maps)))
    signs = tuple(tuple(Block(name, term.maps[k].row, term.maps[k].last_col + 1, 1, 1) for term in terms)
                  for k in range(channels))
    return AddSheet(**ident, output=output, terms=tuple(terms), signs=signs, sources=operands)


def _stacked_sheet(ident, shape, pad, operands):
    """Maps one below the other, as on the sheets it stacks, each a copy of one map of one operand; or
    vectors joined into one column, numbered, as on a vector activation's sheet."""
    name = ident["name"]
    if len(shape) == 3:
        return StackedSheet(**ident, output=_stack(name, HEADER_ROWS + 1, *shape, pad), sources=operands)
    output = Block(name, HEADER_ROWS + 1, FIRST_COL, shape[0], 1)
    return StackedSheet(**ident, output=output, output_label=_label_above(output),
                       numbers=Block(name, output.row, 0, shape[0], 1), sources=operands)


NORM_COLUMNS = 5   # the table of a normalising layer's numbers: channel, mean, variance, gamma, beta


def _norm_sheet(ident, shape, pad, source):
    """The table of the layer's numbers (one row per channel, eps below it) and x^ and y side by side, row
    for row: maps below the table (y keeps the border a reader pads, x^ has none), so the printed page
    holds all three; a vector's two columns beside the table, a row per unit."""
    name, top, channels = ident["name"], HEADER_ROWS + 1, shape[0]
    extra = {}
    if len(shape) == 3:
        headers = Block(name, top, FIRST_COL, 1, NORM_COLUMNS)
        below = top + channels + 3     # under the table and eps
        output = _stack(name, below, *shape, pad, left=FIRST_COL + shape[2] + 2)
        inner = [output.interior(c) for c in range(channels)]
        normalised = MapStack(tuple(replace(block, col=FIRST_COL) for block in inner), 0,
                              tuple(_label_above(replace(block, col=FIRST_COL)) for block in inner))
        extra = dict(explain=_explain_norm(name, output.maps[0].last_col + 3))
    else:
        normalised, output = (Block(name, top, FIRST_COL + n, channels, 1) for n in range(2))
        extra = dict(normalised_label=_label_above(normalised), output_label=_label_above(output))
        headers = Block(name, top - 1, output.col + 3, 1, NORM_COLUMNS)
    table = headers.col
    mean, variance, gamma, beta = (Block(name, headers.row + 1, table + n, channels, 1) for n in range(1, NORM_COLUMNS))
    eps = Block(name, mean.last_row + 1, table + 1, 1, 1)
    return NormSheet(**ident, normalised=normalised, output=output, headers=headers,
                     numbers=Block(name, headers.row + 1, table, channels, 1), mean=mean, variance=variance,
                     gamma=gamma, beta=beta, eps=eps, eps_label=_label_before(eps), source=source, **extra)


def _fold_sheet(ident, sheets, before_index, norm_index, shape):
    """The layer before (a conv or fully connected layer, planned in ``sheets``) with the normalising layer after it
    folded in: its weights and biases at the top, in its own arrangement; below, the output they give and
    its difference from the normalising layer's, side by side; the largest |difference| above them all."""
    name, top = ident["name"], HEADER_ROWS + 1
    ident = {**ident, "layer": None, "norm_layer": norm_index}
    before = next(plan for plan in sheets if plan.layer == before_index and output_of(plan) is not None)
    norm = next(plan for plan in sheets if plan.layer == norm_index)
    largest = Block(name, top + 1, FIRST_COL, 1, 1)
    row = largest.last_row + 3
    if isinstance(before, ConvSheet):
        filters = next(plan for plan in sheets if plan.kind == "filters" and plan.layer == before_index)
        weight, bias = [], []
        for kernels in filters.kernels:
            col = FIRST_COL
            weight.append(tuple(Block(name, row + 1, col + c * (k.width + GAP), k.height, k.width)
                                for c, k in enumerate(kernels)))
            bias.append(Block(name, row + 1, weight[-1][-1].last_col + 2, 1, 1))
            row += 1 + kernels[0].height + GAP
        folded = _stack(name, row, *shape, 0)
        difference = _stack(name, row, *shape, 0, left=folded.maps[0].last_col + 3)
        return FoldSheet(**ident, weight=tuple(weight), bias=tuple(bias),
                         weight_labels=tuple(_label_left(slices[0]) for slices in weight),
                         bias_labels=tuple(_label_above(b) for b in bias), folded=folded, difference=difference,
                         largest=largest, largest_label=_label_above(largest), norm=norm, before=before,
                         filters=filters)
    # a fully connected layer: its biases, the folded output and the difference as rows (or columns) like its own
    # sheet's, then the weights in its arrangement
    across = before.rows_are_inputs      # outputs along a row
    units = before.output.size
    lines = [Block(name, row + n, FIRST_COL, 1, units) if across else Block(name, row + 1, FIRST_COL + n, units, 1)
             for n in range(3)]
    bias, folded, difference = lines
    labels = [Block(name, b.row, 0, 1, 1) if across else _label_above(b) for b in lines]
    weight_row = difference.last_row + 2
    weight = Block(name, weight_row + 1, FIRST_COL if across else FIRST_COL + 4, before.weight.height, before.weight.width)
    return FoldSheet(**ident, weight=weight, bias=bias, weight_labels=Block(name, weight_row, 0, 1, 1),
                     bias_labels=labels[0], folded=folded, folded_label=labels[1], difference=difference,
                     difference_label=labels[2], largest=largest, largest_label=_label_above(largest),
                     rows_are_inputs=across, norm=norm, before=before)


def _vector_sheet(ident, length, source):
    name = ident["name"]
    output = Block(name, HEADER_ROWS + 1, FIRST_COL, length, 1)
    return VectorSheet(**ident, output=output, output_label=_label_above(output),
                       numbers=Block(name, output.row, 0, length, 1), source=source)


def _column_sheet(ident, length, source):
    """Columns: position, map, row, column, value; one row per element."""
    name, top = ident["name"], HEADER_ROWS + 1
    return ColumnSheet(**ident, headers=Block(name, top - 1, 0, 1, 5), labels=Block(name, top, 0, length, 4),
                       output=Block(name, top, 4, length, 1), source=source)


def _connected_sheet(ident, inputs, units, rows_are_inputs=True):
    """A fully connected layer's weights laid out to match the shape of the input vector.

    After a column (the maps' column, an activation) the outputs run along a row at the top
    and each output's weights form a column beneath it; after a row (another fully connected
    layer) the outputs run down a column and each output's weights form a row.
    Either way one SUMPRODUCT pairs two ranges of the same shape.
    """
    name = ident["name"]
    top = HEADER_ROWS + 1
    if rows_are_inputs:
        products = FIRST_COL + units + 1
        blocks, _ = _explain_header(name, products + 2)
        del blocks["prompt"]
        blocks["choose"] = Block(name, top + 1, products + 3, 1, 1)
        blocks["choose_labels"] = Block(name, top + 1, products + 2, 1, 1)
        blocks["products"] = Block(name, top + 5, products, inputs, 1)
        blocks["products_label"] = _label_above(blocks["products"])
        explain = ConnectedExample(**_explain_results(name, products + 3, top + 2, blocks,
                                                    ("sum", "bias", "result", "cell", "same")))
        units_row, bias, output = (Block(name, top + n, FIRST_COL, 1, units) for n in range(3))
        return ConnectedSheet(**ident, units=units_row, bias=bias, output=output,
                              units_label=Block(name, top, 0, 1, 1), bias_label=Block(name, top + 1, 0, 1, 1),
                              output_label=Block(name, top + 2, 0, 1, 1),
                              weight_labels=Block(name, top + 5, 0, inputs, 1),
                              weight=Block(name, top + 5, FIRST_COL, inputs, units),   # row = input, column = output
                              rows_are_inputs=True, explain=explain)
    units_col, bias, output = (Block(name, top + 1, n, units, 1) for n in range(3))
    return ConnectedSheet(**ident, units=units_col, bias=bias, output=output,
                          units_label=_label_above(units_col), bias_label=_label_above(bias), output_label=_label_above(output),
                          weight_labels=Block(name, top, 4, 1, inputs),
                          weight=Block(name, top + 1, 4, units, inputs),             # row = output, column = input
                          rows_are_inputs=False, explain=None)


PROBABILITY_COLUMNS = ("class", "logit", "shifted", "exp", "probability", "log_probability", "top")


def _probability_sheet(ident, classes):
    name = ident["name"]
    top = HEADER_ROWS + 1
    columns = {key: Block(name, top, c, classes, 1) for c, key in enumerate(PROBABILITY_COLUMNS)}
    columns["classes"] = columns.pop("class")
    below = top + classes + 1
    results = {"max": (below, 1), "sum": (below + 1, 3), "prediction": (below + 3, 1), "confidence": (below + 4, 1)}
    for key, (row, col) in results.items():   # each value with its label in the cell before it
        columns[key], columns[f"{key}_label"] = Block(name, row, col, 1, 1), Block(name, row, col - 1, 1, 1)
    return ProbabilitySheet(**ident, headers=Block(name, top - 1, 0, 1, len(PROBABILITY_COLUMNS)),
                            knows=_knows(name, below + 6, 0, classes), **columns)


def _squared_error_sheet(ident, source):
    """One row per output: its number, the output, the target and the squared error; the loss below."""
    name, count = ident["name"], source.size
    top = HEADER_ROWS + 1
    outputs, targets, errors = (Block(name, top, col, count, 1) for col in (1, 2, 3))
    loss = Block(name, top + count + 1, 3, 1, 1)
    return SquaredErrorSheet(**ident, headers=Block(name, top - 1, 0, 1, 4), numbers=Block(name, top, 0, count, 1),
                             outputs=outputs, targets=targets, errors=errors, loss=loss,
                             loss_label=Block(name, loss.row, 2, 1, 1), source=source)


def _loss_sheet(ident, classes):
    name = ident["name"]
    top = HEADER_ROWS + 1
    rows = {"true_label": (top, 1), "classes": (top + 2, classes), "one_hot": (top + 3, classes),
            "log_probability": (top + 4, classes), "loss": (top + 6, 1)}
    blocks = {}
    for key, (row, width) in rows.items():   # each row named in column A
        blocks[key], blocks[f"{key}_label"] = Block(name, row, 1, 1, width), Block(name, row, 0, 1, 1)
    return LossSheet(**ident, label_prompt=Block(name, top, 2, 1, 1), **blocks)


SUMMARY_COLUMNS = ("layer", "input", "output", "size arithmetic", "output side", "weights", "biases", "parameters",
                   "activations", "multiply-adds", "forward memory", "training memory", "parameter memory",
                   "with Adam", "receptive field")


def replan(meta, titles):
    """The layout a workbook's hidden metadata (``meta.read_meta``) says its build planned: verify
    and handout find every block through it. No formula budget: the build already kept to one."""
    if meta.get("table"):   # ``xlcnn summary``'s book: the summary sheet only, no weights
        return plan_summary_only(meta["layers"], titles, meta["input_shape"], meta["inputs"])
    return plan_layout(meta["layers"], meta["input_shape"], meta["class_names"], titles, meta.get("steps", 0),
                       inputs=meta["inputs"], im2col=meta.get("im2col", False), normalised=meta.get("normalised", False),
                       regression=meta.get("loss") == REGRESSION, fold=meta.get("fold", False))


def plan_summary_only(layers, titles, input_shape, inputs=None):
    """The Layout of a workbook holding only the summary sheet (``xlcnn summary``): for networks
    of any size, since it holds one row per layer and no tensor."""
    ident = {"name": safe_sheet_name(titles["summary"]), "kind": "summary", "step": 1}
    rows = summarize(layers, input_shape, inputs=inputs)
    return Layout([_summary_sheet(ident, len(layers), len(bottlenecks(rows)), len(compared(rows)))], tuple(input_shape),
                  inputs=inputs)


BOTTLENECK_COLUMNS = ("layer", "with", "without")   # and under each layer's row, the ratio: the handout prints A-C


def _summary_sheet(ident, layers, fed=0, compared_count=0):
    """One row per layer (plus the input row and a totals row); below it, for ``fed`` layers fed by a 1x1
    bottleneck, their multiply-adds with and without it side by side, and on the row below how many times
    more without; then, for ``compared_count`` grouped layers, a title, a header and lines setting each
    beside a standard layer of its shape."""
    name = ident["name"]
    top, columns = HEADER_ROWS + 2, len(SUMMARY_COLUMNS)
    extra, first = {}, top + layers + 5     # the first row of a table below the summary (its title two above)
    if fed:
        table = Block(name, first, 0, 2 * fed, len(BOTTLENECK_COLUMNS))
        extra.update(bottlenecks=table, bottleneck_headers=Block(name, table.row - 1, 0, 1, table.width),
                     bottleneck_title=Block(name, table.row - 2, 0, 1, 1))
        first = table.last_row + 4
    if compared_count:
        extra.update(comparison=Block(name, first, 0, len(COMPARED) * compared_count, len(COMPARISON_COLUMNS)),
                     comparison_headers=Block(name, first - 1, 0, 1, len(COMPARISON_COLUMNS)),
                     comparison_title=Block(name, first - 2, 0, 1, 1))
    return SummarySheet(**ident, headers=Block(name, top - 1, 0, 1, columns), table=Block(name, top, 0, layers + 1, columns),
                        totals=Block(name, top + layers + 1, 0, 1, columns),
                        totals_label=Block(name, top + layers + 1, 0, 1, 1), **extra)


OVERVIEW_RESULTS = ("prediction", "confidence", "true_label", "loss")
CHART_ROWS = 16      # rows a 7.5 cm chart covers at the default row height
# The overview's columns are square (2 characters wide); a portrait page at the handout's
# scale holds PAGE_COLUMNS of them, so everything printed stays left of that column.
PAGE_COLUMNS = 48
SQUARE_WIDTH = 2.0        # characters: 14 pixels, as tall as a row of 10.5 points
SQUARE_HEIGHT = 10.5      # points: a row as tall as a square column is wide
BOX_HEIGHT = 28           # points: two lines of a network box
GAP_HEIGHT = 5            # points: an empty row between parts
THUMBNAIL_SIDE = 10       # a feature map's small picture on the overview is at most this many cells across
BOX_WIDTH = 10            # a network box spans this many square columns
RESULT_WIDTH = 8          # ... a prediction or loss value (merged), so that a number never shows ###
LINK_WIDTH = 14           # ... a link to a sheet (merged)
PHOTO_ROWS = 28           # the rows beside the photo hold its picture and the chart, however small the photo
CHART_ABOVE = 12          # the chart beside the photo starts this many rows below the picture's top
KNOWS_COL = 17            # what the model knows sits right of the prediction and loss


def _overview_sheet(ident, input_shape, layers, shapes, classes, inputs=None):
    """The story on one page: the network as a row of boxes, the photo in square cells, a small
    picture of every feature map, the prediction with a live chart, and a link to every sheet.

    When that story would print on more than one page (a long or branched network), it is
    planned again compactly (``_overview_plan``'s ``compact``). The links' block is sized once every sheet
    is planned (``_link_overview``).
    """
    plan = _overview_plan(ident, input_shape, layers, shapes, classes, inputs)
    if _printed_points(plan) <= ONE_PAGE_POINTS:
        return plan
    return _overview_plan(ident, input_shape, layers, shapes, classes, inputs, compact=True)


def _overview_plan(ident, input_shape, layers, shapes, classes, inputs=None, compact=False):
    """The overview with the chart below the photo's picture and every map of every layer in bands, or
    (``compact``) the chart beside the picture and each layer's first maps side by side (``_map_tiles``)."""
    name = ident["name"]
    _, height, width = input_shape
    blocks = {"network_label": Block(name, 4, 1, 1, 1)}
    per_row = max(1, (PAGE_COLUMNS + 1) // (BOX_WIDTH + 2))
    boxes = tuple(Block(name, 5 + 2 * (n // per_row), 1 + (n % per_row) * (BOX_WIDTH + 2), 1, BOX_WIDTH)
                  for n in range(len(layers) + 1))   # the input, then every layer
    blocks["boxes"], blocks["box_shapes"] = boxes, (tuple(input_shape), *shapes)
    blocks["arrows"] = _box_arrows(boxes, inputs)
    row = boxes[-1].row + 2
    blocks["colour_view"] = Block(name, row + 1, 1, height, width)
    # compact, the chart goes right of the picture when there is room for both across
    chart_beside = compact and PAGE_COLUMNS - width - 2 >= CHART_ABOVE + CHART_COLUMNS
    beside = Block(name, row + 1, width + 3, max(height, CHART_ABOVE if chart_beside else PHOTO_ROWS),
                   max(PAGE_COLUMNS - width - 2, 12))
    blocks["beside_photo"] = beside
    blocks["photo_label"], blocks["picture_label"] = Block(name, row, 1, 1, 1), Block(name, row, beside.col, 1, 1)
    blocks["picture"] = beside.sub(0, 0, 1, 1)
    if chart_beside:   # right of the picture, not below it: the photo's rows are all the chart's
        blocks["chart"] = beside.sub(0, CHART_ABOVE, beside.height, beside.width - CHART_ABOVE)
    else:
        blocks["chart"] = beside.sub(CHART_ABOVE, 0, beside.height - CHART_ABOVE, beside.width)   # it fills the rest
    row = beside.last_row + 2
    blocks.update({key: Block(name, row + n, 1, 1, 1) for n, key in enumerate(OVERVIEW_RESULTS)})
    blocks.update({f"{key}_value": Block(name, row + n, 7, 1, 1) for n, key in enumerate(OVERVIEW_RESULTS)})
    blocks["knows"] = _knows(name, row, KNOWS_COL, classes, PAGE_COLUMNS - KNOWS_COL + 1)
    row += 6     # below the results, and the sentence, pictures and names of what the model knows
    blocks["pictures_title"] = Block(name, row, 0, 1, 1)   # a long line: the first column's text wraps in print
    blocks["legend"] = _legend(name, row + 1, 1, PAGE_COLUMNS)   # its words wrap within the printed page
    row += 2
    if compact:
        above = _printed_points(OverviewSheet(**ident, **blocks, pictures=(), links_label=None, links=None,
                                              gap_rows=_gap_rows(boxes, beside, ()), last_printed_col=0), row - 1)
        pictures = _map_tiles(name, row, shapes, PAGE_POINTS - above - TILES_TITLE_POINTS)
    else:
        pictures = _map_bands(name, row, shapes)
    blocks["pictures"] = tuple(pictures)
    # the links are for the screen: right of the printed columns, beside the boxes and the photo
    links_col = max(PAGE_COLUMNS, beside.last_col) + 2
    blocks["links_label"] = Block(name, 4, links_col, 1, 1)
    blocks["links"] = Block(name, 5, links_col, 1, 1)   # one per sheet, when all are known
    return OverviewSheet(**ident, **blocks, gap_rows=_gap_rows(boxes, beside, pictures), last_printed_col=links_col - 2)


def _map_bands(name, row, shapes):
    """Every map of every layer, THUMBNAIL_SIDE cells across at most: a layer's label, then its maps in bands."""
    pictures = []
    for index, shape in enumerate(shapes):
        if len(shape) != 3:
            continue
        channels, map_height, map_width = shape
        factor = max(-(-map_height // THUMBNAIL_SIDE), -(-map_width // THUMBNAIL_SIDE))
        side_h, side_w = -(-map_height // factor), -(-map_width // factor)
        per_row = max(1, (PAGE_COLUMNS + 1) // (side_w + 1))
        maps = []
        for k in range(channels):
            band, place = divmod(k, per_row)
            maps.append(Block(name, row + 1 + band * (side_h + 1), 1 + place * (side_w + 1), side_h, side_w))
        pictures.append(MapPictures(index, Block(name, row, 1, 1, 1), tuple(maps), factor))
        row = maps[-1].last_row + 2
    return pictures


# A compact overview shows each layer as a tile: its name and how many of its maps, over its first
# maps side by side; tiles follow each other across the page. The first choice that fits the page
# wins: as many maps as possible (all, 4, 2, then 1), each as large as possible; a student sees every
# layer, and its sheet (the link beside the boxes) holds every map whole.
TILE_MAPS = (None, 4, 2, 1)         # None: all of a layer's maps
TILE_SIDES = (THUMBNAIL_SIDE, 8, 6, 5)
TILE_LABEL_COLUMNS = 11             # square columns a tile's label ("10 Conv 4: 2 of 16") needs
CHART_COLUMNS = 18                  # the narrowest chart beside the photo's picture: at 14 columns LibreOffice squeezed
#                                     the class names under the bars to 3.3 pt (upsample at 20 px)


def _map_tiles(name, row, shapes, room):
    """Each layer's first maps as a tile (see TILE_MAPS), in rows of tiles that fit ``room`` points
    (when none do, the lowest, and of those the first choice)."""
    layers = [(index, shape) for index, shape in enumerate(shapes) if len(shape) == 3]
    lowest = []
    for count in TILE_MAPS:
        for side in TILE_SIDES:
            tiles = _tiles(name, row, layers, count, side)
            if tiles is None:
                continue
            if _pictures_points(tiles) <= room:
                return tiles
            if not lowest or _pictures_points(tiles) < _pictures_points(lowest):
                lowest = tiles
    return lowest


def _tiles(name, row, layers, count, side):
    """The tiles of ``count`` maps (None: all) at most ``side`` cells across; None when one is wider than the page."""
    tiles, col, tallest = [], 1, 0
    for index, (channels, map_height, map_width) in layers:
        shown = channels if count is None else min(count, channels)
        factor = max(-(-map_height // side), -(-map_width // side))
        side_h, side_w = -(-map_height // factor), -(-map_width // factor)
        width = max(TILE_LABEL_COLUMNS, shown * (side_w + 1))
        if width > PAGE_COLUMNS:
            return None
        if col + width > PAGE_COLUMNS + 1:      # the next row of tiles, below the tallest of this one
            row, col, tallest = row + tallest + 2, 1, 0
        maps = tuple(Block(name, row + 1, col + k * (side_w + 1), side_h, side_w) for k in range(shown))
        tiles.append(MapPictures(index, Block(name, row, col, 1, 1), maps, factor, tile=True))
        col, tallest = col + width, max(tallest, side_h)
    return tiles


# Printed height, in points at 100%, of the overview as planned: what the writers make each row
# (BOX_HEIGHT, SQUARE_HEIGHT and GAP_HEIGHT; a box of a branched network three lines), and
# the first rows' wrapped lines as measured. A page holds PAGE_POINTS at the handout's scale (the
# chart's 9-point type printed at 7: 78%) with the classroom's safety margin; an overview planned
# as before that measures ONE_PAGE_POINTS or less prints on one page (measured: 972 points do,
# 1055 do not), so it stays as it was.
TOP_POINTS = 99.0
ROW_POINTS_DEFAULT = 15.0
PAGE_POINTS = 870.0
TILES_TITLE_POINTS = 51.0   # the pictures' title, with what the tiles leave out, wraps to 4 lines and the legend to 2
ONE_PAGE_POINTS = 1000.0


def _printed_points(plan, last_row=None):
    """About how tall ``plan`` (an OverviewSheet) prints at 100%, up to ``last_row`` (default: its last)."""
    square = {row for pictures in plan.pictures for block in pictures.blocks for row in range(block.row, block.last_row + 1)}
    square.update(range(plan.beside_photo.row, plan.beside_photo.last_row + 1))
    boxes = {box.row for box in plan.boxes}
    branched = len(plan.arrows) < len(plan.boxes) - 1
    box_points = BOX_HEIGHT * 3 / 2 if branched else BOX_HEIGHT
    last = max([block.last_row for block in plan.all_blocks() if block.col <= PAGE_COLUMNS] if last_row is None else [last_row])
    points = TOP_POINTS
    for row in range(4, last + 1):
        points += (GAP_HEIGHT if row in plan.gap_rows else SQUARE_HEIGHT if row in square else box_points if row in boxes
                   else ROW_POINTS_DEFAULT)
    return points


def _pictures_points(tiles):
    """Points the rows of ``tiles`` print (a label row, the tallest tile's square rows and a gap, per row of tiles)."""
    rows = {}
    for tile in tiles:
        rows[tile.label.row] = max(rows.get(tile.label.row, 0), tile.blocks[0].height)
    return sum(ROW_POINTS_DEFAULT + SQUARE_HEIGHT * height + GAP_HEIGHT for height in rows.values())


def _box_arrows(boxes, inputs):
    """An arrow after each box that the next box reads: every box but the last, in a chain. In a branched
    network a box that reads another box (or the photo) says so in words instead (see the overview writer)."""
    reads = sources(inputs, len(boxes) - 1)
    return tuple(Block(box.sheet, box.row, box.last_col + 1, 1, 1) for n, box in enumerate(boxes[:-1])
                 if reads[n] == (n - 1,))


def _gap_rows(boxes, beside, pictures):
    """The overview's empty rows that only separate parts (rows of boxes, the photo and the results,
    bands of pictures): printed thin, so the whole story fits one page."""
    gaps = set(range(boxes[0].row, boxes[-1].row)) - {box.row for box in boxes}
    gaps.add(beside.last_row + 1)
    maps = {row for group in pictures for block in group.blocks for row in range(block.row, block.last_row + 1)}
    labels = {group.label.row for group in pictures}
    for group in pictures:   # tiles side by side share rows: a row is a gap when no picture and no label is on it
        rows = range(group.label.row + 1, group.blocks[-1].last_row + 2)
        gaps.update(row for row in rows if row not in maps and row not in labels)
    return tuple(gaps)


PICTURE_ROWS = 3         # rows a class's picture covers at the default row height
PICTURE_COLUMNS = 5      # square columns (14 pixels) a picture and its gap take on the overview


def _knows(name, row, col, classes, columns=None):
    """What the model knows at (row, col): the sentence, then a picture per class with its name below.

    With ``columns`` (the overview's narrow columns) the sentence wraps over two rows that
    many columns wide and each picture takes PICTURE_COLUMNS of them; else one column each.
    """
    sentence, step = (Block(name, row, col, 2, columns), PICTURE_COLUMNS) if columns else (Block(name, row, col, 1, 1), 1)
    top = sentence.last_row + 1
    return Knows(sentence=sentence, pictures=tuple(Block(name, top, col + n * step, 1, 1) for n in range(classes)),
                 names=tuple(Block(name, top + PICTURE_ROWS, col + n * step, 1, 1) for n in range(classes)))


def _link_overview(layout):
    """The overview with one link to every other sheet (one back on every other sheet); and their formulas."""
    overview, others = layout.sheets[0], len(layout.sheets) - 1
    return replace(overview, links=Block(overview.name, overview.links.row, overview.links.col, others, 1)), 2 * others


def overview_formulas(plan, classifier, regression=False):
    """The overview's own formula cells: the feature-map pictures and the results (a regression: its loss)."""
    return sum(pictures.formulas for pictures in plan.pictures) + len(OVERVIEW_RESULTS) * classifier + regression


def _manifest_sheet(ident):
    name = ident["name"]
    return ManifestSheet(**ident, names=Block(name, 2, 0, MANIFEST_ENTRIES, 1), values=Block(name, 2, 1, MANIFEST_ENTRIES, 1))


MANIFEST_ENTRIES = 20   # rows kept for the manifest's entries
