"""Formula text: pure builders, and a snapshot of every formula of a tiny network."""

import os
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from xlcnn import formulas
from xlcnn.cells import Block
from xlcnn.workbook import build_workbook

SNAPSHOT = Path(__file__).parent / "snapshots" / "tiny_formulas.txt"
STEP_SNAPSHOT = Path(__file__).parent / "snapshots" / "tiny_steps1_formulas.txt"


def formula_lines(path):
    wb = openpyxl.load_workbook(path)
    return [f"{ws.title}!{cell.coordinate} {cell.value}"
            for ws in wb.worksheets for row in ws.iter_rows() for cell in row
            if isinstance(cell.value, str) and cell.value.startswith("=")]


@pytest.fixture
def tiny_book(tmp_path, tiny_model):
    image = (np.arange(48).reshape(4, 4, 3) * 5).astype(np.uint8)
    return build_workbook(tiny_model, image, tmp_path / "tiny.xlsx", label="dog")


def test_builders_mirror_the_engine():
    windows = [Block("1 Input", 10, 1, 3, 3), Block("1 Input", 18, 1, 3, 3)]
    slices = [Block("2 Filters", 10, 1, 3, 3), Block("2 Filters", 10, 5, 3, 3)]
    bias = Block("2 Filters", 10, 9, 1, 1)
    assert formulas.conv_forward(windows, slices, bias) == (
        "=SUMPRODUCT('1 Input'!B11:D13,'2 Filters'!$B$11:$D$13)"
        "+SUMPRODUCT('1 Input'!B19:D21,'2 Filters'!$F$11:$H$13)+'2 Filters'!$J$11")
    assert formulas.conv_forward(windows[:1], slices[:1], bias, "input_scale").startswith(
        "=(SUMPRODUCT('1 Input'!B11:D13,'2 Filters'!$B$11:$D$13))*input_scale+")
    assert formulas.relu_forward(Block("3 Conv", 10, 1, 1, 1)) == "=MAX(0,'3 Conv'!B11)"
    assert formulas.maxpool_forward(Block("4 ReLU", 10, 1, 2, 2)) == "=MAX('4 ReLU'!B11:C12)"
    assert formulas.log_probability(Block("S", 9, 2, 1, 1), Block("S", 13, 3, 1, 1)) == "='S'!C10-LN('S'!$D$14)"


def test_tiny_network_formulas_match_the_snapshot(tiny_book):
    lines = formula_lines(tiny_book.path)
    if os.environ.get("XLCNN_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert lines == SNAPSHOT.read_text(encoding="utf-8").splitlines()
    assert len(lines) == tiny_book.formulas


def test_tiny_network_with_one_descent_step_matches_its_snapshot(tmp_path, tiny_model):
    """steps=1: the gradient sheets, the descent sheet and the forward pass after the step."""
    image = (np.arange(48).reshape(4, 4, 3) * 5).astype(np.uint8)
    book = build_workbook(tiny_model, image, tmp_path / "tiny-step.xlsx", label="dog", steps=1)
    lines = formula_lines(book.path)
    if os.environ.get("XLCNN_UPDATE_SNAPSHOTS"):
        STEP_SNAPSHOT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert lines == STEP_SNAPSHOT.read_text(encoding="utf-8").splitlines()
    assert len(lines) == book.formulas
    sheets = {line.split("!")[0] for line in lines}
    assert {"Grad 3 Conv", "Grad 4 ReLU", "Grad 5 Pool", "Grad 6 Flatten", "Grad 7 Dense", "Descent"} <= sheets


def test_same_inputs_give_the_same_formulas(tmp_path, tiny_model):
    image = (np.arange(48).reshape(4, 4, 3) * 5).astype(np.uint8)
    a = build_workbook(tiny_model, image, tmp_path / "a.xlsx")
    b = build_workbook(tiny_model, image, tmp_path / "b.xlsx")
    assert formula_lines(a.path) == formula_lines(b.path)


def test_no_array_or_modern_functions(tiny_book):
    allowed = {"SUMPRODUCT", "MAX", "SUM", "EXP", "LN", "IF", "INDEX", "MATCH", "INT", "AVERAGE", "TANH", "FIXED", "ABS",
               "HYPERLINK"}
    import re
    for line in formula_lines(tiny_book.path):
        used = set(re.findall(r"([A-Z][A-Z0-9.]*)\(", line.split(" ", 1)[1]))
        assert used <= allowed, line
        assert "SUM(EXP(" not in line
