"""Page setup so every sheet prints as a legible handout.

Each sheet fits the page width, repeats its title row, names its step in the header
and numbers its pages in the footer. Sheets wider than tall print in landscape.
Stacks of maps get page breaks between maps, so no matrix is cut in two when it
fits on one page.
"""

import math
import re

from openpyxl.worksheet.pagebreak import Break, RowBreak
from openpyxl.worksheet.page import PageMargins

from ..cells import Block, MAX_ROWS
from ..layout import MapStack
from .sheetdata import cells_of

POINTS_PER_CHAR = 5.6          # a column of width 1 is about one digit of Calibri 11
ROW_POINTS = 15.0
DEFAULT_WIDTH = 8.43
A4_PRINTABLE = (540.0, 770.0)
CHART_ROWS = 16                # a 7.5 cm chart covers about this many rows  # points inside 0.4" side and 0.6" top/bottom margins, portrait


def set_up_printing(ws, plan, texts):
    cells = cells_of(ws)
    fit_widths(cells)
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


def _print_width(ws, cells):
    """Characters across the printed area and its last column: every used column, and wide
    enough for the longest line of text, which would otherwise be cut at the edge."""
    widths = []
    for n in range(cells.max_col + 1):
        widths.append(cells.widths.get(n, DEFAULT_WIDTH))
    longest = max((len(text) for text in cells.texts(range(10))), default=0)
    total, last = 0.0, 0
    for n, width in enumerate(widths):
        total += width
        last = n
        if total >= longest * 0.95 and n == len(widths) - 1:
            break
    while total < longest * 0.95 and last + 1 < 16_384:
        last += 1
        total += DEFAULT_WIDTH
    return total, last


def _break_between_maps(ws, plan, rows_per_page):
    """Row breaks so that whole maps (label included) share pages without being split."""
    stack = plan.blocks.get("output") or plan.blocks.get("pixels")
    if not isinstance(stack, MapStack) or rows_per_page < 4:
        return
    breaks = RowBreak()
    page_top = 0
    for block in stack.maps:
        top = block.row - 1                       # the label row above the map
        bottom = block.last_row
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
    """Every column wide enough for the numbers it shows, so no cell prints ``###``.

    A column of numbers only is sized to its widest number (narrow maps keep a page
    legible); a column that also holds text keeps its width, widened when a number needs it.
    """
    needs, has_text = {}, set()
    for line in cells.rows.values():
        for col, cell in line.items():
            value = cell.cached if cell.kind == "f" else cell.value if cell.kind == "n" else None
            if cell.kind == "s" or isinstance(value, str):
                has_text.add(col)
                continue
            if value is None or isinstance(value, bool) or not math.isfinite(value):
                continue
            needs[col] = max(needs.get(col, 0.0), shown_width(shown(value, cell.number_format)) + CELL_PADDING)
    for col, need in needs.items():
        need = math.ceil(need * 2) / 2
        current = cells.widths.get(col, DEFAULT_WIDTH)
        cells.widths[col] = max(current, need) if col in has_text else need


def shown(value, number_format):
    """The text a spreadsheet shows for ``value`` in one of the number formats xlcnn writes."""
    fmt = number_format or "General"
    fixed = _FIXED.match(fmt)
    if fixed:
        thousands, decimals, percent = fixed.groups()
        number = value * 100 if percent else value
        text = f"{number:{',' if thousands else ''}.{len(decimals or '')}f}"
        return text + (percent or "")     # "-0.00" where a spreadsheet may drop the sign: the wider text
    scientific = _SCIENTIFIC.match(fmt)
    if scientific:
        decimals, digits = scientific.groups()
        mantissa, exponent = f"{value:.{len(decimals or '')}E}".split("E")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}E{sign}{abs(int(exponent)):0{len(digits)}d}"
    if "?" in fmt:                  # a fraction such as 1/255
        return "#" * len(fmt.strip())
    return f"{value:.10g}"          # General: up to about ten significant digits


def shown_width(text):
    """The width of ``text`` in digits."""
    return sum(NARROW.get(ch, 1.0) for ch in text)
