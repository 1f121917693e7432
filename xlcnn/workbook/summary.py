"""The summary sheet: one row per layer, with the arithmetic as live formulas."""

from .. import lesson_formulas as lf
from ..layout import SUMMARY_COLUMNS
from ..summary import shape_text, summarize
from . import styles
from .common import describe_layer, freeze_below, put_formula, put_text, put_value, set_widths, write_header

NUMBER_COLUMNS = ("output side", "parameters", "activations", "multiply-adds", "receptive field")
TOTAL_COLUMNS = ("parameters", "activations", "multiply-adds")


def write_summary(ctx, ws, plan):
    texts = ctx.sheet_texts("summary")
    table, totals = plan.table, plan.totals
    lines = list(texts["lines"])
    if ctx.description:
        lines = [ctx.description] + lines
    write_header(ws, texts["title"], lines, {"step": plan.step})
    for col, key in enumerate(SUMMARY_COLUMNS):
        put_text(ws, *plan.headers.cell(0, col), texts["columns"][key], styles.LABEL_FONT)
    rows = summarize(ctx.model.layers, ctx.layout.input_shape, lambda layer: describe_layer(layer, ctx.texts),
                     texts["input_row"], texts["row_name"], ctx.model.inputs)
    for r, row in enumerate(rows):
        cells = {"layer": row.name, "input": row.input_text(), "output": shape_text(row.output_shape),
                 "size arithmetic": row.arithmetic, "output side": row.side, "parameters": row.parameters,
                 "activations": row.activations, "multiply-adds": row.multiply_adds,
                 "receptive field": row.receptive_field}
        for col, key in enumerate(SUMMARY_COLUMNS):
            value = cells[key]
            if isinstance(value, tuple) and value[0] is None:
                put_value(ws, *table.cell(r, col), value[1], "#,##0")
            elif isinstance(value, tuple):
                put_formula(ctx, ws, table.sub(r, col, 1, 1), value[0], "#,##0")
            elif value:
                put_text(ws, *table.cell(r, col), value)
    put_text(ws, *plan.totals_label.cell(0, 0), texts["total"], styles.LABEL_FONT)
    for key in TOTAL_COLUMNS:
        col = SUMMARY_COLUMNS.index(key)
        column = table.sub(0, col, table.height, 1)
        put_formula(ctx, ws, totals.sub(0, col, 1, 1), lf.column_total(column), "#,##0").font = styles.LABEL_FONT
    set_widths(ws, 0, 1, 44)
    set_widths(ws, 1, 2, 13)
    joins = [row.input_text() for row in rows if row.joined]
    if joins:   # "2 x 8 x 8 + 3 x 8 x 8" would be cut off by the output column's text
        set_widths(ws, 1, 1, max(13, max(len(text) for text in joins) + 2))
    set_widths(ws, 3, 1, 30)
    set_widths(ws, 4, 5, 13)
    freeze_below(ws, table.row, 1)
