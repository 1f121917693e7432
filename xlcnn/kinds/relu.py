"""ReLU: max(0, x), cell by cell. Each NumPy function has its formula twin below it (``*_formula``)."""

from dataclasses import dataclass

import numpy as np

from .. import formulas
from .base import Activation, tie_margin


@dataclass(frozen=True)
class ReLU(Activation):
    """max(0, x), cell by cell."""

    kind = "relu"
    onnx_ops = ("Relu",)
    examples = ("relu",)
    title = "ReLU"
    chooses = True
    never_negative = True

    def describe(self):
        return "ReLU"

    def forward_one(self, x, params):
        return relu_forward(x)

    def backward_one(self, dout, x, params):
        return relu_backward(dout, x, tie_margin(x)), {}

    def forward_formula(self, source, scale=None):
        return relu_forward_formula(source, scale)

    def backward_formula(self, x, y, margin, upstream):
        return relu_backward_formula(x, margin, upstream)

    def copied_cell(self, sheet, at):
        return at


def relu_forward(x):
    """max(0, x) element by element; any shape."""
    return np.maximum(x, 0.0)


def relu_backward(dout, x, margin=0.0):
    """The switch: gradient passes where x > margin, else 0 (so exactly 0 blocks it).

    The engine passes ``tie_margin(x)``: a map that is 0 on paper holds rounding
    leftovers such as 1e-17, positive in one spreadsheet and not in another.
    """
    return dout * (x > margin)


def relu_forward_formula(source, scale=None):
    """max(0, x) of one cell."""
    return f"=MAX(0,{formulas.scaled(source, scale)})"


def relu_backward_formula(x, margin, upstream):
    """The switch (``relu_backward``): the gradient passes where x is above the tie margin, else 0."""
    return formulas.switch_gradient(x, margin, upstream)
