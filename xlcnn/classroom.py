"""What a classroom handout prints of each sheet: one page a step, type no smaller than 7 pt.

``xlcnn handout`` prints a copy of the workbook; this module decides, from the planned
layout and the sheet's own widths and heights, how that copy is printed: a fixed scale
that keeps the smallest font at ``MIN_TYPE`` points, portrait or landscape, and which rows
of a long stack of maps or a long vector are left out so the step fits one page (the
footer says which). A long vector keeps its first rows and, below them, the rows its
sheet's worked example uses (``worked``, chosen by the caller from the printed values),
so a student can follow the example on paper. The workbook itself is never changed.
"""

import math
import os
from dataclasses import dataclass

from .kinds import LAYER_TYPES
from .layout import MapStack
from .plans import example_of

MIN_TYPE = 7.0                    # points: the smallest type a copied handout keeps legible
POINTS_PER_CHAR = 7.0             # measured: LibreOffice without Calibri or Carlito prints a width-1 column this wide
# Printable area in points, inside the margins xlcnn sets (0.4" sides, 0.6" top and bottom),
# less a little for LibreOffice's header and footer lines.
PAPERS = {"a4": (595.3, 841.9, 9), "letter": (612.0, 792.0, 1)}   # width, height, OOXML paperSize
SIDE_MARGINS = 2 * 0.4 * 72
TOP_BOTTOM = 2 * 0.6 * 72 + 18
SAFETY = 0.92                     # rows print a little taller than their nominal height
# A shortened vector keeps at least its first FIRST_ROWS rows (enough to see its order) and at
# most WORKED_ROWS rows of the worked example below them (a dozen terms a student can follow).
FIRST_ROWS = 8
WORKED_ROWS = 12
# Countries whose paper is US Letter; the rest of the world prints on A4.
LETTER_COUNTRIES = {"US", "CA", "MX", "PH", "CL", "CO", "VE", "CR", "GT", "PA", "SV", "DO", "PR", "NI", "BZ"}


def default_paper(environ=None):
    """'letter' when the locale (LC_ALL, LC_PAPER, LANG) is of a Letter country, else 'a4'."""
    environ = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_PAPER", "LANG"):
        value = environ.get(name)
        if value:
            country = value.split(".")[0].split("@")[0].partition("_")[2].upper()   # en_US.UTF-8 -> US
            return "letter" if country in LETTER_COUNTRIES else "a4"
    return "a4"


@dataclass
class PagePlan:
    """How one sheet prints: scale in percent, orientation, the rows left out (zero-based, inclusive)."""

    scale: int
    landscape: bool
    hidden_rows: tuple = ()       # ((first, last), ...): the runs of rows left out
    worked_rows: tuple = ()       # rows printed below the first ones because the worked example uses them
    last_col: int | None = None   # the print area ends here: a worked example or columns left out
    columns_cut: tuple = ()       # (first, last) columns of numbers left out, zero-based


