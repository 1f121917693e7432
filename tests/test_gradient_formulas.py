"""Backward and descent formula builders, evaluated on tiny grids and compared with the NumPy engine.

Each test writes the engine's inputs as numbers on one sheet, builds every gradient cell's
formula with the builder the gradient sheets use, evaluates it with xlcnn's own evaluator
and compares it with the engine's backward pass (``layers.py``, ``engine.py``).
"""

import numpy as np
import pytest

from xlcnn import engine, formulas, lesson_formulas
from xlcnn import layers as L
from xlcnn.cells import Block
from xlcnn.kinds import conv2d, dense, parse_layer, softmax
from xlcnn.layout import _maps_sheet
from xlcnn.network import AvgPool2D, Conv2D, Flatten, LeakyReLU, MaxPool2D, ReLU, Sigmoid, Tanh
from xlcnn.plans import MapStack
from xlcnn.workbook.evaluate import Evaluator, Range
from xlcnn.workbook.sheetdata import SheetCells

SHEET = "Grid"


class Grid:
    """Numbers and formulas placed on one sheet, block under block, and formulas evaluated over them."""

    def __init__(self):
        self.cells, self.names, self.next_row = SheetCells(), {}, 0

    def place(self, array):
        """A 2-D array (a 1-D one as one row) as numbers; returns its block."""
        array = np.atleast_2d(np.asarray(array, dtype=float))
        return self._put(array.shape, lambda i, j: (float(array[i, j]), "n"))

    def place_maps(self, maps):
        """A (C, H, W) array as C blocks."""
        return [self.place(m) for m in maps]

    def formulas(self, shape, formula_at):
        """A block of formula cells, ``formula_at(i, j)`` each (read like any other cell)."""
        return self._put(shape, lambda i, j: (formula_at(i, j), "f"))

    def name(self, name, value):
        cell = self.place([[value]])
        self.names[name.lower()] = Range(SHEET, cell.row, cell.col, cell.row, cell.col)

    def value(self, formula):
        return Evaluator({SHEET: self.cells}, self.names).formula_value(SHEET, 100_000, 0, formula)

    def values(self, shape, formula_at):
        """The value of ``formula_at(*index)`` at every index of ``shape``."""
        return np.array([self.value(formula_at(*index)) for index in np.ndindex(*shape)]).reshape(shape)

    def _put(self, shape, content):
        block = Block(SHEET, self.next_row, 1, *shape)
        for i, j in np.ndindex(*shape):
            cell = self.cells.at(block.row + i, block.col + j)
            cell.value, cell.kind = content(i, j)
        self.next_row += shape[0] + 1
        return block


def assert_close(got, expected):
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def one(block, i=0, j=0):
    return block.sub(i, j, 1, 1)


# values a switch must decide as the engine does: exact zeros, rounding leftovers, a value right
# at the tie margin (4e-12 = TIE_MARGIN x the largest |x|, which is a negative's) and one inside it
SWITCH_INPUTS = np.array([[[-1.0, 0.0, 1e-17, 0.5], [-1e-17, 2.0, -0.3, 4e-12], [3.0, -4.0, 3.5e-12, -2e-13]]])


# ---------------------------------------------------------------- activations


@pytest.mark.parametrize("alpha", [None, 0.1])
def test_relu_and_leaky_relu_gradients_pass_where_the_engine_does(alpha):
    x = SWITCH_INPUTS
    dout = np.random.default_rng(1).normal(size=x.shape)
    grid = Grid()
    xs, ups = grid.place(x[0]), grid.place(dout[0])
    margin = grid.formulas((1, 1), lambda i, j: formulas.tie_margin([xs]))
    margin_value = L.tie_margin(x[None])[0]
    assert grid.value(formulas.reference(margin)) == pytest.approx(margin_value.item(), rel=1e-12)
    if alpha is None:
        expected = L.relu_backward(dout, x, margin_value)
        got = grid.values(x.shape[1:], lambda i, j: ReLU().backward_formula(one(xs, i, j), None, margin, one(ups, i, j)))
    else:
        expected = L.leaky_relu_backward(dout, x, alpha, margin_value)
        got = grid.values(x.shape[1:], lambda i, j: LeakyReLU(alpha).backward_formula(one(xs, i, j), None, margin,
                                                                                       one(ups, i, j)))
    assert_close(got, expected[0])


