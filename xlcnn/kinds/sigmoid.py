"""Sigmoid: 1 / (1 + e^-x), cell by cell. Each NumPy function has its formula twin below it (``*_formula``)."""

from dataclasses import dataclass

import numpy as np

from .. import formulas
from .base import Activation


@dataclass(frozen=True)
class Sigmoid(Activation):
    """1 / (1 + e^-x): squeezes any number into (0, 1)."""

    kind = "sigmoid"
    onnx_ops = ("Sigmoid",)
    title = "Sigmoid"
    never_negative = True

    def forward_one(self, x, params):
        return sigmoid_forward(x)

    def backward_one(self, dout, x, params):
        return sigmoid_backward(dout, x), {}

    def forward_formula(self, source, scale=None):
        return sigmoid_forward_formula(source, scale)

    def backward_formula(self, x, y, margin, upstream):
        return sigmoid_backward_formula(y, upstream)


def sigmoid_forward(x):
    """1 / (1 + e^-x), computed from e^-|x| so it never overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(dout, x):
    s = sigmoid_forward(x)
    return dout * s * (1 - s)


def sigmoid_forward_formula(source, scale=None):
    """1 / (1 + e^-x), with the branch that cannot overflow EXP for any x (IF evaluates only one)."""
    x = formulas.scaled(source, scale)
    return f"=IF({x}>=0,1/(1+EXP(-{x})),EXP({x})/(1+EXP({x})))"


def sigmoid_backward_formula(output, upstream):
    """``sigmoid_backward``, from the layer's own output s: upstream x s x (1 - s)."""
    s = output.ref()
    return f"={upstream.ref()}*{s}*(1-{s})"
