"""Coordinates: boundary tables and a round trip, as in XlsxWriter's utility tests."""

import pytest

from xlcnn.cells import Block, a1, col_index, col_name, quote_sheet, sheet_ref


@pytest.mark.parametrize("col, name", [
    (0, "A"), (1, "B"), (25, "Z"), (26, "AA"), (27, "AB"), (51, "AZ"), (52, "BA"),
    (701, "ZZ"), (702, "AAA"), (16383, "XFD"),
])
def test_column_names(col, name):
    assert col_name(col) == name
    assert col_index(name) == col


@pytest.mark.parametrize("row, col, absolute, text", [
    (0, 0, False, "A1"), (0, 0, True, "$A$1"), (9, 27, False, "AB10"),
    (1_048_575, 16_383, False, "XFD1048576"),
])
def test_a1(row, col, absolute, text):
    assert a1(row, col, absolute) == text


def test_every_column_round_trips():
    assert all(col_index(col_name(c)) == c for c in range(16_384))


@pytest.mark.parametrize("bad", [-1, 16_384])
def test_column_out_of_range_quotes_the_input(bad):
    with pytest.raises(ValueError, match=str(bad)):
        col_name(bad)


@pytest.mark.parametrize("bad", ["", "A1", "XFE", "ÄB"])
def test_bad_column_names(bad):
    with pytest.raises(ValueError):
        col_index(bad)


def test_row_out_of_range():
    with pytest.raises(ValueError, match="1048576"):
        a1(1_048_576, 0)


@pytest.mark.parametrize("name, quoted", [("R", "'R'"), ("3 Conv", "'3 Conv'"), ("it's", "'it''s'")])
def test_sheet_names_always_quoted(name, quoted):
    assert quote_sheet(name) == quoted
    assert sheet_ref(name, 0, 0) == f"{quoted}!A1"


def test_block_references():
    block = Block("1 Input", 9, 1, 3, 4)
    assert block.cell(0, 0) == (9, 1)
    assert block.a1(2, 3) == "E12"
    assert block.range() == "B10:E12"
    assert block.range_ref(absolute=True) == "'1 Input'!$B$10:$E$12"
    assert block.sub(1, 1, 2, 2).range() == "C11:D12"
    assert block.ref(1, 2) == "'1 Input'!D11"
    assert Block("s", 0, 0, 1, 1).range() == "A1"
    assert [b.range() for b in (Block("s", 0, 0, 1, 3).item(2), Block("s", 0, 0, 3, 1).item(2))] == ["C1", "A3"]


def test_block_bounds_are_checked():
    block = Block("s", 0, 0, 2, 2)
    with pytest.raises(IndexError):
        block.cell(2, 0)
    with pytest.raises(IndexError):
        block.sub(1, 1, 2, 2)


def test_block_bounds_are_one_based_for_openpyxl():
    assert Block("S", 0, 0, 2, 3).bounds() == {"min_col": 1, "min_row": 1, "max_col": 3, "max_row": 2}
