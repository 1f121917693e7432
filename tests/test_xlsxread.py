"""The one-pass reader verify uses reads what openpyxl reads, in books written by xlcnn and by engines."""

import pytest
from openpyxl import load_workbook

from xlcnn import gnumeric, make_workbook
from xlcnn.libreoffice import recalculate
from xlcnn.xlsxread import _position, read_workbook

from test_cached_values import grids as openpyxl_grids


def cells(grids):
    """{(sheet, row, col): value} of the cells that hold something."""
    return {(sheet, r, c): v for sheet, rows in grids.items() for r, row in enumerate(rows)
            for c, v in enumerate(row) if v is not None}


def assert_reads_like_openpyxl(path):
    book = read_workbook(path)
    values, expected = cells(book.values), cells(openpyxl_grids(path, True))
    assert values == expected
    formulas, expected = cells(book.formulas), cells(openpyxl_grids(path, False))
    assert formulas.keys() == expected.keys()
    for key, text in formulas.items():   # a shared formula reads as its first cell's text
        if isinstance(text, str) and text.startswith("="):
            assert isinstance(expected[key], str) and expected[key].startswith("="), key
        else:
            assert text == expected[key], key
    return book


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    folder = tmp_path_factory.mktemp("read")
    return make_workbook(output=folder / "book.xlsx", steps=1, exercise=True, lang="zh").path


def test_an_xlcnn_book_reads_as_openpyxl_reads_it(book):
    read = assert_reads_like_openpyxl(book)
    assert any(name.startswith("_xlcnn_sheet_") for name in read.names) and "loss" in read.names
    wb = load_workbook(book, read_only=True)    # test_cached_values takes the defined names from the reader
    assert read.names == {name: defined.attr_text for name, defined in wb.defined_names.items()}
    wb.close()


@pytest.mark.usefixtures("libreoffice", "gnumeric")
def test_books_saved_by_libreoffice_and_gnumeric_read_as_openpyxl_reads_them(book, tmp_path):
    """Engines write shared strings, their own shared formulas, booleans and error cells."""
    assert_reads_like_openpyxl(recalculate([book], tmp_path / "lo")[0])
    assert_reads_like_openpyxl(gnumeric.recalculate([book], tmp_path / "gn")[0])


@pytest.mark.parametrize("ref, position", [("A1", (0, 0)), ("Z9", (8, 25)), ("AA10", (9, 26)), ("XFD1048576", (1048575, 16383))])
def test_cell_positions(ref, position):
    assert _position(ref) == position
