""""Explain this cell": a worked example beside each layer, following a position the student picks.

Every number in the example is a live formula that INDEXes into the layer's input with
the chosen map, row and column, so moving the position moves the whole example; the
last lines compare the example's result with the cell itself. The same position also
outlines the window on the input sheet and the filter on the filters sheet.
"""

from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Border, Font, Side
from openpyxl.worksheet.datavalidation import DataValidation

from .. import formulas, lesson_formulas as lf
from . import styles
from .common import put_formula, put_text, put_value

HIGHLIGHT = dict(border=Border(*(Side(style="medium", color="FF8C00"),) * 4), font=Font(bold=True))


def explain_maps(ctx, ws, plan, layer, source, out):
    """The worked example of a map sheet: a layer with filters, a pooling or an activation."""
    example = plan.explain
    texts = ctx.texts["explain"]
    k, i, j = _write_choose(ctx, ws, example, out.shape, texts)
    if layer.has_filters:
        _explain_filters(ctx, ws, plan, layer, source, example, texts, (k, i, j))
    else:
        _explain_window(ctx, ws, plan, layer, source, example, texts, (k, i, j))
    _write_checks(ctx, ws, example, texts, lf.example_map_cell(out, k, i, j))


def explain_norm(ctx, ws, plan, layer, texts):
    """The worked example of a normalising layer's map cell: the cell it reads, its map's mean, variance,
    eps, x^, gamma and beta, and y; ``texts`` are the sheet's own words for its rows."""
    example, words = plan.explain, ctx.texts["explain"]
    k, i, j = _write_choose(ctx, ws, example, plan.output.shape, words)
    column = {"mean": plan.mean, "variance": plan.variance, "gamma": plan.gamma, "beta": plan.beta}
    for key, word in texts["example"].items():
        put_text(ws, *getattr(example, f"{key}_label").cell(0, 0), word, styles.LABEL_FONT)
    put_formula(ctx, ws, example.input,
                lf.example_window_value(plan.source, k, i, j, 1, 0, 0, ctx.scale_for(plan.layer)), styles.VALUE_FORMAT)
    for key, block in column.items():
        put_formula(ctx, ws, getattr(example, key), lf.example_channel_value(block, k), styles.WEIGHT_FORMAT)
    put_formula(ctx, ws, example.eps, formulas.reference(plan.eps), styles.GRAD_FORMAT)
    put_formula(ctx, ws, example.normalised,
                layer.normalise_formula(example.input, example.mean, example.variance, example.eps), styles.VALUE_FORMAT)
    put_formula(ctx, ws, example.result, layer.shift_formula(example.normalised, example.gamma, example.beta),
                styles.VALUE_FORMAT)
    _write_checks(ctx, ws, example, words, lf.example_map_cell(plan.output, k, i, j))


def explain_units(ctx, ws, plan, layer, source, scale):
    """The worked example of one output of a fully connected ``layer``: every input times its weight,
    summed, plus the bias."""
    example, texts = plan.explain, ctx.texts["explain"]
    put_text(ws, *example.title.cell(0, 0), texts["title"], styles.LABEL_FONT)
    choose = example.choose
    put_text(ws, *example.choose_labels.cell(0, 0), texts["unit"])
    put_value(ws, *choose.cell(0, 0), 1, fill=styles.PARAM_FILL)
    _whole_number_choice(ws, choose, plan.output.size)
    products = example.products
    products_word, sum_word = layer.example_words
    put_text(ws, *example.products_label.cell(0, 0), texts[products_word], styles.LABEL_FONT)
    for r in range(products.height):
        put_formula(ctx, ws, products.item(r), layer.example_product_formula(source.item(r), plan.weights_from(r), choose),
                    styles.VALUE_FORMAT)
    put_text(ws, *example.sum_label.cell(0, 0), texts[sum_word])
    put_formula(ctx, ws, example.sum, formulas.sum_of(products), styles.VALUE_FORMAT)
    put_text(ws, *example.bias_label.cell(0, 0), texts["bias"])
    put_formula(ctx, ws, example.bias, layer.example_unit_formula(plan.bias, choose), styles.WEIGHT_FORMAT)
    put_text(ws, *example.result_label.cell(0, 0), texts["result"], styles.LABEL_FONT)
    put_formula(ctx, ws, example.result, layer.example_result_formula(example.sum, example.bias, scale), styles.VALUE_FORMAT)
    _write_checks(ctx, ws, example, texts, layer.example_unit_formula(plan.output, choose), result_label=False)


