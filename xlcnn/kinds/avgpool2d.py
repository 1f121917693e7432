"""Average pooling: the mean of each window. Each NumPy function has its formula twin below it (``*_formula``).

Shapes: x (..., C, H, W) -> (..., C, H_out, W_out), H_out = floor((H - size) / stride) + 1.
"""

from dataclasses import dataclass

import numpy as np

from .. import formulas
from .base import Pool, windows


@dataclass(frozen=True)
class AvgPool2D(Pool):
    """The mean of each size x size window, windows moved by stride."""

    kind = "avgpool2d"
    word = "avg"
    grammar = "avgpool{N}[-s{S}]"
    examples = ("avgpool3-s2",)
    title = "Avg Pool"
    example_words = ("pool_window", "pool_mean")   # its worked example's labels (text keys)

    def describe(self):
        return f"average pool {self.size}x{self.size}, stride {self.step}"

    def forward_one(self, x, params):
        return avgpool_forward(x, self.size, self.step)

    def backward_one(self, dout, x, params):
        return avgpool_backward(dout, x, self.size, self.step), {}

    def forward_formula(self, window, scale=None):
        return avgpool_forward_formula(window, scale)

    def backward_formula(self, x, window, earlier, margin, upstream):
        return avgpool_backward_formula(upstream, self.size)


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


def avgpool_forward_formula(window, scale=None):
    """The mean of one pooling window (times ``scale``: the mean is linear)."""
    mean = formulas.mean_of(window)
    return f"{mean}*{scale}" if scale is not None else mean


def avgpool_backward_formula(upstream, size):
    """``avgpool_backward``: each of a window's size x size cells takes an equal share."""
    return f"={upstream.ref()}/{size * size}"
