"""Stored values: every formula cell carries its true value, for viewers that never recalculate."""

import math
import re
import zipfile

import numpy as np
import pytest
from openpyxl import load_workbook
from openpyxl.workbook.defined_name import DefinedName

from books import Books
from xlcnn import verify_workbooks
from xlcnn.layers import maxpool_backward, predicted_class
from xlcnn.libreoffice import recalculate
from xlcnn.workbook.evaluate import Evaluator, FormulaError
from xlcnn.workbook.sheetdata import SheetCells, _formula_xml
from xlcnn.xlsxread import read_workbook

# the kinds of workbook whose every formula is checked: forward, backprop with hand-made filters
# (rounding leftovers in pooling windows), exercises in Chinese, two steps of descent, a deep preset
BOOKS = {
    "default": {},
    "sobel-backprop": {"filters": "sobel-x,sobel-y", "steps": 1},
    "exercise-zh": {"exercise": True, "lang": "zh"},
    "two-steps": {"preset": "two-blocks", "steps": 2, "size": 12},
    "lenet": {"preset": "lenet-like", "size": 16},
}


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    return Books.shared(tmp_path_factory, BOOKS)


def grids(path, data_only):
    """{sheet: rows of values} as openpyxl reads them: formulas (each cell its own), or the stored values
    (``data_only``)."""
    wb = load_workbook(path, read_only=True, data_only=data_only)
    try:
        return {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    finally:
        wb.close()


def stored_grids(path):
    """{sheet: rows of stored values}, read by xlcnn's one-pass reader (tests/test_xlsxread.py: as openpyxl's
    ``data_only`` reads them, for xlcnn's, LibreOffice's and Gnumeric's files), at a fraction of the cost."""
    return read_workbook(path).values


def formula_cells(formulas):
    for sheet, rows in formulas.items():
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, str) and value.startswith("="):
                    yield sheet, r, c, value


def at(grid, r, c):
    return grid[r][c] if r < len(grid) and c < len(grid[r]) else None


def same(stored, fresh, scale):
    """Numbers within 1e-9 of the stage's scale (LibreOffice keeps 15 digits); text and booleans exactly."""
    stored, fresh = ("" if stored is None else stored), ("" if fresh is None else fresh)   # "" reads back as None
    if isinstance(stored, bool) or isinstance(fresh, bool):
        return stored == fresh
    if isinstance(stored, (int, float)) and isinstance(fresh, (int, float)):
        return abs(stored - fresh) <= 1e-9 * max(abs(fresh), scale, 1e-300)
    return stored == fresh


def sheet_scales(values):
    """The largest magnitude on each sheet: rounding leftovers near 0 are judged against it."""
    return {sheet: max([abs(v) for row in rows for v in row
                        if isinstance(v, (int, float)) and not isinstance(v, bool)] + [0.0]) * 1e-4
            for sheet, rows in values.items()}


# ---------------------------------------------------------------- in a real engine


@pytest.mark.usefixtures("libreoffice")
def test_every_stored_value_equals_libreoffices_recalculation(books, tmp_path):
    recalculated = recalculate(list(books.values()), tmp_path, 600)
    for (name, path), fresh_path in zip(books.items(), recalculated):
        formulas, stored, fresh = grids(path, False), stored_grids(path), stored_grids(fresh_path)
        scales = sheet_scales(fresh)
        cells = list(formula_cells(formulas))
        assert len(cells) > 1000, name
        wrong = [(sheet, r + 1, c + 1, formula[:50], at(stored[sheet], r, c), at(fresh[sheet], r, c))
                 for sheet, r, c, formula in cells
                 if not same(at(stored[sheet], r, c), at(fresh[sheet], r, c), scales[sheet])]
        assert not wrong, f"{name}: {len(wrong)} stored values differ, first {wrong[:3]}"
        missing = [cell for cell in cells if at(stored[cell[0]], cell[1], cell[2]) is None
                   and at(fresh[cell[0]], cell[1], cell[2]) not in (None, "")]   # "" reads back as None
        assert not missing, f"{name}: formula cells without a stored value, first {missing[:3]}"