@pytest.mark.parametrize("kind", ["sigmoid", "tanh"])
def test_sigmoid_and_tanh_gradients_match_the_engine(kind):
    rng = np.random.default_rng(2)
    x, dout = rng.normal(scale=3, size=(3, 4)), rng.normal(size=(3, 4))
    forward, backward, layer = {"sigmoid": (L.sigmoid_forward, L.sigmoid_backward, Sigmoid()),
                                "tanh": (L.tanh_forward, L.tanh_backward, Tanh())}[kind]
    grid = Grid()
    ys, ups = grid.place(forward(x)), grid.place(dout)   # the gradient sheet reads the activation's output
    got = grid.values(x.shape, lambda i, j: layer.backward_formula(None, one(ys, i, j), None, one(ups, i, j)))
    assert_close(got, backward(dout, x))


# ---------------------------------------------------------------- pooling


def test_maxpool_routing_sends_each_window_to_its_first_near_maximum_like_the_engine():
    # exact ties (whole numbers), a near-tie within the margin (5 + 1e-12 beside 5), a cell exactly
    # the margin (9e-12) below its window's maximum, and a row and column no 2x2 window reaches
    at_margin = 2.0 - L.TIE_MARGIN * 9.0
    x = np.array([[1.0, 1.0, at_margin, 2.0, 7.0],
                  [1.0, 0.0, 2.0, 2.0, 7.0],
                  [5.0, 5.0 + 1e-12, -1.0, -2.0, 7.0],
                  [0.0, 5.0, -3.0, -0.5, 7.0],
                  [9.0, 9.0, 9.0, 9.0, 9.0]])[None]
    size = 2
    dout = np.array([[[0.3, -1.2], [2.5, 0.7]]])
    expected = L.maxpool_backward(dout[None], x[None], size, size)[0, 0]
    grid = Grid()
    xs, ups = grid.place(x[0]), grid.place(dout[0])
    margin = grid.formulas((1, 1), lambda i, j: formulas.tie_margin([xs]))

    def routed(r, s):
        i, j = r // size, s // size
        if i >= dout.shape[1] or j >= dout.shape[2]:
            return "=0"
        top, left = i * size, j * size
        earlier = ([xs.sub(top, left, r - top, size)] if r > top else []) + \
                  ([xs.sub(r, left, 1, s - left)] if s > left else [])   # the window's cells before (r, s)
        return MaxPool2D(size).backward_formula(one(xs, r, s), xs.sub(top, left, size, size), earlier, margin,
                                                one(ups, i, j))
    got = grid.values(x.shape[1:], routed)
    assert_close(got, expected)
    assert got[2, 0] == 2.5 and got[2, 1] == 0   # the near-tie goes to the first of the two, in every engine
    assert got[0, 2] == -1.2 and got[0, 3] == 0   # a cell at the margin is a near-maximum


def test_avgpool_gradient_shares_each_window_equally_like_the_engine():
    rng = np.random.default_rng(3)
    x, size = rng.normal(size=(1, 5, 5)), 2
    dout = rng.normal(size=(1, 2, 2))
    grid = Grid()
    xs, ups = grid.place(x[0]), grid.place(dout[0])

    def shared(r, s):
        i, j = r // size, s // size
        return "=0" if i >= 2 or j >= 2 else AvgPool2D(size).backward_formula(None, xs.sub(i * size, j * size, size, size),
                                                                              (), None, one(ups, i, j))
    assert_close(grid.values((5, 5), shared), L.avgpool_backward(dout, x, size, size)[0])


# windows that do not overlap but reach into padding, past the maps (ceil mode), or are the whole map;
# then windows that overlap (a cell's gradient adds a share from every window that holds it)
PADDED_POOLS = ["maxpool2-s2-p1", "maxpool2-ceil", "maxpool2-s3-p1-ceil", "maxpool3-p1",
                "avgpool2-s2-p1", "avgpool2-ceil", "avgpool3-s3-p1-ceil", "gap",
                "maxpool3-s1-p1", "maxpool3-s2", "maxpool3-s2-p1-ceil", "maxpool2-s1", "avgpool3-s1-p1",
                "avgpool3-s2-ceil", "avgpool4-s1"]


