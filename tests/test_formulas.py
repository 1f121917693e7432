"""Formula text: pure builders, and a snapshot of every formula of a tiny network."""

import os
from pathlib import Path

import numpy as np
import pytest
from openpyxl.utils.cell import get_column_letter

from some_sheets import sheet_rows
from xlcnn import formulas
from xlcnn.cells import Block
from xlcnn.network import (AvgPool2D, Conv2D, Dense, Flatten, LeakyReLU, MaxPool2D, ReLU, Sigmoid, Softmax, Tanh,
                           random_model)
from xlcnn.workbook import build_workbook

SNAPSHOT = Path(__file__).parent / "snapshots" / "tiny_formulas.txt"


def formula_lines(path):
    """"sheet!A1 =formula" of every formula cell, sheet by sheet, row by row.

    Read by ``sheet_rows``: the same formula text as a full load (openpyxl rewrites every cell of a shared
    formula either way) in less time, and a cell beyond a sheet's stated size read all the same.
    """
    return [f"{title}!{get_column_letter(c + 1)}{r + 1} {value}"
            for title, (_, rows) in sheet_rows(path).items()
            for r, row in enumerate(rows) for c, value in enumerate(row)
            if isinstance(value, str) and value.startswith("=")]


@pytest.fixture
def tiny_book(tmp_path, tiny_model):
    image = (np.arange(48).reshape(4, 4, 3) * 5).astype(np.uint8)
    return build_workbook(tiny_model, image, tmp_path / "tiny.xlsx", label="dog")


def test_builders_mirror_the_engine():
    windows = [Block("1 Input", 10, 1, 3, 3), Block("1 Input", 18, 1, 3, 3)]
    slices = [Block("2 Filters", 10, 1, 3, 3), Block("2 Filters", 10, 5, 3, 3)]
    bias = Block("2 Filters", 10, 9, 1, 1)
    assert Conv2D(2, 3).forward_formula(windows, slices, bias) == (
        "=SUMPRODUCT('1 Input'!B11:D13,'2 Filters'!$B$11:$D$13)"
        "+SUMPRODUCT('1 Input'!B19:D21,'2 Filters'!$F$11:$H$13)+'2 Filters'!$J$11")
    assert Conv2D(2, 3).forward_formula(windows[:1], slices[:1], bias, "input_scale").startswith(
        "=(SUMPRODUCT('1 Input'!B11:D13,'2 Filters'!$B$11:$D$13))*input_scale+")
    assert ReLU().forward_formula(Block("3 Conv", 10, 1, 1, 1)) == "=MAX(0,'3 Conv'!B11)"
    assert MaxPool2D(2).forward_formula(Block("4 ReLU", 10, 1, 2, 2)) == "=MAX('4 ReLU'!B11:C12)"
    assert formulas.log_probability(Block("S", 9, 2, 1, 1), Block("S", 13, 3, 1, 1)) == "='S'!C10-LN('S'!$D$14)"


def test_tiny_network_formulas_match_the_snapshot(tiny_book):
    lines = formula_lines(tiny_book.path)
    if os.environ.get("XLCNN_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert lines == SNAPSHOT.read_text(encoding="utf-8").splitlines()
    assert len(lines) == tiny_book.formulas


# every backward kind: leaky ReLU, average pooling, a padded dilated turned convolution (whose
# input gradient is written), sigmoid, max pooling, tanh
KINDS_LAYERS = (Conv2D(2, 3, padding=1), LeakyReLU(0.1), AvgPool2D(2), Conv2D(2, 3, padding=2, dilation=2, flip=True),
                Sigmoid(), MaxPool2D(2), Tanh(), Flatten(), Dense(2), Softmax())


@pytest.mark.parametrize("name", ["tiny_steps1", "tiny_kinds_steps1"])
def test_tiny_networks_with_one_descent_step_match_their_snapshots(tmp_path, tiny_model, name):
    """steps=1: the gradient sheets, the descent sheet and the forward pass after the step."""
    model = tiny_model if name == "tiny_steps1" else random_model(KINDS_LAYERS, ("cat", "dog"), image_size=4, seed=2)
    image = (np.arange(48).reshape(4, 4, 3) * 5).astype(np.uint8)
    book = build_workbook(model, image, tmp_path / f"{name}.xlsx", label="dog", steps=1)
    lines = formula_lines(book.path)
    snapshot = SNAPSHOT.with_name(f"{name}_formulas.txt")
    if os.environ.get("XLCNN_UPDATE_SNAPSHOTS"):
        snapshot.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert lines == snapshot.read_text(encoding="utf-8").splitlines()
    assert len(lines) == book.formulas
    grads = {line.split("!")[0] for line in lines if line.startswith("Grad ")}
    assert len(grads) == len(model.layers) - 1 and any(line.startswith("Descent!") for line in lines)


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
