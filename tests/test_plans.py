"""The plan's geometry against the engine's indexing (xlcnn/layers.py), without a workbook.

Numbers are put where the plan places them on a grid of "sheets" (NumPy arrays); a layer's
output worked out by reading cells through the plan's geometry (``window``, ``reach``,
``flat_index``, ``pooled_by``, ``tap``) must equal the engine's, for strides, padding,
dilation, flipped kernels and windows that do not tile the map.
"""

import numpy as np
import pytest

from xlcnn import layers as L
from xlcnn.kinds import parse_layer
from xlcnn.layout import plan_layout
from xlcnn.network import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax

CLASSES = ("a", "b", "c")


class Grid:
    """Every sheet as a big array of zeros; blocks read and write their cells in it."""

    def __init__(self):
        self.sheets = {}

    def _sheet(self, name):
        return self.sheets.setdefault(name, np.zeros((400, 200)))

    def put(self, block, values):
        values = np.asarray(values, dtype=float).reshape(block.height, block.width)
        self._sheet(block.sheet)[block.row:block.last_row + 1, block.col:block.last_col + 1] = values

    def read(self, block):
        return self._sheet(block.sheet)[block.row:block.last_row + 1, block.col:block.last_col + 1]

    def put_maps(self, stack, x):
        """A (C, H, W) array into the interiors of a map stack (its border stays 0, as the workbook's)."""
        for c in range(stack.shape[0]):
            self.put(stack.interior(c), x[c])


def _plan(layers, side=9, channels=2, steps=0):
    return plan_layout(layers, (channels, side, side), CLASSES, steps=steps)


CONVS = [Conv2D(2, 3), Conv2D(3, 3, stride=2, padding=1), Conv2D(2, 3, padding=2, dilation=2),
         Conv2D(2, 2, stride=3, flip=True), Conv2D(2, 3, padding=1, dilation=2, flip=True), Conv2D(1, 1)]


@pytest.mark.parametrize("conv", CONVS, ids=str)
def test_conv_windows_and_taps_give_the_engines_convolution(conv):
    layout = _plan([conv, ReLU()])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 9))
    w, b = rng.normal(size=(conv.filters, 2, conv.kernel, conv.kernel)), rng.normal(size=conv.filters)
    grid = Grid()
    grid.put_maps(layout.input, x)
    filters, sheet = layout.sheet("filters", 0), layout.sheet("conv2d", 0)
    for k in range(conv.filters):
        for c in range(2):
            grid.put(filters.weight[k][c], w[k, c])
    # the kernel the plan says the convolution slides: each tap from the stored weight it names
    spread = np.zeros((conv.filters, 2, conv.span, conv.span))
    for k in range(conv.filters):
        for c in range(2):
            for a in range(conv.span):
                for e in range(conv.span):
                    cell = filters.tap(k, c, a, e)
                    spread[k, c, a, e] = 0.0 if cell is None else grid.read(cell)[0, 0]
    np.testing.assert_array_equal(spread, L.effective_kernel(w, conv.dilation, conv.flip))
    expected = L.conv_forward(x, w, b, conv.stride, conv.padding, conv.dilation, conv.flip)
    assert sheet.output.shape == expected.shape
    got = np.zeros(expected.shape)
    for k, i, j in np.ndindex(expected.shape):
        got[k, i, j] = sum(np.sum(grid.read(sheet.window(c, i, j)) * spread[k, c]) for c in range(2)) + b[k]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("conv", [c for c in CONVS if c.stride == 1], ids=str)
def test_reach_turned_taps_and_upstream_windows_give_the_engines_conv_gradients(conv):
    """The weight gradient pairs ``reach`` with the upstream map; the input gradient slides the turned
    kernel (``turned_tap``) over ``upstream_window``: both as the engine's conv_backward."""
    layers = [Conv2D(2, 1), conv, ReLU(), Flatten(), Dense(3), Softmax()]
    layout = _plan(layers, steps=1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 9, 9))
    w = rng.normal(size=(conv.filters, 2, conv.kernel, conv.kernel))
    sheet, filters, gradient = layout.sheet_of(1), layout.sheet("filters", 1), layout.gradients[0][1]
    dout = rng.normal(size=sheet.output.shape)
    dx, dw, _ = L.conv_backward(dout, x, w, conv.stride, conv.padding, conv.dilation, conv.flip)
    grid = Grid()
    grid.put_maps(sheet.source, x)
    grid.put_maps(gradient.upstream, dout)
    for k in range(conv.filters):
        for c in range(2):
            grid.put(filters.weight[k][c], w[k, c])
    got_dw = np.array([[[[np.sum(grid.read(sheet.reach(c, u, v)) * dout[k]) for v in range(conv.kernel)]
                         for u in range(conv.kernel)] for c in range(2)] for k in range(conv.filters)])
    np.testing.assert_allclose(got_dw, dw, rtol=1e-12, atol=1e-12)
    turned = np.zeros((conv.filters, 2, conv.span, conv.span))
    for k, c, a, e in np.ndindex(turned.shape):
        cell = filters.turned_tap(k, c, a, e)
        turned[k, c, a, e] = 0.0 if cell is None else grid.read(cell)[0, 0]
    got_dx = np.zeros(x.shape)
    for c, r, s in np.ndindex(x.shape):
        got_dx[c, r, s] = sum(np.sum(grid.read(gradient.upstream_window(k, r, s)) * turned[k, c])
                              for k in range(conv.filters))
    np.testing.assert_allclose(got_dx, dx, rtol=1e-12, atol=1e-12)


