"""The writer of a fold sheet (--fold-bn): the layer before a normalising layer, with it folded in.

Every folded weight and bias is a formula of the original weight (on its own sheet) and the
normalising layer's numbers (on its sheet), so an edit on either moves them; the folded layer's
output is computed from the same input as the original one, and beside it its difference from
the normalising layer's output, with the largest |difference| at the top: about 0.
"""

from .. import lesson_formulas as lf
from . import styles
from .common import (add_scale, freeze_below, merge, put_formula, put_text, set_widths, share_formulas, write_header,
                     write_notice)


def write_fold(ctx, ws, plan):
    norm_layer = ctx.model.layers[plan.norm_layer]
    before_layer = ctx.model.layers[plan.before.layer]
    texts = ctx.sheet_texts(plan.kind)
    weights_sheet = (plan.filters or plan.before).name
    write_header(ws, texts["title"], texts["lines"], {
        "step": plan.step, "norm": plan.norm.name, "before": plan.before.name, "weights": weights_sheet})
    write_notice(ctx, ws)
    put_text(ws, *plan.largest_label.cell(0, 0), texts["largest_label"].format(norm=plan.norm.name), styles.LABEL_FONT)
    differences = plan.difference.maps if hasattr(plan.difference, "maps") else [plan.difference]
    put_formula(ctx, ws, plan.largest, lf.largest_difference(differences), styles.GRAD_FORMAT)   # 4.4E-16: visibly tiny
    merge(ws, *plan.largest.cell(0, 0), 1, 3)   # wide enough for it between narrow value columns
    scale = ctx.scale_for(plan.before.layer)
    if plan.filters is not None:
        _write_conv(ctx, ws, plan, norm_layer, before_layer, texts, scale)
    else:
        _write_vector(ctx, ws, plan, norm_layer, before_layer, texts, scale)
    set_widths(ws, 0, 1, styles.LABEL_WIDTH)
    freeze_below(ws, 1)


def _factors(plan, k):
    """Output channel k's gamma, beta, mean and variance on the normalising layer's sheet, and its eps."""
    return (*plan.norm.channel_cells(k), plan.norm.eps)


def _write_conv(ctx, ws, plan, norm_layer, conv, texts, scale):
    filters, maps_before = plan.filters, plan.before
    for k, (kernels, folded) in enumerate(zip(filters.kernels, plan.weight)):
        gamma, beta, mean, var, eps = _factors(plan, k)
        put_text(ws, *plan.weight_labels[k].cell(0, 0), texts["filter_label"].format(k=k + 1), styles.LABEL_FONT)
        for kernel, block in zip(kernels, folded):
            for u, v, _, _ in block.cells():
                put_formula(ctx, ws, block.sub(u, v, 1, 1),
                            norm_layer.folded_weight_formula(kernel.sub(u, v, 1, 1), gamma, var, eps),
                            styles.WEIGHT_FORMAT)
            share_formulas(ws, block)
        put_text(ws, *plan.bias_labels[k].cell(0, 0), texts["bias_label"])
        put_formula(ctx, ws, plan.bias[k], norm_layer.folded_bias_formula(filters.bias[k], gamma, beta, mean, var, eps),
                    styles.WEIGHT_FORMAT)
        add_scale(ws, folded, styles.diverging_scale())
    channels = maps_before.source.shape[0]
    reference = plan.norm.output
    for k in range(len(plan.folded.maps)):
        put_text(ws, *plan.folded.label_cell(k), texts["map_label"].format(k=k + 1), styles.LABEL_FONT)
        put_text(ws, *plan.difference.label_cell(k), texts["difference_map"].format(k=k + 1, norm=plan.norm.name),
                 styles.LABEL_FONT)
        folded, difference = plan.folded.interior(k), plan.difference.interior(k)
        for i, j, cell in folded.cell_blocks():
            windows = [maps_before.window(c, i, j) for c in range(channels)]
            put_formula(ctx, ws, cell,
                        conv.forward_formula(windows, plan.weight[k], plan.bias[k], scale), styles.VALUE_FORMAT)
            put_formula(ctx, ws, plan.difference.at(k, i, j),
                        lf.difference(cell, reference.at(k, i, j)), styles.VALUE_FORMAT)
        if maps_before.stride == 1:
            share_formulas(ws, folded)
        share_formulas(ws, difference)
        add_scale(ws, folded, styles.diverging_scale())
        add_scale(ws, difference, styles.diverging_scale())
    set_widths(ws, 1, plan.difference.maps[0].last_col, styles.VALUE_WIDTH)


def _write_vector(ctx, ws, plan, norm_layer, connected, texts, scale):
    before = plan.before
    source = ctx.layout.input_of(before.layer)
    for key, label in (("bias_label", plan.bias_labels), ("output_label", plan.folded_label),
                       ("difference_label", plan.difference_label)):
        put_text(ws, *label.cell(0, 0), texts[key].format(norm=plan.norm.name), styles.LABEL_FONT)
    put_text(ws, *plan.weight_labels.cell(0, 0), texts["weight_label"], styles.LABEL_FONT)
    for n in range(plan.folded.size):
        gamma, beta, mean, var, eps = _factors(plan, n)
        for i in range(before.weights_of(n).size):
            original = before.weight_cell(i, n)
            at = plan.weights_of(n).item(i)
            put_formula(ctx, ws, at, norm_layer.folded_weight_formula(original, gamma, var, eps), styles.WEIGHT_FORMAT)
        put_formula(ctx, ws, plan.bias.item(n),
                    norm_layer.folded_bias_formula(before.bias.item(n), gamma, beta, mean, var, eps), styles.WEIGHT_FORMAT)
        put_formula(ctx, ws, plan.folded.item(n), connected.forward_formula(source, plan.weights_of(n), plan.bias.item(n), scale),
                    styles.VALUE_FORMAT)
        put_formula(ctx, ws, plan.difference.item(n), lf.difference(plan.folded.item(n), plan.norm.output.item(n)),
                    styles.VALUE_FORMAT)
    add_scale(ws, plan.weight, styles.diverging_scale())
    set_widths(ws, 1, plan.weight.last_col, 11)
