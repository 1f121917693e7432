"""Batch norm in the workbook: its sheet (x^ and y, a worked example), --fold-bn and its gradient sheet.

The formula builders of kinds/bn.py are evaluated on tiny grids by xlcnn's own evaluator and
compared with their NumPy twins; then one chain is built in every way a lesson uses it (English,
Chinese with exercises, --backprop, --steps 2, --fold-bn, a bn after a dense layer) and all are
verified with one LibreOffice start.
"""

import numpy as np
import pytest

from xlcnn import verify_workbooks
from xlcnn.architecture import parse_network
from xlcnn.cells import Block
from xlcnn.errors import UsageError, XlcnnError
from xlcnn.kinds.bn import BatchNorm, bn_backward, bn_forward, bn_normalised
from xlcnn.layout import plan_layout
from xlcnn.network import random_model
from xlcnn.workbook import build_workbook
from xlcnn.workbook.evaluate import Evaluator
from xlcnn.workbook.sheetdata import SheetCells

SHEET = "Grid"
CHAIN = "conv3x3x4,bn,relu,maxpool2,flatten,dense"


class Grid:
    """Numbers on one sheet, and formulas evaluated over them."""

    def __init__(self):
        self.cells, self.next_row = SheetCells(), 0

    def place(self, array):
        array = np.atleast_2d(np.asarray(array, dtype=float))
        block = Block(SHEET, self.next_row, 1, *array.shape)
        for i, j in np.ndindex(*array.shape):
            cell = self.cells.at(block.row + i, block.col + j)
            cell.value, cell.kind = float(array[i, j]), "n"
        self.next_row += array.shape[0] + 1
        return block

    def value(self, formula):
        return Evaluator({SHEET: self.cells}, {}).formula_value(SHEET, 100_000, 0, formula)


def _statistics(rng, channels):
    return {"weight": rng.normal(size=channels), "bias": rng.normal(size=channels),
            "running_mean": rng.normal(size=channels), "running_var": rng.uniform(0.2, 2, size=channels)}


def test_the_formula_twins_give_the_numpy_values():
    rng = np.random.default_rng(3)
    x, p, eps, layer = rng.normal(size=(2, 3, 3)), _statistics(rng, 2), 0.01, BatchNorm(0.01)
    grid = Grid()
    cells = [grid.place(m) for m in x]
    numbers = {name: grid.place(values[None]) for name, values in p.items()}
    eps_cell = grid.place([[eps]])

    def at(name, c):
        return numbers[name].sub(0, c, 1, 1)
    normalised, y = bn_normalised(x, p["running_mean"], p["running_var"], eps), layer.forward_one(x, p)
    for c, i, j in np.ndindex(*x.shape):
        xhat = grid.value(layer.normalise_formula(cells[c].sub(i, j, 1, 1), at("running_mean", c),
                                                  at("running_var", c), eps_cell))
        assert xhat == pytest.approx(normalised[c, i, j], rel=1e-12)
    xhat_blocks = [grid.place(m) for m in normalised]
    for c, i, j in np.ndindex(*x.shape):
        shifted = grid.value(layer.shift_formula(xhat_blocks[c].sub(i, j, 1, 1), at("weight", c), at("bias", c)))
        assert shifted == pytest.approx(y[c, i, j], rel=1e-12)
    # the gradient, statistics held fixed
    dout = rng.normal(size=x.shape)
    up = [grid.place(m) for m in dout]
    dx, grads = bn_backward(dout, x, p["weight"], p["running_mean"], p["running_var"], eps)
    for c in range(2):
        assert grid.value(layer.gamma_gradient_formula(up[c], xhat_blocks[c])) == pytest.approx(grads["weight"][c])
        assert grid.value(layer.beta_gradient_formula(up[c])) == pytest.approx(grads["bias"][c])
        for i, j in np.ndindex(3, 3):
            value = grid.value(layer.input_gradient_formula(up[c].sub(i, j, 1, 1), at("weight", c),
                                                            at("running_var", c), eps_cell))
            assert value == pytest.approx(dx[c, i, j], rel=1e-12)


def test_the_fold_formulas_give_the_folded_weights():
    rng = np.random.default_rng(5)
    layer, p = BatchNorm(0.001), _statistics(rng, 3)
    before = {"weight": rng.normal(size=(3, 2, 2, 2)), "bias": rng.normal(size=3)}
    folded = layer.folded(p, before)
    grid = Grid()
    weights = grid.place(before["weight"].reshape(3, -1))
    biases = grid.place(before["bias"][None])
    numbers = {name: grid.place(values[None]) for name, values in p.items()}
    eps = grid.place([[0.001]])
    for k in range(3):
        gamma, beta, mean, var = (numbers[name].sub(0, k, 1, 1) for name in ("weight", "bias", "running_mean", "running_var"))
        for n in range(8):
            value = grid.value(layer.folded_weight_formula(weights.sub(k, n, 1, 1), gamma, var, eps))
            assert value == pytest.approx(folded["weight"].reshape(3, -1)[k, n], rel=1e-12)
        bias = grid.value(layer.folded_bias_formula(biases.sub(0, k, 1, 1), gamma, beta, mean, var, eps))
        assert bias == pytest.approx(folded["bias"][k], rel=1e-12)
    # and the fold itself: the folded layer gives what the layer and the bn give
    x = rng.normal(size=(4,))
    dense = {"weight": rng.normal(size=(3, 4)), "bias": rng.normal(size=3)}
    pair = layer.folded(p, dense)
    np.testing.assert_allclose(pair["weight"] @ x + pair["bias"],
                               bn_forward(dense["weight"] @ x + dense["bias"], p["weight"], p["bias"],
                                          p["running_mean"], p["running_var"], 0.001), rtol=1e-12)


