"""Tanh, cell by cell. Each NumPy function has its formula twin below it (``*_formula``)."""

from dataclasses import dataclass

import numpy as np

from .. import formulas
from .base import Activation


@dataclass(frozen=True)
class Tanh(Activation):
    """tanh(x): squeezes any number into (-1, 1)."""

    kind = "tanh"
    onnx_ops = ("Tanh",)
    title = "Tanh"

    def forward_one(self, x, params):
        return tanh_forward(x)

    def backward_one(self, dout, x, params):
        return tanh_backward(dout, x), {}

    def forward_formula(self, source, scale=None):
        return tanh_forward_formula(source, scale)

    def backward_formula(self, x, y, margin, upstream):
        return tanh_backward_formula(y, upstream)


def tanh_forward(x):
    return np.tanh(x)


def tanh_backward(dout, x):
    return dout * (1 - np.tanh(x) ** 2)


def tanh_forward_formula(source, scale=None):
    return f"=TANH({formulas.scaled(source, scale)})"


def tanh_backward_formula(output, upstream):
    """``tanh_backward``, from the layer's own output t: upstream x (1 - t^2)."""
    return f"={upstream.ref()}*(1-{output.ref()}^2)"
