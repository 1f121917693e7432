"""The only place that turns zero-based (row, col) coordinates into A1 text.

Everything inside xlcnn works with zero-based ``(row, col)`` pairs, like NumPy.
This module adds the +1 that Excel and openpyxl expect, names columns, adds ``$``
anchors and quotes sheet names. A rectangular group of cells is a ``Block``.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

MAX_ROWS = 1_048_576
MAX_COLS = 16_384
MAX_FORMULA_CHARS = 8_192


@lru_cache(maxsize=MAX_COLS)
def col_name(col):
    """Zero-based column index -> Excel letters: 0 -> "A", 25 -> "Z", 26 -> "AA"."""
    if not 0 <= col < MAX_COLS:
        raise ValueError(f"column index {col!r} is outside 0..{MAX_COLS - 1}")
    letters = ""
    n = col + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_names(count):
    """[col_name(0), .., col_name(count - 1)]: the letters of a sheet's first ``count`` columns, for a
    writer that names every cell of every row (the sheet files' rows) and so asks once per column."""
    return [col_name(col) for col in range(count)]


def col_index(letters):
    """Excel letters -> zero-based column index: "A" -> 0, "XFD" -> 16383."""
    if not letters.isalpha() or not letters.isascii():
        raise ValueError(f"{letters!r} is not a column name")
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    if n > MAX_COLS:
        raise ValueError(f"column {letters!r} is beyond XFD")
    return n - 1


def looks_like_a_cell(name):
    """Whether a defined name would read as an A1 reference ("add1" is column ADD, row 1) and so
    cannot be a name in Excel: letters up to XFD, then a row number within the sheet."""
    match = re.fullmatch(r"([A-Za-z]{1,3})([0-9]+)", name)
    if not match:
        return False
    try:
        col_index(match.group(1))
    except ValueError:
        return False
    return 1 <= int(match.group(2)) <= MAX_ROWS


def a1(row, col, absolute=False):
    """(row, col) -> "B3", or "$B$3" when absolute."""
    if not 0 <= row < MAX_ROWS:
        raise ValueError(f"row index {row!r} is outside 0..{MAX_ROWS - 1}")
    if absolute:
        return f"${col_name(col)}${row + 1}"
    return f"{col_name(col)}{row + 1}"


@lru_cache(maxsize=1024)    # a workbook has a few dozen sheets; formulas name them hundreds of thousands of times
def quote_sheet(name):
    """Always quote, so names such as "R" or "FC1" are never read as cell references."""
    return "'" + name.replace("'", "''") + "'"


def sheet_of_ref(text):
    """The sheet named by a reference such as "'Tom''s map'!$A$1" or "Data!A1"; None without one (e.g. "#REF!")."""
    text = str(text)
    if text.startswith("'"):
        end = 1
        while True:
            end = text.find("'", end)
            if end < 0:
                return None
            if text[end + 1:end + 2] != "'":
                break
            end += 2
        return text[1:end].replace("''", "'") if text[end + 1:end + 2] == "!" else None
    name, bang, _ = text.partition("!")
    return name if bang and name and not name.startswith("#") else None


def safe_sheet_name(name):
    """A name Excel accepts for a sheet: none of []:*?/\\, no leading or trailing quote, 31 characters."""
    cleaned = "".join("_" if ch in '[]:*?/\\' else ch for ch in str(name)).strip("'").strip()
    return (cleaned or "Sheet")[:31]


def sheet_ref(sheet, row, col, absolute=False):
    """A single cell on a named sheet: "'1 Input'!B3"."""
    return f"{quote_sheet(sheet)}!{a1(row, col, absolute)}"


def column_number(col):
    """Zero-based column index -> the 1-based number openpyxl and SpreadsheetML count columns by."""
    col_name(col)   # the range check, with its message
    return col + 1


def row_number(row):
    """Zero-based row index -> the row number SpreadsheetML writes: 0 -> "1"."""
    if not 0 <= row < MAX_ROWS:
        raise ValueError(f"row index {row!r} is outside 0..{MAX_ROWS - 1}")
    return str(row + 1)


@dataclass(frozen=True, init=False)
class Block:
    """A rectangle of cells on one sheet: top-left (row, col), height x width."""

    sheet: str
    row: int
    col: int
    height: int
    width: int

    def __init__(self, sheet, row, col, height, width):
        # What the frozen dataclass's own __init__ does, without its five object.__setattr__ calls:
        # writers make a block for nearly every cell they write, hundreds of thousands per book.
        state = self.__dict__
        state["sheet"], state["row"], state["col"], state["height"], state["width"] = sheet, row, col, height, width

    def cell(self, i, j):
        """Sheet coordinates of the block's cell (i, j)."""
        if not (0 <= i < self.height and 0 <= j < self.width):
            raise IndexError(f"({i}, {j}) is outside a {self.height}x{self.width} block")
        return self.row + i, self.col + j

    def cells(self):
        """Every (i, j, row, col) in row-major order."""
        for i in range(self.height):
            for j in range(self.width):
                yield i, j, self.row + i, self.col + j

    def cell_blocks(self):
        """Every (i, j, cell) in row-major order, ``cell`` the 1 x 1 block ``sub(i, j, 1, 1)``: what a writer fills."""
        sheet, row, col = self.sheet, self.row, self.col
        for i in range(self.height):
            for j in range(self.width):
                yield i, j, Block(sheet, row + i, col + j, 1, 1)

    def sub(self, i, j, height, width):
        """The block of height x width cells whose top-left is this block's (i, j)."""
        if not (0 <= i and i + height <= self.height and 0 <= j and j + width <= self.width
                and height > 0 and width > 0):
            raise IndexError(f"a {height}x{width} block at ({i}, {j}) is outside a {self.height}x{self.width} block")
        return Block(self.sheet, self.row + i, self.col + j, height, width)

    def a1(self, i, j, absolute=False):
        """Cell (i, j) as "B3", without the sheet."""
        return a1(*self.cell(i, j), absolute)

    def ref(self, i=0, j=0, absolute=False):
        """Cell (i, j) with its quoted sheet: "'3 Conv'!B3".

        The top-left cell's text is remembered (as ``range_ref``'s is): a bias or a margin is
        named in every formula of a map.
        """
        if i or j:
            return sheet_ref(self.sheet, *self.cell(i, j), absolute)
        key = "_absolute_corner" if absolute else "_corner"
        text = self.__dict__.get(key)
        if text is None:
            text = self.__dict__[key] = sheet_ref(self.sheet, *self.cell(0, 0), absolute)
        return text

    def range(self, absolute=False):
        """The whole block as "B3:D5" (or "B3" for one cell), without the sheet."""
        first = a1(self.row, self.col, absolute)
        if self.height == 1 and self.width == 1:
            return first
        return f"{first}:{a1(self.row + self.height - 1, self.col + self.width - 1, absolute)}"

    def range_ref(self, absolute=False):
        """The whole block with its quoted sheet: "'1 Input'!B3:D5".

        Remembered on the block (outside its fields, so equality is unchanged): a
        layer's window is named once for every filter that slides over it.
        """
        key = "_absolute_ref" if absolute else "_ref"
        text = self.__dict__.get(key)
        if text is None:
            text = self.__dict__[key] = f"{quote_sheet(self.sheet)}!{self.range(absolute)}"
        return text

    def bounds(self):
        """{min_col, min_row, max_col, max_row}, 1-based, as openpyxl's chart Reference takes them."""
        return {"min_col": self.col + 1, "min_row": self.row + 1,
                "max_col": self.last_col + 1, "max_row": self.last_row + 1}

    def without(self, cells):
        """The block as rectangles that leave out ``cells`` (a set of (row, col)), top to bottom.

        Rows free of them stay together; a row holding some is cut into the runs between them.
        """
        inside = sorted((r, c) for r, c in cells if self.row <= r <= self.last_row and self.col <= c <= self.last_col)
        if not inside:
            return [self]
        pieces, top = [], self.row
        for row in sorted({r for r, _ in inside}):
            if row > top:
                pieces.append(Block(self.sheet, top, self.col, row - top, self.width))
            start = self.col
            for col in sorted(c for r, c in inside if r == row) + [self.last_col + 1]:
                if col > start:
                    pieces.append(Block(self.sheet, row, start, 1, col - start))
                start = col + 1
            top = row + 1
        if top <= self.last_row:
            pieces.append(Block(self.sheet, top, self.col, self.last_row - top + 1, self.width))
        return pieces

    @staticmethod
    def spanning(first, last):
        """The block from ``first``'s top-left cell to ``last``'s bottom-right one (same sheet)."""
        return Block(first.sheet, first.row, first.col, last.last_row - first.row + 1, last.last_col - first.col + 1)

    def items(self):
        """``item(0)``, ``item(1)``, ... of a one-row or one-column block, in order."""
        if self.height != 1 and self.width != 1:
            raise ValueError(f"items() needs a single row or column, not {self.height}x{self.width}")
        for _, _, cell in self.cell_blocks():
            yield cell

    def item(self, n):
        """The n-th cell of a one-row or one-column block, as a 1 x 1 block."""
        if self.height == 1:
            return self.sub(0, n, 1, 1)
        if self.width == 1:
            return self.sub(n, 0, 1, 1)
        raise ValueError(f"item() needs a single row or column, not {self.height}x{self.width}")

    @property
    def size(self):
        return self.height * self.width

    @property
    def last_row(self):
        return self.row + self.height - 1

    @property
    def last_col(self):
        return self.col + self.width - 1