@pytest.mark.parametrize("item", PADDED_POOLS)
@pytest.mark.parametrize("sides", [(5, 7), (6, 6)])
def test_padded_ceil_and_global_pool_gradients_match_the_engine(item, sides):
    """Each input cell's gradient as the gradient sheet writes it: the window the pool's planned sheet
    says holds the cell, the cells before it in that window, and the layer's own builder."""
    layer = parse_layer(item, 3, "--arch")
    rng = np.random.default_rng(sum(sides))
    x = rng.normal(size=(2, *sides)) - 1.0    # mostly negative: a padded zero would win a max if it counted
    x[0, 1:3, 1:3] = 3.0                      # exact ties, and one within the tie margin of them
    x[0, 2, 2] += 1e-13
    out_shape = layer.output_shape([x.shape], "test")
    dout = rng.normal(size=out_shape)
    expected = layer.backward(dout[None], [x[None]], {})[0][0][0]
    grid = Grid()
    padding = layer.padding
    fill = 1e6 if layer.chooses else 0.0      # a max must never read its padding; a mean's holds zeros
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding)), constant_values=fill)
    source, ups = MapStack(tuple(grid.place_maps(padded)), padding), MapStack(tuple(grid.place_maps(dout)))
    margin = (grid.formulas((1, 1), lambda i, j: formulas.tie_margin([source.interior(c) for c in range(2)]))
              if layer.chooses else None)
    pool = _maps_sheet({"name": "Pool", "kind": layer.kind}, out_shape, 0, layer, source)

    def gradient(c, r, s):
        if layer.overlaps:          # as the gradient sheet writes it: one term per window holding the cell
            holding = pool.holding(c, r, s, ups)
            return layer.overlapping_backward_formula(source.at(c, r, s), holding, margin) if holding else "=0"
        window = pool.pooled_by(r, s)
        if window is None:          # between windows moved by more than their size
            return "=0"
        return layer.backward_formula(source.at(c, r, s), pool.window(c, *window), pool.before_in_window(c, r, s),
                                      margin, ups.at(c, *window))
    got = grid.values(x.shape, gradient)
    assert_close(got, expected)
    assert np.count_nonzero(got) > 0


def test_a_global_pools_gradient_divides_by_the_whole_map():
    window, upstream = Block("5 GAP", 10, 1, 3, 4), Block("Grad 6 Flatten", 9, 1, 1, 1)
    assert parse_layer("gap", 3, "--arch").backward_formula(None, window, (), None, upstream) == \
        "='Grad 6 Flatten'!B10/12"


def test_flatten_gradient_takes_back_each_cells_place_in_the_column():
    dout = np.arange(12.0) / 7
    grid = Grid()
    ups = grid.place(dout[:, None])
    got = grid.values((3, 2, 2), lambda c, i, j: Flatten().backward_formula(ups.item(c * 4 + i * 2 + j)))
    assert_close(got, L.flatten_backward(dout, (3, 2, 2)))


# ---------------------------------------------------------------- convolution


@pytest.mark.parametrize("padding, dilation, flip, scale", [(0, 1, False, None), (1, 1, False, 0.25),
                                                            (0, 2, False, None), (1, 2, True, None)])
def test_conv_weight_bias_and_input_gradients_match_the_engine(padding, dilation, flip, scale):
    rng = np.random.default_rng(4)
    layer = Conv2D(2, 3, padding=padding, dilation=dilation, flip=flip)
    x, w = rng.normal(size=(2, 6, 6)), rng.normal(size=(2, 2, 3, 3))
    span, h_out = layer.span, 6 + 2 * padding - layer.span + 1
    dout = rng.normal(size=(2, h_out, h_out))
    dx, dw, db = L.conv_backward(dout, x * (scale or 1), w, 1, padding, dilation, flip)
    grid = Grid()
    if scale:
        grid.name("input_scale", scale)
    scale_name = "input_scale" if scale else None
    padded = grid.place_maps(L.pad_input(x, padding))          # the input sheet's maps, zero border included
    ups = grid.place_maps(dout)
    for k in range(2):
        for c in range(2):
            got = grid.values((3, 3), lambda u, v: conv2d.conv_weight_gradient_formula(
                padded[c].sub(*layer.offset_of(u, v), h_out, h_out), ups[k], scale_name))
            assert_close(got, dw[k, c])   # the first layer reads raw pixels and scales the sum
        assert grid.value(conv2d.conv_bias_gradient_formula(ups[k])) == pytest.approx(db[k], rel=1e-12)

    # dx: the upstream maps, zero-padded by span - 1, under the kernels turned 180 degrees
    weights = [grid.place_maps(w[k]) for k in range(2)]
    turned = [[grid.formulas((span, span), lambda a, e, k=k, c=c: _turned_tap(layer, weights[k][c], a, e))
               for c in range(2)] for k in range(2)]
    spread = grid.place_maps(np.pad(dout, ((0, 0), (span - 1, span - 1), (span - 1, span - 1))))
    got = grid.values(x.shape, lambda c, r, s: conv2d.conv_input_gradient_formula(
        [spread[k].sub(r + padding, s + padding, span, span) for k in range(2)], [turned[k][c] for k in range(2)]))
    assert_close(got, dx)


