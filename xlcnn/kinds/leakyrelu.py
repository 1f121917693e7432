"""Leaky ReLU: x where x > 0, alpha * x elsewhere. ``leaky_relu_forward``'s formula twin is in ``formulas.py``."""

import re
from dataclasses import dataclass

import numpy as np

from .base import Activation, tie_margin

_SPELLING = re.compile(r"leakyrelu(\d*\.?\d+)?")


@dataclass(frozen=True)
class LeakyReLU(Activation):
    """x where x > 0, alpha * x elsewhere: a switch that lets a little through."""

    alpha: float = 0.01
    kind = "leakyrelu"

    @classmethod
    def parse(cls, item, classes, option):
        """leakyrelu[{alpha}]"""
        m = _SPELLING.fullmatch(item)
        if not m:
            return None
        return cls(float(m.group(1))) if m.group(1) else cls()

    def spelling(self):
        return f"leakyrelu{self.alpha:g}"

    def describe(self):
        return f"leaky ReLU ({self.alpha:g})"

    def forward_one(self, x, params):
        return leaky_relu_forward(x, self.alpha)

    def backward_one(self, dout, x, params):
        return leaky_relu_backward(dout, x, self.alpha, tie_margin(x)), {}


def leaky_relu_forward(x, alpha=0.01):
    """x where x > 0, alpha * x elsewhere."""
    return np.where(x > 0, x, alpha * x)


def leaky_relu_backward(dout, x, alpha=0.01, margin=0.0):
    """Slope 1 where x > margin, alpha elsewhere (``margin`` as in ``relu_backward``)."""
    return dout * np.where(x > margin, 1.0, alpha)
