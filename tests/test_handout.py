"""Handouts a teacher would copy: pages, type size, ``###`` and cut labels, measured in the PDF.

The PDFs are printed by LibreOffice and read back with poppler's pdftotext
(xlcnn/pdfmeasure.py), so every number here is what the paper shows.
"""

import re

import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.styles import Font

from xlcnn import make_workbook
from xlcnn.classroom import default_paper
from xlcnn.cli import main
from xlcnn.handout import _names_sheet, make_handout
from xlcnn.libreoffice import to_pdf
from xlcnn.pdfmeasure import measure_pdf, smallest_type
from xlcnn.workbook.printing import shown

MAX_PAGES = 12
MIN_TYPE = 7.0


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    folder = tmp_path_factory.mktemp("handout-books")
    return {name: make_workbook(output=folder / f"{name}.xlsx", **options).path
            for name, options in {"en": {}, "zh": {"lang": "zh"}, "backprop": {"steps": 1}}.items()}


@pytest.fixture(scope="module")
def default_handouts(books, tmp_path_factory, libreoffice, poppler):
    """{lang: the default A4 handout's PDF}, printed once for the tests that read it."""
    folder = tmp_path_factory.mktemp("handouts")
    return {lang: make_handout(books[lang], folder / f"{lang}.pdf", paper="a4") for lang in ("en", "zh")}


# ---------------------------------------------------------------- the measurement itself


@pytest.mark.usefixtures("libreoffice", "poppler")
def test_type_sizes_are_measured_as_printed(tmp_path):
    """Cells of known size at 100% measure as that size (the 1.3 box-per-point rule holds)."""
    wb = openpyxl.Workbook()
    for row, size in enumerate((6.5, 7, 10, 14), start=1):
        wb.active.cell(row, 1, f"size {size}").font = Font(size=size)
    wb.active.page_setup.scale = 100
    wb.save(tmp_path / "sizes.xlsx")
    [pdf] = to_pdf([tmp_path / "sizes.xlsx"], tmp_path)
    measured = {text: size for text, size in measure_pdf(pdf)[0].words if text != "size"}
    assert measured == pytest.approx({"6.5": 6.5, "7": 7.0, "10": 10.0, "14": 14.0}, abs=0.05)


# ---------------------------------------------------------------- the classroom handout


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_default_handout_fits_a_lesson(books, default_handouts, lang):
    """At most 12 pages, no type under 7 pt, no ###, each step on its own page, in the planned order."""
    pages = measure_pdf(default_handouts[lang])
    assert len(pages) <= MAX_PAGES
    assert smallest_type(pages) >= MIN_TYPE
    assert not any("###" in page.text for page in pages)
    heads = list(dict.fromkeys(page.words[0][0] for page in pages))   # the header names the sheet
    book = openpyxl.load_workbook(books[lang], read_only=True)
    tabs = [ws.title.split()[0] for ws in book.worksheets if ws.sheet_state == "visible"]
    assert heads == tabs[:-1]            # every step in order, one after the other; the manifest stays in the workbook
    printed = " ".join(page.text for page in pages)
    explanations = [" ".join(ws.cell(row, 1).value.split()) for ws in openpyxl.load_workbook(books[lang]).worksheets[:-2]
                    for row in range(1, 10) if isinstance(ws.cell(row, 1).value, str)]
    cut = [line for line in explanations if line not in printed and line.replace(" ", "") not in printed.replace(" ", "")]
    assert not cut, cut                  # each step's explanation, whole (long lines wrap, never run off the page)
    assert all(page.size[0] < 842.5 and page.size[1] < 842.5 for page in pages)   # A4 either way round


def test_long_vectors_say_what_they_leave_out(default_handouts):
    flatten = [page for page in measure_pdf(default_handouts["en"]) if page.text.startswith("6 Flatten")]
    assert len(flatten) == 1
    assert re.search(r"rows \d+-\d+ not printed", flatten[0].text)


