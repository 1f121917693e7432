"""Add: the element-wise sum of two or more tensors of one shape (maps or vectors); same shape out.

Each NumPy function has its formula twin below it (``*_formula``).
"""

from dataclasses import dataclass

from .. import formulas
from ..errors import ShapeError
from .base import Merge


@dataclass(frozen=True)
class Add(Merge):
    """The element-wise sum of two or more inputs of one shape: where branches (or a shortcut) join."""

    kind = "add"
    onnx_ops = ("Add", "Sum")
    onnx_many = "Sum"     # ONNX's Add takes exactly two terms; Sum any number
    grammar = "add(a,b,...)"
    branch_items = "a=conv3x3x4, b=conv3x3x4(input), add(a,b)"
    title = "Add"
    gradient_text = "add"   # the sum's gradient goes back unchanged to every term

    def merged_shape(self, in_shapes, where, listed):
        if len(set(in_shapes)) != 1:
            raise ShapeError(f"{where}: cannot add tensors of shapes {listed}; add needs inputs of one shape")
        return in_shapes[0]

    def forward_all(self, xs):
        return add_forward(xs)

    def backward_all(self, dout, xs):
        return add_backward(dout, xs)

    def forward_formula(self, operands):
        return add_forward_formula(operands)


def add_forward(xs):
    """The element-wise sum of a sequence of arrays of one shape (maps or vectors); same shape out."""
    out = xs[0].copy()
    for x in xs[1:]:
        out += x
    return out


def add_backward(dout, xs):
    """Every term of a sum gets the sum's gradient unchanged: one copy of dout per input."""
    return [dout.copy() for _ in xs]


def add_forward_formula(operands):
    """The element-wise sum of one cell of each operand (where branches join); twin of
    ``add_forward``. Each operand is a 1 x 1 block, e.g. ``='a'!B11+'b'!B11``."""
    return formulas.total_of(operands)
