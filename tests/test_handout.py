"""Handouts a teacher would copy: pages, type size, ``###`` and cut labels, measured in the PDF.

The PDFs are printed by LibreOffice and read back with poppler's pdftotext
(xlcnn/pdfmeasure.py), so every number here is what the paper shows.
"""

import re
from functools import cache

import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.styles import Font
from openpyxl.utils.cell import range_boundaries

from books import Books, shared_books
from xlcnn.architecture import parse_architecture
from xlcnn.classroom import FIRST_ROWS, WORKED_ROWS, default_paper, plan_page
from xlcnn.cli import main
from xlcnn.handout import Handout, _names_sheet, _one_page, make_handouts
from xlcnn.layout import plan_layout
from xlcnn.libreoffice import to_pdf
from xlcnn.pdfmeasure import measure_pdf, smallest_type
from xlcnn.presets import preset_names
from xlcnn.resources import texts as load_texts
from xlcnn.workbook.printing import shown

MAX_PAGES = 12
MIN_TYPE = 7.0


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    return Books.shared(tmp_path_factory, {"en": {}, "zh": {"lang": "zh"}, "backprop": {"steps": 1}})   # built on first use


# name: (book, options) of every A4 handout the tests read
HANDOUTS = {**{name: (name, {}) for name in ("en", "zh", "backprop")},
            **{f"full-{name}": (name, {"full": True}) for name in ("en", "zh", "backprop")}}


@pytest.fixture(scope="module")
def overviews(tmp_path_factory):
    """{preset: (its book, the book's first sheet read-only)}: every preset as the book matrix builds it."""
    books = shared_books(tmp_path_factory, {name: {"preset": name, "size": 16} for name in preset_names()})
    return {name: (book, openpyxl.load_workbook(book, read_only=True).worksheets[0])     # parses only that sheet
            for name, book in books.items()}


@pytest.fixture(scope="module")
def handouts(books, overviews, tmp_path_factory, libreoffice, poppler):
    """{name: PDF} of HANDOUTS and of each preset's overview alone (named by the preset), printed by one
    LibreOffice start (each test below reads its own book's)."""
    folder = tmp_path_factory.mktemp("handouts")
    wanted = [Handout(books[book], folder / f"{name}.pdf", paper="a4", **options)
              for name, (book, options) in HANDOUTS.items()]
    wanted += [Handout(book, folder / f"overview-{name}.pdf", sheets=(overview.title,), paper="a4")
               for name, (book, overview) in overviews.items()]
    return dict(zip([*HANDOUTS, *overviews], make_handouts(wanted)))


@cache
def _workbook(path, data_only=False):
    """``path`` read by openpyxl, once per module: the tests only read it (several read the same book)."""
    return openpyxl.load_workbook(path, data_only=data_only)


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
def test_default_handout_fits_a_lesson(books, handouts, lang):
    """At most 12 pages, no type under 7 pt, no ###, each step on its own page, in the planned order."""
    pages = measure_pdf(handouts[lang])
    assert len(pages) <= MAX_PAGES
    assert smallest_type(pages) >= MIN_TYPE
    assert not any("###" in page.text for page in pages)
    heads = list(dict.fromkeys(page.words[0][0] for page in pages))   # the header names the sheet
    book = openpyxl.load_workbook(books[lang], read_only=True)
    tabs = [ws.title.split()[0] for ws in book.worksheets if ws.sheet_state == "visible"]
    assert heads == tabs[:-1]            # every step in order, one after the other; the manifest stays in the workbook
    overview = [page for page in pages if page.words[0][0] == tabs[0]]
    assert len(overview) == 1            # the story on one page: network, photo, prediction, every feature map
    titles = [ws.title for ws in book.worksheets][3:6]
    assert all(title in overview[0].text for title in titles), titles   # the pictures of conv, activation, pool
    printed = " ".join(page.text for page in pages)
    explanations = [" ".join(ws.cell(row, 1).value.split()) for ws in _workbook(books[lang]).worksheets[:-2]
                    for row in range(1, 10) if isinstance(ws.cell(row, 1).value, str)]
    cut = [line for line in explanations if line not in printed and line.replace(" ", "") not in printed.replace(" ", "")]
    assert not cut, cut                  # each step's explanation, whole (long lines wrap, never run off the page)
    legends = {words for words in load_texts(lang)["legend"].values() for ws in _workbook(books[lang]).worksheets
               for row in ws.iter_rows(max_row=12) for cell in row if cell.value == words}
    assert legends and all(words in printed or words.replace(" ", "") in printed.replace(" ", "") for words in legends)
    assert all(page.size[0] < 842.5 and page.size[1] < 842.5 for page in pages)   # A4 either way round


