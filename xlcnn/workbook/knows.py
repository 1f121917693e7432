"""What the model knows: the classes it answers with, and for the generated shapes a picture of each.

A network only ever answers one of its classes, whatever the photo shows (a cat gets
"triangle"). The overview and the softmax sheet say so, and when the classes are the
generated shapes they show one of each as drawn for training, so students see what
the model has seen.
"""

import io

import numpy as np
from openpyxl.drawing.image import Image as SheetImage
from openpyxl.styles import Alignment

from ..cells import a1
from ..shapes import SHAPES, draw_shape
from . import styles
from .common import merge, put_text

PICTURE_PIXELS = 56      # drawn at the training size (64) and shown a little smaller: fits a 9-wide column
PICTURE_ROWS = 3         # rows a picture covers at the default row height
WRAPPED = Alignment(wrap_text=True, vertical="top")
PICTURE_COLUMNS = 5      # square columns (14 pixels) a picture and its gap take on the overview
PICTURE_SEED = 7         # the same pictures in every workbook


def class_pictures(model):
    """PNG bytes of one training picture per class, or None unless the classes are the generated shapes."""
    if tuple(model.class_names) != SHAPES:
        return None
    rng = np.random.default_rng(PICTURE_SEED)
    pictures = []
    for name in SHAPES:
        buffer = io.BytesIO()
        draw_shape(name, 64, rng).save(buffer, format="PNG")
        pictures.append(buffer.getvalue())
    return pictures


def write_what_it_knows(ctx, ws, block, columns=None):
    """The sentence at ``block``; below it one picture per class with its name (when there are pictures).

    ``block`` is 1 x 1; the pictures take the columns to its right, one per class. With
    ``columns`` (on the overview, whose columns are narrow) the sentence wraps over two rows
    that many columns wide and each picture takes PICTURE_COLUMNS of them.
    """
    names = ctx.model.class_names
    drawn = ctx.class_pictures is not None and ctx.model.trained
    text = (ctx.texts["model_knows_drawn"].format(count=len(names)) if drawn else
            ctx.texts["model_knows"].format(count=len(names), classes=", ".join(names)))
    cell = put_text(ws, block.row, block.col, text, styles.TEXT_FONT)
    top, step = block.row + 1, 1
    if columns:
        cell.alignment = WRAPPED
        merge(ws, block.row, block.col, 2, columns)
        top, step = block.row + 2, PICTURE_COLUMNS
    if not drawn:
        return
    for n, (name, png) in enumerate(zip(names, ctx.class_pictures)):
        picture = SheetImage(io.BytesIO(png))
        picture.width = picture.height = PICTURE_PIXELS
        ws.add_image(picture, a1(top, block.col + n * step))
        put_text(ws, top + PICTURE_ROWS, block.col + n * step, name, styles.LABEL_FONT)
