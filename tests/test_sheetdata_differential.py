"""The row writer against openpyxl: the same cells written both ways read back the same.

``sheetdata`` splices its own <row> XML into the sheet files openpyxl writes, through
openpyxl internals. Here random sheets of numbers, text, formulas (shared or not, with
stored values), styled empty cells and tall rows are written once by ``sheetdata.save``
and once through openpyxl's own cells, and every cell is compared as openpyxl reads it
back: value, type, font, fill, number format, protection, alignment; rows as XML.
"""

import random
import zipfile
from xml.etree import ElementTree

import openpyxl
import pytest
from openpyxl import Workbook
from openpyxl.formula.translate import Translator
from openpyxl.styles import Alignment, Font, PatternFill, Protection

from xlcnn.cells import Block, a1
from xlcnn.workbook import sheetdata

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
FONTS = (None, Font(bold=True), Font(italic=True, color="FF0000", size=9), Font(name="Consolas"))
FILLS = (None, PatternFill("solid", fgColor="FFF2CC"), PatternFill("solid", fgColor="DDEBF7"))
FORMATS = (None, "0.000", "0.00%", "General", '0.0000;[Red]-0.0000', "@")
PROTECTIONS = (None, Protection(locked=False), Protection(locked=True, hidden=True))
ALIGNMENTS = (None, Alignment(horizontal="center"), Alignment(wrap_text=True, vertical="top"))
TEXTS = ("=not a formula", "+1+1", "@SUM(1)", "a < b & c > d", 'quote " and \' apostrophe', "  spaces  ",
         "猫 and ü", "tab\tnew\nline", "control \x01 char", "", "1", "TRUE", "#N/A")
FORMULAS = ("=SUM(A1:B3)*2", '=IF(C4>0,"a<b&c",\'Other sheet\'!B2)', "=-B5^2+1E-300", "=MAX(0,$A$1)",
            '=INDEX(A1:C3,2,2)&" x"', "=ROUND(PI(),4)", "=AND(A1<1,B1>=2)")
NUMBERS = (0, 255, -7, 0.1 + 0.2, 1 / 3, -2.5e-300, 1.7976931348623157e308, 5e-324, 123456789012345678.0,
           -0.0, 1e-5, 0.00392156862745098)


def random_number(rng):
    return rng.choice(NUMBERS) if rng.random() < 0.3 else rng.choice((1, -1)) * rng.random() * 10 ** rng.randint(-20, 20)


def random_sheet(rng, title):
    """{(row, col): (kind, value, cached, styles)} and {row: height}, zero-based, with a shared block."""
    cells = {}
    for _ in range(160):
        row, col = rng.randrange(40), rng.randrange(30)
        style = (rng.choice(FONTS), rng.choice(FILLS), rng.choice(FORMATS), rng.choice(PROTECTIONS),
                 rng.choice(ALIGNMENTS))
        kind = rng.choice("nnsfe")
        if kind == "n":
            cells[row, col] = ("n", random_number(rng), None, style)
        elif kind == "s":
            cells[row, col] = ("s", rng.choice(TEXTS), None, style)
        elif kind == "f":
            cached = rng.choice((random_number(rng), rng.choice(TEXTS), True, False))
            cells[row, col] = ("f", rng.choice(FORMULAS), cached, style)
        else:
            cells[row, col] = ("e", None, None, style)
    heights = {rng.randrange(45): rng.choice((12.5, 30, 409)) for _ in range(5)}
    # a block of one formula moved along (rows 50-53, columns 2-5), as a stride-1 map is written
    shared = Block(title, 50, 2, 4, 4)
    first = "=MAX(0,'Other sheet'!B2*$A$1)+C3"
    for i, j, row, col in shared.cells():
        moved = Translator(first, a1(50, 2)).translate_formula(a1(row, col))
        cells[row, col] = ("f", moved, float(i * 4 + j), (None, None, "0.00", None, None))
    return cells, heights, shared


def write_with_sheetdata(sheets, path):
    wb = Workbook()
    wb.remove(wb.active)
    for title, (cells, heights, shared) in sheets.items():
        ws = wb.create_sheet(title)
        store = sheetdata.cells_of(ws)
        for (row, col), (kind, value, cached, style) in cells.items():
            cell = store.at(row, col)
            if kind != "e":
                cell.value, cell.kind, cell.cached = value, kind, cached
                if kind == "s":
                    cell.value = openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE.sub("?", value)
            cell.font, cell.fill, cell.number_format, cell.protection, cell.alignment = style
        store.heights.update(heights)
        store.share(shared)
    sheetdata.save(wb, path)


