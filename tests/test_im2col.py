"""--im2col: the first convolution again, as filters-as-rows times windows-as-columns.

The product must equal the convolution sheet after a LibreOffice recalculation for any
stride, padding, dilation and turned kernel; a tampered product must fail verify.
"""

import re

import openpyxl
import pytest
from click.testing import CliRunner

from xlcnn import make_workbook, verify_workbooks
from xlcnn.cli import main
from xlcnn.errors import LimitError
from xlcnn.layout import plan_within_limits
from xlcnn.architecture import parse_architecture

ARCHES = {"plain": "conv3x3x2,relu,maxpool2,dense", "strided": "conv3x3x3-s2-p1-d2-flip,relu,dense",
          "second": "maxpool2,conv2x2x2-p1,relu,dense"}


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    folder = tmp_path_factory.mktemp("im2col")
    return {name: make_workbook(output=folder / f"{name}.xlsx", arch=arch, size=10, im2col=True).path
            for name, arch in ARCHES.items()}


def test_the_product_equals_the_convolution(books, libreoffice, tmp_path):
    wb = openpyxl.load_workbook(books["strided"])
    ws = wb["4 im2col"]
    assert ws["B11"].value == "='2 Filters'!B11"                  # filter 1, channel 1, tap (1,1)
    assert ws["A11"].value == "filter 1" and ws["B10"].value == "c1 (1,1)"
    formulas = [cell.value for row in ws.iter_rows() for cell in row
                if isinstance(cell.value, str) and cell.value.startswith("=MMULT(")]
    # 10 px, span 5, padding 1, stride 2: 4 x 4 positions; the bias beside the filter rows
    product = re.compile(r"=MMULT\(\$B\$(\d+):\$AB\$\1,[A-Z]+17:[A-Z]+43\)\*input_scale\+\$AD\$\1")
    assert len(formulas) == 3 * 4 * 4 and all(product.fullmatch(f) for f in formulas), formulas[:2]
    bad = tmp_path / "bad.xlsx"
    first = next(cell for row in ws.iter_rows() for cell in row if cell.value == formulas[0])
    first.value = formulas[1]                  # cell (1,1) reads the window of (1,2)
    wb.save(bad)
    reports = verify_workbooks([*books.values(), bad])
    for report in reports[:-1]:
        assert report.ok, report.table()
        assert [c.stage for c in report.checks if "im2col" in c.stage][-1].endswith("im2col")
    assert not reports[-1].ok and any("im2col" in c.stage and not c.ok for c in reports[-1].checks)


def test_windows_hold_every_tap_of_every_position(books):
    ws = openpyxl.load_workbook(books["second"], read_only=True)["5 im2col"]    # the second layer's conv reads a pooled map
    rows = list(ws.iter_rows(values_only=True))      # one pass: read-only parses only this sheet
    taps = [row[0] for row in rows]
    labels = [tap for tap in taps if isinstance(tap, str) and re.fullmatch(r"c\d \(\d,\d\)", tap)]
    assert len(labels) == 3 * 2 * 2 and labels[-1] == "c3 (2,2)"     # the windows' rows: 3 channels x 2 x 2 taps
    assert any(isinstance(v, str) and v.startswith("='2 Pool'!") for row in rows for v in row)


def test_im2col_is_refused_where_it_cannot_be(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = CliRunner().invoke(main, ["build", "--arch", "maxpool2,dense", "--im2col", "-o", "x.xlsx"])
    assert run.exit_code == 2 and "no convolution" in run.output and not (tmp_path / "x.xlsx").exists()
    layers = parse_architecture("conv3x3x4,relu,maxpool2,dense", 3)
    with pytest.raises(LimitError, match="columns.*largest --size that fits this network is 129"):
        plan_within_limits(layers, (3, 140, 140), ("a", "b", "c"), max_formulas=None, im2col=True)
