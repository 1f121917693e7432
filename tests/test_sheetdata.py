"""The cells xlcnn writes itself: well-formed rows, the right styles, nothing openpyxl-written lost."""

import zipfile
from xml.etree import ElementTree

import openpyxl
import pytest
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill, Protection

from xlcnn.workbook import sheetdata
from xlcnn.workbook.common import merge, put_formula, put_text, put_value

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


class Counter:
    formulas = 0

    def own_prefix(self, sheet):
        return f"'{sheet}'!"


def small_book(path):
    wb = Workbook()
    ws = wb.active
    ws.title = "R"        # a title that looks like a reference
    put_text(ws, 0, 0, "=not a formula & <tags> \x01", Font(bold=True))
    put_value(ws, 2, 1, 0.1 + 0.2, "0.000", PatternFill("solid", fgColor="FFF2CC"))
    put_value(ws, 2, 0, 255)
    put_formula(Counter(), ws, sheetdata_block(ws, 3, 1), "=SUM('R'!A3:B3)*(1<2)", "0.00").cached = 255 + 0.1 + 0.2
    cell = sheetdata.cells_of(ws).at(5, 27)          # an empty cell with a style only (an answer box)
    cell.fill, cell.protection = PatternFill("solid", fgColor="FF0000"), Protection(locked=False)
    merge(ws, 7, 0, 1, 3)
    ws.conditional_formatting.add("A3:B3", openpyxl.formatting.rule.CellIsRule(operator="greaterThan",
                                                                                 formula=["0"]))
    sheetdata.save(wb, path)


def sheetdata_block(ws, row, col):
    from xlcnn.cells import Block
    return Block(ws.title, row, col, 1, 1)


def test_rows_are_spliced_into_the_sheet_openpyxl_wrote(tmp_path):
    path = tmp_path / "small.xlsx"
    small_book(path)
    with zipfile.ZipFile(path) as z:
        root = ElementTree.fromstring(z.read("xl/worksheets/sheet1.xml"))   # well-formed XML
    assert root.find(f"{MAIN}dimension").get("ref") == "A1:AB6"
    rows = root.find(f"{MAIN}sheetData").findall(f"{MAIN}row")
    assert [r.get("r") for r in rows] == ["1", "3", "4", "6"]
    assert root.find(f"{MAIN}mergeCells") is not None and root.find(f"{MAIN}conditionalFormatting") is not None
    ws = openpyxl.load_workbook(path)["R"]
    assert ws["A1"].value == "=not a formula & <tags> ?" and ws["A1"].data_type == "s" and ws["A1"].font.bold
    assert ws["B3"].value == pytest.approx(0.3, abs=1e-15) and ws["B3"].number_format == "0.000"
    assert ws["B3"].fill.fgColor.rgb.endswith("FFF2CC")
    assert ws["A3"].value == 255
    assert ws["B4"].value == "=SUM(A3:B3)*(1<2)" and ws["B4"].number_format == "0.00"
    assert openpyxl.load_workbook(path, data_only=True)["R"]["B4"].value == 255 + 0.1 + 0.2   # stored exactly
    assert ws["AB6"].value is None and ws["AB6"].protection.locked is False
    assert "A8:C8" in {str(r) for r in ws.merged_cells.ranges}


def test_cells_written_through_openpyxl_are_refused(tmp_path):
    wb = Workbook()
    wb.active["A1"] = 1          # would be silently dropped by the splice
    with pytest.raises(RuntimeError, match="openpyxl"):
        sheetdata.save(wb, tmp_path / "x.xlsx")


def test_a_number_no_spreadsheet_can_hold_is_refused(tmp_path):
    wb = Workbook()
    put_value(wb.active, 0, 0, float("nan"))
    with pytest.raises(ValueError, match="A1"):
        sheetdata.save(wb, tmp_path / "nan.xlsx")


def test_a_cell_under_a_merge_is_refused(tmp_path):
    wb = Workbook()
    merge(wb.active, 0, 0, 1, 3)
    put_value(wb.active, 0, 2, 1)
    with pytest.raises(RuntimeError, match="C1"):
        sheetdata.save(wb, tmp_path / "merge.xlsx")


def test_a_big_sheet_gets_no_zip64_headers_it_does_not_need(tmp_path):
    """Excel is strict about ZIP64; a sheet of some MB must be written with plain zip headers."""
    wb = Workbook()
    for row in range(600):
        for col in range(500):
            put_value(wb.active, row, col, row * 0.001 + col)
    sheetdata.save(wb, tmp_path / "big.xlsx")
    with zipfile.ZipFile(tmp_path / "big.xlsx") as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
        assert info.file_size > 8_000_000 and info.extract_version <= 20


def _formula_block(ws, formulas):
    from xlcnn.cells import Block
    for n, text in enumerate(formulas):
        cell = put_formula(Counter(), ws, Block(ws.title, 2 + n, 3, 1, 1), text)
        cell.cached = float(n)
    return Block(ws.title, 2, 3, len(formulas), 1)


def test_a_shared_formula_is_stored_once_and_read_back_in_full(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "S"
    formulas = [f"=MAX(0,'Other sheet'!B{n + 5})*$A$1" for n in range(4)]
    sheetdata.cells_of(ws).share(_formula_block(ws, formulas))
    wb.create_sheet("Other sheet")
    sheetdata.save(wb, tmp_path / "shared.xlsx")
    with zipfile.ZipFile(tmp_path / "shared.xlsx") as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert xml.count("MAX(0,") == 1 and xml.count('t="shared"') == 4 and 'ref="D3:D6"' in xml
    read = openpyxl.load_workbook(tmp_path / "shared.xlsx")["S"]
    assert [read.cell(3 + n, 4).value for n in range(4)] == formulas


def test_formulas_that_are_not_one_formula_moved_are_never_shared():
    wb = Workbook()
    block = _formula_block(wb.active, ["=B5*2", "=B6*2", "=B8*2"])   # the last one skips a row
    with pytest.raises(RuntimeError, match="moved"):
        sheetdata.cells_of(wb.active).share(block)
