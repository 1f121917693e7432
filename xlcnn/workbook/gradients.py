"""Backpropagation as formulas: one sheet per layer, walking back from the loss.

Each gradient sheet holds the gradient of the loss for the layer's input (what the
layer before it needs) and, for conv and fully connected layers, for its weights and biases.
Every cell is a formula of the forward sheets and of the gradient sheet after it.
"""

from openpyxl.chart import LineChart, Reference
from openpyxl.chart.marker import Marker

from .. import formulas, losses
from ..cells import a1
from ..plans import all_blocks
from . import styles
from .common import write_lines, share_formulas, add_scale, freeze_below, put_formula, put_formulas, put_text, put_value, set_widths, write_padding


def write_gradients(ctx, ws, plan, forward, gradients):
    """The gradient sheet of layer ``plan.layer``; ``forward`` is the pass it differentiates."""
    layer = ctx.model.layers[plan.layer]
    texts = ctx.texts["gradients"]
    kind = layer.gradient_sheet
    put_text(ws, 0, 0, texts["title"].format(sheet=forward.sheet_of(plan.layer).name), styles.TITLE_FONT)
    notice = (ctx.texts["step_notice"].format(n=ctx.step), styles.TEXT_FONT) if ctx.step else None
    # a regression's last layer starts from 2 (y - t) / n, not p - y
    lines = texts[f"{layer.gradient_text}_mse"] if ctx.targets and layer.fully_connected else texts[layer.gradient_text]
    write_lines(ws, lines, then=notice, gap=1)
    if getattr(plan, "gathered", None) is not None:
        _write_gathered(ctx, ws, plan, texts)
    {"filters": _filters, "connected": _connected, "column": _column, "pool": _pool, "activation": _activation,
     "join": _join, "scatter": _scatter, "norm": _norm}[kind](ctx, ws, plan, layer, forward, getattr(plan, "upstream", None), texts)
    freeze_below(ws, 1)


def _write_gathered(ctx, ws, plan, texts):
    """A fork: the gradient of the layer's output is the sum of what every layer reading it sends back."""
    stack = plan.gathered
    sheets = ", ".join(f"'{next(all_blocks(term)).sheet}'" for term in plan.sent)
    put_text(ws, *plan.gathered_label.cell(0, 0), texts["gathered"].format(count=len(plan.sent), sheets=sheets),
             styles.LABEL_FONT)
    for c in range(stack.shape[0]):
        put_text(ws, *stack.label_cell(c), texts["gathered_map"].format(k=c + 1), styles.LABEL_FONT)
        write_padding(ws, stack, c)
        put_formulas(ctx, ws, stack.interior(c),
                     lambda r, s: formulas.total_of([term.at(c, r, s) for term in plan.sent]), styles.GRAD_FORMAT)
        share_formulas(ws, stack.interior(c))
        add_scale(ws, stack.interior(c), styles.diverging_scale())
    set_widths(ws, stack.maps[0].col, stack.maps[0].width, styles.VALUE_WIDTH)


def _join(ctx, ws, plan, layer, forward, upstream, texts):
    """The gradient of a join's output, once: each cell the sum of what the layers reading it send back.
    Each operand reads it from here: all of it (a sum passes its gradient on unchanged) or its own maps."""
    stack, join = plan.input, forward.sheet_of(plan.layer)
    for c in range(stack.shape[0]):
        if layer.stacks:
            n, origin = join.origin(c)
            label = texts["join_map_stacked"].format(k=c + 1, c=origin + 1, sheet=f"'{join.source_sheets()[n]}'")
        else:
            label = texts["join_map"].format(k=c + 1)
        put_text(ws, *stack.label_cell(c), label, styles.LABEL_FONT)
        write_padding(ws, stack, c)
        put_formulas(ctx, ws, stack.interior(c), lambda r, s: _total([term.at(c, r, s) for term in plan.sent]),
                     styles.GRAD_FORMAT)
        share_formulas(ws, stack.interior(c))
    _finish_maps(ws, stack)


