"""Writers for a layer that scatters (``Layer.scatters``): its kernels sheet, and its output maps with
the reach map and a worked example of one cell where stamped kernels overlap."""

from .. import formulas, lesson_formulas as lf
from . import styles
from .common import (add_scale, cell_at, freeze_below, put_formula, put_formulas, put_parameter, put_text, set_widths,
                     write_header, write_notice, write_padding)
from .explain import HIGHLIGHT
from .maps import output_scale, write_kernel

ORIGIN_WIDTH = 27    # the worked example's columns of words (where each contribution comes from)


def write_scatter_kernels(ctx, ws, plan):
    """A band per input channel: the kernels each of its cells stamps, one per output map; then the biases."""
    layer = plan.conv
    words = ctx.sheet_texts(layer.kind)
    p = ctx.model.params[plan.layer]
    channels, filters, f, _ = p["weight"].shape
    write_header(ws, words["kernels_title"], words["kernels_lines"],
                 {"step": plan.step, "kernel": f, "channels": channels, "filters": filters,
                  "params": f * f * channels * filters + filters, "stride": layer.stride})
    write_notice(ctx, ws)
    for c, kernels in enumerate(plan.weight):
        put_text(ws, *plan.filter_labels[c].cell(0, 0), words["band_label"].format(c=c + 1), styles.LABEL_FONT)
        for k in range(len(kernels)):
            put_text(ws, *plan.slice_labels[c][k].cell(0, 0), words["kernel_label"].format(k=k + 1))
            write_kernel(ctx, ws, plan, c, k, p["weight"][c, k])
        add_scale(ws, kernels, styles.diverging_scale())
    for k, bias in enumerate(plan.bias):
        put_text(ws, *plan.bias_labels[k].cell(0, 0), words["bias_label"].format(k=k + 1))
        put_parameter(ctx, ws, bias, p["bias"][k], styles.WEIGHT_FORMAT,
                      ctx.new_weight(plan.kind, plan.layer, lambda sheet, k=k: sheet.bias[k]))
    set_widths(ws, 0, 1, styles.LABEL_WIDTH)
    set_widths(ws, 1, plan.weight[0][-1].last_col, styles.VALUE_WIDTH)
    freeze_below(ws, 1)


def write_scatter(ctx, ws, plan):
    """Each output cell the sum of what the input cells stamp on it; the reach map, the side and the example."""
    layer = plan.scatter
    texts = ctx.sheet_texts(plan.kind)
    out, source = plan.output, plan.source
    channels, in_size, _ = source.shape
    filters, out_size, _ = out.shape
    write_header(ws, texts["title"], texts["lines"],
                 {"step": plan.step, "in_size": in_size, "out_size": out_size, "channels": channels,
                  **layer.text_values()})
    write_notice(ctx, ws)
    scale = ctx.scale_for(plan.layer)
    for k in range(filters):
        put_text(ws, *out.label_cell(k), texts["map_label"].format(k=k + 1), styles.LABEL_FONT)
        write_padding(ws, out, k)
        put_formulas(ctx, ws, out.interior(k),
                     lambda y, x: layer.cell_formula(plan.terms(k, y, x), plan.biases[k], scale), styles.VALUE_FORMAT)
        add_scale(ws, out.interior(k), output_scale(ctx.model, plan.layer))
    _write_reach(ctx, ws, plan, texts)
    _write_example(ctx, ws, plan, texts, scale)
    set_widths(ws, 0, 1, 3)
    set_widths(ws, out.maps[0].col, plan.value_columns, styles.VALUE_WIDTH)
    set_widths(ws, plan.origins.col, 1, ORIGIN_WIDTH)
    set_widths(ws, plan.taps.col, 1, ORIGIN_WIDTH)
    freeze_below(ws, 1)


def _write_reach(ctx, ws, plan, texts):
    """How many input cells reach each output cell (rows reaching x columns reaching), and the output side."""
    layer, reach = plan.scatter, plan.reach
    _, height, width = plan.source.shape
    put_text(ws, *plan.reach_label.cell(0, 0), texts["reach_label"], styles.LABEL_FONT)
    for y, x, _, _ in reach.cells():
        put_formula(ctx, ws, reach.sub(y, x, 1, 1),
                    layer.reach_formula(len(layer.reaching(y, height)), len(layer.reaching(x, width))))
    add_scale(ws, reach, styles.positive_scale())
    put_text(ws, *plan.side_label.cell(0, 0), texts["side_label"])
    _, formula = layer.side_arithmetic(width, reach.width)
    put_formula(ctx, ws, plan.side, formula)


def _write_example(ctx, ws, plan, texts, scale):
    """One row per (input cell, tap) pair that lands on the explained cell, then the sum and the result."""
    k, y, x = plan.example_at
    contributions = plan.contributions(y, x)
    put_text(ws, *plan.example_title.cell(0, 0), texts["example_title"].format(
        k=k + 1, row=y + 1, col=x + 1, count=len(contributions) // len(plan.source.maps)), styles.LABEL_FONT)
    for n, header in enumerate(texts["example_headers"]):
        put_text(ws, *plan.example_headers.cell(0, n), header, styles.LABEL_FONT)
    for r, ((c, i, j, u, v), (source, weight)) in enumerate(zip(contributions, plan.terms(k, y, x))):
        put_text(ws, *plan.origins.cell(r, 0), texts["origin"].format(c=c + 1, row=i + 1, col=j + 1))
        put_formula(ctx, ws, plan.inputs.item(r), formulas.reference(source), styles.VALUE_FORMAT)
        put_text(ws, *plan.taps.cell(r, 0), texts["tap"].format(c=c + 1, k=k + 1, u=u + 1, v=v + 1))
        put_formula(ctx, ws, plan.weights.item(r), formulas.reference(weight), styles.WEIGHT_FORMAT)
        put_formula(ctx, ws, plan.products.item(r), plan.scatter.product_formula(plan.inputs.item(r),
                                                                                 plan.weights.item(r)),
                    styles.VALUE_FORMAT)
    words = texts["results"]
    cells = {key: plan.result(key) for key in plan.result_keys}
    given = {"sum": formulas.sum_of(plan.products),
             "scale": lf.example_scale(scale), "bias": formulas.reference(plan.biases[k]),
             "result": plan.scatter.example_result_formula(cells["sum"], cells["bias"], cells.get("scale")),
             "cell": formulas.reference(plan.output.at(k, y, x))}
    for block in (plan.output.at(k, y, x), plan.reach.sub(y, x, 1, 1)):    # the explained cell, outlined
        cell_at(ws, *block.cell(0, 0)).border = HIGHLIGHT["border"]
    for n, key in enumerate(plan.result_keys):
        label = put_text(ws, *plan.result_labels.cell(n, 0), words[key], styles.LABEL_FONT if key == "result" else None)
        label.alignment = styles.RIGHT     # beside the value it names, across the weights' column
        put_formula(ctx, ws, cells[key], given[key], styles.SCALE_FORMAT if key == "scale" else styles.VALUE_FORMAT)
