"""Flatten: maps (..., C, H, W) -> a vector (..., C*H*W), in C order.

Each NumPy function has its formula twin below it (``*_formula``).
"""

from dataclasses import dataclass

import numpy as np

from .. import formulas
from ..errors import ShapeError
from .base import Layer


@dataclass(frozen=True)
class Flatten(Layer):
    """(C, H, W) -> a vector of C*H*W values in C order."""

    kind = "flatten"
    gradient_sheet = "flatten"
    title = "Flatten"
    keeps_sign = True

    def output_shape_one(self, shape, where):
        if len(shape) != 3:
            raise ShapeError(f"{where}: the input is already a vector of {shape[0]}; remove this flatten")
        return (int(np.prod(shape)),)

    def forward_one(self, x, params):
        return flatten_forward(x)

    def backward_one(self, dout, x, params):
        return flatten_backward(dout, x.shape), {}

    def forward_formula(self, source, scale=None):
        return flatten_forward_formula(source, scale)

    def backward_formula(self, upstream):
        return flatten_backward_formula(upstream)

    def copied_cell(self, sheet, at):
        return (sheet.flat_index(*(int(n) for n in at)),)


def flatten_forward(x):
    """(..., C, H, W) -> (..., C*H*W) in C order: map by map, each map row by row."""
    return x.reshape(*x.shape[:-3], -1)


def flatten_backward(dout, shape):
    """The gradient of a reshape is the reverse reshape."""
    return dout.reshape(shape)


def flatten_forward_formula(source, scale=None):
    """A plain reference: flattening moves values, it computes nothing (the first layer scales them)."""
    return f"={formulas.scaled(source, scale)}"


def flatten_backward_formula(upstream):
    """``flatten_backward``: a map cell takes back the gradient of its place in the column."""
    return formulas.reference(upstream)
