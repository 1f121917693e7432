"""Flatten: maps (..., C, H, W) -> a vector (..., C*H*W), in C order.

Its formula twin is ``formulas.flatten_forward``.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from .base import Layer


@dataclass(frozen=True)
class Flatten(Layer):
    """(C, H, W) -> a vector of C*H*W values in C order."""

    kind = "flatten"

    def output_shape_one(self, shape, where):
        if len(shape) != 3:
            raise ShapeError(f"{where}: the input is already a vector of {shape[0]}; remove this flatten")
        return (int(np.prod(shape)),)

    def forward_one(self, x, params):
        return flatten_forward(x)

    def backward_one(self, dout, x, params):
        return flatten_backward(dout, x.shape), {}


def flatten_forward(x):
    """(..., C, H, W) -> (..., C*H*W) in C order: map by map, each map row by row."""
    return x.reshape(*x.shape[:-3], -1)


def flatten_backward(dout, shape):
    """The gradient of a reshape is the reverse reshape."""
    return dout.reshape(shape)
