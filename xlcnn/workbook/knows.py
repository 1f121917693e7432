"""What the model knows: the classes it answers with, and for the generated shapes a picture of each.

A network only ever answers one of its classes, whatever the photo shows (a cat gets
"triangle"). The overview and the probabilities' sheet say so, and when the classes are the
generated shapes they show one of each as drawn for training, so students see what
the model has seen.
"""

import io
from functools import lru_cache

import numpy as np
from openpyxl.drawing.image import Image as SheetImage

from ..cells import a1
from ..shapes import SHAPES, draw_shape
from . import styles
from .common import merge, put_text
from .printing import WRAPPED

PICTURE_PIXELS = 56      # drawn at the training size (64) and shown a little smaller: fits a 9-wide column
PICTURE_SEED = 7         # the same pictures in every workbook


def class_pictures(model):
    """PNG bytes of one training picture per class, or None unless the classes are the generated shapes."""
    if tuple(model.class_names) != SHAPES:
        return None
    return list(_shape_pictures())


@lru_cache(maxsize=1)   # the same seed draws the same pictures for every workbook: drawn and encoded once a process
def _shape_pictures():
    rng = np.random.default_rng(PICTURE_SEED)
    pictures = []
    for name in SHAPES:
        buffer = io.BytesIO()
        draw_shape(name, 64, rng).save(buffer, format="PNG")
        pictures.append(buffer.getvalue())
    return tuple(pictures)


def write_what_it_knows(ctx, ws, knows):
    """The sentence, and below it one picture per class with its name (when there are pictures): where
    ``knows`` (a planned Knows) puts them. A sentence of several cells is merged and wraps in them."""
    names = ctx.model.class_names
    drawn = ctx.class_pictures is not None and ctx.model.trained
    text = (ctx.texts["model_knows_drawn"].format(count=len(names)) if drawn else
            ctx.texts["model_knows"].format(count=len(names), classes=", ".join(names)))
    sentence = knows.sentence
    cell = put_text(ws, *sentence.cell(0, 0), text, styles.TEXT_FONT)
    if sentence.size > 1:
        cell.alignment = WRAPPED
        merge(ws, *sentence.cell(0, 0), sentence.height, sentence.width)
    if not drawn:
        return
    for name, png, anchor, label in zip(names, ctx.class_pictures, knows.pictures, knows.names):
        picture = SheetImage(io.BytesIO(png))
        picture.width = picture.height = PICTURE_PIXELS
        ws.add_image(picture, a1(*anchor.cell(0, 0)))
        put_text(ws, *label.cell(0, 0), name, styles.LABEL_FONT)
