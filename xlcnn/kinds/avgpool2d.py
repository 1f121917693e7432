"""Average pooling: the mean of each window. Each NumPy function has its formula twin below it (``*_formula``).

Shapes: x (..., C, H, W) -> (..., C, H_out, W_out), H_out = floor((H - size) / stride) + 1.
"""

from dataclasses import dataclass

import numpy as np

from .. import formulas
from .base import Pool, cut_to_input, padded_windows, windows


@dataclass(frozen=True)
class AvgPool2D(Pool):
    """The mean of each size x size window, windows moved by stride."""

    kind = "avgpool2d"
    onnx_ops = ("AveragePool",)
    word = "avg"
    grammar = "avgpool{N}[-s{S}][-p{P}][-ceil]"
    examples = ("avgpool3-s2",)
    title = "Avg Pool"
    counts_padding = True   # the padding's zeros are part of the mean (PyTorch's count_include_pad)
    example_words = ("pool_window", "pool_mean")   # its worked example's labels (text keys)

    def describe(self):
        return f"average pool {self.size}x{self.size}, stride {self.step}{self.describe_window()}"

    def forward_one(self, x, params):
        if self.plain:
            return avgpool_forward(x, self.size, self.step)
        return self.pooled(x, 0.0).sum(axis=(-2, -1)) / self.divisors(x.shape[-2:])

    def backward_one(self, dout, x, params):
        if self.plain:
            return avgpool_backward(dout, x, self.size, self.step), {}
        return avgpool_backward_padded(dout, x, self), {}

    def divisors(self, sides):
        """How many cells each window's mean divides by: its cells inside the padded maps. The padding
        zeros count (PyTorch's default count_include_pad); ceil mode's cells past them do not."""
        inside = np.ones(tuple(side + 2 * self.padding for side in sides))
        return padded_windows(inside, self.size, self.step, 0, self.sides(sides), 0.0).sum(axis=(-2, -1))

    def forward_formula(self, window, scale=None):
        return avgpool_forward_formula(window, scale)

    def backward_term(self, x, window, earlier, margin, upstream):
        return avgpool_backward_term(upstream, window)


def avgpool_forward(x, size=2, stride=2):
    """Mean of each size x size window of x (..., C, H, W) -> (..., C, H_out, W_out)."""
    return windows(x, size, stride).mean(axis=(-2, -1))


def avgpool_backward(dout, x, size=2, stride=2):
    """Each window's gradient is shared equally by its size * size cells."""
    dx = np.zeros(x.shape, dtype=np.result_type(dout, float))
    h_out, w_out = dout.shape[-2:]
    share = dout / (size * size)
    for u in range(size):
        for v in range(size):
            dx[..., u:u + stride * (h_out - 1) + 1:stride, v:v + stride * (w_out - 1) + 1:stride] += share
    return dx


def avgpool_backward_padded(dout, x, pool):
    """``avgpool_backward`` where padding or ceil mode reaches past the maps: each window's gradient,
    divided by its divisor, goes to each of its cells; what lands in the padding is dropped."""
    h, w = x.shape[-2:]
    padding, size, step = pool.padding, pool.size, pool.step
    share = dout / pool.divisors((h, w))
    rows, cols = share.shape[-2:]
    dx = np.zeros((*x.shape[:-2], (rows - 1) * step + size, (cols - 1) * step + size))
    for u in range(size):
        for v in range(size):
            dx[..., u:u + step * (rows - 1) + 1:step, v:v + step * (cols - 1) + 1:step] += share
    return cut_to_input(dx, x.shape, padding)


def avgpool_forward_formula(window, scale=None):
    """The mean of one pooling window (times ``scale``: the mean is linear)."""
    mean = formulas.mean_of(window)
    return f"{mean}*{scale}" if scale is not None else mean


def avgpool_backward_term(upstream, window):
    """``avgpool_backward``: each cell of the ``window`` the mean read takes an equal share (a padded
    window's zeros take theirs too, as they count in the mean; no input cell holds them). Without its
    "=": where windows overlap, a cell's formula adds one such share per window that holds it."""
    return f"{upstream.ref()}/{window.size}"
