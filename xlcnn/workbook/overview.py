"""The first sheet, the story on one page (the network, the photo, every feature map, the prediction,
a link to every sheet), the links back to it, and the manifest."""

import io

from openpyxl.chart import BarChart, Reference
from openpyxl.drawing.image import Image as SheetImage
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

from .. import formulas, lesson_formulas as lf
from ..cells import Block, a1
from ..layout import BOX_HEIGHT, GAP_HEIGHT, LINK_WIDTH, RESULT_WIDTH, SQUARE_HEIGHT, SQUARE_WIDTH, last_column
from ..architecture import layer_names
from ..graph import INPUT
from ..textwidth import display_width, wrap
from . import styles
from .common import (add_scale, cell_at, describe_layer, layer_fields, merge, notice_text, paint_pixels, put_formula,
                     put_formulas, put_text, set_widths, write_lines)
from .knows import write_what_it_knows
from .sheetdata import cells_of

PICTURE_SIDE = 150   # pixels: about as tall as 11 rows of square cells beside it
# Square cells on screen and on paper: a column 2 characters wide is 14 pixels (2 x the 7-pixel
# digit of the default font), a row of 10.5 points is 14 pixels (at 96 pixels to 72 points).
SQUARE_PIXELS = 14
CM_PER_PIXEL = 2.54 / 96
BOX_CHARACTERS = 18  # about as many 10-point characters fit on one line of a box (10 square columns)
BOX_FILL = PatternFill("solid", fgColor="DDEBF7")
BOX_BORDER = Border(*(Side(style="thin", color="5B9BD5"),) * 4)
BOX_ALIGNMENT = Alignment(horizontal="center", vertical="center", wrap_text=True)
LINK_FONT = Font(size=10, color="0563C1", underline="single")
HIDE_NUMBERS = ";;;"   # the pictures show colours only: numbers would not fit in square cells


def write_overview(ctx, ws, plan):
    texts = ctx.texts["sheets"]["overview"]
    put_text(ws, 0, 0, texts["title"].format(source=ctx.source_name or "xlcnn"), styles.TITLE_FONT)
    lines = texts["lines"] if not ctx.targets else [texts["lines"][0], texts["regression_line"]]
    write_lines(ws, lines, then=notice_text(ctx))
    set_widths(ws, 0, last_column(plan) + 1, SQUARE_WIDTH)
    _write_boxes(ctx, ws, plan, texts)
    _, height, width = ctx.layout.input_shape
    view = plan.colour_view
    matrix = "matrix_" if ctx.matrix else ""     # a textbook's matrix, in grey, is no photo
    put_text(ws, *plan.photo_label.cell(0, 0), texts[f"{matrix}cells_label"].format(height=height, width=width),
             styles.LABEL_FONT)
    put_text(ws, *plan.picture_label.cell(0, 0), texts[f"{matrix}photo_label"], styles.LABEL_FONT)
    _add_picture(ctx, ws, plan.picture)
    paint_pixels(ctx, ws, view)
    square_rows(ws, plan.beside_photo)
    if plan.pictures:
        put_text(ws, *plan.pictures_title.cell(0, 0), texts["pictures_title"] + _tiles_sentence(plan, texts),
                 styles.TEXT_FONT)
    for pictures in plan.pictures:
        _write_pictures(ctx, ws, pictures, texts)
    if ctx.model.classifier:
        _write_prediction(ctx, ws, plan, texts)
    elif ctx.targets:
        _write_regression_loss(ctx, ws, plan, texts)
    else:
        last = describe_layer(ctx.model.layers[-1], ctx.texts)
        put_text(ws, *plan.prediction.cell(0, 0), texts["no_classifier"].format(last=last))
    _write_links(ctx, ws, plan, texts)
    for row in plan.gap_rows:   # thin, so the whole story fits one printed page
        cells_of(ws).heights[row] = GAP_HEIGHT


def square_rows(ws, block):
    """Rows as tall as the overview's columns are wide, so ``block``'s cells are square."""
    for _, _, row, _ in block.sub(0, 0, block.height, 1).cells():
        cells_of(ws).heights[row] = SQUARE_HEIGHT


