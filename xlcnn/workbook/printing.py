"""Page setup so every sheet prints as a legible handout.

Each sheet fits the page width, repeats its title row, names its step in the header
and numbers its pages in the footer. Sheets wider than tall print in landscape.
Stacks of maps get page breaks between maps, so no matrix is cut in two when it
fits on one page.
"""

from openpyxl.worksheet.pagebreak import Break, RowBreak
from openpyxl.worksheet.page import PageMargins

from ..cells import Block, MAX_ROWS
from ..layout import CHART_ROWS, MapStack   # CHART_ROWS: the rows a 7.5 cm chart covers
from .sheetdata import cells_of

POINTS_PER_CHAR = 5.6          # a column of width 1 is about one digit of Calibri 11
ROW_POINTS = 15.0
DEFAULT_WIDTH = 8.43
A4_PRINTABLE = (540.0, 770.0)


def set_up_printing(ws, plan, texts):
    cells = cells_of(ws)
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

