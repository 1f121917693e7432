"""Abs: |x|, cell by cell: how strong an edge is, whichever way it runs.

Each NumPy function has its formula twin below it (``*_formula``).
"""

from dataclasses import dataclass

import numpy as np

from .. import formulas
from .base import Activation, tie_margin


@dataclass(frozen=True)
class Abs(Activation):
    """|x|, cell by cell: a dark-to-light edge and a light-to-dark one give the same strength."""

    kind = "abs"
    onnx_ops = ("Abs",)
    examples = ("abs",)
    title = "Abs"
    chooses = True          # its slope flips at 0: the tie margin decides what counts as 0
    never_negative = True

    def describe(self):
        return "absolute value"

    def forward_one(self, x, params):
        return abs_forward(x)

    def backward_one(self, dout, x, params):
        return abs_backward(dout, x, tie_margin(x)), {}

    def forward_formula(self, source, scale=None):
        return abs_forward_formula(source, scale)

    def backward_formula(self, x, y, margin, upstream):
        return abs_backward_formula(x, margin, upstream)


def abs_forward(x):
    """|x| element by element; any shape."""
    return np.abs(x)


def abs_backward(dout, x, margin=0.0):
    """Slope +1 where x > margin, -1 where x < -margin, 0 between (as PyTorch's sign(0) = 0)."""
    return dout * np.where(x > margin, 1.0, np.where(x < -margin, -1.0, 0.0))


def abs_forward_formula(source, scale=None):
    """|x| of one cell."""
    return f"=ABS({formulas.scaled(source, scale)})"


def abs_backward_formula(x, margin, upstream):
    """``abs_backward``: the gradient passes above the margin, turned below minus the margin, 0 between."""
    turned = f"IF({x.ref()}<-{margin.ref(absolute=True)},-{upstream.ref()},0)"
    return formulas.switch_gradient(x, margin, upstream, turned)
