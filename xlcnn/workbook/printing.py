"""Page setup so every sheet prints as a legible handout.

Each sheet fits the page width, repeats its title row, names its step in the header
and numbers its pages in the footer. Sheets wider than tall print in landscape.
Stacks of maps get page breaks between maps, so no matrix is cut in two when it
fits on one page.
"""

import math
import re
import unicodedata
from functools import lru_cache
from itertools import repeat

from openpyxl.styles import Alignment
from openpyxl.worksheet.pagebreak import Break, ColBreak, RowBreak
from openpyxl.worksheet.page import PageMargins

from ..cells import Block, MAX_ROWS
from ..layout import CHART_ROWS, PAGE_COLUMNS, SQUARE_WIDTH, MapStack, output_of   # CHART_ROWS: the rows a 7.5 cm chart covers
from .sheetdata import cells_of

POINTS_PER_CHAR = 5.6          # a column of width 1 is about one digit of Calibri 11
ROW_POINTS = 15.0
DEFAULT_WIDTH = 8.43
A4_PRINTABLE = (540.0, 770.0)


def set_up_printing(ws, plan, texts):
    cells = cells_of(ws)
    if plan.kind == "overview":    # square columns, sized by the layout; its links are for the screen only
        wrap_long_lines(ws, cells, PAGE_COLUMNS * SQUARE_WIDTH)
        last_col = plan.last_printed_col
        width_chars = sum(cells.widths.get(c, DEFAULT_WIDTH) for c in range(last_col + 1))
        last_row = cells.max_row   # its chart floats beside the photo, not below the last cell
    else:
        fit_widths(cells)
        wrap_long_lines(ws, cells)
        width_chars, last_col = _print_width(ws, cells)
        last_row = cells.max_row + CHART_ROWS * len(ws._charts)   # charts float below the last cell
    if last_row < 0:
        return
    ws.print_area = Block(ws.title, 0, 0, last_row + 1, last_col + 1).range()
    height_pt = (last_row + 1) * ROW_POINTS
    width_pt = width_chars * POINTS_PER_CHAR
    landscape = width_pt > height_pt and width_pt > A4_PRINTABLE[0]
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0          # as many pages down as needed
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.6, header=0.3, footer=0.3)
    ws.print_title_rows = "1:1"
    ws.oddHeader.center.text = texts["header"]
    ws.oddFooter.center.text = texts["footer"]
    page_w, page_h = A4_PRINTABLE[::-1] if landscape else A4_PRINTABLE
    scale = min(1.0, page_w / max(width_pt, 1.0))
    _break_between_maps(ws, plan, int(page_h / (ROW_POINTS * scale)) - 2)
    if plan.page_break_column() is not None:   # openpyxl counts columns from 1: a break after the one before
        ws.col_breaks = ColBreak(brk=[Break(id=plan.page_break_column())])


def _print_width(ws, cells):
    """Characters across the printed area and its last column: every used column, and wide
    enough for the longest line of text, which would otherwise be cut at the edge."""
    widths = []
    for n in range(cells.max_col + 1):
        widths.append(cells.widths.get(n, DEFAULT_WIDTH))
    starts = [0.0]                          # where each column starts, in characters
    for width in widths:
        starts.append(starts[-1] + width)
    # a text cell in the header rows prints whole: from where its column starts to the end of its words
    longest = max((_start(starts, cells, col) + (min(text_width(cell.value), LINE_UNITS) if cell.alignment is WRAPPED
                                                  else text_width(cell.value))
                   for row in range(10) for col, cell in cells.rows.get(row, {}).items() if cell.kind == "s"), default=0)
    total, last = 0.0, 0
    for n, width in enumerate(widths):
        total += width
        last = n
        if total >= longest and n == len(widths) - 1:
            break
    while total < longest and last + 1 < 16_384:
        last += 1
        total += cells.widths.get(last, DEFAULT_WIDTH)
    for block in cells.merges:              # a wrapped line or merged label prints whole
        while last < block.last_col:
            last += 1
            total += cells.widths.get(last, DEFAULT_WIDTH)
    return total, last


def _break_between_maps(ws, plan, rows_per_page):
    """Row breaks so that whole maps (label included) share pages without being split."""
    stack = output_of(plan)
    if not isinstance(stack, MapStack) or rows_per_page < 4:
        return
    breaks = RowBreak()
    page_top = 0
    for block, label in zip(stack.maps, stack.labels):
        top, bottom = label.row, block.last_row   # the map with the label row above it
        if bottom - page_top + 1 > rows_per_page and top > page_top and top < MAX_ROWS:
            breaks.append(Break(id=top))          # openpyxl counts rows from 1: break after row `top`
            page_top = top
    if len(breaks.brk):
        ws.row_breaks = breaks



