"""Classroom features: languages, overview, explain-this-cell, receptive field, handouts, exercises, manifest."""

import re
import shutil
import subprocess

import openpyxl
import pytest

from books import shared_book, shared_copy
from named import recalculated_value
from some_sheets import load_sheets
from xlcnn import make_workbook, verify_workbooks
from xlcnn.cells import a1
from xlcnn.handout import make_handout
from xlcnn.layout import plan_layout
from xlcnn.resources import sample_photos, texts
from xlcnn.xlsxread import read_workbook

ALLOWED_ASCII = {"ReLU", "Softmax", "SUMPRODUCT", "MAX", "EXP", "LN", "TANH", "AVERAGE", "INT", "SUM", "IF",
                 "INDEX", "MATCH", "FIXED", "xlcnn", "SHA", "floor", "max", "sigmoid", "tanh", "Sobel",
                 "Laplacian", "Adam", "model", "train", "r_prev", "TRUE", "npz", "default_model"}


def visible_words(path, skip_values_of=()):
    """ASCII words of 3+ letters in every visible text cell and string literal, with where they are.

    The cells come from xlcnn's one-pass reader (as openpyxl reads them, test_xlsxread, in under half its time): a
    shared formula's every cell reads as its first, with the same string literals. openpyxl read-only gives the
    sheets' states without reading a sheet.
    """
    wb = openpyxl.load_workbook(path, read_only=True)
    visible = {ws.title for ws in wb.worksheets if ws.sheet_state == "visible"} - set(skip_values_of)
    wb.close()
    words = {}
    for title, rows in read_workbook(path).formulas.items():
        if title not in visible:
            continue
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, str):
                    text = " ".join(re.findall(r'"([^"]*)"', value)) if value.startswith("=") else value
                    for word in re.findall(r"[A-Za-z_]{3,}", text):
                        words.setdefault(word, f"{title}!{a1(r, c)}")
    return words


def test_chinese_workbook_has_no_english_left(tmp_path):
    photo = sample_photos()[0]
    book = make_workbook(photo, tmp_path / "zh.xlsx", lang="zh").path
    zh = texts("zh")
    manifest = zh["step_titles"]["manifest"]       # file names, hashes and the command stay as they are
    words = visible_words(book, skip_values_of=(manifest,))
    leftovers = {w: where for w, where in words.items() if w not in ALLOWED_ASCII and w not in photo.name}
    assert not leftovers, leftovers
    wb = openpyxl.load_workbook(book, read_only=True)     # reads only the sheet asked for
    assert wb.sheetnames[0] == zh["step_titles"]["overview"]
    assert wb[wb.sheetnames[9]]["B10"].value == "圆形"        # the loss sheet's true label, in Chinese
    wb.close()


def test_every_language_has_every_text():
    english = texts("en")

    def keys(d, prefix=""):
        return {prefix + k for k in d} | {x for k, v in d.items() if isinstance(v, dict) for x in keys(v, prefix + k + ".")}
    import json
    from xlcnn.resources import resource_dir
    for path in (resource_dir("templates") / "texts").glob("*.json"):
        own = json.loads(path.read_text(encoding="utf-8"))
        assert keys(english) - keys(own) <= {"class_names"} | {k for k in keys(english) if k.startswith("class_names.")}, path.name


@pytest.fixture(scope="module")
def default_book(tmp_path_factory):
    """The default workbook of the first sample (read-only): the tests below only look at it."""
    return shared_book(tmp_path_factory)


def test_overview_has_the_photo_and_a_live_chart(default_book):
    ws, = load_sheets(default_book, lambda _, title: title == "Overview")     # read as load_workbook reads it
    assert len(ws._images) == 1 + 3 and len(ws._charts) == 1     # the photo, and a picture of each class
    assert any(isinstance(c.value, str) and c.value == "='8 Softmax'!B17" for row in ws.iter_rows() for c in row)


def test_every_sheet_prints_fitted_with_header_and_footer(default_book):
    # every sheet's print settings and none of its cells: data_only spares rewriting each shared formula per cell
    for ws in openpyxl.load_workbook(default_book, data_only=True).worksheets:
        if ws.sheet_state != "visible":
            continue
        assert ws.print_area and ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.oddFooter.center.text and "&P" in ws.oddFooter.center.text
        assert ws.print_title_rows


def test_manifest_rebuilds_the_workbook(tmp_path):
    photo = sample_photos()[2]
    book = make_workbook(photo, tmp_path / "m.xlsx", preset="two-blocks", seed=4).path
    wb = openpyxl.load_workbook(book, read_only=True)     # reads only the sheet asked for
    entries = {row[0]: row[1] for row in wb["Manifest"].iter_rows(min_row=3, max_row=19, max_col=2, values_only=True)
               if row[0]}
    wb.close()
    assert entries["photo SHA-256"] and len(entries["photo SHA-256"]) == 64
    assert entries["command to rebuild"] == f"xlcnn build {photo.name} -o m.xlsx --seed 4 --preset two-blocks --lang en"


