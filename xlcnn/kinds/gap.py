"""Global average pooling: each map to one number, its mean (a classifier's head without a big fully connected layer).

Shapes: x (..., C, H, W) -> (..., C, 1, 1). Each NumPy function has its formula twin below it
(``*_formula``): the mean of a whole map is ``avgpool2d``'s formula on a window as large as the map.
"""

from dataclasses import dataclass

import numpy as np

from .avgpool2d import avgpool_backward_term, avgpool_forward_formula
from .base import Pool, require_positive
from ..errors import ShapeError


@dataclass(frozen=True)
class GlobalAvgPool(Pool):
    """The mean of each whole map: (C, H, W) -> (C, 1, 1)."""

    size: int = 0           # the window is the whole map, whatever its size
    kind = "gap"
    onnx_ops = ("GlobalAveragePool", "ReduceMean")   # PyTorch's exporter writes adaptive_avg_pool2d(x, 1) as the mean
    grammar = "gap"
    examples = ("gap",)
    title = "GAP"
    counts_padding = True
    example_words = ("pool_window", "pool_mean")

    @property
    def stem(self):
        return "gap"

    @property
    def plain(self):
        return False      # its window is the map's size, not a fixed size x size

    @property
    def overlaps(self):
        return False      # one window per map

    @classmethod
    def parse(cls, item, classes, option):
        return cls() if item == "gap" else None

    def spelling(self):
        return "gap"

    @classmethod
    def from_onnx(cls, node, in_shape):
        """GlobalAveragePool, or ReduceMean over height and width that keeps them (as size 1)."""
        if node.op == "ReduceMean":
            axes = node.attrs.get("axes", node.optional(1))
            axes = sorted(int(a) % 4 for a in np.ravel(axes)) if axes is not None else None
            if axes != [2, 3] or not int(node.attrs.get("keepdims", 1)):
                raise node.fail(f"takes the mean over axes {axes} (keepdims {node.attrs.get('keepdims', 1)})",
                                "xlcnn averages each whole map and keeps it as 1 x 1: nn.AdaptiveAvgPool2d(1), or "
                                "x.mean((2, 3), keepdim=True), then make it one vector")
        return cls(), {}

    def to_onnx(self, params, in_shape):
        return "GlobalAveragePool", {}, []

    def describe(self):
        return "global average pool"

    def output_shape_one(self, shape, where):
        if len(shape) != 3:
            raise ShapeError(f"{where} needs a (channels, height, width) input, got a vector of {shape[0]}")
        require_positive(where, height=shape[1], width=shape[2])
        return (shape[0], 1, 1)

    def window(self):
        return None       # no window slides: the summary shows no size arithmetic

    def window_shape(self, shape):
        return tuple(shape[1:])

    def size_lines(self):
        return ()     # no window arithmetic to say

    def forward_one(self, x, params):
        return gap_forward(x)

    def backward_one(self, dout, x, params):
        return gap_backward(dout, x), {}

    def forward_formula(self, window, scale=None):
        return avgpool_forward_formula(window, scale)

    def backward_term(self, x, window, earlier, margin, upstream):
        return avgpool_backward_term(upstream, window)

    def example_reads(self, at):
        return at[0] == 0


def gap_forward(x):
    """The mean of every map: (..., C, H, W) -> (..., C, 1, 1)."""
    return x.mean(axis=(-2, -1), keepdims=True)


def gap_backward(dout, x):
    """Every cell of a map takes an equal share of its mean's gradient."""
    return np.broadcast_to(dout / (x.shape[-2] * x.shape[-1]), x.shape).copy()
