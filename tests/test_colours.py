"""Colours that mean one thing, read back from the .xlsx: every colour scale, its zero, its legend."""

import re

import openpyxl
import pytest
from openpyxl.utils.cell import range_boundaries

from books import shared_book
from xlcnn import make_workbook
from xlcnn.cells import Block
from xlcnn.resources import sample_photos
from xlcnn.workbook import styles
from xlcnn.xlsxread import read_workbook

BLUE, WHITE, RED = styles.NEGATIVE_COLOUR, styles.ZERO_COLOUR, styles.POSITIVE_COLOUR


def _rgb(color):
    return color.rgb[-6:].upper()


def colour_scales(ws):
    """(sqref text, cfvo list, colours) of every colour-scale rule on the sheet."""
    return [(str(cf.sqref), rule.colorScale.cfvo, [_rgb(c) for c in rule.colorScale.color])
            for cf in ws.conditional_formatting for rule in cf.rules if rule.colorScale is not None]


def cached_values(grid, sqref):
    """The numbers stored in the cells of ``sqref``, read from ``grid`` (a sheet's stored values, zero-based rows)."""
    for piece in sqref.split():
        first_col, first_row, last_col, last_row = range_boundaries(piece)
        for row in grid[first_row - 1:last_row]:
            for value in row[first_col - 1:last_col]:
                if isinstance(value, (int, float)):
                    yield value


def largest_size_formula(sqref):
    """The one formula both ends of a scale must use: the largest size over exactly the rule's own cells."""
    cells = ",".join(re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", piece) for piece in sqref.split())
    return f"MAX(MAX({cells}),-MIN({cells}),1E-9)"


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    """{name: (workbook, xlcnn.xlsxread.Workbook)}, each read once: the tests only look.

    openpyxl gives the rules, titles and styles; it loads ``data_only`` because rewriting every shared formula
    for each cell is most of a full load and no test here reads a formula from it. The cells' stored values and
    their formulas-or-constants come from xlcnn's one-pass reader, which reads them as openpyxl does
    (test_xlsxread): constants the same, every formula as "=" and text (a shared one's first cell's text)."""
    folder = tmp_path_factory.mktemp("colours")
    photo = sample_photos()[0]
    paths = {
        "default-steps": shared_book(tmp_path_factory, steps=1),
        "tanh-gray-zh": make_workbook(photo, folder / "gray.xlsx", arch="conv3x3x2,tanh,avgpool2,dense",
                                      grayscale=True, lang="zh").path,
    }
    return {name: (openpyxl.load_workbook(path, data_only=True), read_workbook(path))
            for name, path in paths.items()}


@pytest.mark.parametrize("name", ["default-steps", "tanh-gray-zh"])
def test_every_scale_follows_one_rule(books, name):
    """Signed data: blue, white at 0, red, symmetric; non-negative data: white at 0 to red; pixels: black up."""
    wb, book = books[name]
    values = book.values
    kinds = {}
    for ws in wb.worksheets:
        for sqref, cfvo, colours in colour_scales(ws):
            numbers = list(cached_values(values[ws.title], sqref))
            assert numbers, (ws.title, sqref)
            if len(cfvo) == 3:     # diverging: -M, 0, +M over its own cells
                size = largest_size_formula(sqref)
                assert [(v.type, v.val) for v in cfvo] == [("formula", f"-{size}"), ("num", 0), ("formula", size)]
                assert colours == [BLUE, WHITE, RED], (ws.title, sqref)
                kinds.setdefault(ws.title, set()).add("diverging")
            elif cfvo[1].type == "num":   # the photo's channels
                assert [(v.type, float(v.val)) for v in cfvo] == [("num", 0), ("num", 255)]
                assert colours[0] == "000000" and colours[1] in (*styles.CHANNEL_COLOURS, styles.GRAY_COLOUR)
                assert min(numbers) >= 0
                kinds.setdefault(ws.title, set()).add("channel")
            else:                  # non-negative: white at 0 up to red at the largest
                assert [(v.type, v.val) for v in cfvo] == [("num", 0), ("formula", largest_size_formula(sqref))]
                assert colours == [WHITE, RED], (ws.title, sqref)
                assert min(numbers) >= 0, (ws.title, sqref, min(numbers))
                kinds.setdefault(ws.title, set()).add("positive")
    assert kinds and all(len(k) == 1 for k in kinds.values()), kinds   # one meaning per sheet
    if name == "default-steps":
        # the reported bug: Flatten's zeros were dark blue while the same zeros were white on ReLU and Pool
        assert kinds["6 Flatten"] == kinds["4 ReLU"] == kinds["5 Pool"] == {"positive"}
        assert kinds["3 Conv"] == kinds["7 Dense"] == kinds["Grad 3 Conv"] == {"diverging"}
        assert kinds["1 Input"] == {"channel"}
    else:
        tanh, pool, flatten = wb.sheetnames[4:7]        # tanh can go below 0, and so can what follows it
        assert kinds[tanh] == kinds[pool] == kinds[flatten] == {"diverging"}
        assert kinds[wb.sheetnames[1]] == {"channel"}


@pytest.mark.parametrize("name", ["default-steps", "tanh-gray-zh"])
def test_one_legend_per_coloured_sheet(books, name):
    """A five-cell bar on the row under the header, coloured like the sheet's scale, then its words."""
    wb, book = books[name]
    from xlcnn.resources import texts
    words = texts("zh" if name.endswith("zh") else "en")["legend"]
    for ws in wb.worksheets:
        scales = colour_scales(ws)
        # (row, col, value), one-based, of the cells whose constant is a legend's words (no formula's text is)
        grid = book.formulas[ws.title]
        texts_on_sheet = [(r + 1, c + 1, value) for r, row in enumerate(grid) for c, value in enumerate(row)
                          if value in words.values()]
        if not scales:
            assert not texts_on_sheet, ws.title
            continue
        assert len(texts_on_sheet) == 1, (ws.title, texts_on_sheet)
        row, column, text = texts_on_sheet[0]
        bar = [_rgb(ws.cell(row, column - 5 + n).fill.fgColor) for n in range(5)]
        _, cfvo, colours = scales[0]
        assert bar[0] == colours[0] and bar[-1] == colours[-1], (ws.title, bar, colours)
        kind = "diverging" if len(cfvo) == 3 else "channel" if cfvo[1].type == "num" else "positive"
        assert text == words[kind]
        if kind == "diverging":
            assert bar[2] == WHITE
        marks = [grid[row - 1][column - 6 + n] for n in range(5)]     # constants, not a formula's stored value
        assert marks[0] in ("-", "0") and marks[-1] in ("+", "255")


def test_dark_pixels_look_dark(books):
    """0 is black and 255 the channel's full colour; the numbers are white so they read on every shade."""
    wb, _ = books["default-steps"]
    ws = wb["1 Input"]
    scales = colour_scales(ws)
    assert [colours for _, _, colours in scales] == [["000000", c] for c in styles.CHANNEL_COLOURS]
    first = scales[0][0].split(":")[0]
    assert _rgb(ws[first].font.color) == "FFFFFF"


def test_hidden_cells_split_a_scale_exactly():
    block = Block("s", 2, 3, 4, 5)
    hidden = {(3, 4), (3, 6), (5, 7), (9, 9)}
    pieces = block.without(hidden)
    covered = {(r, c) for piece in pieces for _, _, r, c in piece.cells()}
    assert covered == {(r, c) for _, _, r, c in block.cells()} - hidden
    assert sum(piece.size for piece in pieces) == len(covered)      # no cell twice
    assert block.without(set()) == [block]