@pytest.fixture(scope="module")
def student_books(tmp_path_factory, libreoffice):
    """The worked-example and exercise workbooks as a student leaves them, verified together in one
    LibreOffice start: {name: (path, layout, report, {sheet: grid of the values LibreOffice recalculated})}."""
    folder = tmp_path_factory.mktemp("classroom")
    books = {"explain": _moved_explanation(folder), "exercise": _answered_exercise(folder)}
    reports = verify_workbooks([path for path, _ in books.values()], keep_values=True)
    return {name: (path, layout, report, report.values) for (name, (path, layout)), report in zip(books.items(), reports)}


EXPLAINED = 3, 11, 17       # the channel, row and column chosen for the worked example


def _moved_explanation(folder):
    result = make_workbook(sample_photos()[3], folder / "explain.xlsx")
    wb = openpyxl.load_workbook(result.path)
    layout = plan_layout(*_layout_args(wb))
    explain = layout.sheet("conv2d").explain
    ws = wb["3 Conv"]
    for n, value in enumerate(EXPLAINED):
        row, col = explain.choose.cell(n, 0)
        ws.cell(row + 1, col + 1).value = value
    wb.save(result.path)
    return result.path, layout


def test_moving_the_explained_cell_moves_the_worked_example(student_books):
    path, layout, report, recalculated = student_books["explain"]
    _, i, j = EXPLAINED
    explain = layout.sheet("conv2d").explain
    assert report.ok, report.table()
    assert any(c.stage == "3 Conv (explained)" and c.ok for c in report.checks)
    values = recalculated["3 Conv"]
    # the input sheet's constants, zero-based, in one read-only pass (which parses no other sheet)
    pixels = list(openpyxl.load_workbook(path, read_only=True)["1 Input"].iter_rows(values_only=True))
    window = explain.windows[1]              # the green channel's window follows the chosen position
    for u, v, row, col in window.cells():
        source = layout.input.interior(1).cell(i - 1 + u, j - 1 + v)
        assert recalculated_value(values, row, col) == pixels[source[0]][source[1]]
    result_cell, own_cell = explain.result.cell(0, 0), explain.cell.cell(0, 0)
    assert recalculated_value(values, *result_cell) == pytest.approx(recalculated_value(values, *own_cell), abs=1e-12)
    assert recalculated_value(values, explain.same.row, explain.same.col) == "yes"


def _layout_args(wb):
    import json
    meta = {row[0].value: json.loads(row[1].value) for row in wb["xlcnn"].iter_rows()}
    from xlcnn.network import layer_from_dict
    return ([layer_from_dict(d) for d in meta["architecture"]], tuple(meta["input_shape"]), meta["class_names"])


def _answered_exercise(folder):
    result = make_workbook(sample_photos()[0], folder / "ex.xlsx", exercise=True)
    wb = openpyxl.load_workbook(result.path)
    layout = plan_layout(*_layout_args(wb))
    plan = layout.sheet("conv2d")
    table = plan.explain.exercise
    ws = wb[plan.name]
    assert ws.protection.sheet
    hidden = [c for row in ws.iter_rows() for c in row if c.number_format == '"?";"?";"?"']
    assert len(hidden) == 2 and all(c.value.startswith("=") and c.protection.hidden for c in hidden)
    # the first answer right, the second wrong
    model_pass = forward_from(result.path)
    # per exercise: its name on one row, the answer and its check on the next
    ws.cell(table.row + 2, table.col + 1).value = float(model_pass[0])
    ws.cell(table.row + 4, table.col + 1).value = float(model_pass[1]) + 1
    wb.save(result.path)
    return result.path, layout


def test_exercise_checks_answers_and_still_verifies(student_books):
    _, layout, report, recalculated = student_books["exercise"]
    plan = layout.sheet("conv2d")
    table = plan.explain.exercise
    assert report.ok, report.table()
    values = recalculated[plan.name]
    assert recalculated_value(values, table.row + 1, table.col + 1) == "right"
    assert recalculated_value(values, table.row + 3, table.col + 1) == "try again"


def forward_from(path):
    """The hidden cells' true values as the book stores them (NumPy's, which tests/test_cached_values.py proves
    equal to LibreOffice's to 1e-9, far inside the answer tolerance): no LibreOffice start of their own."""
    ws = openpyxl.load_workbook(path, read_only=True)["3 Conv"]     # read-only: parses only this sheet
    values = openpyxl.load_workbook(path, read_only=True, data_only=True)["3 Conv"]
    return [stored.value for row, stored_row in zip(ws.iter_rows(), values.iter_rows())    # the same cells, row by row
            for c, stored in zip(row, stored_row) if c.number_format == '"?";"?";"?"']


@pytest.mark.usefixtures("libreoffice")
@pytest.mark.parametrize("lang, footer", [("en", "Page 1 of"), ("zh", "第 1 页")])
def test_handout_pdf(tmp_path, tmp_path_factory, lang, footer):
    book = shared_copy(tmp_path_factory, tmp_path / f"{lang}.xlsx", lang=lang)     # the first sample's book
    pdf = make_handout(book)
    assert pdf == book.with_suffix(".pdf") and pdf.stat().st_size > 10_000
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
        assert footer in text
        assert text.count("\f") >= 10          # one form feed per page