def _turned_tap(layer, weights, a, e):
    """As the gradient sheet writes a turned kernel: the far corner's weight, or 0 in a dilation hole."""
    tap = layer.tap_at(layer.span - 1 - a, layer.span - 1 - e)
    return "=0" if tap is None else conv2d.turned_weight_formula(weights.sub(*tap, 1, 1))


# ---------------------------------------------------------------- softmax, dense, descent


def test_softmax_cross_entropy_and_dense_gradients_match_the_engine():
    rng = np.random.default_rng(5)
    x, w, b = rng.normal(size=5), rng.normal(size=(3, 5)), rng.normal(size=3)
    z, label = L.dense_forward(x, w, b), 1
    _, dz = L.softmax_cross_entropy(z[None], np.array([label]))
    dx, dw, db = L.dense_backward(dz[0], x, w)
    grid = Grid()
    probabilities, one_hot = grid.place(L.softmax_forward(z)), grid.place(np.eye(3)[label])
    upstream = grid.formulas((1, 3), lambda i, n: softmax.softmax_cross_entropy_backward_formula(
        one(probabilities, 0, n), one(one_hot, 0, n)))
    assert_close(grid.values((3,), lambda n: formulas.reference(upstream.item(n))), dz[0])
    inputs, weights = grid.place(x[:, None]), grid.place(w.T)   # the dense sheet: one weight column per output
    assert_close(grid.values((3, 5), lambda n, i: dense.dense_weight_gradient_formula(inputs.item(i), upstream.item(n))), dw)
    assert_close(grid.values((5,), lambda i: dense.dense_input_gradient_formula(weights.sub(i, 0, 1, 3), upstream)), dx)
    assert_close(grid.values((3,), lambda n: dense.dense_bias_gradient_formula(upstream.item(n))), db)


def test_new_weights_are_one_descent_step_like_the_engine(tiny_model):
    rng = np.random.default_rng(6)
    grads = [{key: rng.normal(size=value.shape) for key, value in p.items()} for p in tiny_model.params]
    rate = 0.3
    stepped = engine.descent_step(tiny_model, grads, rate)
    grid = Grid()
    grid.name(formulas.RATE_NAME, rate)
    for old, gradient, new in zip(tiny_model.params, grads, stepped.params):
        for key in old:
            olds, gradients = grid.place(_rows(old[key])), grid.place(_rows(gradient[key]))
            got = grid.values((olds.height, olds.width),
                              lambda i, j: formulas.descent_step(one(olds, i, j), one(gradients, i, j)))
            assert_close(got, _rows(new[key]))


def _rows(array):
    """Any parameter array as a 2-D grid, its last axis along the rows."""
    return array.reshape(-1, array.shape[-1])


def test_loss_change_is_after_minus_before():
    grid = Grid()
    losses = grid.place([[0.9], [0.7], [0.4]])
    assert grid.value(formulas.loss_change(losses.item(2), losses.item(0))) == pytest.approx(-0.5)


# ---------------------------------------------------------------- the worked example's twins


def test_the_pooling_builders_and_the_pictures_mean():
    window = Block("4 ReLU", 10, 1, 2, 2)
    assert MaxPool2D(2).forward_formula(window) == "=MAX('4 ReLU'!B11:C12)"
    assert AvgPool2D(2).forward_formula(window) == "=AVERAGE('4 ReLU'!B11:C12)"
    assert AvgPool2D(2).forward_formula(window, "s") == "=AVERAGE('4 ReLU'!B11:C12)*s"
    assert lesson_formulas.patch_picture(window) == formulas.mean_of(window) == AvgPool2D(2).forward_formula(window)
