"""Gnumeric as a second engine: full-precision values, its own recalculation, and the --engine option."""

import csv
from dataclasses import replace

import openpyxl
import pytest
from click.testing import CliRunner

from books import shared_book, shared_copy
from xlcnn import verify_workbook
from xlcnn import gnumeric, libreoffice, verify as verify_module
from xlcnn.cli import main
from xlcnn.libreoffice import recalculate
from xlcnn.resources import sample_photos
from test_verify import _set_cached_value

pytestmark = pytest.mark.usefixtures("libreoffice", "gnumeric")

NUMBERS = [1.234567890123e-25, 1 / 3, 2 / 3 * 1e-7, 123456789.123456789, -9.87654321987e-18,
           1.2345678901234567e-13, 0.1, 1e-5, 6.02214076e23]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def numbers_book(path):
    """Constants of every magnitude in column A, formulas of them in B (x 3) and C (/ 7)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Zahlen"
    for row, number in enumerate(NUMBERS, start=1):
        ws.cell(row, 1, number)
        ws.cell(row, 2, f"=A{row}*3")
        ws.cell(row, 3, f"=A{row}/7")
    ws["D1"] = "=A1<A2"
    wb.save(path)
    return path


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def test_gnumeric_csv_keeps_every_digit_in_a_decimal_comma_locale(tmp_path, monkeypatch, german_locale):
    for key, value in german_locale.items():
        monkeypatch.setenv(key, value)
    book = numbers_book(tmp_path / "numbers.xlsx")
    grid = read_csv(gnumeric.recalculate_to_csv([book], tmp_path / "out", 60)[0]["Zahlen"])
    for row, number in enumerate(NUMBERS):
        # at least 16 significant digits, even for 1.234567890123e-25 (LibreOffice keeps 8 of some)
        assert float(grid[row][0]) == pytest.approx(number, rel=1e-15, abs=0)
        assert float(grid[row][1]) == pytest.approx(number * 3, rel=1e-15, abs=0)
        assert float(grid[row][2]) == pytest.approx(number / 7, rel=1e-15, abs=0)
    assert grid[0][3] == "TRUE"


def test_libreoffice_csv_rounds_small_numbers_to_20_decimals(tmp_path):
    """Why verify reads an .xlsx copy for tiny stages: LibreOffice's CSV loses their digits."""
    book = numbers_book(tmp_path / "numbers.xlsx")
    grid = read_csv(libreoffice.recalculate_to_csv([book], tmp_path / "out")[0]["Zahlen"])
    assert grid[5][0] == "0.00000000000012345679"               # 1.2345678901234567e-13: 8 digits left
    assert grid[2][0] == "0.00000006666666666667"
    assert float(grid[0][0]) == pytest.approx(NUMBERS[0], rel=1e-14)   # below 1e-14: 15 digits again


def _set_stored_value(path, sheet, cell, value):
    """Rewrite the stored value of one formula cell of tab ``sheet``, leaving its formula."""
    names = openpyxl.load_workbook(path, read_only=True).sheetnames    # sheetN.xml follows the tab order
    _set_cached_value(path, names.index(sheet) + 1, cell, value)


def test_gnumeric_recalculates_instead_of_showing_stored_values(tmp_path, tmp_path_factory):
    saved = recalculate([shared_book(tmp_path_factory)], tmp_path / "saved")[0]      # every formula cell has a stored value
    assert verify_workbook(saved, engine="gnumeric").ok             # LibreOffice's values, Gnumeric's agree
    _set_stored_value(saved, "3 Conv", "F20", "123.456")
    _set_stored_value(saved, "9 Loss", "B16", "0")
    report = verify_workbook(saved, engine="gnumeric")
    assert all(c.ok for c in report.checks), report.table()        # Gnumeric computed the right numbers...
    assert report.loss > 0
    assert not report.ok                                             # ...and the lying stored ones are reported
    assert any("stored value" in p and "'3 Conv'!F20" in p for p in report.problems), report.problems


def test_verify_engine_all_reports_each_engine(tmp_path, tmp_path_factory):
    book = shared_copy(tmp_path_factory, tmp_path / "both.xlsx", photo=sample_photos()[3])
    result = run("verify", book, "--engine", "all")
    assert result.exit_code == 0, result.output
    assert "PASS: both.xlsx in LibreOffice" in result.stdout and "PASS: both.xlsx in Gnumeric" in result.stdout
    result = run("verify", book, "--engine", "gnumeric")
    assert result.exit_code == 0 and "in Gnumeric" in result.stdout and "in LibreOffice" not in result.stdout


def test_verify_engine_all_fails_when_one_engine_disagrees(tmp_path, tmp_path_factory, monkeypatch):
    def lying_gnumeric(paths, out_dir, timeout):
        sheets = gnumeric.recalculate_to_csv(paths, out_dir, timeout)
        grid = read_csv(sheets[0]["4 ReLU"])
        grid[12][3] = str(float(grid[12][3]) + 1)
        with open(sheets[0]["4 ReLU"], "w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows(grid)
        return sheets
    monkeypatch.setitem(verify_module.ENGINES, "gnumeric", replace(gnumeric.ENGINE, to_csv=lying_gnumeric))
    book = shared_copy(tmp_path_factory, tmp_path / "one.xlsx", photo=sample_photos()[3])
    result = run("verify", book, "--engine", "all")
    assert result.exit_code == 5
    assert "PASS: one.xlsx in LibreOffice" in result.stdout and "FAIL: one.xlsx in Gnumeric" in result.stdout
    assert "'4 ReLU'!D13" in result.stdout


@pytest.mark.parametrize("engine", ["gnumeric", "all"])
def test_missing_gnumeric_is_one_line_with_the_install_hint(tmp_path_factory, monkeypatch, engine):
    monkeypatch.setattr(gnumeric, "find_ssconvert", lambda: None)
    book = shared_book(tmp_path_factory)
    result = run("verify", book, "--engine", engine)
    assert result.exit_code == 6
    assert result.stderr.strip().splitlines() == [
        "xlcnn: error: Gnumeric (ssconvert) is needed to recalculate the workbook; "
        "install it with: apt-get install gnumeric"]


def test_failing_gnumeric_gives_its_message(tmp_path, tmp_path_factory, monkeypatch):
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "ssconvert"
    script.write_text("#!/bin/sh\necho 'cannot open the workbook' >&2\nexit 3\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    book = shared_book(tmp_path_factory)
    result = run("verify", book, "--engine", "gnumeric")
    assert result.exit_code == 6 and "Gnumeric failed (exit 3): cannot open the workbook" in result.stderr
    assert "Traceback" not in result.output


def test_a_sheet_whose_a1_is_empty_is_read_at_the_right_place(tmp_path, tmp_path_factory):
    """Gnumeric's CSV starts at the first cell holding something: then verify reads an .xlsx copy."""
    path = shared_copy(tmp_path_factory, tmp_path / "blank.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["4 ReLU"]
    for row in ws.iter_rows(max_row=8):         # the title and explanation rows
        for cell in row:
            cell.value = None
    for row in ws.iter_rows(max_col=1):         # and the row labels of column A
        row[0].value = None
    wb.save(path)
    report = verify_workbook(path, engine="gnumeric")
    assert report.ok, report.table()
