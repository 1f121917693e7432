"""The im2col sheet: the first layer of filters as one matrix product.

Every filter is unrolled into a row and every input window into a column (the same tap on
the same row), and each output cell is one row times one column. The cells are references
to the filters and input sheets, so an edited weight or pixel moves here too; verify checks
the product against the layer's own sheet.
"""

from .. import formulas
from . import styles
from .common import add_scale, freeze_below, put_formula, put_text, set_widths, write_header
from .maps import output_scale


def write_im2col(ctx, ws, plan):
    texts = ctx.sheet_texts("im2col")
    taps, positions = plan.windows.height, plan.windows.width
    kernels, height, width = plan.output.shape
    write_header(ws, texts["title"], texts["lines"],
                 {"step": plan.step, "taps": taps, "positions": positions, "kernels": kernels,
                  "height": height, "width": width})
    scale = ctx.scale_for(plan.layer)
    put_text(ws, *plan.filters_label.cell(0, 0), texts["filters_label"].format(kernels=kernels, taps=taps),
             styles.LABEL_FONT)
    put_text(ws, *plan.windows_label.cell(0, 0), texts["windows_label"].format(taps=taps, positions=positions),
             styles.LABEL_FONT)
    put_text(ws, *plan.bias_label.cell(0, 0), texts["bias_label"], styles.LABEL_FONT)
    for n in range(taps):
        tap = _tap_text(plan.tap(n))
        put_text(ws, *plan.tap_labels.cell(0, n), tap)
        put_text(ws, *plan.window_labels.cell(n, 0), tap)
    for k in range(kernels):
        put_text(ws, *plan.filter_labels.cell(k, 0), texts["filter"].format(k=k + 1), styles.LABEL_FONT)
        for n in range(taps):
            put_formula(ctx, ws, plan.filter_rows.sub(k, n, 1, 1), formulas.reference(plan.weight_cell(k, n)),
                        styles.WEIGHT_FORMAT)
        put_formula(ctx, ws, plan.bias.sub(k, 0, 1, 1), formulas.reference(plan.biases[k]), styles.WEIGHT_FORMAT)
    for p in range(positions):
        i, j = plan.position(p)
        put_text(ws, *plan.position_labels.cell(0, p), f"({i + 1},{j + 1})")
        for n in range(taps):
            put_formula(ctx, ws, plan.windows.sub(n, p, 1, 1), formulas.reference(plan.input_cell(n, p)))
    add_scale(ws, plan.filter_rows, styles.diverging_scale())
    for k in range(kernels):
        put_text(ws, *plan.output.label_cell(k), texts["map"].format(k=k + 1), styles.LABEL_FONT)
        for i, j, cell in plan.output.interior(k).cell_blocks():
            p = plan.output_position(i, j)
            put_formula(ctx, ws, cell,
                        plan.conv.im2col_formula(plan.row(k), plan.column(p), plan.bias.sub(k, 0, 1, 1), scale),
                        styles.VALUE_FORMAT)
        add_scale(ws, plan.output.interior(k), output_scale(ctx.model, plan.layer))
    set_widths(ws, 0, 1, styles.LABEL_WIDTH)
    set_widths(ws, 1, max(taps, positions) + 2, styles.VALUE_WIDTH)
    freeze_below(ws, 1)


def _tap_text(tap):
    """"c1 (1,2)": channel 1, kernel row 1, column 2, counted from 1 as a student counts."""
    c, u, v = tap
    return f"c{c + 1} ({u + 1},{v + 1})"
