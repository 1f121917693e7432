"""The writer of a regression's loss sheet (--loss mse): outputs, targets, squared errors, their mean."""

from .. import formulas, losses
from . import styles
from .common import add_scale, freeze_below, put_formula, put_text, put_value, set_widths, write_header, write_notice


def write_squared_errors(ctx, ws, plan):
    """One row per output: y read from the last layer, the target t the student types, (y - t)^2; then the loss.

    A later pass's targets follow the first pass's, as its true label does on a classifier's loss sheet.
    """
    texts = ctx.sheet_texts("mse")
    count = plan.outputs.size
    write_header(ws, texts["title"], texts["lines"], {"step": plan.step, "count": count})
    write_notice(ctx, ws)
    for col, header in enumerate(texts["headers"]):
        put_text(ws, *plan.headers.cell(0, col), header, styles.LABEL_FONT)
    first = None if ctx.previous is None else ctx.previous.sheet("loss")
    for n in range(count):
        output, target = plan.outputs.item(n), plan.targets.item(n)
        put_text(ws, *plan.numbers.item(n).cell(0, 0), texts["output_name"].format(n=n + 1), styles.LABEL_FONT)
        put_formula(ctx, ws, output, formulas.reference(plan.source.item(n)), styles.PROB_FORMAT)
        if first is None:
            put_value(ws, *target.cell(0, 0), float(ctx.targets[n]), styles.PROB_FORMAT, styles.PARAM_FILL)
        else:
            put_formula(ctx, ws, target, formulas.reference(first.targets.item(n)), styles.PROB_FORMAT)
        put_formula(ctx, ws, plan.errors.item(n), losses.squared_error_formula(output, target), styles.PROB_FORMAT)
    put_text(ws, *plan.loss_label.cell(0, 0), texts["loss_label"], styles.LABEL_FONT)
    put_formula(ctx, ws, plan.loss, losses.mse_formula(plan.errors), styles.PROB_FORMAT).font = styles.RESULT_FONT
    add_scale(ws, plan.errors, styles.positive_scale())
    set_widths(ws, 0, 1, styles.LABEL_WIDTH)
    set_widths(ws, 1, 3, 13)
    freeze_below(ws, 1)