def write_with_openpyxl(sheets, path):
    wb = Workbook()
    wb.remove(wb.active)
    for title, (cells, heights, _) in sheets.items():
        ws = wb.create_sheet(title)
        for (row, col), (kind, value, _, style) in cells.items():
            cell = ws.cell(row + 1, col + 1)
            if kind == "s":
                cell.value = openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE.sub("?", value)
                cell.data_type = "s"          # never read as a formula, as sheetdata's text
            elif kind != "e":
                cell.value = value
            font, fill, number_format, protection, alignment = style
            for name, given in (("font", font), ("fill", fill), ("number_format", number_format),
                                ("protection", protection), ("alignment", alignment)):
                if given is not None:
                    setattr(cell, name, given)
        for row, height in heights.items():
            ws.row_dimensions[row + 1].height = height
    wb.save(path)


def style_xml(cell, name, made):
    """The XML of ``cell``'s ``name`` part (font, fill, ...) as styles.xml holds it. Cells of one cell format
    share their parts, so ``made`` ({}, one per test) keeps each part's XML: writing it costs more than reading
    the cell."""
    key = id(cell.parent.parent), cell.style_id, name
    if key not in made:
        made[key] = ElementTree.tostring(getattr(cell, name).to_tree())
    return made[key]


def rows_xml(path, sheet_file):
    with zipfile.ZipFile(path) as z:
        root = ElementTree.fromstring(z.read(sheet_file))
    rows = root.find(f"{MAIN}sheetData").findall(f"{MAIN}row")
    # a bare <c r=".."/> (no value, no style) is the same as no cell; openpyxl leaves it out, sheetdata may not
    return ([(r.get("r"), r.get("ht"), r.get("customHeight"), [c.get("r") for c in r if len(c) or c.get("s")])
             for r in rows],
            root.find(f"{MAIN}dimension").get("ref"))


@pytest.mark.parametrize("seed", range(4))
def test_sheetdata_reads_back_as_openpyxls_own_cells(tmp_path, seed):
    rng = random.Random(seed)
    sheets = {title: random_sheet(rng, title) for title in ("Maps", "it's a sheet")}
    ours, theirs = tmp_path / "ours.xlsx", tmp_path / "theirs.xlsx"
    write_with_sheetdata(sheets, ours)
    write_with_openpyxl(sheets, theirs)
    ours_book, theirs_book = openpyxl.load_workbook(ours), openpyxl.load_workbook(theirs)
    ours_values = openpyxl.load_workbook(ours, data_only=True)
    made = {}
    assert ours_book.sheetnames == theirs_book.sheetnames == list(sheets)
    for n, (title, (cells, heights, _)) in enumerate(sheets.items(), start=1):
        mine, other, stored = ours_book[title], theirs_book[title], ours_values[title]
        for (row, col), (kind, value, cached, _) in cells.items():
            a, b = mine.cell(row + 1, col + 1), other.cell(row + 1, col + 1)
            where = f"{title}!{a.coordinate} ({kind} {value!r})"
            if kind == "n":
                assert a.value == value and b.value == float("%.16g" % value), where   # ours keeps every digit
                assert a.data_type == b.data_type == "n", where
            elif value == "":   # an empty text: openpyxl's own reads back as no value, ours as ""; both blank
                assert a.value == "" and b.value is None, where
            else:
                assert a.value == b.value and a.data_type == b.data_type, where
            assert a.number_format == b.number_format, f"{where}: number format"
            for name in ("font", "fill", "protection", "alignment"):     # as styles.xml holds them
                assert style_xml(a, name, made) == style_xml(b, name, made), f"{where}: {name}"
            if kind == "f":   # the stored value a viewer shows, exactly
                shown = stored.cell(row + 1, col + 1).value
                expected = openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE.sub("?", cached) if isinstance(cached, str) else cached
                expected = None if expected == "" else expected     # <v></v>: openpyxl reads an empty text as None
                assert shown == expected and isinstance(shown, bool) == isinstance(expected, bool), f"{where}: {shown!r}"
        assert (mine.max_row, mine.max_column) == (other.max_row, other.max_column)
        assert rows_xml(ours, f"xl/worksheets/sheet{n}.xml") == rows_xml(theirs, f"xl/worksheets/sheet{n}.xml")
        assert_spaces_kept(ours, f"xl/worksheets/sheet{n}.xml")   # openpyxl's reader keeps them either way; Excel not


def assert_spaces_kept(path, sheet_file):
    with zipfile.ZipFile(path) as z:
        root = ElementTree.fromstring(z.read(sheet_file))
    texts = [t for t in root.iter(f"{MAIN}t") if t.text and t.text != t.text.strip()]
    assert texts and all(t.get("{http://www.w3.org/XML/1998/namespace}space") == "preserve" for t in texts)