# ---------------------------------------------------------------- widths from the values

# Glyph widths in digits (the unit of a column width) of the characters numbers are shown
# with; every other character counts as one digit. A cell needs about one digit of padding.
NARROW = {".": 0.5, ",": 0.5, "-": 0.6, " ": 0.5, "/": 0.6, "+": 0.9, "%": 1.4}
CELL_PADDING = 1.0
_FIXED = re.compile(r"^(#,##)?0(?:\.(0+))?(%)?$")
_SCIENTIFIC = re.compile(r"^0(?:\.(0+))?E\+(0+)$")


def fit_widths(cells):
    """Every column as wide as the numbers it shows and the labels it must hold whole.

    A number too wide for its column prints ``###``; a label is cut at the next cell
    when that cell holds something (a label beside an empty cell runs on over it and
    needs no width). Columns that need neither keep the width their writer gave them.
    """
    merged = {}   # row -> columns of merged blocks' top-left cells: a set per row, not a tuple per cell
    for block in cells.merges:
        merged.setdefault(block.row, set()).add(block.col)
    needs, labels, extremes = {}, [], {}
    for row, line in cells.rows.items():
        covered = merged.get(row, ())
        for col, cell in line.items():
            value = cell.cached if cell.kind == "f" else cell.value
            if value is None or isinstance(value, bool) or col in covered:
                continue
            if cell.kind == "s" or isinstance(value, str):
                labels.append((line, col, text_width(value, 11.0 * _font_scale(cell.font)) + CELL_PADDING))
            elif not math.isfinite(value):
                continue
            elif cell.number_format is None and value != int(value):
                # General shows as many digits as a number has, whatever its size: measure each one
                need = shown_width(shown(value, None)) * _font_scale(cell.font) + CELL_PADDING
                needs[col] = max(needs.get(col, 0.0), need)
            else:
                key = (col, cell.number_format, id(cell.font))
                seen = extremes.get(key)
                if seen is None:
                    extremes[key] = ([value], cell.font)
                else:
                    seen[0].append(value)   # gathered, and their extremes found by builtins: a call per value cost more
    for (col, number_format, _), (values, font) in extremes.items():
        # a number format's text is widest at one of these: the largest and smallest value, the largest
        # magnitude and the smallest one that is not 0 (an exponent's digits); so only they are measured
        need = max(shown_width(shown(v, number_format)) for v in _extremes(values)) * _font_scale(font) + CELL_PADDING
        needs[col] = max(needs.get(col, 0.0), need)
    for col, need in needs.items():   # numbers first: a label's room beside it depends on them
        cells.widths[col] = math.ceil(need * 2) / 2
    for line, col, width in labels:
        # a label runs on over the empty cells beside it, and is cut only by a filled one
        room = _room_before_filled(cells, line, col)
        if room is None and col < cells.max_col:
            continue               # nothing stops it (not past the last column)
        needs[col] = max(needs.get(col, 0.0), width - (room or 0.0))
    for col, need in needs.items():
        if need > 0:
            cells.widths[col] = math.ceil(need * 2) / 2


def _extremes(values):
    """[largest, smallest, largest magnitude, smallest magnitude not 0] of ``values`` (of the first value when
    all are 0). Of equal values the first is kept, except that -0.0 is the smallest where the smallest is 0:
    it shows as "-0.00". (Equal values that are not 0 show the same text, whichever is kept.)"""
    smallest = min(values)
    # when the smallest is 0 no value is negative, so a negative sign is a -0.0's; the signs are found by
    # builtins alone: a map clipped at 0 holds mostly zeros, and a test per value in Python cost most of this walk
    if smallest == 0 and min(map(math.copysign, repeat(1.0), values)) < 0:
        smallest = -0.0
    return [max(values), smallest, max(values, key=abs), min(filter(None, values), key=abs, default=values[0])]


def _room_before_filled(cells, line, col):
    """The width of the empty cells right of ``col`` up to the next filled cell of its row; None when none is filled."""
    room = 0.0
    for n in range(col + 1, cells.max_col + 1):
        beside = line.get(n)
        if beside is not None and beside.value is not None:
            return room
        room += cells.widths.get(n, DEFAULT_WIDTH)
    return None


