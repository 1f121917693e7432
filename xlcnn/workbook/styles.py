"""Fonts, fills, number formats and colour scales, in one place."""

from functools import lru_cache

import numpy as np

from openpyxl.formatting.rule import ColorScaleRule
from openpyxl.styles import Alignment, Font, PatternFill

TITLE_FONT = Font(bold=True, size=14)
TEXT_FONT = Font(italic=False, size=10, color="444444")
LABEL_FONT = Font(bold=True, size=10)
RESULT_FONT = Font(bold=True, size=12)
BOX_FONT = Font(size=9)
NOTICE_FONT = Font(bold=True, size=10, color="C00000")
PARAM_FILL = PatternFill("solid", fgColor="FFF2CC")     # cells a student may edit
PAD_FILL = PatternFill("solid", fgColor="D9D9D9")       # zero padding border
CENTER = Alignment(horizontal="center")

PIXEL_FORMAT = "0"
VALUE_FORMAT = "0.00"
WEIGHT_FORMAT = "0.000"
PROB_FORMAT = "0.0000"
GRAD_FORMAT = "0.00E+00"   # gradients span many orders of magnitude
SCALE_FORMAT = "# ?/???"   # shows 0.00392... as 1/255

PIXEL_WIDTH = 4.7
VALUE_WIDTH = 6.5
COLOUR_VIEW_WIDTH = 2.6
LABEL_WIDTH = 12

EXCEL_CELL_FORMATS = 64_000      # past about this many cell formats Excel repairs the file when it opens it
PIXEL_COLOURS_AT_MOST = 60_000   # the painted photo's share; every other format together is a few hundred

CHANNEL_COLOURS = ("FF0000", "00A000", "0000FF")


def channel_scale(colour):
    """White at 0, the channel's own colour at 255."""
    return ColorScaleRule(start_type="num", start_value=0, start_color="FFFFFF",
                          end_type="num", end_value=255, end_color=colour)


def diverging_scale():
    """Blue for negative, white at zero, red for positive."""
    return ColorScaleRule(start_type="min", start_color="5B9BD5",
                          mid_type="num", mid_value=0, mid_color="FFFFFF",
                          end_type="max", end_color="F8696B")


def positive_scale():
    """White at the smallest value, orange at the largest (ReLU and pooling are >= 0)."""
    return ColorScaleRule(start_type="min", start_color="FFFFFF", end_type="max", end_color="F4B183")


@lru_cache(maxsize=PIXEL_COLOURS_AT_MOST)
def pixel_fill(r, g, b):
    """One shared fill per colour: the workbook's style table holds each colour once."""
    return PatternFill("solid", fgColor=f"{int(r):02X}{int(g):02X}{int(b):02X}")



def painted_colours(pixels):
    """The (H, W, 3) colours to paint the photo in cells with, at most PIXEL_COLOURS_AT_MOST distinct.

    Each distinct colour costs one fill and one cell format. A noisy photo at 512 px has
    well over 100,000 colours, so while there are too many, one more low bit of every
    channel is dropped (a value moves to the middle of its band of 2, 4, 8 ... values);
    three bits leave at most 32 x 32 x 32 colours, which always fits.
    """
    rgb = pixels.transpose(1, 2, 0) if pixels.shape[0] == 3 else np.repeat(pixels[0][..., None], 3, axis=2)
    rgb = np.asarray(rgb, dtype=np.int64)
    for bits in range(4):
        colours = (rgb >> bits << bits) + (1 << bits >> 1)
        codes = (colours[..., 0] << 16) | (colours[..., 1] << 8) | colours[..., 2]
        if np.unique(codes).size <= PIXEL_COLOURS_AT_MOST:
            break
    return colours.astype(np.uint8)
