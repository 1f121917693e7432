"""The inception-block preset: four branches stacked along the channels, two of them behind a 1x1
bottleneck whose saving the summary shows (multiply-adds with the 1x1 and without it, side by side),
and a handout a teacher can copy."""

import openpyxl
import pytest
from click.testing import CliRunner

from books import Books
from xlcnn import verify_workbooks
from xlcnn.cli import main
from xlcnn.handout import Handout, make_handouts
from xlcnn.pdfmeasure import measure_pdf, smallest_type
from xlcnn.pipeline import make_summary
from xlcnn.summary import bottlenecks

MIN_TYPE = 7.0       # the classroom handout's smallest type, as for the default lesson
SHEET_PAGES = 2      # a step of the lesson on at most two pages (a stem of 8 maps is tall)


def test_the_summary_puts_each_bottleneck_beside_its_saving():
    rows = make_summary("inception-block").rows
    fed = {row.name: row for row in bottlenecks(rows)}
    assert sorted(fed) == ["conv4", "conv6"]      # the 3x3 and the 5x5; the 1x1 branches and the pool's 1x1 are not
    three, five = fed["conv4"], fed["conv6"]
    # 8 channels squeezed to 2: the 3x3 costs 4 x 16 x 16 x (3 x 3 x 2) after its 1x1 (2 x 16 x 16 x 8), and
    # 4 x 16 x 16 x (3 x 3 x 8) reading the 8 channels itself
    assert rows[three.bottleneck[0]].multiply_adds[1] + three.multiply_adds[1] == 2 * 256 * 8 + 4 * 256 * 18
    assert three.bottleneck[1] == ("=4*16*16*72", 4 * 256 * 72)
    assert five.bottleneck[1][1] == 4 * 256 * 200 and rows[five.bottleneck[0]].name == "conv5"


def test_xlcnn_summary_prints_the_bottleneck_lines(tmp_path):
    result = CliRunner().invoke(main, ["summary", "--preset", "inception-block"])
    assert result.exit_code == 0, result.output
    assert ("Bottleneck: conv4 costs 22,528 multiply-adds with its 1x1 (conv3) and 73,728 without it, reading the "
            "1x1's input itself: 3.3 times more.") in result.output
    assert "conv6 costs 55,296 multiply-adds with its 1x1 (conv5) and 204,800 without it" in result.output
    plain = CliRunner().invoke(main, ["summary", "--preset", "two-blocks"])
    assert "Bottleneck" not in plain.output       # a network without one prints no such line


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inception")
    return Books(folder, {name: {"preset": "inception-block", **options} for name, options in {"en": {}, "zh": {"lang": "zh"}}.items()})


def test_the_summary_sheet_writes_the_comparison_as_formulas(books):
    book = openpyxl.load_workbook(books["en"], read_only=True)      # reads only the sheet asked for
    summary = book[next(name for name in book.sheetnames if name.endswith("Summary"))]
    cells = {cell.value: cell for row in summary.iter_rows() for cell in row if isinstance(cell.value, str)}
    title = next(text for text in cells if text.startswith("The 1x1 bottleneck"))
    row = cells[title].row + 2      # the title, the column headings, then two rows per bottlenecked layer
    assert summary.cell(row, 1).value.startswith("conv4: conv 3x3, 4 filters") and "(after conv3:" in summary.cell(row, 1).value
    assert [summary.cell(row, col).value for col in (2, 3)] == ["=J15+J16", "=4*16*16*72"]
    assert [summary.cell(row + 1, col).value for col in (1, 3)] == ["times more without it (without / with)",
                                                                  f"=C{row}/B{row}"]
    assert summary.cell(row + 2, 2).value == "=J17+J18"   # the 5x5 after its 1x1
    book.close()


@pytest.mark.libreoffice
def test_the_preset_verifies_in_both_languages_and_its_handout_is_readable(books, libreoffice, poppler, tmp_path):
    for report in verify_workbooks(list(books.values())):
        assert report.ok, report.table()
        assert any(check.stage.startswith("18 ") for check in report.checks)     # the stacked branches ("18 Concat")
    pdfs = make_handouts([Handout(path, tmp_path / f"{name}.pdf", paper="a4") for name, path in books.items()])
    for (name, path), pdf in zip(books.items(), pdfs):
        pages = measure_pdf(pdf)
        assert smallest_type(pages) >= MIN_TYPE
        assert not any("###" in page.text for page in pages)
        heads = [page.words[0][0] for page in pages]
        book = openpyxl.load_workbook(path, read_only=True)     # parses only the rows asked for
        tabs = [ws.title.split()[0] for ws in book.worksheets if ws.sheet_state == "visible"][1:-1]
        assert list(dict.fromkeys(heads))[1:] == tabs            # every step, in order, after the overview
        assert max(heads.count(tab) for tab in tabs) <= SHEET_PAGES
        printed = " ".join(page.text for page in pages).replace(" ", "")
        explanations = [ws.cell(row, 1).value for ws in book.worksheets[1:-2] for row in range(1, 8)
                        if isinstance(ws.cell(row, 1).value, str)]
        book.close()
        cut = [line for line in explanations if line.replace(" ", "") not in printed]
        assert not cut, (name, cut)     # the description, each step's lines, whole
        summary = " ".join(page.text for page in pages if page.words[0][0] == tabs[-1])
        assert all(number in summary for number in ("22,528", "73,728", "3.3", "55,296", "204,800", "3.7"))
