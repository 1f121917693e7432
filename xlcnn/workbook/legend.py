"""One colour legend per sheet: what blue, white and red (or black and a channel's colour) mean there."""

from functools import lru_cache

from openpyxl.styles import PatternFill

from ..layout import legend_block
from . import styles
from .common import cell_at, merge, put_text
from .printing import LINE_POINTS, WRAPPED
from .sheetdata import cells_of

END_MARKS = {"diverging": ("-", "0", "+"), "positive": ("0", "", "+"), "channel": ("0", "", "255")}


def write_legends(ctx, wb, layout):
    """A small labelled colour bar on every sheet that colours its cells, matching the sheet's first colour rule."""
    for plan in layout.sheets:
        ws = wb[plan.name]
        scale = cells_of(ws).scale
        if scale is not None:
            write_legend(ctx, ws, legend_block(plan), scale)


def write_legend(ctx, ws, legend, scale):
    """The bar's cells painted from the scale's low end to its high end, marked at both ends and
    (for a diverging scale) at zero, then one line of words after it (wrapped, when planned wider)."""
    colours = scale.legend()
    low, middle, high = END_MARKS[scale.kind]
    marks = {0: low, len(colours) // 2: middle, len(colours) - 1: high}
    font = styles.PIXEL_FONT if scale.kind == "channel" else None   # white marks read on black
    for n, colour in enumerate(colours):
        row, col = legend.bar.cell(0, n)
        if marks.get(n):
            put_text(ws, row, col, marks[n], font)
        cell_at(ws, row, col).fill = _fill(colour)
    words = legend.words
    put_text(ws, *words.cell(0, 0), ctx.texts["legend"][scale.kind], styles.TEXT_FONT)
    if words.width > 1:    # the overview's narrow columns: the words wrap within the printed page
        cell_at(ws, *words.cell(0, 0)).alignment = WRAPPED
        merge(ws, *words.cell(0, 0), 1, words.width)
        cells_of(ws).heights[words.row] = 2 * LINE_POINTS


@lru_cache(maxsize=None)
def _fill(colour):
    """One shared fill per colour: every sheet's legend uses the same few cell formats."""
    return PatternFill("solid", fgColor=colour)