@pytest.mark.parametrize("arch, words", [
    ("conv3x3x4,relu,flatten,dense", "no bn layer to fold"),
    ("conv3x3x4,relu,bn,flatten,dense", r"layer 3 \(bn\) reads layer 2 \(ReLU\)"),
    ("bn,conv3x3x4,flatten,dense", "reads the input pixels"),
])
def test_fold_is_refused_in_one_line_without_a_bn_after_a_conv_or_dense_layer(arch, words):
    layers, inputs = parse_network(arch, 3)
    with pytest.raises(UsageError, match=words) as caught:
        plan_layout(layers, (3, 8, 8), ("a", "b", "c"), inputs=inputs, fold=True)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("arch, words", [
    ("bn-eps.,dense", "cannot read item 1"),
    ("bn-eps1.2.3,dense", "cannot read item 1"),
    ("bn-eps1e400,dense", "eps must be a finite number"),
])
def test_an_eps_that_is_not_a_number_or_is_infinite_is_refused_in_one_line(arch, words):
    with pytest.raises(XlcnnError, match=words) as caught:
        layers, inputs = parse_network(arch, 3)
        plan_layout(layers, (3, 8, 8), ("a", "b", "c"), inputs=inputs)
    assert "\n" not in str(caught.value)


def test_a_bn_that_reads_the_picture_gets_a_gradient_sheet_and_its_gamma_and_beta_step(tmp_path):
    """bn has weights of its own (gamma, beta) even where nothing before it learns: its gradient sheet must
    exist for the later passes' bn sheets to step them (was a KeyError in the second pass)."""
    from xlcnn.pipeline import make_workbook
    import openpyxl
    make_workbook(None, tmp_path / "first.xlsx", arch="bn,conv3x3x2-same,relu,gap,dense", steps=2, label="circle")
    names = openpyxl.load_workbook(tmp_path / "first.xlsx", read_only=True).sheetnames
    assert any("BN" in name and "Grad" in name for name in names), names


def test_fold_refused_because_until_cuts_the_bn_says_so_not_that_the_network_has_none(tmp_path):
    """The network has a bn; --until ends the workbook before it, and the refusal names --until."""
    from xlcnn.pipeline import make_workbook
    with pytest.raises(UsageError, match=r"--until conv1 ends the workbook before layer 4") as caught:
        make_workbook(None, tmp_path / "cut.xlsx", arch="conv3x3x2-same,relu,conv3x3x2-same,bn,relu,dense",
                      fold_bn=True, until="conv1")
    assert "\n" not in str(caught.value)


def _model(arch, seed=1):
    layers, inputs = parse_network(arch, 3)
    model = random_model(layers, ("circle", "square", "triangle"), image_size=8, seed=seed, inputs=inputs)
    rng = np.random.default_rng(seed)
    for layer, params in zip(model.layers, model.params):
        if layer.normalises:   # numbers away from a fresh layer's, so every formula has work to do
            params.update(_statistics(rng, params["weight"].size))
    return model


def test_a_chain_with_bn_verifies_in_every_form(tmp_path, libreoffice):
    image = (np.random.default_rng(0).random((8, 8, 3)) * 255).astype(np.uint8)
    books = {
        "en": (CHAIN, {}), "zh": (CHAIN, {"lang": "zh"}), "backprop": (CHAIN, {"steps": 1}),
        "steps": (CHAIN, {"steps": 2, "fold_bn": True}),
        "fold": (CHAIN, {"fold_bn": True, "lang": "zh", "exercise": True}),
        "after-dense": ("conv3x3x2,relu,flatten,dense5,bn,relu,dense", {"fold_bn": True}),
        "padded": ("conv3x3x3,bn,conv3x3x2-same,relu,flatten,dense", {"fold_bn": True}),
    }
    paths = []
    for name, (arch, options) in books.items():
        path = tmp_path / f"{name}.xlsx"
        build_workbook(_model(arch), image, path, label="circle", **options)
        paths.append(path)
    reports = verify_workbooks(paths)   # one LibreOffice start
    for path, report in zip(paths, reports):
        assert report.ok, f"{path.name}:\n{report.table()}"
    stages = {check.stage for report in reports for check in report.checks}
    assert {"4 BN (normalised)", "4 BN (explained)", "5 Folded (weights)", "5 Folded", "Grad 4 BN",
            "S1 4 BN (gamma, beta)"} <= stages