def _total(terms):
    """The sum of the gradients ``terms`` send back; one alone is a plain reference."""
    return formulas.total_of(terms) if len(terms) > 1 else formulas.reference(terms[0])


def _connected(ctx, ws, plan, layer, forward, upstream, texts):
    """dL/dz = p - y (a regression: 2 (y - t) / n); dL/dW = x * dz; dL/db = dz; dL/dx = sum over outputs of W * dz."""
    connected = forward.sheet_of(plan.layer)
    source = forward.input_of(plan.layer)
    regression = bool(ctx.targets)
    stem = layer.gradient_text    # its labels' text keys start with it
    for label, key in ((plan.upstream_label, "mse_upstream" if regression else f"{stem}_upstream"),
                       (plan.bias_label, f"{stem}_bias"), (plan.weight_label, f"{stem}_weight"),
                       (plan.input_label, f"{stem}_input")):
        put_text(ws, *label.cell(0, 0), texts[key], styles.LABEL_FONT)
    units = plan.upstream.width
    for n in range(units):
        put_formula(ctx, ws, plan.upstream.item(n), _output_gradient(ctx, forward, n, units, regression),
                    styles.PROB_FORMAT)
        put_formula(ctx, ws, plan.bias.item(n), layer.bias_gradient_formula(plan.upstream.item(n)), styles.PROB_FORMAT)
    for i in range(plan.weight.height):
        for n in range(units):
            put_formula(ctx, ws, plan.weight.sub(i, n, 1, 1),
                        layer.weight_gradient_formula(source.item(i), plan.upstream.item(n)), styles.GRAD_FORMAT)
        put_formula(ctx, ws, plan.input.item(i),
                    layer.input_gradient_formula(connected.weights_from(i), plan.upstream), styles.GRAD_FORMAT)
    for n in range(units):   # down a column, each formula is the first one moved to the next input
        share_formulas(ws, plan.weight.sub(0, n, plan.weight.height, 1))
    share_formulas(ws, plan.input)
    add_scale(ws, plan.weight, styles.diverging_scale())
    add_scale(ws, plan.input, styles.diverging_scale())
    set_widths(ws, 0, 1, styles.LABEL_WIDTH)
    set_widths(ws, 1, units + 2, 11)


def _output_gradient(ctx, forward, n, units, regression):
    """dL/dz of output n, where the backward walk starts: from the loss sheet of ``forward``'s pass."""
    loss = forward.sheet("loss")
    if regression:
        return losses.mse_backward_formula(loss.outputs.item(n), loss.targets.item(n), units)
    end = len(ctx.model.layers) - 1    # the layer that gives the probabilities brings its loss's gradient
    probabilities = forward.sheet_of(end)
    return ctx.model.layers[end].loss_gradient_formula(probabilities.probability.item(n), loss.one_hot.item(n))


def _column(ctx, ws, plan, layer, forward, upstream, texts):
    """Back from the column: each map cell takes back the gradient of its position in the column."""
    stack, column = plan.input, forward.sheet_of(plan.layer)
    for c in range(stack.shape[0]):
        _map_label(ws, stack, c, texts)
        put_formulas(ctx, ws, stack.interior(c),
                     lambda i, j: layer.backward_formula(upstream.item(column.flat_index(c, i, j))), styles.GRAD_FORMAT)
    _finish_maps(ws, stack)


def _pool(ctx, ws, plan, layer, forward, upstream, texts):
    """Each cell takes its share of the gradient of the window that pools it, by the layer's own formula."""
    stack, pool = plan.input, forward.sheet_of(plan.layer)
    source = pool.source
    margin = _write_margin(ctx, ws, plan, source, texts)
    for c in range(stack.shape[0]):
        _map_label(ws, stack, c, texts)
        for r, s, target in stack.interior(c).cell_blocks():
            formula = _pool_cell_gradient(layer, pool, c, r, s, margin, upstream)
            if formula is None:        # rows and columns no window reaches
                put_value(ws, *target.cell(0, 0), 0)
                continue
            put_formula(ctx, ws, target, formula, styles.GRAD_FORMAT)
    _finish_maps(ws, stack)


