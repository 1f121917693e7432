"""Leaky ReLU: x where x > 0, alpha * x elsewhere. Each NumPy function has its formula twin below it (``*_formula``)."""

import re
from dataclasses import dataclass

import numpy as np

from .. import formulas
from .base import Activation, tie_margin

_SPELLING = re.compile(r"leakyrelu(\d*\.?\d+)?")


@dataclass(frozen=True)
class LeakyReLU(Activation):
    """x where x > 0, alpha * x elsewhere: a switch that lets a little through."""

    alpha: float = 0.01
    kind = "leakyrelu"
    onnx_ops = ("LeakyRelu",)
    grammar = "leakyrelu[{alpha}]"
    examples = ("leakyrelu0.1",)
    title = "Leaky ReLU"
    chooses = True

    @classmethod
    def parse(cls, item, classes, option):
        """leakyrelu[{alpha}]"""
        m = _SPELLING.fullmatch(item)
        if not m:
            return None
        return cls(float(m.group(1))) if m.group(1) else cls()

    def spelling(self):
        return f"leakyrelu{self.alpha:g}"

    @classmethod
    def from_onnx(cls, node, in_shape):
        return cls(float(node.attrs.get("alpha", 0.01))), {}

    def to_onnx(self, params, in_shape):
        return "LeakyRelu", {"alpha": self.alpha}, []

    def describe(self):
        return f"leaky ReLU ({self.alpha:g})"

    def forward_one(self, x, params):
        return leaky_relu_forward(x, self.alpha)

    def backward_one(self, dout, x, params):
        return leaky_relu_backward(dout, x, self.alpha, tie_margin(x)), {}

    def forward_formula(self, source, scale=None):
        return leaky_relu_forward_formula(source, self.alpha, scale)

    def backward_formula(self, x, y, margin, upstream):
        return leaky_relu_backward_formula(x, margin, upstream, self.alpha)

    def text_values(self):
        return {"alpha": self.alpha}

    def copied_cell(self, sheet, at):
        return at


def leaky_relu_forward(x, alpha=0.01):
    """x where x > 0, alpha * x elsewhere."""
    return np.where(x > 0, x, alpha * x)


def leaky_relu_backward(dout, x, alpha=0.01, margin=0.0):
    """Slope 1 where x > margin, alpha elsewhere (``margin``: see ``base.tie_margin``)."""
    return dout * np.where(x > margin, 1.0, alpha)


def leaky_relu_forward_formula(source, alpha, scale=None):
    """x where x > 0, alpha * x elsewhere."""
    x = formulas.scaled(source, scale)
    return f"=IF({x}>0,{x},{alpha!r}*{x})"


def leaky_relu_backward_formula(x, margin, upstream, alpha):
    """``leaky_relu_backward``: the switch with slope ``alpha`` on the blocked side."""
    return formulas.switch_gradient(x, margin, upstream, f"{alpha!r}*{upstream.ref()}")