@pytest.mark.usefixtures("libreoffice")
def test_a_wrong_stored_value_fails_verify(books, tmp_path):
    """Stored values are never a shortcut: verify recalculates and reports one that disagrees."""
    tampered = tmp_path / "tampered.xlsx"
    with zipfile.ZipFile(books["default"]) as source, zipfile.ZipFile(tampered, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/") and b">MAX(0," in data:   # the ReLU sheet
                data, n = re.subn(rb"(>MAX\(0,[^<]*</f><v>)([^<]*)(</v>)", rb"\g<1>0.123456\g<3>", data, count=1)
                assert n == 1
            target.writestr(info, data)
    report, honest = verify_workbooks([tampered, books["default"]])     # one LibreOffice start for both
    assert not report.ok
    assert any("stored value" in problem for problem in report.problems), report.table()
    assert honest.ok, honest.table()


# ---------------------------------------------------------------- without any engine


def test_a_viewer_that_never_recalculates_reads_prediction_and_loss(books):
    """python-calamine reads stored values only, as previews and Protected View show them."""
    import python_calamine
    workbook = python_calamine.CalamineWorkbook.from_path(str(books["default"]))

    def labelled(sheet, label):
        rows = workbook.get_sheet_by_name(sheet).to_python()
        return next([cell for cell in row if cell != ""][1] for row in rows if label in row)
    assert labelled("8 Softmax", "prediction") == "circle"
    loss = labelled("9 Loss", "loss")
    assert isinstance(loss, float) and math.isclose(loss, 0.0036009323168780, rel_tol=1e-9)
    assert labelled("Overview", "prediction") == "circle"


def test_the_evaluator_agrees_with_the_engine_on_every_stage_cell(books):
    """Evaluate every formula of each book from its constants alone: each must equal the stored value.

    The stage cells' stored values come from NumPy and the rest from the evaluator, so
    this proves both the placement of the engine's numbers and the evaluator.
    """
    for name, path in books.items():
        book = read_workbook(path)      # its stored values and its defined names
        formulas, stored = grids(path, False), book.values
        sheets = {}
        for sheet, rows in formulas.items():
            cells = sheets[sheet] = SheetCells()
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    if value is not None:
                        cell = cells.at(r, c)
                        cell.value = value
                        cell.kind = "f" if isinstance(value, str) and value.startswith("=") else (
                            "s" if isinstance(value, str) else "n")
        names = _defined_names(book.names)
        evaluator = Evaluator(sheets, names)
        assert evaluator.fill() > 1000
        scales = sheet_scales(stored)
        wrong = [(sheet, r + 1, c + 1, f[:50]) for sheet, r, c, f in formula_cells(formulas)
                 if not same(sheets[sheet].rows[r][c].cached, at(stored[sheet], r, c), scales[sheet])]
        assert not wrong, f"{name}: {len(wrong)} cells, first {wrong[:3]}"


def _defined_names(texts):
    """{name: Range} of a book's defined names, from ``texts`` ({name: text} as xlcnn's reader gives them, which
    tests/test_xlsxread.py proves equal to openpyxl's), each parsed by openpyxl. The reader has already read the
    book for its stored values; an openpyxl load, even read-only, would parse its styles and strings again."""
    from xlcnn.workbook.evaluate import Range, _col_index
    names = {}
    for name, text in texts.items():
        (sheet, ref), = DefinedName(name, attr_text=text).destinations
        cells = ref.replace("$", "").split(":")
        (c0, r0), (c1, r1) = [re.match(r"([A-Z]+)(\d+)", x).groups() for x in (cells[0], cells[-1])]
        names[name.lower()] = Range(sheet, int(r0) - 1, _col_index(c0), int(r1) - 1, _col_index(c1))
    return names


@pytest.mark.parametrize("formula, value", [
    ("=-2^2", 4.0), ("=2^3^2", 64.0), ("=1+2*3", 7.0), ("=2-3-4", -5.0), ("=(1+2)*3", 9.0),
    ('="a"&"b"', "ab"), ('="x"="X"', True), ("=1<>1", False), ("=IF(1>2,3,4)", 4.0), ("=IF(0,3)", False),
    ("=AND(1,2>1)", True), ("=MOD(-3,2)", 1.0), ("=INT(-1.5)", -2.0), ("=ABS(-2)", 2.0), ("=LN(EXP(2))", 2.0),
    ("=TANH(0)", 0.0), ('=FIXED(1234.5678,2,TRUE)', "1234.57"), ('=FIXED(1234.5678,1)', "1,234.6"),
    ('=FIXED(0.0625,3,TRUE)', "0.063"), ('=FIXED(-0.0001,2,TRUE)', "0.00"), ('=FIXED(-2.5,0,TRUE)', "-3"),
    ("=SUM(A1:B2)", 10.0), ("=MAX(A1:B2,-7)", 4.0), ("=AVERAGE(A1:B1)", 1.5), ("=SUMPRODUCT(A1:A2,B1:B2)", 14.0),
    ("=INDEX(A1:B2,2,1)", 3.0), ("=INDEX(A1:A2,2)", 3.0), ("=INDEX(A1:B1,2)", 2.0), ('=MATCH(3,A1:A2,0)', 2.0),
    ('=COUNTIF(A1:B2,">=2")', 3.0), ("=COUNTIF(A1:B2,4)", 1.0), ("=ROW(B2)+COLUMN(B2)", 4.0),
    ("=A1+C3", 1.0), ('=C1&"!"', "!"), ("=S!A1*2", 2.0), ("='S'!$B$2/two", 2.0),
    ('=HYPERLINK("#\'3 Conv\'!A1","3 Conv")', "3 Conv"), ('=HYPERLINK("#S!A1")', "#S!A1"),
    ('=HYPERLINK("#\'it\'\'s\'!A1","say ""hi""")', 'say "hi"'),
])
def test_the_evaluator_follows_spreadsheet_rules(formula, value):
    sheet = SheetCells()
    for (r, c), v in {(0, 0): 1, (0, 1): 2, (1, 0): 3, (1, 1): 4}.items():
        cell = sheet.at(r, c)
        cell.value, cell.kind = v, "n"
    from xlcnn.workbook.evaluate import Range
    got = Evaluator({"S": sheet}, {"two": Range("S", 0, 1, 0, 1)}).formula_value("S", 5, 5, formula)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("formula", ["=1/0", "=LN(0)", "=NOW()", "=A1:B2", "=1+", '="a"+1', "=INDEX(A1:A2,3)"])
def test_the_evaluator_refuses_what_it_cannot_compute(formula):
    sheet = SheetCells()
    for r in range(2):
        cell = sheet.at(r, 0)
        cell.value, cell.kind = r, "n"
    with pytest.raises(FormulaError):
        Evaluator({"S": sheet}, {}).formula_value("S", 5, 5, formula)


def test_a_formula_without_a_true_value_is_never_written():
    with pytest.raises(ValueError, match="no true value"):
        _formula_xml("A1", "", "=B1", None)
    with pytest.raises(ValueError):
        _formula_xml("A1", "", "=B1", math.nan)
    assert "<v>0.1</v>" in _formula_xml("A1", "", "=B1", 0.1)
    assert 't="str"' in _formula_xml("A1", "", '="a"', "a<b").replace("&lt;", "<")
    assert 't="b"' in _formula_xml("A1", "", "=1>0", True)


# ---------------------------------------------------------------- the tie rule


def test_max_pool_gradient_goes_to_the_first_near_maximum_of_the_window():
    """Equal on paper, different in the last bit: the first cell still takes the gradient."""
    x = np.array([[[[1.0, 1.0 + 2e-16], [0.0, 0.5]]]])
    dx = maxpool_backward(np.ones((1, 1, 1, 1)), x, 2, 2)
    assert dx[0, 0, 0, 0] == 1 and dx.sum() == 1
    # a window of rounding leftovers near zero, in a map whose values reach 10
    x = np.array([[[[1e-17, 3e-17, 10.0, 0.0], [2e-17, 0.0, 0.0, 0.0]]]])
    dx = maxpool_backward(np.ones((1, 1, 1, 2)), x, 2, 2)
    assert dx[0, 0, 0, 0] == 1 and dx[0, 0, 0, 2] == 1 and dx.sum() == 2
    # a real difference far above the margin still decides
    x = np.array([[[[1.0, 1.001], [0.0, 0.0]]]])
    assert maxpool_backward(np.ones((1, 1, 1, 1)), x, 2, 2)[0, 0, 0, 1] == 1


def test_the_predicted_class_is_the_first_near_maximum():
    assert predicted_class(np.array([0.25, 0.5 - 1e-17, 0.5])) == 1
    assert predicted_class(np.array([0.2, 0.3, 0.5])) == 2