def _pool_cell_gradient(layer, pool, c, r, s, margin, upstream):
    """The gradient of input cell (r, s) of map c: the share of the window that pools it or, where windows
    overlap, the sum of the shares of every window that holds it; None where no window reaches the cell."""
    x = pool.source.at(c, r, s)
    if layer.overlaps:
        holding = pool.holding(c, r, s, upstream)
        return formulas.checked(layer.overlapping_backward_formula(x, holding, margin)) if holding else None
    window = pool.pooled_by(r, s)
    if window is None:
        return None
    return layer.backward_formula(x, pool.window(c, *window), pool.before_in_window(c, r, s, window), margin,
                                  upstream.at(c, *window))


def _activation(ctx, ws, plan, layer, forward, upstream, texts):
    """The gate: the upstream gradient times the activation's slope at its input."""
    stack = plan.input
    source = forward.input_of(plan.layer)
    output = forward.output_of(plan.layer)
    margin = _write_margin(ctx, ws, plan, source, texts)
    for c in range(stack.shape[0]):
        _map_label(ws, stack, c, texts)
        put_formulas(ctx, ws, stack.interior(c), lambda r, s: layer.backward_formula(
            source.at(c, r, s), output.at(c, r, s), margin, upstream.at(c, r, s)), styles.GRAD_FORMAT)
        share_formulas(ws, stack.interior(c))
    _finish_maps(ws, stack)


def _norm(ctx, ws, plan, layer, forward, upstream, texts):
    """Statistics held fixed: dL/dgamma = SUMPRODUCT(dL/dy, x^) and dL/dbeta = SUM(dL/dy) per channel;
    dL/dx = dL/dy x gamma / SQRT(variance + eps)."""
    norm = forward.sheet_of(plan.layer)
    for col, header in enumerate(texts["norm_headers"]):
        put_text(ws, *plan.headers.cell(0, col), header, styles.LABEL_FONT)
    stack = plan.input
    for c in range(stack.shape[0]):
        put_value(ws, *plan.numbers.cell(c, 0), c + 1)
        up = upstream.interior(c)
        put_formula(ctx, ws, plan.gamma.item(c), layer.gamma_gradient_formula(up, norm.normalised.interior(c)),
                    styles.GRAD_FORMAT)
        put_formula(ctx, ws, plan.beta.item(c), layer.beta_gradient_formula(up), styles.GRAD_FORMAT)
        _map_label(ws, stack, c, texts)
        gamma, var = norm.channel("weight", c), norm.channel("running_var", c)
        put_formulas(ctx, ws, stack.interior(c),
                     lambda r, s: layer.input_gradient_formula(upstream.at(c, r, s), gamma, var, norm.eps),
                     styles.GRAD_FORMAT)
        share_formulas(ws, stack.interior(c))
    _finish_maps(ws, stack)
    set_widths(ws, plan.gamma.col, 2, 11)


def _write_margin(ctx, ws, plan, source, texts):
    """The tie margin of a layer that ``chooses`` (a switch, a window's largest cell), or None."""
    margin = plan.margin
    if margin is not None:
        put_formula(ctx, ws, margin, formulas.tie_margin([source.interior(c) for c in range(source.shape[0])]),
                    styles.GRAD_FORMAT)
        put_text(ws, *plan.margin_label.cell(0, 0), texts["margin"], styles.LABEL_FONT)
    return margin