POOLS = [MaxPool2D(2), MaxPool2D(3), MaxPool2D(3, 2), MaxPool2D(2, 3), AvgPool2D(2), AvgPool2D(2, 1)]


@pytest.mark.parametrize("pool", POOLS, ids=str)
def test_pool_windows_give_the_engines_pooling(pool):
    layout = _plan([Conv2D(2, 2), pool], side=10)      # 9 x 9 maps: windows that do not tile them
    x = np.random.default_rng(2).normal(size=(2, 9, 9))
    sheet = layout.sheet_of(1)
    grid = Grid()
    grid.put_maps(sheet.source, x)
    engine = L.maxpool_forward if isinstance(pool, MaxPool2D) else L.avgpool_forward
    reduce = np.max if isinstance(pool, MaxPool2D) else np.mean
    expected = engine(x, pool.size, pool.step)
    assert sheet.output.shape == expected.shape
    got = np.array([reduce(grid.read(sheet.window(k, i, j))) for k, i, j in np.ndindex(expected.shape)])
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-12)


@pytest.mark.parametrize("pool", POOLS, ids=str)
def test_pooled_by_names_the_window_that_starts_above_and_left_of_a_cell(pool):
    """Every cell some window reads: the window from the cell's own stride step holds it, or none does;
    for windows that tile (the gradients' case) it is the one window the engine routes back through."""
    layout = _plan([Conv2D(2, 2), pool], side=10)
    sheet = layout.sheet_of(1)
    _, rows, cols = sheet.output.shape
    for r, s in np.ndindex(9, 9):
        found = sheet.pooled_by(r, s)
        cell = sheet.source.at(0, r, s)
        holding = [(i, j) for i, j in np.ndindex(rows, cols) if _inside(cell, sheet.window(0, i, j))]
        own = (r // pool.step, s // pool.step)   # the window that starts on or before the cell's row and column
        assert found == (own if own in holding else None), (r, s)
    if pool.step == pool.size:
        dx = L.avgpool_backward(np.ones((2, rows, cols)), np.zeros((2, 9, 9)), pool.size, pool.step)
        routed = np.array([[sheet.pooled_by(r, s) is not None for s in range(9)] for r in range(9)])
        np.testing.assert_array_equal(routed, dx[0] != 0)


# windows that do not overlap, reaching into padding, past the maps (ceil mode), or the whole map
REACHING = ["maxpool2-s2-p1", "maxpool2-ceil", "maxpool2-s3-p1-ceil", "avgpool2-s2-p1", "avgpool3-p1-ceil", "gap"]


@pytest.mark.parametrize("item", REACHING)
def test_a_reaching_pools_cell_is_read_by_the_one_window_pooled_by_names(item):
    """pooled_by names the one window that reads the cell (None: no window does), the cells before it
    are those of that window in reading order, and the windows that read some cell are those the
    engine sends gradient back through."""
    pool = parse_layer(item, 3, "--arch")
    layout = _plan([Conv2D(2, 2), pool], side=10)       # 9 x 9 maps
    sheet = layout.sheet_of(1)
    _, rows, cols = sheet.output.shape
    reached = np.zeros((9, 9), dtype=bool)
    for r, s in np.ndindex(9, 9):
        cell = sheet.source.at(1, r, s)
        holding = [(i, j) for i, j in np.ndindex(rows, cols) if _inside(cell, sheet.window(1, i, j))]
        assert len(holding) <= 1 and sheet.pooled_by(r, s) == (holding[0] if holding else None), (r, s)
        reached[r, s] = bool(holding)
        if holding:
            order = [(row, col) for _, _, row, col in sheet.window(1, *holding[0]).cells()]
            got = [(row, col) for block in sheet.before_in_window(1, r, s) for _, _, row, col in block.cells()]
            assert got == order[:order.index((cell.row, cell.col))]
    dx = pool.backward(np.ones((1, 2, rows, cols)), [np.zeros((1, 2, 9, 9))], {})[0][0] if pool.counts_padding else None
    if dx is not None:     # a mean sends gradient to every cell a window reads, and to no other
        np.testing.assert_array_equal(reached, dx[0, 0] != 0)


def _inside(cell, block):
    return block.row <= cell.row <= block.last_row and block.col <= cell.col <= block.last_col


def test_cells_before_in_a_window_are_those_of_the_engines_reading_order():
    layout = _plan([Conv2D(2, 2), MaxPool2D(3)], side=10)
    sheet = layout.sheet_of(1)
    for r, s in np.ndindex(9, 9):
        window = sheet.window(1, *sheet.pooled_by(r, s))
        order = [(row, col) for _, _, row, col in window.cells()]
        cell = sheet.source.at(1, r, s)
        expected = order[:order.index((cell.row, cell.col))]
        got = [(row, col) for block in sheet.before_in_window(1, r, s) for _, _, row, col in block.cells()]
        assert sorted(got) == sorted(expected)


@pytest.mark.parametrize("channels, side", [(1, 5), (3, 4), (2, 7)])
def test_flat_index_is_the_engines_flatten_order(channels, side):
    layout = _plan([Conv2D(channels, 1), Flatten(), Dense(3), Softmax()], side=side, channels=1)
    x = np.random.default_rng(3).normal(size=(channels, side, side))
    flatten = layout.sheet("flatten")
    flat = L.flatten_forward(x)
    got = np.zeros(flat.shape)
    for c, i, j in np.ndindex(x.shape):
        got[flatten.flat_index(c, i, j)] = x[c, i, j]
    np.testing.assert_array_equal(got, flat)
    back = L.flatten_backward(flat, x.shape)
    assert all(back[c, i, j] == flat[flatten.flat_index(c, i, j)] for c, i, j in np.ndindex(x.shape))


def test_dense_weights_of_an_output_and_of_an_input_match_the_engine_in_both_arrangements():
    """After a column the weights of output n run down column n; after a row, along row n."""
    layout = _plan([Conv2D(2, 3), Flatten(), Dense(4), Dense(3), Softmax()], side=5, channels=1)
    rng = np.random.default_rng(4)
    for index in (2, 3):
        dense = layout.sheet("dense", index)
        units, inputs = dense.output.size, layout.input_of(index).size
        w, x = rng.normal(size=(units, inputs)), rng.normal(size=inputs)
        grid = Grid()
        for i, n in np.ndindex(inputs, units):
            grid.put(dense.weight_cell(i, n), w[n, i])
        got = [np.sum(grid.read(dense.weights_of(n)).reshape(-1) * x) for n in range(units)]
        np.testing.assert_allclose(got, L.dense_forward(x, w, np.zeros(units)), rtol=1e-12)
        for i in range(inputs):
            np.testing.assert_array_equal(grid.read(dense.weights_from(i)).reshape(-1), w[:, i])


def test_step_numbers_and_passes_are_planned_and_survive_renamed_tabs():
    """Each sheet's step and pass are fields: the same after its tab is renamed (nothing is read from a name);
    a later pass repeats the first pass's steps, its names prefixed."""
    from xlcnn.layout import renamed
    layout = _plan([Conv2D(2, 3), ReLU(), MaxPool2D(2), Flatten(), Dense(3), Softmax()], steps=2)
    first = [plan for plan in layout.sheets if plan.step and plan.pass_index == 0 and plan.kind != "grad"]
    assert [plan.step for plan in first] == list(range(1, len(first) + 1))
    assert all(plan.name.split()[0] == str(plan.step) for plan in first)
    for n, view in enumerate(layout.passes, start=1):
        later = view.sheets[1:]
        assert all(plan.pass_index == n and plan.name == view.prefix + old.name for plan, old in zip(later, first[1:]))
        assert [plan.step for plan in later] == [plan.step for plan in first[1:len(later) + 1]]
    for n, gradients in enumerate(layout.gradients):   # named and numbered after the sheet they differentiate
        assert all(g.pass_index == n and g.step == layout.passes[n - 1].sheet_of(i).step if n else
                   g.pass_index == 0 and g.step == layout.sheet_of(i).step for i, g in gradients.items())
    copy = renamed(layout, {plan.name: f"tab {n}" for n, plan in enumerate(layout.sheets)})
    assert [(p.step, p.pass_index, p.kind, p.layer) for p in copy.sheets] == \
        [(p.step, p.pass_index, p.kind, p.layer) for p in layout.sheets]
    assert all(block.sheet == plan.name for plan in copy.sheets for block in plan.all_blocks())
