"""Branched networks as workbooks: two convolutions on the photo whose maps an add sheet sums.

The add sheet must read both branches, LibreOffice must recalculate the whole book to the
engine's numbers, and a tampered add cell must fail verification.
"""

import re

import openpyxl
import pytest
from click.testing import CliRunner

from xlcnn import make_workbook, verify_workbook
from xlcnn.cli import main
from xlcnn.errors import ShapeError, UsageError

TINY = "a=conv3x3x2-p1, b=conv1x1x2(input), add(a,b), relu, flatten, dense"
SIZE = 8


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory):
    return make_workbook(output=tmp_path_factory.mktemp("branches") / "tiny.xlsx", arch=TINY, size=SIZE).path


def _sheet(book, kind_title):
    return next(ws for ws in book.worksheets if ws.title.endswith(kind_title))


def test_the_add_sheet_reads_both_branches(tiny_book):
    book = openpyxl.load_workbook(tiny_book)
    assert book.sheetnames[:8] == ["Overview", "1 Input", "2 Filters 1", "3 Conv 1", "4 Filters 2", "5 Conv 2",
                                   "6 Add", "7 ReLU"]
    add = book["6 Add"]
    sums = [cell.value for row in add.iter_rows() for cell in row
            if isinstance(cell.value, str) and cell.value.startswith("=") and "HYPERLINK" not in cell.value]
    assert len(sums) == 2 * SIZE * SIZE
    assert sums[0] == "='3 Conv 1'!B11+'5 Conv 2'!B11"
    assert all(re.fullmatch(r"='3 Conv 1'!([A-Z]+\d+)\+'5 Conv 2'!\1", text) for text in sums)
    # branch b (1x1, no padding) reads the photo's interior, inside the border branch a's padding needs
    conv_b = book["5 Conv 2"]["B11"].value
    assert "'1 Input'!C12," in conv_b and "'1 Input'!B11" not in conv_b
    # the layer after the join reads the add sheet
    assert book["7 ReLU"]["B11"].value == "=MAX(0,'6 Add'!B11)"
    assert "'3 Conv 1', '5 Conv 2'" in add["A2"].value


def test_the_cli_builds_a_branched_network(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["build", "--arch", TINY, "--size", str(SIZE), "-o", "b.xlsx", "--lang", "zh"])
    assert result.exit_code == 0, result.output
    assert "6 相加" in openpyxl.load_workbook(tmp_path / "b.xlsx", read_only=True).sheetnames


@pytest.mark.parametrize("extra, words", [
    (["--steps", "1", "--label", "circle"], "gradient sheets are written for chains of layers only"),
    (["--exercise"], "exercises are planned for chains of layers only"),
    (["--until", "relu1"], "a branched network cannot be cut short yet"),
])
def test_what_branched_workbooks_cannot_show_yet_is_refused_in_one_line(tmp_path, monkeypatch, extra, words):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["build", "--arch", TINY, "--size", str(SIZE), "-o", "b.xlsx", *extra])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xlcnn: error: ") and words in lines[0]
    assert not list(tmp_path.glob("*.xlsx"))


def test_concat_is_refused_in_one_line(tmp_path):
    with pytest.raises(ShapeError, match="draws add joins only"):
        make_workbook(output=tmp_path / "c.xlsx", arch="a=conv3x3x2-same, b=conv1x1x3(input), concat(a,b), dense",
                      size=SIZE)
    assert issubclass(ShapeError, UsageError) and not list(tmp_path.glob("*.xlsx"))


@pytest.mark.libreoffice
def test_a_branched_workbook_verifies_and_a_tampered_add_cell_fails(tiny_book, tmp_path, libreoffice):
    report = verify_workbook(tiny_book)
    assert report.ok, report.table()
    checked = {check.stage for check in report.checks}
    assert {"3 Conv 1", "5 Conv 2", "6 Add", "7 ReLU"} <= checked
    book = openpyxl.load_workbook(tiny_book)
    book["6 Add"]["C12"] = "='3 Conv 1'!C12+'3 Conv 1'!C12"    # reads branch a twice, branch b never
    tampered = tmp_path / "tampered.xlsx"
    book.save(tampered)
    report = verify_workbook(tampered)
    assert not report.ok
    failed = [check for check in report.checks if not check.ok]
    assert failed and failed[0].stage == "6 Add"
