"""The first sheet (the photo, the network, the prediction and a live chart) and the manifest."""

import io

from openpyxl.chart import BarChart, Reference
from openpyxl.drawing.image import Image as SheetImage

from .. import formulas
from ..cells import a1
from . import styles
from .knows import write_what_it_knows
from .common import describe_layer, paint_pixels, notice_text, put_formula, put_text, set_widths

PICTURE_SIDE = 150   # pixels: about as tall as 28 rows of cells beside it


def write_overview(ctx, ws, plan):
    texts = ctx.texts["sheets"]["overview"]
    b = plan.blocks
    put_text(ws, 0, 0, texts["title"].format(source=ctx.source_name or "xlcnn"), styles.TITLE_FONT)
    for n, line in enumerate(texts["lines"], start=1):
        put_text(ws, n, 0, line, styles.TEXT_FONT)
    put_text(ws, b["picture"].row - 1, b["picture"].col, texts["photo_label"], styles.LABEL_FONT)
    _, height, width = ctx.layout.input_shape
    view = b["colour_view"]
    put_text(ws, view.row - 1, view.col, texts["cells_label"].format(height=height, width=width), styles.LABEL_FONT)
    _add_picture(ctx, ws, b["picture"])
    paint_pixels(ctx, ws, view)
    set_widths(ws, 0, 1, 2)
    set_widths(ws, 1, 3, 9)
    set_widths(ws, view.col, view.width, styles.COLOUR_VIEW_WIDTH)
    architecture = " -> ".join(describe_layer(layer, ctx.texts) for layer in ctx.model.layers)
    put_text(ws, b["architecture"].row, b["architecture"].col, f"{texts['architecture_label']}: {architecture}")
    notice, font = notice_text(ctx)
    put_text(ws, b["architecture"].row - 1, b["architecture"].col, notice, font)
    if ctx.model.classifier:
        _write_prediction(ctx, ws, b, texts)
    else:
        last = describe_layer(ctx.model.layers[-1], ctx.texts)
        put_text(ws, b["prediction"].row, b["prediction"].col, texts["no_classifier"].format(last=last))


def _add_picture(ctx, ws, anchor):
    """The photo itself, as a picture floating over the sheet."""
    picture = SheetImage(io.BytesIO(ctx.photo))
    ws.add_image(picture, a1(anchor.row, anchor.col))


def _write_prediction(ctx, ws, b, texts):
    softmax = ctx.layout.sheet("softmax").blocks
    loss = ctx.layout.sheet("loss").blocks
    rows = (("prediction", "prediction_label", softmax["prediction"], None),
            ("confidence", "confidence_label", softmax["confidence"], "0.0%"),
            ("true_label", "true_label_label", loss["true_label"], None),
            ("loss", "loss_label", loss["loss"], styles.PROB_FORMAT))
    for key, label, source, number_format in rows:
        put_text(ws, b[key].row, b[key].col, texts[label], styles.LABEL_FONT)
        formula = f"={source.ref()}"
        if key == "true_label":   # a blank label would show as 0 through a plain reference
            formula = formulas.label_or_prompt(source, texts["label_not_chosen"])
        put_formula(ctx, ws, b[key + "_value"], formula, number_format).font = styles.RESULT_FONT
    chart = BarChart()
    chart.type = "col"
    chart.title = texts["chart_title"]
    chart.y_axis.title = texts["chart_axis"]
    chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 1
    chart.x_axis.delete = chart.y_axis.delete = False
    chart.legend = None
    # a Reference to the sheet object: one built from range text would quote a quoted name twice
    softmax_ws = ws.parent[softmax["probability"].sheet]
    chart.add_data(Reference(softmax_ws, **softmax["probability"].bounds()), titles_from_data=False)
    chart.set_categories(Reference(softmax_ws, **softmax["class"].bounds()))
    chart.height, chart.width = 7.5, 12
    ws.add_chart(chart, a1(b["chart"].row, b["chart"].col))
    write_what_it_knows(ctx, ws, b["knows"])


def write_manifest(ctx, ws, plan):
    """Everything needed to rebuild the workbook, as plain text."""
    texts = ctx.texts["manifest"]
    put_text(ws, 0, 0, texts["title"], styles.TITLE_FONT)
    entries = plan.blocks["entries"]
    for n, (key, value) in enumerate(ctx.manifest.items()):
        put_text(ws, entries.row + n, 0, texts["keys"].get(key, key), styles.LABEL_FONT)
        put_text(ws, entries.row + n, 1, value)
    set_widths(ws, 0, 1, 22)
    set_widths(ws, 1, 1, 90)
