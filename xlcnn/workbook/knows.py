"""What the model knows: the classes it answers with, and for the generated shapes a picture of each.

A network only ever answers one of its classes, whatever the photo shows (a cat gets
"triangle"). The overview and the softmax sheet say so, and when the classes are the
generated shapes they show one of each as drawn for training, so students see what
the model has seen.
"""

import io

import numpy as np
from openpyxl.drawing.image import Image as SheetImage

from ..cells import a1
from ..shapes import SHAPES, draw_shape
from . import styles
from .common import put_text

PICTURE_PIXELS = 56      # drawn at the training size (64) and shown a little smaller: fits a 9-wide column
PICTURE_ROWS = 3         # rows a picture covers at the default row height
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


def write_what_it_knows(ctx, ws, block):
    """The sentence at ``block``; below it one picture per class with its name (when there are pictures).

    ``block`` is 1 x 1; the pictures take the columns to its right, one per class.
    """
    names = ctx.model.class_names
    if ctx.class_pictures is None or not ctx.model.trained:
        text = ctx.texts["model_knows"].format(count=len(names), classes=", ".join(names))
        put_text(ws, block.row, block.col, text, styles.TEXT_FONT)
        return
    put_text(ws, block.row, block.col, ctx.texts["model_knows_drawn"].format(count=len(names)), styles.TEXT_FONT)
    for n, (name, png) in enumerate(zip(names, ctx.class_pictures)):
        picture = SheetImage(io.BytesIO(png))
        picture.width = picture.height = PICTURE_PIXELS
        ws.add_image(picture, a1(block.row + 1, block.col + n))
        put_text(ws, block.row + 1 + PICTURE_ROWS, block.col + n, name, styles.LABEL_FONT)