@pytest.mark.usefixtures("libreoffice", "poppler")
def test_sheets_and_paper_are_chosen(books, tmp_path):
    result = CliRunner().invoke(main, ["handout", str(books["en"]), "-o", str(tmp_path / "two.pdf"),
                                       "--sheets", "3, dense", "--paper", "letter"])
    assert result.exit_code == 0, result.output
    pages = measure_pdf(tmp_path / "two.pdf")
    assert {page.words[0][0] for page in pages} == {"3", "7"}
    assert all(sorted(page.size) == pytest.approx([612, 792], abs=0.5) for page in pages)


def test_an_unknown_sheet_is_refused(books, tmp_path):
    result = CliRunner().invoke(main, ["handout", str(books["en"]), "-o", str(tmp_path / "x.pdf"), "--sheets", "9x"])
    assert result.exit_code == 2 and "--sheets '9x' names no sheet" in result.output
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.parametrize("token, name, named", [
    ("3", "3 Conv", True), ("conv", "3 Conv", True), ("3 conv", "3 Conv", True), ("Dense", "7 Dense", True),
    ("conv 1", "3 Conv 1", True), ("3", "13 Loss", False), ("s1 3", "S1 3 Conv", True), ("3", "S1 3 Conv", False),
    ("overview", "Overview", True), ("4", "3 Conv", False), ("卷积", "3 卷积", True),
])
def test_sheets_are_named_by_step_number_or_name(token, name, named):
    assert _names_sheet(token, name) is named


@pytest.mark.parametrize("environ, paper", [
    ({"LANG": "en_US.UTF-8"}, "letter"), ({"LANG": "en_GB.UTF-8"}, "a4"), ({"LANG": "zh_CN.UTF-8"}, "a4"),
    ({"LC_PAPER": "en_CA.UTF-8", "LANG": "fr_FR.UTF-8"}, "letter"), ({"LC_ALL": "de_DE.UTF-8", "LC_PAPER": "en_US"}, "a4"),
    ({}, "a4"), ({"LANG": "C"}, "a4"), ({"LANG": "C.UTF-8"}, "a4"),
])
def test_paper_follows_the_locale(environ, paper):
    assert default_paper(environ) == paper


# ---------------------------------------------------------------- readable on paper


@pytest.mark.parametrize("value, number_format, text", [
    (-0.671, "0.00", "-0.67"), (255, "0", "255"), (0.000123, "0.00E+0", "1.23E-4"), (-1.5e-12, "0.00E+0", "-1.50E-12"),
    (-2.5e-3, "0.00E+0;-0.00E+0;0", "-2.50E-3"), (-0.0, "0.00E+0;-0.00E+0;0", "0"), (0.0, "0.00E+0;-0.00E+0;0", "0"),
    (0.5, "0.0%", "50.0%"), (73008, "#,##0", "73,008"), (1.23e-5, "0.00E+00", "1.23E-05"), (0.1234, None, "0.1234"),
])
def test_numbers_are_sized_as_spreadsheets_show_them(value, number_format, text):
    assert shown(value, number_format) == text


def _labels(book):
    """Every text cell of the printed sheets, whitespace collapsed."""
    wb = openpyxl.load_workbook(book)
    labels = set()
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and not cell.value.startswith("="):
                    labels.add(" ".join(cell.value.split()))
    return labels


@pytest.mark.usefixtures("libreoffice", "poppler")
@pytest.mark.parametrize("name", ["en", "zh", "backprop"])
def test_full_handout_prints_every_label_whole_and_no_hashes(books, tmp_path, name):
    """No ``###`` and no label cut at a cell edge or the page edge: each text cell is in the PDF whole."""
    pages = measure_pdf(make_handout(books[name], tmp_path / f"{name}.pdf", full=True, paper="a4"))
    assert not any("###" in page.text for page in pages)
    printed = " ".join(page.text for page in pages)
    squeezed = printed.replace(" ", "")
    cut = sorted(label for label in _labels(books[name]) if label not in printed and label.replace(" ", "") not in squeezed)
    assert not cut, cut[:10]
