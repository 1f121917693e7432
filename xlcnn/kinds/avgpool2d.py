"""Average pooling: the mean of each window. ``avgpool_forward`` has a formula twin in ``formulas.py``.

Shapes: x (..., C, H, W) -> (..., C, H_out, W_out), H_out = floor((H - size) / stride) + 1.
"""

from dataclasses import dataclass

import numpy as np

from .base import Pool, windows


@dataclass(frozen=True)
class AvgPool2D(Pool):
    """The mean of each size x size window, windows moved by stride."""

    kind = "avgpool2d"
    word = "avg"

    def describe(self):
        return f"average pool {self.size}x{self.size}, stride {self.step}"

    def forward_one(self, x, params):
        return avgpool_forward(x, self.size, self.step)

    def backward_one(self, dout, x, params):
        return avgpool_backward(dout, x, self.size, self.step), {}


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
