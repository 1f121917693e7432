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
    onnx_ops = ("Flatten", "Reshape")
    gradient_sheet = "column"
    gradient_text = "flatten"
    makes_column = True
    title = "Flatten"
    keeps_sign = True

    def output_shape_one(self, shape, where):
        if len(shape) != 3:
            raise ShapeError(f"{where}: the input is already a vector of {shape[0]}; remove this flatten")
        return (int(np.prod(shape)),)

    @classmethod
    def from_onnx(cls, node, in_shape):
        """Flatten from axis 1, or a Reshape to (pictures, every value): nothing to do for a vector."""
        count = int(np.prod(in_shape))
        if node.op == "Flatten" and int(node.attrs.get("axis", 1)) not in (1, -len(in_shape)):
            raise node.fail(f"flattens from axis {node.attrs['axis']}", "xlcnn flattens each picture's maps (axis 1)")
        if node.op == "Reshape":
            target = [int(n) for n in node.weight(1, "target shape").reshape(-1)]
            if len(target) != 2 or target[0] not in (-1, 0, 1) or target[1] not in (-1, count) or target == [-1, -1]:
                raise node.fail(f"reshapes {tuple(in_shape)} to {target}",
                                "xlcnn reshapes a picture's maps into one vector only")
        return (cls(), {}) if len(in_shape) == 3 else (None, {})

    def to_onnx(self, params, in_shape):
        return "Flatten", {"axis": 1}, []

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
