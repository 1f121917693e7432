"""Fonts, fills, number formats and colour scales, in one place."""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from openpyxl.formatting.rule import ColorScale, FormatObject, Rule
from openpyxl.styles import Alignment, Color, Font, PatternFill

from ..lesson_formulas import colour_scale_size

TITLE_FONT = Font(bold=True, size=14)
TEXT_FONT = Font(italic=False, size=10, color="444444")
LABEL_FONT = Font(bold=True, size=10)
RESULT_FONT = Font(bold=True, size=12)
BOX_FONT = Font(size=10)   # no smaller than the rest: the handout scales by its smallest type
NOTICE_FONT = Font(bold=True, size=10, color="C00000")
PARAM_FILL = PatternFill("solid", fgColor="FFF2CC")     # cells a student may edit
PAD_FILL = PatternFill("solid", fgColor="D9D9D9")       # zero padding border
LINK_FILL = PatternFill("solid", fgColor="9DC3E6")      # a grouped filter reads this channel (the grid)
WARNING_FILL = PatternFill("solid", fgColor="F8CBAD")   # a setting the course calls invalid (a rounded-away quotient)
CENTER = Alignment(horizontal="center")
RIGHT = Alignment(horizontal="right")

PIXEL_FORMAT = "0"
VALUE_FORMAT = "0.00"
WEIGHT_FORMAT = "0.000"
PROB_FORMAT = "0.0000"
# Gradients span many orders of magnitude: three digits and a short exponent (1.23E-4), and a
# plain 0 for zero (LibreOffice would print a product of 0 and a negative number as -0.00E+0).
GRAD_FORMAT = "0.00E+0;-0.00E+0;0"
SCALE_FORMAT = "# ?/???"   # shows 0.00392... as 1/255

PIXEL_WIDTH = 4.7
MATRIX_WIDTH = 7     # a matrix's numbers may be negative and fractional: -0.125
VALUE_WIDTH = 6.5
COLOUR_VIEW_WIDTH = 2.6
LABEL_WIDTH = 12

EXCEL_CELL_FORMATS = 64_000      # past about this many cell formats Excel repairs the file when it opens it
PIXEL_COLOURS_AT_MOST = 60_000   # the painted photo's share; every other format together is a few hundred

CHANNEL_COLOURS = ("FF0000", "00A000", "0000FF")
GRAY_COLOUR = "A6A6A6"       # the grey channel's brightest: white numbers stay readable on it
PIXEL_FONT = Font(size=10, color="FFFFFF")   # pixels are drawn from black up: white numbers read on every shade
NEGATIVE_COLOUR, ZERO_COLOUR, POSITIVE_COLOUR = "5B9BD5", "FFFFFF", "F8696B"


@dataclass(frozen=True)
class Scale:
    """A colour rule, made into a conditional format once the ranges it covers are known.

    ``kind`` is "diverging" (blue below 0, white at 0, red above, the same strength for
    the same size either side), "positive" (white at 0, red at the largest) or
    "channel" (black at 0, ``colour`` at 255: a dark pixel looks dark).
    """

    kind: str
    colour: str = POSITIVE_COLOUR

    def rule(self, ranges):
        """The rule over ``ranges`` (A1 texts of the sheet's own cells).

        What openpyxl's ColorScaleRule makes, with the fixed ends and the colours shared by every
        rule (``_fixed_end``, ``_colour``): openpyxl only reads them, when it writes the file, and
        making them anew cost a third of a rule, for the hundreds of rules a workbook has.
        """
        if self.kind == "channel":
            return _colour_scale([_fixed_end(0), _fixed_end(255)], [_colour("000000"), _colour(self.colour)])
        size = colour_scale_size(ranges)
        if self.kind == "positive":
            return _colour_scale([_fixed_end(0), FormatObject(type="formula", val=size)],
                                 [_colour(ZERO_COLOUR), _colour(POSITIVE_COLOUR)])
        return _colour_scale([FormatObject(type="formula", val=f"-{size}"), _fixed_end(0),
                              FormatObject(type="formula", val=size)],
                             [_colour(NEGATIVE_COLOUR), _colour(ZERO_COLOUR), _colour(POSITIVE_COLOUR)])

    def legend(self):
        """The legend's colours, from the scale's low end to its high end (five steps)."""
        if self.kind == "channel":
            return [_mix("000000", self.colour, t) for t in (0, 0.25, 0.5, 0.75, 1)]
        if self.kind == "positive":
            return [_mix(ZERO_COLOUR, POSITIVE_COLOUR, t) for t in (0, 0.25, 0.5, 0.75, 1)]
        return [NEGATIVE_COLOUR, _mix(ZERO_COLOUR, NEGATIVE_COLOUR, 0.5), ZERO_COLOUR,
                _mix(ZERO_COLOUR, POSITIVE_COLOUR, 0.5), POSITIVE_COLOUR]


def _colour_scale(ends, colours):
    return Rule(type="colorScale", colorScale=ColorScale(cfvo=ends, color=colours))


@lru_cache(maxsize=None)   # a few numbers
def _fixed_end(number):
    """A colour scale's end at a fixed number."""
    return FormatObject(type="num", val=number)


@lru_cache(maxsize=None)   # the scales' few colours
def _colour(rgb):
    return Color(rgb)


def _mix(low, high, t):
    """The colour a fraction ``t`` of the way from ``low`` to ``high`` (RRGGBB texts)."""
    channels = (round(int(low[n:n + 2], 16) * (1 - t) + int(high[n:n + 2], 16) * t) for n in (0, 2, 4))
    return "".join(f"{c:02X}" for c in channels)


def channel_scale(colour):
    """Black at 0, the channel's own colour at 255."""
    return Scale("channel", colour)


def diverging_scale():
    """Blue for negative, white at zero, red for positive, symmetric about zero."""
    return Scale("diverging")


def positive_scale():
    """White at zero, red at the largest value (for outputs that are never negative, e.g. probabilities)."""
    return Scale("positive")


@lru_cache(maxsize=PIXEL_COLOURS_AT_MOST)
def pixel_fill(r, g, b):
    """One shared fill per colour: the workbook's style table holds each colour once."""
    return PatternFill("solid", fgColor=f"{int(r):02X}{int(g):02X}{int(b):02X}")



def as_grey_levels(matrix):
    """A matrix of any numbers as one grey picture, (1, H, W) in 0..255: the mean over its channels,
    from its smallest (black) to its largest (white) value, to paint and to show as a thumbnail."""
    mean = np.asarray(matrix, dtype=np.float64).mean(axis=0)
    low, span = mean.min(), np.ptp(mean)
    levels = np.zeros_like(mean) if span <= 0 else (mean - low) / span * 255
    return np.rint(levels)[None].astype(np.uint8)


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