def _write_boxes(ctx, ws, plan, texts):
    """The network as a row of boxes, each with what the stage does and the shape it hands on."""
    put_text(ws, *plan.network_label.cell(0, 0), texts["architecture_label"], styles.LABEL_FONT)
    words = texts["boxes"]
    stages = [words["matrix" if ctx.matrix else "input"], *(words[layer.kind].format(**layer_fields(layer)) for layer in ctx.model.layers)]
    boxes = plan.boxes
    texts_of = [f"{what}\n{_shape_text(shape)}" for what, shape in zip(stages, plan.box_shapes)]
    if ctx.model.inputs is not None:
        texts_of = [text + line for text, line in zip(texts_of, _branch_lines(ctx.model, words["input"], texts))]
    for box, text in zip(boxes, texts_of):
        cell = put_text(ws, *box.cell(0, 0), text, styles.BOX_FONT)
        for _, _, row, col in box.cells():
            cell_at(ws, row, col).border = BOX_BORDER
        cell.fill, cell.alignment = BOX_FILL, BOX_ALIGNMENT
        merge(ws, *box.cell(0, 0), 1, box.width)
    for arrow in plan.arrows:
        put_text(ws, *arrow.cell(0, 0), "->", styles.LABEL_FONT)
    heights = cells_of(ws).heights
    for box in boxes:
        heights[box.row] = BOX_HEIGHT
    if ctx.model.inputs is not None:   # a third line, and names that may wrap: as tall as a row's fullest box
        for box, text in zip(boxes, texts_of):
            heights[box.row] = max(heights[box.row], _box_height(text))


def _branch_lines(model, photo, texts):
    """A third line for each box of a branched network: its name (as in ``--until`` and the summary) and,
    when it reads something other than the box before it, what it reads; the photo's box has none."""
    names = layer_names(model.layers)
    lines = [""]
    for index, reads in enumerate(model.sources()):
        name = names[index]
        if reads == (index - 1,):
            lines.append("\n" + texts["box_name"].format(name=name))
            continue
        read = texts["box_sources_separator"].join(photo if source == INPUT else names[source] for source in reads)
        lines.append("\n" + texts["box_reads"].format(name=name, sources=read))
    return lines


def _box_height(text):
    """Points for a box's lines, each wrapped at the box's width (BOX_HEIGHT holds two)."""
    count = sum(len(wrap(line, BOX_CHARACTERS)) or 1 for line in text.split("\n"))
    return BOX_HEIGHT * count // 2


def _shape_text(shape):
    """(4, 26, 26) -> "26 x 26 x 4" (height, width, maps), as a student measures a stack; (676,) -> "676"."""
    if len(shape) == 3:
        channels, height, width = shape
        return f"{height} x {width} x {channels}"
    return " x ".join(str(n) for n in shape)


def _write_pictures(ctx, ws, pictures, texts):
    """A small live picture of each feature map of one layer: each cell the mean of a patch of the map."""
    stage = ctx.layout.sheet_of(pictures.layer)
    stack = stage.output
    channels, height, width = stack.shape
    label = texts["pictures_one" if channels == 1 else "pictures_label"].format(
        sheet=stage.name, channels=channels, height=height, width=width)
    if pictures.tile:   # a tile is narrow: its name and how many maps; the title line says the rest
        label = texts["pictures_tile"].format(sheet=stage.name, shown=len(pictures.blocks), channels=channels)
    elif pictures.factor > 1:
        label += texts["pictures_mean"].format(factor=pictures.factor)
    put_text(ws, *pictures.label.cell(0, 0), label, styles.LABEL_FONT)
    # one rule for every picture, so the overview has one legend: on a map that cannot go
    # negative the diverging scale runs white to red, as the positive scale does
    rule = styles.diverging_scale()
    for k, block in enumerate(pictures.blocks):
        source = stack.interior(k)
        put_formulas(ctx, ws, block, lambda i, j: lf.patch_picture(source.sub(*pictures.region(i, j, height, width))),
                     HIDE_NUMBERS)
        add_scale(ws, block, rule)
        square_rows(ws, block)


def _tiles_sentence(plan, texts):
    """What a compact overview leaves out, said once above its tiles ("" when it shows every map in bands)."""
    tiles = [pictures for pictures in plan.pictures if pictures.tile]
    if not tiles:
        return ""
    side = max(block.width for pictures in tiles for block in pictures.blocks)
    counts = {len(pictures.blocks) for pictures in tiles}
    shown_all = all(len(pictures.blocks) == plan.box_shapes[pictures.layer + 1][0] for pictures in tiles)
    if shown_all:
        return texts["pictures_tiles_all"].format(side=side)
    return texts["pictures_tiles_first"].format(count=max(counts), side=side)


def _write_links(ctx, ws, overview, texts):
    """A link to every sheet, in the order of the story."""
    put_text(ws, *overview.links_label.cell(0, 0), texts["links_label"], styles.LABEL_FONT)
    others = ctx.layout.sheets[1:]
    for n, plan in enumerate(others):
        link = overview.links.item(n)
        put_formula(ctx, ws, link, lf.hyperlink(plan.name, plan.name)).font = LINK_FONT
        merge(ws, *link.cell(0, 0), 1, LINK_WIDTH)


def write_back_links(ctx, wb):
    """On every sheet but the overview, a link back to it; after the sheets are written, as it follows their titles."""
    overview = ctx.layout.sheets[0].name
    back = ctx.texts["sheets"]["overview"]["back"].format(name=overview)
    for plan in ctx.layout.sheets[1:]:
        row, col = back_link_cell(wb[plan.name])
        put_formula(ctx, wb[plan.name], Block(plan.name, row, col, 1, 1), lf.hyperlink(overview, back)).font = LINK_FONT


