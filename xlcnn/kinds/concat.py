"""Concat: maps (..., C_i, H, W) stacked along the channels -> (..., sum C_i, H, W); vectors end to end.

Each NumPy function has its formula twin below it (``*_formula``).
"""

from dataclasses import dataclass

import numpy as np

from .. import formulas
from ..errors import ShapeError
from .base import Merge, channel_axis


@dataclass(frozen=True)
class Concat(Merge):
    """Two or more inputs stacked along the channels: (C1, H, W) and (C2, H, W) -> (C1 + C2, H, W).

    Vectors are joined end to end: (N1,) and (N2,) -> (N1 + N2,).
    """

    kind = "concat"
    onnx_ops = ("Concat",)
    grammar = "concat(a,b,...)"
    branch_items = "a=conv3x3x4-same, b=conv3x3x4-same(input), concat(a,b)"
    title = "Concat"
    stacks = True
    gradient_text = "concat"   # the gradient is split back by channel

    @classmethod
    def from_onnx(cls, node, in_shape):
        if int(node.attrs.get("axis", 1)) not in (1, -len(in_shape)):
            raise node.fail(f"joins along axis {node.attrs.get('axis')}", "xlcnn joins along channels (axis 1)")
        return cls(), {}

    def to_onnx(self, params, in_shape):
        return "Concat", {"axis": 1}, []

    def describe(self):
        return "concatenate along channels"

    def merged_shape(self, in_shapes, where, listed):
        if len({len(shape) for shape in in_shapes}) != 1 or len({shape[1:] for shape in in_shapes}) != 1:
            raise ShapeError(f"{where}: cannot stack tensors of shapes {listed}; concat needs maps of one height "
                             "and width (or vectors only)")
        return (sum(shape[0] for shape in in_shapes), *in_shapes[0][1:])

    def forward_all(self, xs):
        return concat_forward(xs)

    def backward_all(self, dout, xs):
        return concat_backward(dout, xs)

    def forward_formula(self, operand):
        return concat_forward_formula(operand)


def concat_forward(xs):
    """Maps (..., C_i, H, W) stacked along the channels -> (..., sum C_i, H, W); vectors end to end."""
    return np.concatenate(xs, axis=channel_axis(xs[0]))


def concat_backward(dout, xs):
    """Each input gets back its own slice of channels of dout, in order."""
    axis = channel_axis(xs[0])
    ends = np.cumsum([x.shape[axis] for x in xs])[:-1]
    return np.split(dout, ends, axis=axis)


def concat_forward_formula(operand):
    """One cell of a concat: a plain reference to the cell of the source it copies (stacking moves
    values, it computes nothing); twin of ``concat_forward``, e.g. ``='5 Conv 2'!B11``."""
    return formulas.reference(operand)