def test_every_presets_overview_prints_on_one_page(overviews, handouts):
    """The story on one page for every preset, branched and long ones too: type >= 7 pt, no ###, and each
    layer with maps shows its pictures under its sheet's name (a compact overview: its first maps)."""
    assert len(overviews) == len(preset_names())
    for name, (_, overview) in overviews.items():
        pages = measure_pdf(handouts[name])
        assert len(pages) == 1, (name, len(pages))
        assert smallest_type(pages) >= MIN_TYPE, name
        assert "###" not in pages[0].text, name
        pictured = {m.group(1) for row in overview.iter_rows() for cell in row    # a picture's cell shows colour only
                    if cell.number_format == ";;;" for m in [re.search(r"'([^']+)'!", str(cell.value))] if m}
        printed = pages[0].text.replace(" ", "")
        assert pictured and all(sheet.replace(" ", "") in printed for sheet in pictured), (name, pictured)


def test_long_vectors_say_what_they_leave_out(handouts):
    flatten = [page for page in measure_pdf(handouts["en"]) if page.text.startswith("6 Flatten")]
    assert len(flatten) == 1
    assert re.search(r"rows \d+-\d+ (not )?printed", flatten[0].text)
    assert re.search(r"\.\.\. \d+ rows left out here \(rows \d+-\d+, all shown in the workbook\)", flatten[0].text)


def _vector_plans():
    layers = parse_architecture("conv3x3x4,relu,maxpool2,flatten,dense", 3)
    layout = plan_layout(layers, (3, 28, 28), ("a", "b", "c"))
    return layout.sheet("flatten"), layout.sheet("dense")


def test_a_long_vector_keeps_its_first_rows_and_the_worked_rows():
    """The first rows, then the worked rows most important first while they fit; the rest in marked runs."""
    flatten, _ = _vector_plans()
    top, last = flatten.output.row, flatten.output.last_row
    heights = {r: 15.0 for r in range(last + 1)}
    worked = [top + 500, top + 100, top + 101, top + 3, top + 600]       # most important first
    page = plan_page(flatten, {}, heights, last, 5, "a4", 10.0, worked)
    assert page.worked_rows == (top + 100, top + 101, top + 500, top + 600)   # top + 3 prints among the first rows
    kept_until = page.hidden_rows[0][0]
    assert kept_until >= top + FIRST_ROWS
    assert page.hidden_rows == ((kept_until, top + 99), (top + 102, top + 499), (top + 501, top + 599), (top + 601, last))
    many = plan_page(flatten, {}, heights, last, 5, "a4", 10.0, list(range(last, top + 200, -3)))
    assert len(many.worked_rows) == WORKED_ROWS                         # a dozen, not a page of them
    assert plan_page(flatten, {}, heights, last, 5, "a4", 10.0).hidden_rows == ((kept_until + len(page.worked_rows), last),)


def test_a_dense_sheet_keeps_its_worked_example_lines():
    _, dense = _vector_plans()
    weight = dense.weight
    heights = {r: 15.0 for r in range(weight.last_row + 1)}
    page = plan_page(dense, {}, heights, weight.last_row, 12, "a4", 10.0, [weight.last_row])
    assert page.hidden_rows[0][0] > dense.explain.exercise.last_row
    assert page.worked_rows == (weight.last_row,) and page.hidden_rows[-1][1] == weight.last_row - 1


def test_a_vector_of_zeros_says_why():
    """A vector whose worked example has no term that is not 0 prints that it is all 0, and why."""
    flatten, _ = _vector_plans()
    last = flatten.output.last_row
    rows = "".join(f'<row r="{r + 1}"><c r="A{r + 1}"><v>0</v></c></row>' for r in range(last + 1))
    xml = (f'<worksheet><sheetFormatPr defaultRowHeight="15"/><sheetData>{rows}</sheetData><pageSetup/>'
           '<headerFooter><oddFooter>&amp;P</oddFooter></headerFooter></worksheet>')
    notes = load_texts("en")["print"]
    said, _ = _one_page(xml, flatten, (last, 5), "a4", 10.0, notes, worked=[])
    footer = re.search(r"<oddFooter>(.*?)</oddFooter>", said).group(1)
    assert "all 0 for this photo" in footer
    said, _ = _one_page(xml, flatten, (last, 5), "a4", 10.0, notes, worked=None)
    assert "all 0" not in said