def _filters(ctx, ws, plan, layer, forward, upstream, texts):
    """dL/dw = sum over positions of input window x upstream gradient; dL/db = sum of the upstream map;
    dL/dx = the upstream maps (zero-padded) slid under the kernels turned 180 degrees."""
    conv, filters = forward.sheet_of(plan.layer), forward.sheet("filters", plan.layer)
    scale = ctx.scale_for(plan.layer)
    for k, (slices, bias) in enumerate(zip(plan.weight, plan.bias)):
        put_text(ws, *plan.filter_labels[k].cell(0, 0), texts["filter"].format(k=k + 1), styles.LABEL_FONT)
        up = upstream.interior(k)
        for channel, block in zip(filters.reads(k), slices):    # a grouped filter saw its group's channels only
            put_formulas(ctx, ws, block,
                         lambda u, v: layer.weight_gradient_formula(conv.reach(channel, u, v), up, scale),
                         styles.GRAD_FORMAT)
        if layer.bias:     # a bias-free layer's fixed 0 learns nothing
            put_text(ws, *plan.bias_labels[k].cell(0, 0), texts["bias"])
            put_formula(ctx, ws, bias, layer.bias_gradient_formula(up), styles.GRAD_FORMAT)
        add_scale(ws, slices, styles.diverging_scale())
    if plan.input is not None:
        _filters_input_gradient(ctx, ws, plan, layer, filters, texts)
    set_widths(ws, 0, 1, styles.LABEL_WIDTH)
    set_widths(ws, 1, 60, styles.VALUE_WIDTH)


def _filters_input_gradient(ctx, ws, plan, layer, filters, texts):
    for k, kernels in enumerate(plan.back_kernels):
        for c, (channel, block) in enumerate(zip(filters.reads(k), kernels)):
            put_text(ws, *plan.back_kernel_labels[k][c].cell(0, 0), texts["turned"].format(c=channel + 1))
            for a, e, row, col in block.cells():
                tap = filters.turned_tap(k, c, a, e)
                if tap is None:
                    put_value(ws, row, col, 0, fill=styles.PAD_FILL)
                else:
                    put_formula(ctx, ws, block.sub(a, e, 1, 1), layer.turned_weight_formula(tap), styles.WEIGHT_FORMAT)
    stack, filter_count = plan.input, len(plan.back_kernels)
    for c in range(stack.shape[0]):
        _map_label(ws, stack, c, texts)
        readers = [k for k in range(filter_count) if c in filters.reads(k)]   # grouped: the filters of c's group
        for r, s, cell in stack.interior(c).cell_blocks():
            windows = [plan.upstream_window(k, r, s) for k in readers]
            kernels = [plan.back_kernels[k][c - filters.reads(k).start] for k in readers]
            put_formula(ctx, ws, cell, layer.input_gradient_formula(windows, kernels),
                        styles.GRAD_FORMAT)
        share_formulas(ws, stack.interior(c))
    _finish_maps(ws, stack)


def _scatter(ctx, ws, plan, layer, forward, upstream, texts):
    """dL/dw = sum over input cells of x times the upstream gradient where its stamp put the tap; dL/db = the
    sum of the upstream map; dL/dx = every tap the cell stamped times the upstream gradient where it landed."""
    scatter = forward.sheet_of(plan.layer)
    scale = ctx.scale_for(plan.layer)
    for c, kernels in enumerate(plan.weight):
        put_text(ws, *plan.band_labels[c].cell(0, 0), texts["scatter_band"].format(c=c + 1), styles.LABEL_FONT)
        for k, block in enumerate(kernels):
            put_text(ws, *plan.kernel_labels[c][k].cell(0, 0), texts["scatter_kernel"].format(k=k + 1))
            put_formulas(ctx, ws, block,
                         lambda u, v: layer.weight_gradient_formula(scatter.weight_pairs(c, k, u, v, upstream), scale),
                         styles.GRAD_FORMAT)
        add_scale(ws, kernels, styles.diverging_scale())
    for k, bias in enumerate(plan.bias):
        put_text(ws, *plan.bias_labels[k].cell(0, 0), texts["scatter_bias"].format(k=k + 1))
        put_formula(ctx, ws, bias, layer.bias_gradient_formula(upstream.interior(k)), styles.GRAD_FORMAT)
    if plan.input is not None:
        stack = plan.input
        for c in range(stack.shape[0]):
            _map_label(ws, stack, c, texts)
            put_formulas(ctx, ws, stack.interior(c),
                         lambda i, j: layer.input_gradient_formula(scatter.input_pairs(c, i, j, upstream)),
                         styles.GRAD_FORMAT)
        _finish_maps(ws, stack)
    set_widths(ws, 0, 1, styles.LABEL_WIDTH)
    set_widths(ws, 1, plan.weight[0][-1].last_col, styles.VALUE_WIDTH)