def _font_scale(font):
    """How much wider than the default 11 pt font a cell's font draws: its size, and a tenth more for bold."""
    if font is None:
        return 1.0
    return (font.size or 11.0) / 11.0 * (1.1 if font.bold else 1.0)


def shown(value, number_format):
    """The text a spreadsheet shows for ``value`` in one of the number formats xlcnn writes."""
    fmt = number_format or "General"
    if ";" in fmt:                  # positive;negative;zero sections, the negative one shown without its sign
        sections = _sections(fmt)
        if value == 0 and len(sections) > 2:
            return shown(0.0, sections[2])
        if value < 0:
            negative = sections[1]
            return negative[:1] + shown(-value, negative[1:]) if negative.startswith("-") else shown(-value, negative)
        return shown(value, sections[0])
    fixed = _fixed_format(fmt)
    if fixed is not None:
        spec, percent = fixed
        # "-0.00" where a spreadsheet may drop the sign: the wider text
        return format(value * 100 if percent else value, spec) + percent
    scientific = _matched(_SCIENTIFIC, fmt)
    if scientific:
        decimals, digits = scientific.groups()
        mantissa, exponent = f"{value:.{len(decimals or '')}E}".split("E")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}E{sign}{abs(int(exponent)):0{len(digits)}d}"
    if "?" in fmt:                  # a fraction such as 1/255
        return "#" * len(fmt.strip())
    return f"{value:.10g}"          # General: up to about ten significant digits


# A book uses a handful of number formats, and fit_widths asks ``shown`` for thousands of numbers:
# each format is read once.

@lru_cache(maxsize=256)
def _sections(fmt):
    return fmt.split(";")


@lru_cache(maxsize=256)
def _fixed_format(fmt):
    """(format() spec, suffix) of a format with fixed decimals: "0.00" -> (".2f", ""),
    "#,##0%" -> (",.0f", "%"); None for any other format."""
    fixed = _FIXED.match(fmt)
    if not fixed:
        return None
    thousands, decimals, percent = fixed.groups()
    return f"{',' if thousands else ''}.{len(decimals or '')}f", percent or ""


@lru_cache(maxsize=256)
def _matched(pattern, fmt):
    return pattern.match(fmt)


def shown_width(text):
    """The width of ``text`` in digits."""
    return sum(map(NARROW.get, text, repeat(1.0)))   # NARROW.get(ch, 1.0) for each character, without a frame each


def _start(starts, cells, col):
    if col < len(starts):
        return starts[col]
    return starts[-1] + sum(cells.widths.get(c, DEFAULT_WIDTH) for c in range(len(starts) - 1, col))


# ---------------------------------------------------------------- long lines

# A line of text wider than this many column units (digits) is wrapped in a merged cell, so
# it is neither cut at the page edge nor forces a wide page: at the 70% a classroom handout
# prints at, 105 units fill a portrait page.
LINE_UNITS = 105
WRAPPED = Alignment(wrap_text=True, vertical="top")
LINE_POINTS = 13.5            # one line of 10 pt text


@lru_cache(maxsize=4096)   # the same labels repeat on every map and every sheet
def text_width(text, size=10.0):
    """About how many column units (digits of the 11 pt default font) a line of text takes:
    a Latin letter of 10 pt is about 0.85 of a digit, a Chinese character about 1.5."""
    units = sum(1.5 if unicodedata.east_asian_width(ch) in "WF" else 0.85 for ch in str(text))
    return units * size / 10.0


def wrap_long_lines(ws, cells, units=LINE_UNITS):
    """Wrap every line of text in the first column that is wider than ``units`` over the
    empty cells beside it, one taller row, instead of a line cut at the page edge."""
    for row, line in cells.rows.items():
        cell = line.get(0)
        if cell is None or cell.kind != "s" or len(line) > 1:
            continue
        size = (cell.font.size or 11.0) if cell.font is not None else 11.0
        width = text_width(cell.value, size)
        if width <= units or any(m.row <= row <= m.last_row for m in cells.merges):
            continue
        span, last = 0.0, 0
        while span < units:
            span += cells.widths.get(last, DEFAULT_WIDTH)
            last += 1
        lines = math.ceil(width * 1.1 / units)
        cell.alignment = WRAPPED
        block = Block(ws.title, row, 0, 1, last)
        cells.merges.append(block)
        ws.merged_cells.add(block.range())
        cells.heights[row] = lines * LINE_POINTS * size / 10.0
