"""ReLU: max(0, x), cell by cell. ``relu_forward`` has a formula twin in ``formulas.py``."""

from dataclasses import dataclass

import numpy as np

from .base import Activation, tie_margin


@dataclass(frozen=True)
class ReLU(Activation):
    """max(0, x), cell by cell."""

    kind = "relu"

    def describe(self):
        return "ReLU"

    def forward_one(self, x, params):
        return relu_forward(x)

    def backward_one(self, dout, x, params):
        return relu_backward(dout, x, tie_margin(x)), {}


def relu_forward(x):
    """max(0, x) element by element; any shape."""
    return np.maximum(x, 0.0)


def relu_backward(dout, x, margin=0.0):
    """The switch: gradient passes where x > margin, else 0 (so exactly 0 blocks it).

    The engine passes ``tie_margin(x)``: a map that is 0 on paper holds rounding
    leftovers such as 1e-17, positive in one spreadsheet and not in another.
    """
    return dout * (x > margin)
