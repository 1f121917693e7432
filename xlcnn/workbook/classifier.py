"""Writers for the classifier end: the column the maps become, the fully connected layers, the probabilities
and the loss."""

from openpyxl.worksheet.datavalidation import DataValidation

from .. import formulas
from . import styles
from .common import (UNLOCKED, cell_at, share_formulas, put_parameter, add_scale, freeze_below, put_formula, put_text,
                     put_value, set_widths, write_header, write_notice)
from .explain import explain_units
from .knows import write_what_it_knows
from .maps import output_scale


def write_column(ctx, ws, plan):
    texts = ctx.sheet_texts(plan.kind)
    layer = ctx.model.layers[plan.layer]
    source = plan.source
    scale = ctx.scale_for(plan.layer)
    channels, height, width = source.shape
    out, labels = plan.output, plan.labels
    lines = list(texts["lines"])
    if channels == 1:
        lines[0] = texts["one_map_line"]
    write_header(ws, texts["title"], lines, {
        "step": plan.step, "channels": channels, "height": height,
        "width": width, "length": out.height})
    for col, header in enumerate(texts["headers"]):
        put_text(ws, *plan.headers.cell(0, col), header, styles.LABEL_FONT)
    for c in range(channels):
        for i, j, cell in source.interior(c).cell_blocks():
            n = plan.flat_index(c, i, j)
            for col, value in enumerate((n + 1, c + 1, i + 1, j + 1)):   # 1-based, as a student counts
                put_value(ws, *labels.cell(n, col), value)
            put_formula(ctx, ws, out.item(n), layer.forward_formula(cell, scale), styles.VALUE_FORMAT)
    add_scale(ws, out, output_scale(ctx.model, plan.layer))   # white zeros, as on the sheet before
    set_widths(ws, 0, 5, 8)
    freeze_below(ws, out.row)


def write_connected(ctx, ws, plan):
    texts = ctx.sheet_texts(plan.kind)
    layer = ctx.model.layers[plan.layer]
    p = ctx.model.params[plan.layer]
    source = ctx.layout.input_of(plan.layer)
    units, inputs = p["weight"].shape
    write_header(ws, texts["title"], texts["lines"], {
        "step": plan.step, "inputs": inputs, "units": units,
        "params": inputs * units + units})
    write_notice(ctx, ws)
    names = ctx.model.class_names if ctx.model.classifier and _is_last_connected(ctx, plan.layer) else [
        f"{texts['units_label']} {n + 1}" for n in range(units)]
    for key, label in (("units_label", plan.units_label), ("bias_label", plan.bias_label),
                       ("output_label", plan.output_label)):
        put_text(ws, *label.cell(0, 0), texts[key], styles.LABEL_FONT)
    scale = ctx.scale_for(plan.layer)
    for n in range(units):
        put_text(ws, *plan.units.item(n).cell(0, 0), names[n], styles.LABEL_FONT)
        put_parameter(ctx, ws, plan.bias.item(n), p["bias"][n], styles.WEIGHT_FORMAT,
                      ctx.new_weight(plan.kind, plan.layer, lambda sheet, n=n: sheet.bias.item(n)))
        formula = layer.forward_formula(source, plan.weights_of(n), plan.bias.item(n), scale)
        put_formula(ctx, ws, plan.output.item(n), formula, styles.VALUE_FORMAT)
    weights = p["weight"].tolist()   # plain floats: a big layer reads tens of thousands of them one by one
    for i in range(inputs):
        put_text(ws, *plan.weight_labels.item(i).cell(0, 0), texts["input_label"].format(i=i + 1))
        for n, cell in enumerate(plan.weights_from(i).items()):
            pick = (lambda sheet, i=i, n=n: sheet.weight.sub(i, n, 1, 1))   # gradients: rows are inputs only
            put_parameter(ctx, ws, cell, weights[n][i], styles.WEIGHT_FORMAT, ctx.new_weight(plan.kind, plan.layer, pick))
    if ctx.previous is not None:   # a later pass: every weight is "old - rate x gradient", moved along
        share_formulas(ws, plan.weight)
    add_scale(ws, plan.weight, styles.diverging_scale())
    add_scale(ws, plan.output, styles.diverging_scale())
    if plan.explain is not None:
        explain_units(ctx, ws, plan, layer, source, scale)
    set_widths(ws, 0, 1, styles.LABEL_WIDTH)
    if plan.rows_are_inputs:   # outputs run across the top; weights: one column per output
        set_widths(ws, plan.weight.col, units, 11)
        freeze_below(ws, plan.weight.row, 1)
    else:
        set_widths(ws, 1, 2, 11)
        set_widths(ws, plan.weight.col, inputs, styles.VALUE_WIDTH)
        freeze_below(ws, plan.weight.row, plan.weight.col)


def _is_last_connected(ctx, index):
    return index == max(i for i, layer in enumerate(ctx.model.layers) if layer.fully_connected)


def write_vector_activation(ctx, ws, plan):
    """An activation applied to a vector (after a hidden fully connected layer): one formula per element."""
    layer = ctx.model.layers[plan.layer]
    texts = ctx.sheet_texts(plan.kind)
    source, out = plan.source, plan.output
    values = {"step": plan.step, "shape": str(out.height), "alpha": "", **layer.text_values()}
    write_header(ws, texts["title"], texts["lines"], values)
    put_text(ws, *plan.output_label.cell(0, 0), texts["map_label"].format(k=1), styles.LABEL_FONT)
    for n in range(out.height):
        put_text(ws, *plan.numbers.cell(n, 0), f"{n + 1}")
        put_formula(ctx, ws, out.item(n), layer.forward_formula(source.item(n)), styles.VALUE_FORMAT)
    rule = output_scale(ctx.model, plan.layer)
    add_scale(ws, out, rule)
    set_widths(ws, 0, 2, 9)
    freeze_below(ws, 1)


