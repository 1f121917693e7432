"""The summary sheet: one row per layer, with the arithmetic as live formulas."""

from .. import formulas, lesson_formulas as lf
from ..layout import BOTTLENECK_COLUMNS, SUMMARY_COLUMNS
from ..summary import COMPARED, COMPARISON_COLUMNS, MEMORY, TOTAL_COLUMNS, bottlenecks, shape_text, summarize
from . import styles
from .common import cell_at, describe_layer, freeze_below, put_formula, put_text, put_value, set_widths, write_header

TOTAL_NAMES = {"parameters": "total_parameters", "activations": "total_activations",
               "multiply-adds": "total_multiply_adds"}   # workbook-level names of the totals


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
    column = {key: col for col, key in enumerate(SUMMARY_COLUMNS)}
    for r, row in enumerate(rows):
        cell = {key: table.sub(r, col, 1, 1) for key, col in column.items()}
        arithmetic = row.arithmetic if row.whole else f"{row.arithmetic} {texts['not_whole']}"
        if row.buffers:     # said where the parameters are counted, so the total is not misread
            arithmetic = texts["buffers_row"].format(count=f"{row.buffers:,}")
        values = {"layer": row.name, "input": row.input_text(), "output": shape_text(row.output_shape),
                  "size arithmetic": arithmetic, "output side": row.side, "weights": row.weights,
                  "biases": row.biases, "parameters": row.parameters, "activations": row.activations,
                  "multiply-adds": row.multiply_adds, "receptive field": row.receptive_field}
        if row.parameters[1]:    # the parameters are the two cells before them, added
            values["parameters"] = (lf.cell_sum(cell["weights"], cell["biases"]), row.parameters[1])
        for key, (source, factor) in MEMORY.items():
            values[key] = (lf.times(cell[source], factor), None)
        for key, value in values.items():
            if isinstance(value, tuple) and value[0] is None:
                put_value(ws, *cell[key].cell(0, 0), value[1], "#,##0")
            elif isinstance(value, tuple):
                put_formula(ctx, ws, cell[key], value[0], "#,##0")
            elif value:
                put_text(ws, *cell[key].cell(0, 0), value)
        if not row.whole:    # the course calls such a setting invalid; frameworks round down
            cell_at(ws, *cell["size arithmetic"].cell(0, 0)).fill = styles.WARNING_FILL
    put_text(ws, *plan.totals_label.cell(0, 0), texts["total"], styles.LABEL_FONT)
    for key in TOTAL_COLUMNS:
        col = column[key]
        put_formula(ctx, ws, totals.sub(0, col, 1, 1), lf.column_total(table.sub(0, col, table.height, 1)),
                    "#,##0").font = styles.LABEL_FONT
    if plan.bottlenecks is not None:
        _write_bottlenecks(ctx, ws, plan, rows, texts, column["multiply-adds"])
    if plan.comparison is not None:
        _write_comparison(ctx, ws, plan, rows, texts)
    set_widths(ws, 0, 1, 44)
    set_widths(ws, 1, 2, 13)
    joins = [row.input_text() for row in rows if row.joined]
    if joins:   # "2 x 8 x 8 + 3 x 8 x 8" would be cut off by the output column's text
        set_widths(ws, 1, 1, max(13, max(len(text) for text in joins) + 2))
    set_widths(ws, 3, 1, 30)
    set_widths(ws, 4, len(SUMMARY_COLUMNS) - 4, 13)
    freeze_below(ws, table.row, 1)


def _write_comparison(ctx, ws, plan, rows, texts):
    """Each compared layer's parameters and multiply-adds (references to its row) beside those of its standard
    twin of the same shape (the same formulas with every channel read), and the ratios, live."""
    put_text(ws, *plan.comparison_title.cell(0, 0), texts["comparison_title"], styles.LABEL_FONT)
    for col, key in enumerate(COMPARISON_COLUMNS):
        put_text(ws, *plan.comparison_headers.cell(0, col), texts["comparison_columns"][key], styles.LABEL_FONT)
    table, block = plan.table, plan.comparison
    compared_rows = [(r, row) for r, row in enumerate(rows) if row.standard is not None]
    for n, (r, row) in enumerate(compared_rows):
        put_text(ws, *block.cell(len(COMPARED) * n, 0), row.name)
        for line, (key, pair) in enumerate(zip(COMPARED, row.standard), start=len(COMPARED) * n):
            put_text(ws, *block.cell(line, 1), texts["columns"][key])
            own, standard, times = (block.sub(line, col, 1, 1) for col in (2, 3, 4))
            put_formula(ctx, ws, own, formulas.reference(table.sub(r, SUMMARY_COLUMNS.index(key), 1, 1)), "#,##0")
            put_formula(ctx, ws, standard, pair[0], "#,##0")
            put_formula(ctx, ws, times, lf.ratio(standard, own), '0.0"x"')


def total_cells(plan):
    """{defined name: the totals cell} of a summary sheet."""
    return {name: plan.totals.sub(0, SUMMARY_COLUMNS.index(key), 1, 1) for key, name in TOTAL_NAMES.items()}


def _write_bottlenecks(ctx, ws, plan, rows, texts, multiply_adds):
    """Per layer fed by a 1x1 bottleneck: its multiply-adds and the 1x1's added (the table's cells), what it
    would cost reading the 1x1's input itself, and how many times more that is."""
    put_text(ws, *plan.bottleneck_title.cell(0, 0), texts["bottleneck_title"], styles.LABEL_FONT)
    for col, key in enumerate(BOTTLENECK_COLUMNS):
        put_text(ws, *plan.bottleneck_headers.cell(0, col), texts["bottleneck_columns"][key], styles.LABEL_FONT)
    for n, row in enumerate(bottlenecks(rows)):
        lines = plan.bottlenecks.sub(2 * n, 0, 2, len(BOTTLENECK_COLUMNS))
        one_by_one, own = rows[row.bottleneck[0]], plan.table.sub(rows.index(row), multiply_adds, 1, 1)
        put_text(ws, *lines.cell(0, 0), texts["bottleneck_row"].format(layer=row.name, one=one_by_one.name))
        with_it, without, ratio = lines.sub(0, 1, 1, 1), lines.sub(0, 2, 1, 1), lines.sub(1, 2, 1, 1)
        put_formula(ctx, ws, with_it, lf.cell_sum(plan.table.sub(row.bottleneck[0], multiply_adds, 1, 1), own), "#,##0")
        put_formula(ctx, ws, without, row.bottleneck[1][0], "#,##0")
        put_text(ws, *lines.cell(1, 0), texts["bottleneck_columns"]["ratio"])
        put_formula(ctx, ws, ratio, lf.ratio(without, with_it), "0.0")
