"""The worked examples' formula builders, evaluated on tiny grids: they must compute the engine's cell.

A worked example copies the window a student picks out of the layer's input and works the
cell out step by step; evaluated with xlcnn's own evaluator at every position, its result
must be the NumPy engine's output there, and its check must say so.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from test_gradient_formulas import Grid, assert_close, one
from xlcnn import formulas
from xlcnn.cells import Block
from xlcnn import layers as L
from xlcnn import lesson_formulas as lf
from xlcnn.kinds import conv2d, dense
from xlcnn.network import AvgPool2D, Conv2D, MaxPool2D, Sigmoid


def picked(grid, *numbers):
    """The cells where a student typed a position (1-based, as the sheet numbers maps, rows, columns)."""
    return [grid.place([[n]]) for n in numbers]


def stack_of(grid, maps, pad=0):
    """Maps placed one under the other, as a sheet stacks them (``pad`` zeros around each)."""
    padded = np.pad(maps, ((0, 0), (pad, pad), (pad, pad)))
    return SimpleNamespace(maps=grid.place_maps(padded), pad=pad)


@pytest.mark.parametrize("stride, padding, dilation, flip, scale", [(1, 1, 1, False, 0.5), (2, 0, 1, False, None),
                                                                    (1, 2, 2, True, None)])
def test_the_conv_worked_example_computes_the_engines_cell(stride, padding, dilation, flip, scale):
    rng = np.random.default_rng(7)
    layer = Conv2D(2, 3, stride, padding, dilation, flip)
    x, w, b = rng.normal(size=(2, 6, 6)), rng.normal(size=(2, 2, 3, 3)), rng.normal(size=2)
    out = L.conv_forward(x * (scale or 1), w, b, stride, padding, dilation, flip)
    grid = Grid()
    if scale:
        grid.name("input_scale", scale)
    padded = grid.place_maps(L.pad_input(x, padding))
    step = 4   # the filters sit one band below another: a 3-row filter and a blank row
    bands = [grid.place(np.vstack([w[0, c], np.zeros((1, 3)), w[1, c]])) for c in range(2)]
    biases = grid.place(np.array([[b[0]], [0], [0], [0], [b[1]]]))   # beside each filter's first row
    for position in np.ndindex(*out.shape):
        k, i, j = picked(grid, *(n + 1 for n in position))
        sums = []
        for c in range(2):
            inputs = grid.formulas((3, 3), lambda u, v: conv2d.conv_example_input_formula(
                padded[c], i, j, stride, u * dilation, v * dilation))
            weights = grid.formulas((3, 3), lambda u, v: conv2d.conv_example_tap_formula(
                bands[c], k, step, *layer.tap_at(u * dilation, v * dilation)))
            products = grid.formulas((3, 3), lambda u, v: lf.example_product(one(inputs, u, v), one(weights, u, v)))
            sums.append(grid.formulas((1, 1), lambda *_: lf.example_channel_sum(products)))
        bias = grid.formulas((1, 1), lambda *_: conv2d.conv_example_tap_formula(biases, k, step, 0, 0))
        scale_cell = grid.formulas((1, 1), lambda *_: lf.example_scale("input_scale")) if scale else None
        result = grid.formulas((1, 1), lambda *_: conv2d.conv_example_result_formula(sums, bias, scale_cell))
        assert grid.value(formulas.reference(result)) == pytest.approx(out[position], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("kind", ["maxpool", "avgpool", "sigmoid"])
def test_the_window_worked_example_computes_the_engines_cell(kind):
    rng = np.random.default_rng(8)
    x = rng.integers(-3, 4, size=(2, 5, 5)).astype(float)   # whole numbers: ties in the pooling windows
    if kind == "sigmoid":
        out, size, result_of = L.sigmoid_forward(x), 1, Sigmoid().forward_formula
    else:
        out = (L.maxpool_forward if kind == "maxpool" else L.avgpool_forward)(x, 2, 2)
        size, result_of = 2, (MaxPool2D(2) if kind == "maxpool" else AvgPool2D(2)).forward_formula
    grid = Grid()
    source = stack_of(grid, x, pad=1)
    layer_cells = stack_of(grid, out)
    for position in np.ndindex(*out.shape):
        k, i, j = picked(grid, *(n + 1 for n in position))
        window = grid.formulas((size, size), lambda u, v: lf.example_window_value(source, k, i, j, size, u, v))
        result = grid.formulas((1, 1), lambda *_: result_of(window))
        cell = grid.formulas((1, 1), lambda *_: lf.example_map_cell(layer_cells, k, i, j))
        assert grid.value(formulas.reference(result)) == pytest.approx(out[position], rel=1e-12)
        assert grid.value(lf.example_agrees(result, cell, "yes", "no")) == "yes"


def test_the_window_worked_example_scales_the_pixels_it_copies():
    x = np.arange(16.0).reshape(1, 4, 4)
    grid = Grid()
    grid.name("input_scale", 0.5)
    source = stack_of(grid, x)
    k, i, j = picked(grid, 1, 2, 1)
    window = grid.formulas((2, 2), lambda u, v: lf.example_window_value(source, k, i, j, 2, u, v, "input_scale"))
    assert_close(grid.values((2, 2), lambda u, v: formulas.reference(one(window, u, v))), x[0, 2:4, 0:2] * 0.5)


@pytest.mark.parametrize("scale", [None, 0.25])
def test_the_dense_worked_example_computes_the_engines_output(scale):
    rng = np.random.default_rng(9)
    x, w, b = rng.normal(size=5), rng.normal(size=(3, 5)), rng.normal(size=3)
    out = L.dense_forward(x * (scale or 1), w, b)
    grid = Grid()
    if scale:
        grid.name("input_scale", scale)
    inputs, weights, biases, outputs = grid.place(x[:, None]), grid.place(w.T), grid.place(b), grid.place(out)
    for n in range(3):
        (unit,) = picked(grid, n + 1)
        products = grid.formulas((5, 1), lambda r, _: dense.dense_example_product_formula(
            inputs.item(r), weights.sub(r, 0, 1, 3), unit))
        total = grid.formulas((1, 1), lambda *_: formulas.sum_of(products))
        bias = grid.formulas((1, 1), lambda *_: dense.dense_example_unit_formula(biases, unit))
        result = grid.formulas((1, 1), lambda *_: dense.dense_example_result_formula(total, bias, scale and "input_scale"))
        cell = grid.formulas((1, 1), lambda *_: dense.dense_example_unit_formula(outputs, unit))
        assert grid.value(formulas.reference(result)) == pytest.approx(out[n], rel=1e-12)
        assert grid.value(lf.example_agrees(result, cell, "yes", "no")) == "yes"


def test_the_example_check_says_no_when_the_result_differs():
    grid = Grid()
    a, b = grid.place([[1.0]]), grid.place([[1.001]])
    assert grid.value(lf.example_agrees(a, b, "yes", "no")) == "no"
    assert grid.value(lf.example_agrees(a, grid.place([[1.0 + 1e-12]]), "yes", "no")) == "yes"


def test_exercise_parts_and_checks():
    rng = np.random.default_rng(10)
    x, w = rng.normal(size=(4, 4)), rng.normal(size=(3, 3))
    grid = Grid()
    grid.name("input_scale", 0.5)
    inputs, kernel = grid.place(x), grid.place(w)
    part = conv2d.conv_exercise_part_formula(inputs.sub(1, 0, 3, 3), kernel, "input_scale")   # one channel of a conv cell
    assert grid.value("=" + part) == pytest.approx((x[1:4, 0:3] * w).sum() * 0.5, rel=1e-12)
    picked = [one(inputs, 0, 0), one(inputs, 2, 3)]
    part = dense.dense_exercise_part_formula(picked, [one(kernel, 0, 1), one(kernel, 2, 2)], "input_scale")
    truth = (x[0, 0] * w[0, 1] + x[2, 3] * w[2, 2]) * 0.5
    assert grid.value("=" + part) == pytest.approx(truth, rel=1e-12)
    for typed, shown in ((None, ""), (truth + 0.004, "right"), (truth - 0.006, "wrong")):
        answer = grid.place([[typed]]) if typed is not None else Block("Grid", 9_999, 1, 1, 1)   # an empty cell
        assert grid.value(lf.exercise_check(answer, part, 0.005, "right", "wrong")) == shown