def write_probabilities(ctx, ws, plan):
    texts = ctx.sheet_texts(plan.kind)
    logits_source = ctx.layout.input_of(plan.layer)
    write_header(ws, texts["title"], texts["lines"], {"step": plan.step})
    write_notice(ctx, ws)
    for col, header in enumerate(texts["headers"]):
        put_text(ws, *plan.headers.cell(0, col), header, styles.LABEL_FONT)
    for n, name in enumerate(ctx.model.class_names):
        put_text(ws, *plan.classes.cell(n, 0), name, styles.LABEL_FONT)
        logit, shifted, exp = plan.logit.item(n), plan.shifted.item(n), plan.exp.item(n)
        probability = plan.probability.item(n)
        put_formula(ctx, ws, logit, formulas.reference(logits_source.item(n)), styles.VALUE_FORMAT)
        put_formula(ctx, ws, shifted, formulas.shifted_logit(logit, plan.max), styles.VALUE_FORMAT)
        put_formula(ctx, ws, exp, formulas.exp_of(shifted), styles.PROB_FORMAT)
        put_formula(ctx, ws, probability, formulas.probability(exp, plan.sum), styles.PROB_FORMAT)
        put_formula(ctx, ws, plan.log_probability.item(n), formulas.log_probability(shifted, plan.sum),
                    styles.PROB_FORMAT)
        put_formula(ctx, ws, plan.top.item(n), formulas.near_max(probability, plan.probability))
    for label, key in ((plan.max_label, "max_label"), (plan.sum_label, "sum_label"),
                       (plan.prediction_label, "prediction_label"), (plan.confidence_label, "confidence_label")):
        put_text(ws, *label.cell(0, 0), texts[key], styles.LABEL_FONT)
    put_formula(ctx, ws, plan.max, formulas.max_of(plan.logit), styles.VALUE_FORMAT)
    put_formula(ctx, ws, plan.sum, formulas.sum_of(plan.exp), styles.PROB_FORMAT)
    put_formula(ctx, ws, plan.prediction, formulas.predicted_class(plan.classes, plan.top)).font = styles.RESULT_FONT
    put_formula(ctx, ws, plan.confidence, formulas.max_of(plan.probability), "0.0%").font = styles.RESULT_FONT
    if not ctx.step:
        write_what_it_knows(ctx, ws, plan.knows)
    add_scale(ws, plan.probability, styles.positive_scale())
    set_widths(ws, 0, 1, styles.LABEL_WIDTH)
    set_widths(ws, 1, 6, 13)
    set_widths(ws, plan.top.col, 1, 19)   # its header is the longest: "highest? (1 = yes)"
    freeze_below(ws, 1)


def write_loss(ctx, ws, plan):
    texts = ctx.sheet_texts("loss")
    probabilities = ctx.layout.sheet_of(len(ctx.model.layers) - 1)   # the last layer gives them
    write_header(ws, texts["title"], texts["lines"], {"step": plan.step})
    label_cell = plan.true_label
    put_text(ws, *plan.true_label_label.cell(0, 0), texts["true_label"], styles.LABEL_FONT)
    if ctx.step:   # a later pass follows the label chosen on the first loss sheet
        base_label = ctx.previous.sheet("loss").true_label
        put_formula(ctx, ws, label_cell, formulas.reference(base_label)).font = styles.RESULT_FONT
    elif ctx.label is None:   # nobody said what the photo shows: the student picks it, nothing is invented
        blank = cell_at(ws, *label_cell.cell(0, 0))
        blank.fill, blank.font, blank.protection = styles.PARAM_FILL, styles.RESULT_FONT, UNLOCKED
    else:
        put_text(ws, *label_cell.cell(0, 0), ctx.model.class_names[ctx.label],
                 styles.RESULT_FONT).fill = styles.PARAM_FILL
    if not ctx.step:
        put_formula(ctx, ws, plan.label_prompt, formulas.label_prompt(label_cell, texts["pick_label"])).font = \
            styles.NOTICE_FONT
    choice = DataValidation(type="list", formula1=plan.classes.range(absolute=True), allow_blank=True,
                            showErrorMessage=True, errorTitle="xlcnn", error="Pick one of the class names.")
    if not ctx.step:
        choice.add(label_cell.range())
        ws.add_data_validation(choice)
    for label, key in ((plan.classes_label, "class_label"), (plan.one_hot_label, "one_hot_label"),
                       (plan.log_probability_label, "log_probability_label"), (plan.loss_label, "loss_label")):
        put_text(ws, *label.cell(0, 0), texts[key], styles.LABEL_FONT)
    for n in range(len(ctx.model.class_names)):
        cls = plan.classes.item(n)
        put_formula(ctx, ws, cls, formulas.reference(probabilities.classes.item(n))).font = styles.LABEL_FONT
        put_formula(ctx, ws, plan.one_hot.item(n), formulas.one_hot(cls, label_cell))
        put_formula(ctx, ws, plan.log_probability.item(n),
                    formulas.reference(probabilities.log_probability.item(n)), styles.PROB_FORMAT)
    put_formula(ctx, ws, plan.loss, formulas.cross_entropy(plan.one_hot, plan.log_probability, label_cell),
                styles.PROB_FORMAT).font = styles.RESULT_FONT
    set_widths(ws, 0, 1, styles.LABEL_WIDTH)
    set_widths(ws, 1, len(ctx.model.class_names), 13)
    freeze_below(ws, 1)