def highlight_receptive_field(ctx, input_ws, filters_ws, plan, layer):
    """Outline, on the input and filters sheets, what the chosen cell of a layer with filters looks at."""
    choose = plan.explain.choose
    source = ctx.layout.sheet("input")
    copies = source.highlight
    put_text(input_ws, *source.highlight_title.cell(0, 0), ctx.texts["explain"]["highlight"], styles.LABEL_FONT)
    for n, word in enumerate(("map", "row", "column")):
        put_text(input_ws, *source.highlight_labels.cell(n, 0), ctx.texts["explain"][word])
        put_formula(ctx, input_ws, copies.item(n), formulas.reference(choose.item(n)))
    filters = ctx.layout.sheet("filters", plan.layer)
    grid = filters.connections
    for c, padded in enumerate(source.output.maps):     # the maps the first layer reads: the pixels, or normalised
        inside = layer.receptive_field_formula(padded, copies.item(1), copies.item(2))
        if grid is not None:    # grouped: the picked filter's group's channels only
            slices = len(filters.weight[0])
            inside = lf.in_picked_group(inside, copies.item(0), layer.filters * slices // filters.channels, slices, c)
        input_ws.conditional_formatting.add(padded.range(), FormulaRule(formula=[inside], **HIGHLIGHT))
    k_copy = filters.highlight
    put_text(filters_ws, *filters.highlight_label.cell(0, 0), ctx.texts["explain"]["highlight_filter"], styles.LABEL_FONT)
    put_formula(ctx, filters_ws, k_copy, formulas.reference(choose.item(0)))
    for number, slices in enumerate(filters.weight, start=1):
        row = () if grid is None else (grid.cells.sub(number - 1, 0, 1, grid.cells.width),)   # its row of the grid
        ranges = " ".join(block.range() for block in (*slices, *row))
        rule = FormulaRule(formula=[lf.picked_filter_rule(k_copy, number)], **HIGHLIGHT)
        filters_ws.conditional_formatting.add(ranges, rule)


# ---------------------------------------------------------------- private


def _write_choose(ctx, ws, example, shape, texts):
    put_text(ws, *example.title.cell(0, 0), texts["title"], styles.LABEL_FONT)
    put_text(ws, *example.prompt.cell(0, 0), texts["choose"])
    choose = example.choose
    for n, (word, limit) in enumerate(zip(("map", "row", "column"), shape)):
        put_text(ws, *example.choose_labels.cell(n, 0), texts[word])
        put_value(ws, *choose.cell(n, 0), 1, fill=styles.PARAM_FILL)
        _whole_number_choice(ws, choose.item(n), limit)
    return tuple(choose.item(n) for n in range(3))


def _whole_number_choice(ws, cell, limit):
    rule = DataValidation(type="whole", operator="between", formula1="1", formula2=str(limit), showErrorMessage=True)
    rule.add(cell.range())
    ws.add_data_validation(rule)


def _explain_filters(ctx, ws, plan, layer, source, example, texts, chosen):
    k, i, j = chosen
    filters = ctx.layout.sheet("filters", plan.layer)
    channels = source.shape[0]
    # the first layer reads the photo's channels; deeper ones read the maps before them
    labels = (ctx.channel_labels(channels) if source is ctx.layout.input
              else [f"{texts['map']} {c + 1}" for c in range(channels)])
    slices = len(example.windows)
    live = slices != channels    # grouped: slice c reads a channel of the picked filter's group, found and named live
    group = [lf.example_group_channel(k, layer.filters * slices // channels, slices, c) for c in range(slices)] if live else []

    def label(c, key):
        """The text ``key`` naming slice c's channel: as text, or (grouped) a formula picking the channel's name."""
        return lf.example_channel_label(texts[key], labels, group[c]) if live else texts[key].format(c=labels[c])

    def put_label(block, text, font=None):
        cell = put_formula(ctx, ws, block, text) if live else put_text(ws, *block.cell(0, 0), text)
        if font is not None:
            cell.font = font

    def input_at(c, a, b):
        if live:
            return lf.example_grouped_conv_input(source, group[c], i, j, plan.stride, a, b)
        return layer.example_input_formula(source.maps[c], i, j, plan.stride, a, b)
    for c in range(slices):
        window, weights, products = example.windows[c], example.weights[c], example.products[c]
        put_label(example.window_labels[c], label(c, "window"), styles.LABEL_FONT)
        put_label(example.weight_labels[c], label(c, "weights"), styles.LABEL_FONT)
        put_text(ws, *example.product_labels[c].cell(0, 0), texts["products"], styles.LABEL_FONT)
        band = filters.band(c)
        taps = [(u, v) for u, v, _, _ in window.cells()]
        inputs, factors = [window.sub(u, v, 1, 1) for u, v in taps], [weights.sub(u, v, 1, 1) for u, v in taps]
        for (u, v), x, w in zip(taps, inputs, factors):
            a, b = filters.tap_offset(u, v)
            put_formula(ctx, ws, x, input_at(c, a, b), styles.VALUE_FORMAT)
            put_formula(ctx, ws, w, layer.example_tap_formula(band, k, filters.band_step, *filters.stored_at(a, b)),
                        styles.WEIGHT_FORMAT)
            put_formula(ctx, ws, products.sub(u, v, 1, 1), lf.example_product(x, w), styles.VALUE_FORMAT)
        put_label(example.sum_labels[c], label(c, "channel_sum"))
        put_formula(ctx, ws, example.sums[c], lf.example_channel_sum(products), styles.VALUE_FORMAT)
        put_formula(ctx, ws, example.spelled[c],
                    lf.example_spelled_sum(label(c, "spelled"), inputs, factors, example.sums[c]))
    _explain_conv_result(ctx, ws, plan, layer, example, texts, k, filters)


def _explain_conv_result(ctx, ws, plan, layer, example, texts, k, filters):
    """The bias, the scale (first layer) and the result under the channels' sums."""
    put_text(ws, *example.bias_label.cell(0, 0), texts["bias"])
    put_formula(ctx, ws, example.bias, layer.example_tap_formula(filters.biases, k, filters.band_step, 0, 0),
                styles.WEIGHT_FORMAT)
    scale = ctx.scale_for(plan.layer)
    if scale:
        put_text(ws, *example.scale_label.cell(0, 0), texts["scale"])
        put_formula(ctx, ws, example.scale, lf.example_scale(scale), styles.SCALE_FORMAT)
    put_text(ws, *example.result_label.cell(0, 0), texts["result"], styles.LABEL_FONT)
    put_formula(ctx, ws, example.result,
                layer.example_result_formula(example.sums, example.bias, example.scale if scale else None),
                styles.VALUE_FORMAT)


def _explain_window(ctx, ws, plan, layer, source, example, texts, chosen):
    """The window the layer reads (one cell for an activation) and the layer's own formula on it."""
    k, i, j = chosen
    window = example.window
    window_word, result_word = layer.example_words
    put_text(ws, *example.window_label.cell(0, 0), texts[window_word], styles.LABEL_FONT)
    scale = ctx.scale_for(plan.layer)   # the first layer shows its window as it reads it: scaled
    for u, v, _, _ in window.cells():
        put_formula(ctx, ws, window.sub(u, v, 1, 1),
                    lf.example_window_value(source, k, i, j, plan.stride, u, v, scale, *plan.example_reach()),
                    styles.VALUE_FORMAT)
    put_text(ws, *example.result_label.cell(0, 0), texts[result_word], styles.LABEL_FONT)
    put_formula(ctx, ws, example.result, layer.forward_formula(window), styles.VALUE_FORMAT)


def _write_checks(ctx, ws, example, texts, cell_formula, result_label=True):
    put_text(ws, *example.cell_label.cell(0, 0), texts["cell"])
    put_formula(ctx, ws, example.cell, cell_formula, styles.VALUE_FORMAT)
    put_text(ws, *example.same_label.cell(0, 0), texts["same"])
    put_formula(ctx, ws, example.same, lf.example_agrees(example.result, example.cell, texts["yes"], texts["no"]))