def back_link_cell(ws):
    """(row, col) in the title row just past the end of the title, where the link back to the overview goes.

    Every other header row is taken on some sheet; in the title row the link must not cut the
    title short, so its width is estimated (14-point bold: about 10 pixels a Latin letter, 19 a
    Chinese one) against the sheet's column widths (about 7 pixels a character, 64 by default).
    """
    cells = cells_of(ws)
    title = cells.rows.get(0, {}).get(0)
    text = title.value if title is not None and title.kind == "s" else ""
    needed = sum(19 if display_width(ch) == 2 else 10 for ch in text) + 20
    col, edge = 0, 0
    while edge < needed or col in cells.rows.get(0, {}):
        edge += 7 * cells.widths.get(col, DEFAULT_WIDTH) + 5
        col += 1
    return 0, col


DEFAULT_WIDTH = 8.43   # characters: a column no writer sized


def _add_picture(ctx, ws, anchor):
    """The photo itself, as a picture floating over the sheet, at most PICTURE_SIDE pixels across."""
    picture = SheetImage(io.BytesIO(ctx.photo))
    shrink = min(1.0, PICTURE_SIDE / max(picture.width, picture.height, 1))
    picture.width, picture.height = round(picture.width * shrink), round(picture.height * shrink)
    ws.add_image(picture, a1(*anchor.cell(0, 0)))


def _write_prediction(ctx, ws, plan, texts):
    # the last layer's sheet: the probabilities, the prediction and the confidence
    output, loss = ctx.layout.sheet_of(len(ctx.model.layers) - 1), ctx.layout.sheet("loss")
    rows = (("prediction", "prediction_label", output.prediction, None),
            ("confidence", "confidence_label", output.confidence, "0.0%"),
            ("true_label", "true_label_label", loss.true_label, None),
            ("loss", "loss_label", loss.loss, styles.PROB_FORMAT))
    for key, label, source, number_format in rows:
        put_text(ws, *getattr(plan, key).cell(0, 0), texts[label], styles.LABEL_FONT)
        value = getattr(plan, key + "_value")
        formula = formulas.reference(source)
        if key == "true_label":   # a blank label would show as 0 through a plain reference
            formula = formulas.label_or_prompt(source, texts["label_not_chosen"])
        put_formula(ctx, ws, value, formula, number_format).font = styles.RESULT_FONT
        merge(ws, *value.cell(0, 0), 1, RESULT_WIDTH)   # square columns are too narrow for a number
    chart = BarChart()
    chart.type = "col"
    chart.title = texts["chart_title"]
    chart.y_axis.title = texts["chart_axis"]
    chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 1
    chart.x_axis.delete = chart.y_axis.delete = False
    chart.legend = None
    # a Reference to the sheet object: one built from range text would quote a quoted name twice
    output_ws = ws.parent[output.probability.sheet]
    chart.add_data(Reference(output_ws, **output.probability.bounds()), titles_from_data=False)
    chart.set_categories(Reference(output_ws, **output.classes.bounds()))
    # the chart fills the square cells beside the photo, below its picture
    chart.width = plan.chart.width * SQUARE_PIXELS * CM_PER_PIXEL
    chart.height = plan.chart.height * SQUARE_PIXELS * CM_PER_PIXEL
    ws.add_chart(chart, a1(*plan.chart.cell(0, 0)))
    write_what_it_knows(ctx, ws, plan.knows)


def _write_regression_loss(ctx, ws, plan, texts):
    """A regression predicts numbers, not a class: the overview says so and shows the loss (no chart, no prediction)."""
    put_text(ws, *plan.prediction.cell(0, 0), texts["regression"].format(count=len(ctx.targets)))
    put_text(ws, *plan.loss.cell(0, 0), texts["loss_label"], styles.LABEL_FONT)
    value = plan.loss_value
    put_formula(ctx, ws, value, formulas.reference(ctx.layout.sheet("loss").loss), styles.PROB_FORMAT).font = \
        styles.RESULT_FONT
    merge(ws, *value.cell(0, 0), 1, RESULT_WIDTH)


def write_manifest(ctx, ws, plan):
    """Everything needed to rebuild the workbook, as plain text."""
    texts = ctx.texts["manifest"]
    put_text(ws, 0, 0, texts["title"], styles.TITLE_FONT)
    for n, (key, value) in enumerate(ctx.manifest.items()):
        put_text(ws, *plan.names.cell(n, 0), texts["keys"].get(key, key), styles.LABEL_FONT)
        put_text(ws, *plan.values.cell(n, 0), value)
    set_widths(ws, 0, 1, 22)
    set_widths(ws, 1, 1, 90)