def plan_page(plan, widths, heights, last_row, last_col, paper, smallest_font, worked=()):
    """One page for ``plan``'s sheet: ``widths``/``heights`` map column/row to chars/points.

    ``worked`` lists rows of a long vector to print even when they lie below its first rows,
    most important first; as many as fit (at most WORKED_ROWS) are kept.
    """
    scale = math.ceil(100 * MIN_TYPE / smallest_font)
    paper_w, paper_h, _ = PAPERS[paper]
    unit = POINTS_PER_CHAR * scale / 100

    def across(last):
        return sum(widths.get(c, 8.43) for c in range(last + 1)) * unit

    landscape = across(last_col) > paper_w - SIDE_MARGINS
    cut_col, columns_cut = _columns(plan, across, last_col, paper_h - SIDE_MARGINS)
    page_h = (paper_w if landscape else paper_h) - TOP_BOTTOM
    capacity = SAFETY * page_h * 100 / scale

    def height(first, last):
        return sum(heights.get(r, 15.0) for r in range(first, last + 1))

    page = PagePlan(scale, landscape, last_col=cut_col, columns_cut=columns_cut)
    span = _long_span(plan)
    if height(0, last_row) <= capacity or span is None:
        return page
    first, last, cuts = span
    outside = height(0, last_row) - height(first, last)
    one_row_cuts = cuts == list(range(first + 1, last + 2))
    worked = [r for r in dict.fromkeys(worked) if first <= r <= last] if one_row_cuts else []
    # the first rows always kept: those beside other blocks (a worked example), and a few to show the order
    keep_until = max(first + FIRST_ROWS, _beside_until(plan, first, last) + 1) if worked else first
    keep_until = min(keep_until, last + 1)
    chosen = []
    for row in worked:
        if len(chosen) == WORKED_ROWS:
            break
        if row < keep_until:
            continue                        # printed anyway among the first rows
        if outside + height(first, keep_until - 1) + sum(heights.get(r, 15.0) for r in chosen + [row]) > capacity:
            break
        chosen.append(row)
    for cut in cuts:                      # then whole maps (or vector rows) from the top while they fit
        if cut <= keep_until:
            continue
        below = sum(heights.get(r, 15.0) for r in chosen if r >= cut)
        if outside + height(first, cut - 1) + below > capacity:
            break
        keep_until = cut
    keep_until = max(keep_until, cuts[0]) if cuts else first
    page.worked_rows = tuple(sorted(r for r in chosen if r >= keep_until))
    page.hidden_rows = _runs_left_out(keep_until, last, page.worked_rows)
    return page


def _runs_left_out(keep_until, last, kept):
    """The runs of rows from ``keep_until`` to ``last`` that are not in ``kept``, as (first, last) pairs."""
    runs, start = [], keep_until
    for row in (*kept, last + 1):
        if row > start:
            runs.append((start, row - 1))
        start = row + 1
    return tuple(runs)


def _beside_until(plan, first, last):
    """The last row a shorter block beside the long one uses (a worked example's lines), or ``first``."""
    length = last - first + 1
    rows = [block.last_row for block in plan.all_blocks()
            if first <= block.row <= last and block.height < length]
    return max(rows, default=first)


def _columns(plan, across, last_col, page_w):
    """Where the print area ends (None: where it did) and the columns of numbers left out.

    A worked example that would need a page of its own is left out, except the one students work
    by hand (``Layer.example_by_hand``), which prints on a second page; numbers wider than a
    landscape page are cut at its edge."""
    if across(last_col) <= page_w:
        return None, ()
    explain = example_of(plan)
    example = explain.title.col if explain is not None else plan.page_break_column()
    body = example - 1 if example else last_col
    kind = LAYER_TYPES.get(plan.kind)   # a layer's sheet has its kind
    if ((kind is not None and kind.example_by_hand) or plan.page_break_column()) and example and across(body) <= page_w:
        return None, ()
    cut = body
    while cut > 0 and across(cut) > page_w:
        cut -= 1
    # a block the page edge would slice (the input sheet's photo in cells) is left out whole,
    # when at least half a page is printed without it; right to left, so a cut moved left of
    # one block is checked against the blocks before it
    for block in sorted(plan.all_blocks(), key=lambda b: b.col, reverse=True):
        if block.col <= cut < block.last_col and block.col > 0 and across(block.col - 1) >= page_w / 2:
            cut = block.col - 1
    return cut, ((cut + 1, body) if cut < body else ())


def _long_span(plan):
    """The sheet's longest block as (first row, last row, rows where it may be cut)."""
    if plan.kind in ("overview", "summary"):   # the story, and a table whose every row differs, print whole
        return None
    best = None
    for block in plan.parts():
        if isinstance(block, MapStack):
            first, last = block.maps[0].row - 1, block.maps[-1].last_row
            cuts = [m.row - 1 for m in block.maps[1:]] + [last + 1]
        elif hasattr(block, "height"):
            first, last = block.row, block.last_row
            cuts = list(range(first + 1, last + 2))
        else:
            continue
        if best is None or last - first > best[1] - best[0]:
            best = (first, last, cuts)
    return best
