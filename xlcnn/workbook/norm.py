"""The writer of a normalising layer's sheet: x^ and y side by side, and the table of its numbers.

Both steps are live for every cell: x^ reads the cell before and its channel's mean, variance
and eps; y reads x^ and the channel's gamma and beta. The numbers are editable (a later pass of
--steps computes gamma and beta by descent and reads the kept ones from the pass before).
"""

from openpyxl.styles import Alignment

from .. import formulas
from . import styles
from .common import (add_scale, freeze_below, put_formula, put_parameter, put_text, put_value, set_widths,
                     share_formulas, write_header, write_notice, write_padding)
from .explain import explain_norm
from .maps import output_scale

CENTRED = Alignment(horizontal="center")
TABLE_WIDTH = 8.5   # "variance", "1.00E-5" and the words of the table's heading fit


def write_norm(ctx, ws, plan):
    layer, p = ctx.model.layers[plan.layer], ctx.model.params[plan.layer]
    texts = ctx.sheet_texts(plan.kind)
    vector = plan.output_label is not None
    channels = plan.mean.height
    shape = plan.output.height if vector else " x ".join(str(n) for n in plan.output.shape)
    write_header(ws, texts["title"], texts["lines"], {
        "step": plan.step, "shape": shape, "unit": texts["unit_word" if vector else "map_word"],
        "learned": 2 * channels, "kept": 2 * channels})
    write_notice(ctx, ws)
    _write_numbers(ctx, ws, plan, layer, p, texts)
    scale = ctx.scale_for(plan.layer)
    if vector:
        _write_vectors(ctx, ws, plan, layer, texts, scale)
    else:
        _write_maps(ctx, ws, plan, layer, texts, scale)
        explain_norm(ctx, ws, plan, layer, texts)
    set_widths(ws, 0, 1, 3)
    set_widths(ws, 1, plan.value_columns, styles.VALUE_WIDTH)
    set_widths(ws, plan.mean.col, 4, TABLE_WIDTH)
    freeze_below(ws, 1)


def _write_numbers(ctx, ws, plan, layer, p, texts):
    """One row per channel: its number, then mean, variance, gamma, beta; eps below. The kept numbers
    of a later pass are the pass before's (a student's edit there carries on); gamma and beta step."""
    for col, header in enumerate(texts["headers"]):
        put_text(ws, *plan.headers.cell(0, col), header).alignment = CENTRED   # clear of each other
    for c in range(plan.mean.height):
        put_value(ws, *plan.numbers.cell(c, 0), c + 1)
        for name in plan.parameter_blocks():
            def pick(sheet, name=name, c=c):
                return sheet.channel(name, c)
            put_parameter(ctx, ws, pick(plan), p[name][c], styles.WEIGHT_FORMAT,
                          _kept(ctx, plan, pick) if name in layer.buffers else ctx.new_weight(plan.kind, plan.layer, pick))
    put_text(ws, *plan.eps_label.cell(0, 0), texts["eps_label"], styles.LABEL_FONT)
    put_parameter(ctx, ws, plan.eps, layer.eps, styles.GRAD_FORMAT, _kept(ctx, plan, lambda sheet: sheet.eps))


def _kept(ctx, plan, pick):
    """In a later pass, a reference to the same cell of the pass before (numbers training does not step)."""
    if ctx.previous is None:
        return None
    return formulas.reference(pick(ctx.previous.sheet(plan.kind, plan.layer)))


def _write_maps(ctx, ws, plan, layer, texts, scale):
    out, normalised, source = plan.output, plan.normalised, plan.source
    for k in range(len(out.maps)):
        put_text(ws, *normalised.label_cell(k), texts["normalised_map"].format(k=k + 1), styles.LABEL_FONT)
        put_text(ws, *out.label_cell(k), texts["map_label"].format(k=k + 1), styles.LABEL_FONT)
        write_padding(ws, out, k)
        gamma, beta, mean, var = plan.channel_cells(k)
        for i, j, cell in out.interior(k).cell_blocks():
            normalised_cell = normalised.at(k, i, j)
            put_formula(ctx, ws, normalised_cell,
                        layer.normalise_formula(source.at(k, i, j), mean, var, plan.eps, scale), styles.VALUE_FORMAT)
            put_formula(ctx, ws, cell, layer.shift_formula(normalised_cell, gamma, beta), styles.VALUE_FORMAT)
        for stack in (normalised, out):   # every cell of a map is its first one moved
            share_formulas(ws, stack.interior(k))
        add_scale(ws, normalised.interior(k), styles.diverging_scale())
        add_scale(ws, out.interior(k), output_scale(ctx.model, plan.layer))


def _write_vectors(ctx, ws, plan, layer, texts, scale):
    put_text(ws, *plan.normalised_label.cell(0, 0), texts["normalised_label"], styles.LABEL_FONT)
    put_text(ws, *plan.output_label.cell(0, 0), texts["output_label"], styles.LABEL_FONT)
    for n in range(plan.output.height):
        gamma, beta, mean, var = plan.channel_cells(n)
        put_formula(ctx, ws, plan.normalised.item(n),
                    layer.normalise_formula(plan.source.item(n), mean, var, plan.eps, scale), styles.VALUE_FORMAT)
        put_formula(ctx, ws, plan.output.item(n), layer.shift_formula(plan.normalised.item(n), gamma, beta),
                    styles.VALUE_FORMAT)
    add_scale(ws, plan.normalised, styles.diverging_scale())
    add_scale(ws, plan.output, output_scale(ctx.model, plan.layer))
