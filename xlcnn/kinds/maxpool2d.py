"""Max pooling: the largest value of each window. Each NumPy function has its formula twin below it (``*_formula``).

Shapes: x (..., C, H, W) -> (..., C, H_out, W_out), H_out = floor((H - size) / stride) + 1.
"""

from dataclasses import dataclass

import numpy as np

from .base import Pool, cut_to_input, tie_margin, windows


@dataclass(frozen=True)
class MaxPool2D(Pool):
    """The largest value of each size x size window, windows moved by stride."""

    kind = "maxpool2d"
    onnx_ops = ("MaxPool",)
    word = "max"
    grammar = "maxpool{N}[-s{S}][-p{P}][-ceil]"
    examples = ("maxpool2",)
    title = "Pool"
    chooses = True
    example_words = ("pool_window", "pool_max")   # its worked example's labels (text keys)

    def describe(self):
        return f"max pool {self.size}x{self.size}, stride {self.step}{self.describe_window()}"

    def forward_one(self, x, params):
        if self.plain:
            return maxpool_forward(x, self.size, self.step)
        return self.pooled(x, -np.inf).max(axis=(-2, -1))     # padding never wins a max, as in PyTorch

    def backward_one(self, dout, x, params):
        if self.plain:
            return maxpool_backward(dout, x, self.size, self.step, tie_margin(x)), {}
        return maxpool_backward_padded(dout, x, self), {}

    def forward_formula(self, window, scale=None):
        return maxpool_forward_formula(window, scale)

    def backward_term(self, x, window, earlier, margin, upstream):
        return maxpool_backward_term(x, window, earlier, margin, upstream)

    def copied_cell(self, sheet, at):
        if not self.plain:     # windows that reach into padding: no simple map from an input cell
            return None
        window = sheet.pooled_by(*(int(n) for n in at[1:]))
        return None if window is None else (at[0], *window)


def maxpool_forward(x, size=2, stride=2):
    """Largest value of each size x size window of x (..., C, H, W) -> (..., C, H_out, W_out)."""
    return windows(x, size, stride).max(axis=(-2, -1))


def maxpool_backward(dout, x, size=2, stride=2, margin=None):
    """Each window's gradient goes to its first near-maximum in row-major order.

    A cell is a near-maximum when it is within ``margin`` (default ``tie_margin``: TIE_MARGIN
    x the largest |value| of the picture's whole input to this layer) of its window's maximum;
    the workbook's routing formulas apply the same rule, so every engine agrees. Exact
    ties (a flat background) send the gradient to one cell only, as in PyTorch.
    """
    slides = windows(x, size, stride)
    h_out, w_out = slides.shape[-4:-2]
    flat_windows = slides.reshape(*slides.shape[:-2], size * size)
    if margin is None:
        margin = tie_margin(x) if x.ndim == 4 else tie_margin(x[None])[0]
    maximum = flat_windows.max(axis=-1, keepdims=True)
    first_max = (flat_windows >= maximum - np.asarray(margin)[..., None]).argmax(axis=-1)
    dx = np.zeros(x.shape, dtype=np.result_type(dout, float))
    if stride == size:  # windows tile the map: build the routed blocks in one go
        routed = np.zeros((*first_max.shape, size * size))
        np.put_along_axis(routed, first_max[..., None], dout[..., None], axis=-1)
        routed = routed.reshape(*first_max.shape, size, size).swapaxes(-3, -2)
        dx[..., :h_out * size, :w_out * size] = routed.reshape(*first_max.shape[:-2], h_out * size, w_out * size)
        return dx
    rows = np.arange(h_out)[:, None] * stride + first_max // size
    cols = np.arange(w_out)[None, :] * stride + first_max % size
    flat = dx.reshape(-1, *x.shape[-2:])
    maps = np.arange(flat.shape[0]).reshape(first_max.shape[:-2])[..., None, None]
    np.add.at(flat, (np.broadcast_to(maps, rows.shape), rows, cols), dout)
    return flat.reshape(x.shape)


def maxpool_backward_padded(dout, x, pool):
    """``maxpool_backward`` where padding or ceil mode reaches past the maps: the padded cells hold
    -inf, so they never win and take no gradient; the padded map's gradient is cut back to x's."""
    h, w = x.shape[-2:]
    rows, cols = ((n - 1) * pool.step + pool.size for n in pool.sides((h, w)))
    padding = pool.padding
    margin = tie_margin(x) if x.ndim == 4 else tie_margin(x[None])[0]
    widths = [(0, 0)] * (x.ndim - 2) + [(padding, max(padding, rows - h - padding)),
                                         (padding, max(padding, cols - w - padding))]
    padded = np.pad(x, widths, constant_values=-np.inf)[..., :rows, :cols]
    return cut_to_input(maxpool_backward(dout, padded, pool.size, pool.step, margin), x.shape, padding)


def maxpool_forward_formula(window, scale=None):
    """The largest value in one pooling window.

    With ``scale`` (a first layer reading the pixels) the largest of the scaled window is
    the largest scaled MAX or MIN: a negative scale would turn the smallest pixel into the
    largest value, and no array formula may multiply the window cell by cell.
    """
    r = window.range_ref()
    if scale is None:
        return f"=MAX({r})"
    return f"=MAX(MAX({r})*{scale},MIN({r})*{scale})"


def maxpool_backward_term(x, window, earlier, margin, upstream):
    """The gradient one input cell receives from one window (``maxpool_backward``), without its "="
    (where windows overlap, a cell's formula adds one such term per window that holds it).

    The window's gradient goes to the first cell, in reading order, within ``margin``
    of the window's maximum; ``earlier`` are the blocks of the window before ``x``.
    """
    threshold = f"MAX({window.range_ref()})-{margin.ref(absolute=True)}"
    condition = f"{x.ref()}>={threshold}"
    if earlier:
        condition = f"AND({condition},MAX({','.join(e.range_ref() for e in earlier)})<{threshold})"
    return f"IF({condition},{upstream.ref()},0)"