def _map_label(ws, stack, c, texts):
    put_text(ws, *stack.label_cell(c), texts["map"].format(k=c + 1), styles.LABEL_FONT)
    write_padding(ws, stack, c)   # the zero border that lets the layer before slide a window over it


def _finish_maps(ws, stack):
    for c in range(stack.shape[0]):
        add_scale(ws, stack.interior(c), styles.diverging_scale())
    set_widths(ws, 0, 1, 3)
    set_widths(ws, stack.maps[0].col, stack.maps[0].width, styles.VALUE_WIDTH)


def write_descent(ctx, ws, plan, passes):
    """The learning rate, and the loss before any step (step 0) and after every step, with a chart."""
    texts = ctx.texts["gradients"]
    steps = len(passes) - 1
    title = texts["descent_title"] if steps == 1 else texts["descent_title_steps"].format(steps=steps)
    put_text(ws, 0, 0, title, styles.TITLE_FONT)
    write_lines(ws, [*texts["descent"], texts["descent_table"].format(steps=steps)])
    put_text(ws, *plan.rate_label.cell(0, 0), texts["rate"], styles.LABEL_FONT)
    put_value(ws, *plan.rate.cell(0, 0), ctx.options.rate, styles.WEIGHT_FORMAT, styles.PARAM_FILL)
    losses, numbers = plan.losses, plan.steps
    put_text(ws, *plan.steps_label.cell(0, 0), texts["step"], styles.LABEL_FONT)
    put_text(ws, *plan.losses_label.cell(0, 0), texts["loss"], styles.LABEL_FONT)
    for n, layout in enumerate(passes):
        put_value(ws, *numbers.cell(n, 0), n)
        put_formula(ctx, ws, losses.item(n), formulas.reference(layout.sheet("loss").loss), styles.PROB_FORMAT)
    # a loss axis from 0 shows a small change as small; the number beside it says how small
    put_text(ws, *plan.change_label.cell(0, 0), texts["change"], styles.LABEL_FONT)
    put_formula(ctx, ws, plan.change, formulas.loss_change(losses.item(steps), losses.item(0)), styles.PROB_FORMAT)
    ws.add_chart(_loss_chart(ws, texts, numbers, losses), a1(*plan.chart.cell(0, 0)))
    set_widths(ws, 0, 1, 16)
    set_widths(ws, 1, 2, 12)


def _loss_chart(ws, texts, numbers, losses):
    """The losses against their step numbers 0..N: straight segments, a marker per step, from 0 up."""
    chart = LineChart()
    chart.title, chart.y_axis.title, chart.x_axis.title = texts["chart"], texts["loss"], texts["step"]
    chart.x_axis.delete = chart.y_axis.delete = False
    chart.legend = None
    chart.add_data(Reference(ws, **losses.bounds()), titles_from_data=False)
    chart.set_categories(Reference(ws, **numbers.bounds()))   # the table's own step numbers, not 1..N+1
    series = chart.series[0]
    series.smooth = False
    series.marker = Marker(symbol="circle", size=7)
    chart.y_axis.scaling.min = 0
    chart.height, chart.width = 7, 12
    return chart