def _largest_term(book):
    """The dense worked example's largest term: (its index in the vector, its row label, its value), read
    from the workbook's stored values; the products are the column under the heading "input x weight"."""
    ws = _workbook(book, data_only=True)["7 Dense"]
    heading = next(cell for row in ws.iter_rows() for cell in row if cell.value == load_texts("en")["explain"]["dense_products"])
    terms = [(row, ws.cell(row, heading.column).value) for row in range(heading.row + 1, ws.max_row + 1)]
    row, value = max((term for term in terms if isinstance(term[1], float)), key=lambda term: abs(term[1]))
    return row - heading.row - 1, ws.cell(row, 1).value, value


def _value_at(book, sheet, heading_text, index, column_offset=0):
    """The stored value and number format ``index`` rows below the cell holding ``heading_text`` on ``sheet``."""
    ws = _workbook(book, data_only=True)[sheet]
    heading = next(cell for row in ws.iter_rows() for cell in row if cell.value == heading_text)
    cell = ws.cell(heading.row + 1 + index, heading.column + column_offset)
    return shown(cell.value, cell.number_format if cell.number_format != "General" else None)


@pytest.mark.parametrize("name", ["en", "backprop"])
def test_long_vectors_print_the_rows_the_worked_example_uses(books, handouts, name):
    """The dense worked example's largest term prints on the Dense page, its input on the Flatten page and
    (with --backprop) its weight gradient on the gradient page, though it lies far below the first rows;
    no page prints only zeros; the handout stays within its pages and type size."""
    pages = measure_pdf(handouts[name])
    index, label, value = _largest_term(books[name])
    assert index >= 40                               # far below the rows a page holds from the top
    by_sheet = {}
    for page in pages:
        by_sheet.setdefault(page.text.split(" Step ")[0].split(" Gradients ")[0], []).append(page)
    [dense] = by_sheet["7 Dense"]
    assert label in dense.text and f"{value:.2f}" in dense.text.split()
    [flatten] = by_sheet["6 Flatten"]
    assert str(index + 1) in flatten.text.split()
    assert _value_at(books[name], "6 Flatten", "value", index) in flatten.text.split()
    if name == "backprop":
        [gradient] = by_sheet["Grad 7 Dense"]
        heading = load_texts("en")["gradients"]["dense_weight"]     # the weight gradients start one column right of it
        assert _value_at(books[name], "Grad 7 Dense", heading, index, column_offset=1) in gradient.text.split()
    for page in pages:                               # a page of numbers has one that is not 0, or says why
        numbers = [float(word) for word in page.text.split() if re.fullmatch(r"-?\d+\.\d+(E[-+]\d+)?", word)]
        assert not numbers or any(numbers) or "all 0" in page.text, page.text[:60]
    assert len(pages) <= (MAX_PAGES if name == "en" else 27)
    assert smallest_type(pages) >= MIN_TYPE
    assert not any("###" in page.text for page in pages)


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
    """Every text cell inside the print area of the printed sheets, whitespace collapsed."""
    wb = _workbook(book)
    labels = set()
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        area = ws.print_area[0] if isinstance(ws.print_area, list) else ws.print_area
        _, _, last_col, last_row = range_boundaries(area.split("!")[-1].replace("$", ""))
        for row in ws.iter_rows(max_row=last_row, max_col=last_col):
            for cell in row:
                if isinstance(cell.value, str) and not cell.value.startswith("="):
                    labels.add(" ".join(cell.value.split()))
    return labels


@pytest.mark.parametrize("name", ["en", "zh", "backprop"])
def test_full_handout_prints_every_label_whole_and_no_hashes(books, handouts, name):
    """No ``###`` and no label cut at a cell edge or the page edge: each text cell is in the PDF whole."""
    pages = measure_pdf(handouts[f"full-{name}"])
    assert not any("###" in page.text for page in pages)
    printed = " ".join(page.text for page in pages)
    squeezed = printed.replace(" ", "")
    cut = sorted(label for label in _labels(books[name]) if label not in printed and label.replace(" ", "") not in squeezed)
    assert not cut, cut[:10]
