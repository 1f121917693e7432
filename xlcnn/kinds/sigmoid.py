"""Sigmoid: 1 / (1 + e^-x), cell by cell. ``sigmoid_forward`` has a formula twin in ``formulas.py``."""

from dataclasses import dataclass

import numpy as np

from .base import Activation


@dataclass(frozen=True)
class Sigmoid(Activation):
    """1 / (1 + e^-x): squeezes any number into (0, 1)."""

    kind = "sigmoid"

    def forward_one(self, x, params):
        return sigmoid_forward(x)

    def backward_one(self, dout, x, params):
        return sigmoid_backward(dout, x), {}


def sigmoid_forward(x):
    """1 / (1 + e^-x), computed from e^-|x| so it never overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(dout, x):
    s = sigmoid_forward(x)
    return dout * s * (1 - s)
