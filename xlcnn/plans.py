"""The plan's types: one frozen class per kind of sheet, with a named block for each thing on it.

``layout.plan_layout`` decides every position; the classes here only hold them and
answer geometric questions about them (which input window an output cell reads, where
a map cell lands in the column the maps become, which stored weight a tap of a spread-out
kernel holds), so that writers, worked examples, gradients and the verifier ask the
plan instead of working positions out again. Beside each block a writer labels sits
its label block: a writer puts text there, it never steps a row up or a column left.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cached_property

from .cells import Block


@dataclass(frozen=True)
class MapStack:
    """A (C, H, W) tensor on one sheet: one map below the other, each with a label row.

    ``maps[c]`` is the padded map (H + 2P) x (W + 2P); the real values sit inside a
    border of ``pad`` zeros, which a layer's windows read like any other cell.
    """

    maps: tuple
    pad: int = 0
    labels: tuple = ()          # labels[c]: the heading above map c

    @property
    def shape(self):
        first = self.maps[0]
        return (len(self.maps), first.height - 2 * self.pad, first.width - 2 * self.pad)

    def interior(self, c):
        """Channel c without its zero border."""
        return self._interiors[c]

    @cached_property
    def _interiors(self):
        # made once: writers and the verifier ask for a channel's interior (through ``at``) once per cell
        _, h, w = self.shape
        return tuple(stack.sub(self.pad, self.pad, h, w) for stack in self.maps)

    def at(self, c, i, j):
        """Cell (i, j) of map c (inside its border), as a 1 x 1 block."""
        return self._interiors[c].sub(i, j, 1, 1)

    def label_cell(self, c):
        """(row, col) of the heading above map c."""
        return self.labels[c].cell(0, 0)

    def window(self, c, top, left, height, width):
        """A window of channel c in padded coordinates (row 0 is the top of the border)."""
        return self.maps[c].sub(top, left, height, width)

    def with_border(self, pad):
        """The same maps seen with a border of ``pad`` zeros (at most their own): what a layer with filters
        and that padding reads, when another layer reading these maps needs a wider border."""
        if pad == self.pad:
            return self
        cut = self.pad - pad
        _, height, width = self.shape
        return MapStack(tuple(m.sub(cut, cut, height + 2 * pad, width + 2 * pad) for m in self.maps), pad, self.labels)


@dataclass(frozen=True, kw_only=True)
class Sheet:
    """What every planned worksheet knows about itself; each kind of sheet adds its named blocks.

    ``step`` is the number its name starts with ("3 Conv" is step 3; 0 for the unnumbered
    overview, descent and manifest sheets), ``pass_index`` the forward pass it belongs to
    (0 before any descent step; a gradient sheet: the pass it differentiates). Both are
    planned, never read back out of a name, which a teacher may change.
    """

    name: str
    kind: str                        # "input", "filters", a layer kind, "loss", "grad", ...
    layer: int | None = None         # index into model.layers, when the sheet shows one layer
    step: int = 0
    pass_index: int = 0

    def on_legend_row(self):
        """The block on the row under the header, if any: the sheet's colour legend starts after it."""
        return None

    def page_break_column(self):
        """The column that starts a printed page of its own (what sits beside the maps), or None."""
        return None

    def shown_with(self, position):
        """Other cells of the sheet that show a step of its output cell at ``position`` (an exercise hides them too)."""
        return ()

    def parts(self):
        """The values of the sheet's own fields (blocks, map stacks, tuples of them, a worked example);
        not what it reads from other sheets."""
        return [getattr(self, item.name) for item in fields(self)
                if item.name not in _SHEET_FIELDS and not item.metadata.get("elsewhere")]

    def all_blocks(self):
        """Every Block the sheet plans, in field order (maps of a stack, nested tuples, an example)."""
        return all_blocks(self)


_SHEET_FIELDS = {item.name for item in fields(Sheet)}
ELSEWHERE = {"elsewhere": True}   # metadata of a field that points at blocks of another sheet (what this one reads)


def output_of(plan):
    """The block or map stack holding the output of the layer ``plan`` shows (the input sheet: the pixels), or None."""
    return getattr(plan, "output", None)


def example_of(plan):
    """The worked example beside a layer's output ("explain this cell"), or None."""
    return getattr(plan, "explain", None)


@dataclass(frozen=True)
class MapPictures:
    """The small pictures of one layer's feature maps on the overview.

    Cell (i, j) of ``blocks[k]`` shows the mean of the ``factor`` x ``factor`` cells of
    map k from row i x factor and column j x factor (fewer at the bottom and right edges).
    """

    layer: int
    label: Block
    blocks: tuple
    factor: int
    tile: bool = False      # a compact overview's tile: its first maps only, under a short label

    def cell_for(self, k, i, j):
        """The picture cell that summarises cell (i, j) of map k; None when map k has no picture (a tile's later maps)."""
        if k >= len(self.blocks):
            return None
        return self.blocks[k].sub(i // self.factor, j // self.factor, 1, 1)

    def region(self, i, j, height, width):
        """(top, left, rows, columns) of the map cells that cell (i, j) summarises, in a map of height x width."""
        top, left = i * self.factor, j * self.factor
        return top, left, min(self.factor, height - top), min(self.factor, width - left)

    @property
    def formulas(self):
        return sum(block.size for block in self.blocks)


def all_blocks(value):
    """Every Block inside ``value``: a block, a map stack, a planned sheet or example, nested tuples and dicts."""
    if isinstance(value, Block):
        yield value
    elif isinstance(value, MapStack):
        yield from value.maps
    elif isinstance(value, MapPictures):
        yield from value.blocks
    elif isinstance(value, Sheet):
        for part in value.parts():
            yield from all_blocks(part)
    elif isinstance(value, (Example, Knows, Legend, ChannelGrid)):
        for item in fields(value):
            yield from all_blocks(getattr(value, item.name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from all_blocks(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from all_blocks(item)


# ---------------------------------------------------------------- the input and the filters


@dataclass(frozen=True, kw_only=True)
class InputSheet(Sheet):
    """The photo's pixels, one map per channel, the input scale, and the photo painted in cells."""

    pixels: MapStack
    scale: Block
    scale_label: Block
    colour_view: Block
    colour_view_label: Block
    highlight: Block            # copies of the position the first conv sheet explains: map, row, column
    highlight_title: Block
    highlight_labels: Block     # "map", "row", "column" beside the copies
    # a normalised input (torchvision's Normalize): (pixel x scale - mean) / std beside the pixels, which the
    # first layer reads; each channel's editable mean and std beside its map
    normalised: MapStack | None = None
    mean: tuple | None = None
    std: tuple | None = None
    mean_labels: tuple | None = None
    std_labels: tuple | None = None

    @property
    def output(self):
        return self.pixels if self.normalised is None else self.normalised


@dataclass(frozen=True, kw_only=True)
class FiltersSheet(Sheet):
    """The filters of a layer that has them (``Layer.has_filters``): filter k's C slices side by side
    (``weight[k][c]``), then its bias.

    A flipped or dilated filter also has ``effective[k][c]``, the kernel the layer
    really slides (turned and/or spread out), whose taps refer to the slices; otherwise
    ``effective`` is None and the slices are slid as they are. ``conv`` is the layer.
    """

    conv: object
    weight: tuple
    bias: tuple
    effective: tuple | None
    filter_labels: tuple        # [k], in column A above filter k
    slice_labels: tuple         # [k][c]
    bias_labels: tuple          # [k]
    effective_labels: tuple | None
    highlight: Block            # the number of the filter the first conv sheet explains
    highlight_label: Block
    channels: int = 0           # the input channels; a grouped filter's slices are those of its group
    connections: "ChannelGrid | None" = None   # a grouped layer's grid of which channels each filter reads

    def on_legend_row(self):
        return self.highlight

    def reads(self, k):
        """The input channels filter k's slices read, in slice order: its group's (every channel, ungrouped)."""
        first, count = self.conv.group_reads(k, self.channels)
        return range(first, first + count)

    @property
    def kernels(self):
        """kernels[k][c]: the blocks the output maps' formulas slide, effective or stored."""
        return self.weight if self.effective is None else self.effective

    def band(self, c):
        """Channel c's slices of every filter, as one tall range (filters sit one band below another)."""
        return Block.spanning(self.weight[0][c], self.weight[-1][c])

    @property
    def biases(self):
        """Every filter's bias, as one tall range."""
        return Block.spanning(self.bias[0], self.bias[-1])

    @property
    def band_step(self):
        """Rows from one filter's band to the next (0 for a single filter): INDEX steps down the bands by it."""
        return self.weight[1][0].row - self.weight[0][0].row if len(self.weight) > 1 else 0

    def tap_offset(self, u, v):
        """Where tap (u, v) of a kernel (taps D cells apart) sits in the effective kernel and in the window it reads."""
        return u * self.conv.dilation, v * self.conv.dilation

    def stored_at(self, a, b):
        """(u, v) of the stored weight at position (a, b) of the effective kernel, or None for a hole."""
        return self.conv.tap_at(a, b)

    def tap(self, k, c, a, b):
        """The stored weight's cell at position (a, b) of filter k's effective kernel for channel c; None in a hole."""
        stored = self.stored_at(a, b)
        return None if stored is None else self.weight[k][c].sub(*stored, 1, 1)

    def turned_tap(self, k, c, a, b):
        """``tap`` of the effective kernel turned 180 degrees (the input gradient slides it so)."""
        span = self.conv.span
        return self.tap(k, c, span - 1 - a, span - 1 - b)

    def taps(self):
        """Every (k, c, cell of the effective kernel, the stored weight's cell or None) of every effective kernel."""
        for k, slices in enumerate(self.effective or ()):
            for c, block in enumerate(slices):
                for a, b, _, _ in block.cells():
                    yield k, c, block.sub(a, b, 1, 1), self.tap(k, c, a, b)


@dataclass(frozen=True, kw_only=True)
class ScatterKernelsSheet(FiltersSheet):
    """The kernels of a layer that scatters (``Layer.scatters``), as a filters sheet: a band per input
    channel c holding its K kernels side by side (``weight[c][k]``, the stored weight[c, k]: what each cell
    of channel c stamps onto map k), then a row of the K biases (``bias[k]``). ``conv`` is the layer;
    there is no effective kernel, and nothing goes on the legend row."""

    def on_legend_row(self):
        return None


@dataclass(frozen=True, kw_only=True)
class ScatterSheet(Sheet):
    """A scattering layer's output maps: cell (y, x) of map k sums input cell x stamped-kernel tap over
    every input cell (every channel) whose kernel, stamped at (i S, j S), covers it (``terms``).

    Beside the maps: ``reach``, how many input cells reach each output cell (one map: every map
    alike), the output side's arithmetic, and the worked example of output cell ``example_at``
    (k, y, x), one row per (input cell, tap) pair: where from, the input, the tap, the weight,
    their product; then their sum, the input scale (first layer), the bias, the result and the
    layer's own cell.
    """

    output: MapStack
    reach: Block
    reach_label: Block
    side: Block                 # the output side, (W - 1) S - 2P + F as a formula
    side_label: Block
    example_title: Block
    example_headers: Block      # 1 x 5: from, input, tap, weight, product
    origins: Block              # n x 1, texts: channel, row and column of the input cell
    inputs: Block               # n x 1
    taps: Block                 # n x 1, texts: the tap of the stamped kernel
    weights: Block              # n x 1
    products: Block             # n x 1
    results: Block              # ``result_keys``, one below the other, under the products
    result_labels: Block        # under the taps' words
    result_keys: tuple          # sum, scale (a first layer reading the pixels), bias, result, the layer's cell
    example_at: tuple           # (k, y, x): an output cell that the most input cells reach
    scatter: object             # the layer
    source: MapStack = field(metadata=ELSEWHERE)
    kernels: tuple = field(metadata=ELSEWHERE)   # the kernels sheet's weight[c][k]
    biases: tuple = field(metadata=ELSEWHERE)    # the kernels sheet's bias[k]

    @property
    def value_columns(self):
        return self.reach.last_col - self.output.maps[0].col + 2

    def page_break_column(self):
        """The worked example and the reach map print on a page of their own, beside the maps' page."""
        return self.example_title.col

    def contributions(self, y, x):
        """(c, i, j, u, v) of every input cell (i, j) of every channel c whose kernel's tap (u, v) lands on (y, x)."""
        channels, height, width = self.source.shape
        return [(c, i, j, u, v) for i, u in self.scatter.reaching(y, height) for j, v in self.scatter.reaching(x, width)
                for c in range(channels)]

    def terms(self, k, y, x):
        """(input cell, weight cell) of every contribution to cell (y, x) of map k, as 1 x 1 blocks."""
        return [(self.source.at(c, i, j), self.kernels[c][k].sub(u, v, 1, 1))
                for c, i, j, u, v in self.contributions(y, x)]

    def landed(self, i, j):
        """(u, v, y, x) of every tap of input cell (i, j)'s stamp that lands inside the output, on (y, x)."""
        _, height, width = self.output.shape
        return [(u, v, y, x) for u, y in self.scatter.landing(i, height) for v, x in self.scatter.landing(j, width)]

    def weight_pairs(self, c, k, u, v, upstream):
        """(input cell, cell of the ``upstream`` gradient) of every cell of channel c whose tap (u, v) for map k
        lands inside the output: what the gradient of that weight sums."""
        _, height, width = self.source.shape
        return [(self.source.at(c, i, j), upstream.at(k, y, x)) for i in range(height) for j in range(width)
                for a, b, y, x in self.landed(i, j) if (a, b) == (u, v)]

    def input_pairs(self, c, i, j, upstream):
        """(weight cell, cell of the ``upstream`` gradient) of every tap, for every map, that input cell (i, j)
        of channel c stamps inside the output: what the gradient of that input cell sums."""
        return [(self.kernels[c][k].sub(u, v, 1, 1), upstream.at(k, y, x)) for k in range(len(self.biases))
                for u, v, y, x in self.landed(i, j)]

    def result(self, key):
        """The worked example's result cell ``key``: sum, scale, bias, result or cell."""
        return self.results.sub(self.result_keys.index(key), 0, 1, 1)

    def derived(self):
        """The blocks beside the maps that must hold formulas."""
        return (self.reach, self.side, self.inputs, self.weights, self.products, self.results)


@dataclass(frozen=True)
class ChannelGrid:
    """Filters x input channels of a grouped layer: ``cells`` (K x C) holds a mark where filter k reads
    channel c; ``filters`` (K x 1) and ``channels`` (1 x C) number them, ``title`` says what it shows. Not a
    long block of the sheet's own (a handout never cuts rows for it)."""

    cells: Block
    filters: Block
    channels: Block
    title: Block


# ---------------------------------------------------------------- layers over maps and vectors


@dataclass(frozen=True, kw_only=True)
class MapSheet(Sheet):
    """An activation over maps (conv and pooling sheets add to it): the output maps, the worked example.

    Output cell (i, j) of map k reads ``window(k, i, j)`` of the ``source`` maps (a conv:
    ``window(c, i, j)`` of every input channel c): ``size`` x ``size`` cells, ``stride`` apart.
    """

    output: MapStack
    explain: Example
    source: MapStack = field(metadata=ELSEWHERE)
    size: int
    stride: int

    @property
    def value_columns(self):
        """How many columns from the maps' first are sized for numbers: the maps, the example and some room."""
        return self.explain.title.col + 40

    def example_reach(self):
        """(padding, bounds) of the worked example's window: see ``PoolSheet.example_reach``."""
        return 0, None

    uniform_windows = True   # every output cell reads a window of one shape: its formula is the first one moved

    def window(self, c, i, j):
        """The cells of input map c that output cell (i, j) reads (padded coordinates: a conv reads its border)."""
        return self.source.window(c, i * self.stride, j * self.stride, self.size, self.size)


@dataclass(frozen=True, kw_only=True)
class ConvSheet(MapSheet):
    """The output maps of a layer with filters; ``size`` is its span D * (F - 1) + 1. ``conv`` is the layer."""

    conv: object

    def reach(self, c, u, v):
        """Every cell of input map c that stored weight (u, v) multiplies, one per output cell, as a block
        the shape of an output map (stride 1; the weight's gradient pairs it with the upstream map)."""
        _, height, width = self.output.shape
        return self.source.maps[c].sub(*self.conv.offset_of(u, v), height, width)


@dataclass(frozen=True, kw_only=True)
class PoolSheet(MapSheet):
    """A pooling layer's output maps: window (i, j) is ``size`` x ``size`` cells from (i x stride, j x stride),
    in padded coordinates. With ``padding`` the window is cut to the cells that count: the maps
    themselves for a max (padding never wins), the padded maps for a mean that ``counts_padding``;
    in ceil mode, cells past the padded maps never count."""

    padding: int = 0
    counts_padding: bool = False
    across: int = 0     # the window's width where it is not ``size`` (global pooling of a map that is not square)
    slides: bool = True   # False: one window, the whole map (global pooling), whatever ``stride`` says

    def window(self, c, i, j):
        top, left = i * self.stride, j * self.stride
        low = 0 if self.counts_padding else self.padding      # the first padded row and column that count
        bottom, right = (side - low for side in (self.source.maps[c].height, self.source.maps[c].width))
        rows = (max(top, low), min(top + self.size, bottom))
        cols = (max(left, low), min(left + (self.across or self.size), right))
        return self.source.window(c, rows[0], cols[0], rows[1] - rows[0], cols[1] - cols[0])

    @property
    def uniform_windows(self):
        """No padding, and the last window down and across still inside the maps: nothing is cut."""
        _, rows, cols = self.output.shape
        _, height, width = self.source.shape
        return (not self.padding and (rows - 1) * self.stride + self.size <= height
                and (cols - 1) * self.stride + (self.across or self.size) <= width)

    def example_reach(self):
        """(padding, (first row, last row, first column, last column)) of the cells a window may take,
        counted from 1 inside the maps as the worked example's INDEX counts; (0, None) for a plain pool."""
        if self.uniform_windows:
            return 0, None
        _, height, width = self.source.shape
        low = -self.padding if self.counts_padding else 0
        return self.padding, (low + 1, height - low, low + 1, width - low)

    def pooled_by(self, r, s):
        """(i, j) of the window from input cell (r, s)'s own stride step (the one starting on or before the
        cell, in padded coordinates), when that window exists and holds the cell; None otherwise. For
        windows that do not overlap it is the one window that reads the cell. A global pool's one
        window holds every cell."""
        if not self.slides:
            return 0, 0
        _, rows, cols = self.output.shape
        found = []
        for at, count in ((r + self.padding, rows), (s + self.padding, cols)):
            index = at // self.stride
            if index >= count or at - index * self.stride >= self.size:
                return None
            found.append(index)
        return tuple(found)

    def windows_holding(self, r, s):
        """(i, j) of every window that holds input cell (r, s), in reading order: windows that overlap
        (stride below size) share cells, so up to (size / stride)^2 of them hold one cell."""
        _, rows, cols = self.output.shape
        found = []
        for at, count in ((r + self.padding, rows), (s + self.padding, cols)):
            first = max(0, -(-(at - self.size + 1) // self.stride))   # the first window reaching the cell
            found.append(range(first, min(count, at // self.stride + 1)))
        return [(i, j) for i in found[0] for j in found[1]]

    def holding(self, c, r, s, upstream):
        """For every window that holds input cell (r, s) of map c: (its block, the cells of it before
        (r, s) in reading order, its output's cell of ``upstream``, the gradient of the output)."""
        return [(self.window(c, i, j), self.before_in_window(c, r, s, (i, j)), upstream.at(c, i, j))
                for i, j in self.windows_holding(r, s)]

    def before_in_window(self, c, r, s, at=None):
        """The cells of (r, s)'s window in map c (the window ``at``, by default the one of its own stride step)
        that come before it in reading order (rows above; cells left), within the cells the window reads
        (a max's window never reaches into padding)."""
        window, cell = self.window(c, *(at or self.pooled_by(r, s))), self.source.at(c, r, s)
        above, left = cell.row - window.row, cell.col - window.col
        earlier = []
        if above:
            earlier.append(window.sub(0, 0, above, window.width))
        if left:
            earlier.append(window.sub(above, 0, 1, left))
        return earlier


@dataclass(frozen=True, kw_only=True)
class Im2colSheet(Sheet):
    """The first layer with filters as a matrix product (im2col).

    Row k of ``filter_rows`` is filter k unrolled, column n its weight (c, u, v) in reading order;
    column p of ``windows`` is the input window under output position p = i x width + j, unrolled
    the same way, so row n of both is the same tap. Output cell (i, j) of map k is row k times
    column p, times the input scale where the layer reads the pixels, plus bias k.
    """

    filter_rows: Block          # K x N, N = C x F x F
    filter_labels: Block        # K x 1, in column A
    tap_labels: Block           # 1 x N, above ``filter_rows``: which (c, u, v) each column holds
    bias: Block                 # K x 1, right of ``filter_rows``
    bias_label: Block
    windows: Block              # N x P, P = output height x width
    window_labels: Block        # N x 1, in column A: the tap of each row
    position_labels: Block      # 1 x P, above ``windows``: the output position (i, j) of each column
    windows_label: Block
    filters_label: Block
    output: MapStack
    conv: object = field(metadata=ELSEWHERE)      # the layer
    source: MapStack = field(metadata=ELSEWHERE)  # what the layer reads
    kernels: tuple = field(metadata=ELSEWHERE)    # the filters sheet's stored weights, [k][c]
    biases: tuple = field(metadata=ELSEWHERE)     # the filters sheet's biases, [k]

    def tap(self, n):
        """(c, u, v) of row n: channel, then kernel row, then kernel column."""
        side = self.conv.kernel
        c, rest = divmod(n, side * side)
        return (c, *divmod(rest, side))

    def position(self, p):
        """(i, j) of output position p, in reading order."""
        return divmod(p, self.output.shape[2])

    def output_position(self, i, j):
        """The column of ``windows`` that output cell (i, j) reads: ``position``'s inverse."""
        return i * self.output.shape[2] + j

    def weight_cell(self, k, n):
        c, u, v = self.tap(n)
        return self.kernels[k][c].sub(u, v, 1, 1)

    def input_index(self, n, p):
        """(c, row, column) in the padded source of the cell tap n of window p multiplies: the
        layer's own geometry (stride, dilation, a turned kernel) through ``conv.offset_of``."""
        c, u, v = self.tap(n)
        i, j = self.position(p)
        a, b = self.conv.offset_of(u, v)
        return c, i * self.conv.stride + a, j * self.conv.stride + b

    def input_cell(self, n, p):
        c, row, col = self.input_index(n, p)
        return self.source.maps[c].sub(row, col, 1, 1)

    def row(self, k):
        return self.filter_rows.sub(k, 0, 1, self.filter_rows.width)

    def column(self, p):
        return self.windows.sub(0, p, self.windows.height, 1)


@dataclass(frozen=True, kw_only=True)
class AddSheet(Sheet):
    """An add layer's output maps: cell (i, j) of map k is the sum of that cell in every source.

    ``sources`` are the map stacks it adds, in the order the network names them. Left of the
    sum, on the same rows, ``terms[n]`` holds a copy of source n (so the student sees what is
    added, a shortcut included); ``signs[k]`` are the "+" cells between the terms of map k and
    the "=" before the sum.
    """

    output: MapStack
    terms: tuple
    signs: tuple
    sources: tuple = field(metadata=ELSEWHERE)

    @property
    def value_start(self):
        return self.terms[0].maps[0].col

    @property
    def value_columns(self):
        return self.output.maps[0].last_col - self.value_start + 5

    def operands(self, k, i, j):
        """Cell (i, j) of map k in every term (the copies beside the sum), as 1 x 1 blocks."""
        return tuple(term.at(k, i, j) for term in self.terms)


@dataclass(frozen=True, kw_only=True)
class StackedSheet(Sheet):
    """A stacking join's output: the maps of every source stacked in the order the network names them, or
    (when they are vectors) their vectors joined end to end into one column.

    Output map k (element k) is map (element) c of source n, ``origin(k)``; ``sources`` are the map
    stacks (blocks) it joins. A vector has its heading above it and numbers 1, 2, ... beside it.
    """

    output: MapStack | Block
    sources: tuple = field(metadata=ELSEWHERE)
    output_label: Block | None = None
    numbers: Block | None = None

    @property
    def value_start(self):
        return self.output.maps[0].col

    @property
    def value_columns(self):
        return self.output.maps[0].width + 4

    def on_legend_row(self):
        return self.output_label     # a vector's heading; None for maps (their headings sit lower)

    def source_sheets(self):
        """The names of the sheets it joins, in order."""
        return tuple(next(all_blocks(source)).sheet for source in self.sources)

    def counts(self):
        """How many maps (elements) each source hands on."""
        return tuple(len(source.maps) if isinstance(source, MapStack) else source.size for source in self.sources)

    def origin(self, k):
        """(n, c): output map (element) k is map (element) c of source n."""
        for n, count in enumerate(self.counts()):
            if k < count:
                return n, k
            k -= count
        raise IndexError(k)

    def operand(self, k, i=0, j=0):
        """The cell output cell (i, j) of map k (element k) copies, as a 1 x 1 block."""
        n, c = self.origin(k)
        source = self.sources[n]
        return source.at(c, i, j) if isinstance(source, MapStack) else source.item(c)


@dataclass(frozen=True, kw_only=True)
class NormSheet(Sheet):
    """A layer that normalises each channel (each unit of a vector) by numbers it keeps, then scales and
    shifts it: the ``normalised`` values x^ and the ``output`` y side by side, row for row, and one row
    per channel of its numbers (editable) under ``headers``, numbered, and eps below them.

    Maps are stacks (x^ without a border, y with the border a reader pads) below the table; a vector
    is two columns, the table beside them.
    """

    normalised: MapStack | Block
    output: MapStack | Block
    normalised_label: Block | None = None     # a vector's headings (maps have one above each map)
    output_label: Block | None = None
    headers: Block
    numbers: Block
    mean: Block                 # one row per channel
    variance: Block
    gamma: Block
    beta: Block
    eps: Block
    eps_label: Block
    explain: Example | None = None     # maps: the worked example beside y (a vector's rows show every step)
    source: MapStack | Block = field(metadata=ELSEWHERE)

    def on_legend_row(self):
        return self.headers if self.output_label is not None else None   # a vector's headings share that row

    def shown_with(self, position):
        """The cells that show a step of output cell ``position`` (k, i, j): its x^, hidden with it."""
        return (self.normalised.at(*position),)

    @property
    def value_columns(self):
        """The columns from the first, sized for numbers: the stacks (or columns) and the table."""
        return max(block.last_col for block in all_blocks([self.output, self.beta]))

    def parameter_blocks(self):
        """{parameter name, as the model names it: its column}."""
        return {"weight": self.gamma, "bias": self.beta, "running_mean": self.mean, "running_var": self.variance}

    def channel(self, name, c):
        """Channel c's ``name`` parameter cell (a 1 x 1 block)."""
        return self.parameter_blocks()[name].item(c)

    def channel_cells(self, c):
        """Channel c's gamma, beta, mean and variance cells, in the order ``parameter_blocks`` lists them."""
        return tuple(block.item(c) for block in self.parameter_blocks().values())


@dataclass(frozen=True, kw_only=True)
class FoldSheet(Sheet):
    """A normalising layer (``norm``, its sheet) folded into the conv or fully connected layer before it (``before``,
    that layer's sheet; ``filters``, a conv's filters sheet): that layer's weights and biases scaled per
    output channel (the biases also shifted), as formulas reading both sheets; the output they give from
    the same input, its ``difference`` from the normalising layer's output and the ``largest`` |difference|.

    A conv: ``weight[k][c]`` and ``bias[k]`` in the filters sheet's arrangement (its effective kernels,
    when it has them), the output as maps. A fully connected layer: ``weight`` one block and ``bias`` one row or
    column in its sheet's arrangement (``rows_are_inputs``), the output and difference like its output.
    Its ``layer`` is None: the sheet shows no layer of its own (``norm_layer`` is the one it folds).
    """

    norm_layer: int
    weight: tuple | Block
    bias: tuple | Block
    weight_labels: tuple | Block
    bias_labels: tuple | Block
    folded: MapStack | Block
    folded_label: Block | None = None        # a fully connected layer's headings (maps have one above each map)
    difference: MapStack | Block
    difference_label: Block | None = None
    largest: Block
    largest_label: Block
    rows_are_inputs: bool = True
    norm: NormSheet = field(metadata=ELSEWHERE)
    before: Sheet = field(metadata=ELSEWHERE)
    filters: Sheet | None = field(default=None, metadata=ELSEWHERE)

    def formula_parts(self):
        """Every block that holds formulas."""
        return [self.weight, self.bias, self.folded, self.difference, self.largest]

    def weights_of(self, n):
        """Output n's folded weights (fully connected), the shape of its input (``ConnectedSheet.weights_of``)."""
        return weights_of(self.weight, self.rows_are_inputs, n)


@dataclass(frozen=True, kw_only=True)
class VectorSheet(Sheet):
    """An activation over a vector (after a hidden fully connected layer): one cell per element."""

    output: Block
    output_label: Block
    numbers: Block              # 1, 2, ... beside the elements
    source: Block = field(metadata=ELSEWHERE)


@dataclass(frozen=True, kw_only=True)
class ColumnSheet(Sheet):
    """The ``source`` maps as one column, map by map and row by row: position, map, row, column, value."""

    headers: Block
    labels: Block
    output: Block
    source: MapStack = field(metadata=ELSEWHERE)

    def on_legend_row(self):
        return self.headers

    def flat_index(self, c, i, j):
        """Where cell (i, j) of map c lands in the column (NumPy's reshape order: C, H, W)."""
        _, height, width = self.source.shape
        return (c * height + i) * width + j


@dataclass(frozen=True, kw_only=True)
class ConnectedSheet(Sheet):
    """A fully connected layer: its units, biases and outputs, and the weights laid out to match its input.

    ``rows_are_inputs`` (after a column): outputs along a row, weight (i, n) in row i and
    column n, and the worked example beside them; otherwise (after a row) outputs down a
    column and weight (i, n) in row n and column i.
    """

    units: Block
    units_label: Block
    bias: Block
    bias_label: Block
    output: Block
    output_label: Block
    weight_labels: Block
    weight: Block
    rows_are_inputs: bool
    explain: ConnectedExample | None

    def weights_of(self, n):
        """Output n's weights, the shape of the input vector."""
        return weights_of(self.weight, self.rows_are_inputs, n)

    def weights_from(self, i):
        """Input i's weights, one for every output (the shape of the output vector)."""
        units = self.output.size
        return self.weight.sub(i, 0, 1, units) if self.rows_are_inputs else self.weight.sub(0, i, units, 1)

    def weight_cell(self, i, n):
        """The weight of input i for output n."""
        return self.weight.sub(i, n, 1, 1) if self.rows_are_inputs else self.weight.sub(n, i, 1, 1)


def weights_of(weight, rows_are_inputs, n):
    """Output n's weights in a fully connected layer's ``weight`` block: a column (rows are inputs) or a row."""
    inputs = weight.height if rows_are_inputs else weight.width
    return weight.sub(0, n, inputs, 1) if rows_are_inputs else weight.sub(n, 0, 1, inputs)


# ---------------------------------------------------------------- the classifier's end, the summary, the descent


@dataclass(frozen=True, kw_only=True)
class ProbabilitySheet(Sheet):
    """One row per class: its name, logit, logit - max, e^(...), probability, ln p and "highest?"."""

    headers: Block              # the row of column headings above the table
    classes: Block
    logit: Block
    shifted: Block
    exp: Block
    probability: Block
    log_probability: Block
    top: Block
    max: Block
    max_label: Block
    sum: Block
    sum_label: Block
    prediction: Block
    prediction_label: Block
    confidence: Block
    confidence_label: Block
    knows: Knows                # what the model can answer, and pictures of it

    def on_legend_row(self):
        return self.headers

    @property
    def output(self):
        return self.probability


@dataclass(frozen=True, kw_only=True)
class LossSheet(Sheet):
    """The true label (picked by the student), its one-hot row and the cross-entropy."""

    true_label: Block
    true_label_label: Block
    label_prompt: Block         # asks for the label while it is blank
    classes: Block
    classes_label: Block
    one_hot: Block
    one_hot_label: Block
    log_probability: Block
    log_probability_label: Block
    loss: Block
    loss_label: Block

    def derived(self):
        """The blocks that must hold formulas (the true label is the student's choice)."""
        return (self.classes, self.one_hot, self.log_probability, self.loss)


@dataclass(frozen=True, kw_only=True)
class SquaredErrorSheet(Sheet):
    """A regression's loss (--loss mse): one row per output, its number, the output y (read from the
    last layer), the target t (typed in by the student) and (y - t)^2; below them their mean, the loss."""

    headers: Block              # the row of column headings above the table
    numbers: Block              # 1, 2, ... in column A
    outputs: Block
    targets: Block
    errors: Block
    loss: Block
    loss_label: Block
    source: Block = field(metadata=ELSEWHERE)   # the last layer's outputs

    def on_legend_row(self):
        return self.headers

    def derived(self):
        """The blocks that must hold formulas (the targets are the student's numbers)."""
        return (self.outputs, self.errors, self.loss)


@dataclass(frozen=True, kw_only=True)
class SummarySheet(Sheet):
    """One row per layer (and the input's), then the totals; below them, when layers are fed by a 1x1
    bottleneck, two rows each: its multiply-adds with the bottleneck and without it, then their ratio."""

    headers: Block
    table: Block
    totals: Block
    totals_label: Block
    bottlenecks: Block | None = None
    bottleneck_headers: Block | None = None
    bottleneck_title: Block | None = None
    comparison: Block | None = None      # grouped convs beside standard ones (summary.COMPARISON_COLUMNS), if any
    comparison_headers: Block | None = None
    comparison_title: Block | None = None


@dataclass(frozen=True, kw_only=True)
class ManifestSheet(Sheet):
    """What rebuilds the workbook: one entry a row, its name then its value."""

    names: Block
    values: Block


@dataclass(frozen=True, kw_only=True)
class DescentSheet(Sheet):
    """The learning rate, and the loss before any step (step 0) and after each one, with a chart."""

    rate: Block
    rate_label: Block
    change: Block               # the loss after the last step minus before
    change_label: Block
    steps: Block                # 0 (before any step) .. steps
    steps_label: Block
    losses: Block
    losses_label: Block
    chart: Block


# ---------------------------------------------------------------- worked examples ("explain this cell")


@dataclass(frozen=True, kw_only=True)
class Example:
    """The worked example beside a layer's output, at a position the student chooses.

    Below it, the exercise table: per exercise a name row, then its answer and check.
    """

    title: Block
    choose: Block               # map, row, column (a fully connected layer: the unit), 1-based
    choose_labels: Block        # the word beside each number
    result: Block
    result_label: Block
    cell: Block                 # the layer's own cell at the chosen position ...
    cell_label: Block
    same: Block                 # ... and whether the example agrees with it
    same_label: Block
    exercise: Block             # 2 rows per exercise: its name; its answer and check
    exercise_title: Block
    exercise_instructions: Block

    def exercise_label(self, n):
        return self.exercise.sub(2 * n, 0, 1, 1)

    def answer(self, n):
        return self.exercise.sub(2 * n + 1, 0, 1, 1)

    def check(self, n):
        return self.exercise.sub(2 * n + 1, 1, 1, 1)

    def formula_cells(self):
        """The blocks of the example that hold formulas (the count the formula budget needs)."""
        return [self.result, self.cell, self.same]


@dataclass(frozen=True, kw_only=True)
class ConvExample(Example):
    """Per input channel c: the window it reads, the filter slice, their products, the channel's sum
    (and spelled out as text); then the bias, the input scale (first layer) and the result."""

    prompt: Block               # "choose a cell" beside the title
    windows: tuple
    window_labels: tuple
    weights: tuple
    weight_labels: tuple
    products: tuple
    product_labels: tuple
    sums: tuple
    sum_labels: tuple
    spelled: tuple
    bias: Block
    bias_label: Block
    scale: Block
    scale_label: Block

    def formula_cells(self, scaled=True):
        scale = [self.scale] if scaled else []
        return [*self.windows, *self.weights, *self.products, *self.sums, *self.spelled, self.bias, *scale,
                *super().formula_cells()]


@dataclass(frozen=True, kw_only=True)
class WindowExample(Example):
    """A pooling window (or the one cell an activation reads) and the result it gives."""

    prompt: Block
    window: Block
    window_label: Block

    def formula_cells(self, scaled=True):
        return [self.window, *super().formula_cells()]


@dataclass(frozen=True, kw_only=True)
class NormExample(Example):
    """The cell a normalising layer reads, its channel's numbers, x^ and (the result) y."""

    prompt: Block
    input: Block
    input_label: Block
    mean: Block
    mean_label: Block
    variance: Block
    variance_label: Block
    eps: Block
    eps_label: Block
    normalised: Block
    normalised_label: Block
    gamma: Block
    gamma_label: Block
    beta: Block
    beta_label: Block

    def formula_cells(self, scaled=True):
        return [self.input, self.mean, self.variance, self.eps, self.normalised, self.gamma, self.beta,
                *super().formula_cells()]


@dataclass(frozen=True, kw_only=True)
class ConnectedExample(Example):
    """Every input times its weight for the chosen unit, their sum, the bias and the result."""

    products: Block
    products_label: Block
    sum: Block
    sum_label: Block
    bias: Block
    bias_label: Block

    def formula_cells(self, scaled=True):
        return [self.products, self.sum, self.bias, *super().formula_cells()]


# ---------------------------------------------------------------- gradient sheets


@dataclass(frozen=True, kw_only=True)
class ScatterGradSheet(Sheet):
    """The gradients of a scattering layer's kernels and biases, in its kernels sheet's arrangement
    (``weight[c][k]``, ``bias[k]``); unless the layer reads the photo, below them the gradient of its input."""

    weight: tuple               # [c][k]
    bias: tuple                 # [k]
    band_labels: tuple          # [c]
    kernel_labels: tuple        # [c][k]
    bias_labels: tuple          # [k]
    input: MapStack | None
    upstream: MapStack = field(metadata=ELSEWHERE)   # the gradient of the layer's output (the sheet after,
    #                                                  or ``gathered``)
    gathered: MapStack | None = None     # a fork: the sum of what every layer reading it sends back
    gathered_label: Block | None = None
    sent: tuple = field(default=(), metadata=ELSEWHERE)   # ... what each sends back, the terms of that sum

    def formula_parts(self):
        return [self.weight, self.bias, self.input or (), self.gathered or ()]


@dataclass(frozen=True, kw_only=True)
class ConvGradSheet(Sheet):
    """The gradients of a conv layer's filters and biases, in the filters sheet's arrangement; unless the
    layer reads the photo, the kernels turned 180 degrees and, below, the gradient of the layer's input."""

    weight: tuple               # [k][c]
    bias: tuple                 # [k]
    filter_labels: tuple
    bias_labels: tuple
    back_kernels: tuple | None  # [k][c]: the effective kernels turned, which the input's gradient slides
    back_kernel_labels: tuple | None
    input: MapStack | None
    upstream: MapStack = field(metadata=ELSEWHERE)   # the gradient of the layer's output (the sheet after,
    #                                                  or ``gathered``), padded by span - 1
    padding: int                # the layer's own zero border
    gathered: MapStack | None = None     # a fork: the sum of what every layer reading it sends back
    gathered_label: Block | None = None
    sent: tuple = field(default=(), metadata=ELSEWHERE)   # ... what each sends back, the terms of that sum

    def formula_parts(self):
        """What holds formulas (the formula budget counts it; a few zero taps too, an upper bound)."""
        return [self.weight, self.bias, self.back_kernels or (), self.input or (), self.gathered or ()]

    def upstream_window(self, k, r, s):
        """The window of upstream map k that the gradient of input cell (r, s) slides a turned kernel over."""
        span = self.upstream.pad + 1
        return self.upstream.window(k, r + self.padding, s + self.padding, span, span)


@dataclass(frozen=True, kw_only=True)
class ConnectedGradSheet(Sheet):
    """dL/dz (the upstream row), dL/db, dL/dW (one row per input) and dL/dx (a column beside it)."""

    upstream: Block
    upstream_label: Block
    bias: Block
    bias_label: Block
    weight: Block               # row = input, column = output
    weight_label: Block
    input: Block
    input_label: Block

    def formula_parts(self):
        return [self.upstream, self.bias, self.weight, self.input]


@dataclass(frozen=True, kw_only=True)
class MapGradSheet(Sheet):
    """The gradient of the input of a layer that makes a column, pools or activates, map by map; a layer that
    ``chooses`` (a switch, a window's largest cell) also has its tie margin."""

    input: MapStack
    margin: Block | None = None
    margin_label: Block | None = None
    upstream: MapStack | Block | None = field(default=None, metadata=ELSEWHERE)   # the gradient of its output
    gathered: MapStack | None = None     # a fork: the sum of what every layer reading it sends back
    gathered_label: Block | None = None
    sent: tuple = field(default=(), metadata=ELSEWHERE)   # ... what each sends back, the terms of that sum

    def formula_parts(self):
        return [self.input, self.margin or (), self.gathered or ()]


@dataclass(frozen=True, kw_only=True)
class JoinGradSheet(Sheet):
    """The gradient of a join's output, map by map: the sum of what every layer reading it sends back (one
    term: a plain reference). Every operand takes it back as it is (a sum), or its own maps (a stacking join)."""

    input: MapStack
    sent: tuple = field(metadata=ELSEWHERE)   # what each layer reading the join sends back

    def formula_parts(self):
        return [self.input]


@dataclass(frozen=True, kw_only=True)
class NormGradSheet(Sheet):
    """A normalising layer's gradients with its statistics held fixed: per channel (numbered, under
    ``headers``) dL/dgamma and dL/dbeta, then the gradient of its input map by map."""

    headers: Block
    numbers: Block
    gamma: Block                # one row per channel
    beta: Block
    input: MapStack
    upstream: MapStack | Block | None = field(default=None, metadata=ELSEWHERE)   # the gradient of its output
    gathered: MapStack | None = None     # a fork: the sum of what every layer reading it sends back
    gathered_label: Block | None = None
    sent: tuple = field(default=(), metadata=ELSEWHERE)   # ... what each sends back, the terms of that sum

    def formula_parts(self):
        return [self.gamma, self.beta, self.input, self.gathered or ()]

    def channel(self, name, c):
        """The gradient cell of parameter ``name`` (gamma: "weight", beta: "bias") for channel c, as
        ``NormSheet.channel`` finds the parameter: a descent step pairs them."""
        return {"weight": self.gamma, "bias": self.beta}[name].item(c)


# ---------------------------------------------------------------- legends, what the model knows, the overview


@dataclass(frozen=True, kw_only=True)
class Legend:
    """A sheet's colour legend: the painted bar, then its words (several cells: merged, the words wrap)."""

    bar: Block
    words: Block



@dataclass(frozen=True, kw_only=True)
class Knows:
    """The sentence saying which classes the model answers with; below it, when the classes are the
    generated shapes, a picture of each (``pictures``: where each floats) with its name under it."""

    sentence: Block             # more than one cell: merged, the sentence wraps in it
    pictures: tuple
    names: tuple


@dataclass(frozen=True, kw_only=True)
class OverviewSheet(Sheet):
    """The story on one page: the network as boxes, the photo in square cells beside its picture and the
    chart, the results, a small picture of every feature map, and a link to every sheet."""

    network_label: Block
    boxes: tuple                # the input's, then one per layer
    box_shapes: tuple           # the shape each box hands on
    arrows: tuple               # "->" after every box but the last
    photo_label: Block          # above the photo in cells ...
    picture_label: Block        # ... and above its picture
    colour_view: Block
    beside_photo: Block         # square rows: only floating things (picture, chart) sit here
    picture: Block
    chart: Block
    prediction: Block
    prediction_value: Block
    confidence: Block
    confidence_value: Block
    true_label: Block
    true_label_value: Block
    loss: Block
    loss_value: Block
    knows: Knows
    pictures_title: Block
    legend: Legend
    pictures: tuple             # MapPictures of every layer with maps
    links_label: Block
    links: Block                # one link a row, to every other sheet
    gap_rows: tuple             # empty rows that only separate parts: printed thin
    last_printed_col: int       # the links right of it are for the screen
