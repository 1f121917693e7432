"""The fully connected layer: every output a weighted sum of every input plus a bias.

Shapes: x (..., D), w (M, D), b (M,) -> (..., M). The NumPy functions' formula twins (``*_formula``)
close the module.
"""

import re
from dataclasses import dataclass

import numpy as np

from .. import formulas
from ..errors import ShapeError
from .base import Layer, kind_with, lesson_formulas, require_positive

_SPELLING = re.compile(r"dense(\d+)?")


@dataclass(frozen=True)
class Dense(Layer):
    """Every output is a weighted sum of every input plus a bias."""

    units: int
    kind = "dense"
    onnx_ops = ("Gemm", "MatMul")
    grammar = "dense[{units}]"
    examples = ("dense16", "dense")
    gradient_sheet = "connected"
    gradient_text = "dense"
    title = "Dense"
    example_words = ("dense_products", "dense_sum")   # its worked example's labels (text keys under "explain")
    exercise_word = "dense_part"   # its exercise's label (a text key under "exercise")
    fully_connected = True

    @classmethod
    def parse(cls, item, classes, option):
        """dense[{units}]; without a number, one output per class."""
        m = _SPELLING.fullmatch(item)
        if not m:
            return None
        return cls(int(m.group(1)) if m.group(1) else classes)

    @classmethod
    def from_onnx(cls, node, in_shape):
        """Gemm (alpha A B' + beta C, B stored) or MatMul by a stored matrix, whose bias a later Add brings."""
        if len(in_shape) != 1:
            raise node.fail(f"reads maps of shape {tuple(in_shape)}",
                            f"{kind_with('makes_column')} them into a vector first")   # the kind's name as a verb
        matrix = node.weight(1, "weight matrix")
        if matrix.ndim != 2:
            raise node.fail(f"multiplies by a {matrix.ndim}-d array", "a dense layer's weights are a matrix")
        if node.op == "MatMul":
            weight, bias = matrix.T, np.zeros(matrix.shape[1])
        else:
            if int(node.attrs.get("transA", 0)):
                raise node.fail("transposes its input (transA)", "xlcnn's inputs are one vector per picture")
            weight = (matrix if int(node.attrs.get("transB", 0)) else matrix.T) * float(node.attrs.get("alpha", 1.0))
            stored = node.optional(2)
            bias = np.zeros(weight.shape[0]) if stored is None else np.broadcast_to(
                stored.reshape(-1) * float(node.attrs.get("beta", 1.0)), (weight.shape[0],)).copy()
        if weight.shape[1] != in_shape[0]:
            raise node.fail(f"has weights for {weight.shape[1]} inputs but reads {in_shape[0]}")
        return cls(weight.shape[0]), {"weight": weight, "bias": bias}

    def to_onnx(self, params, in_shape):
        return "Gemm", {"transB": 1}, [params["weight"], params["bias"]]

    def spelling(self):
        return f"dense{self.units}"

    def describe(self):
        return f"dense, {self.units} outputs"

    def output_shape_one(self, shape, where):
        if len(shape) != 1:
            raise ShapeError(f"{where} needs a vector input; put a {kind_with('makes_column')} layer before it")
        require_positive(where, units=self.units)
        return (self.units,)

    def parameter_shapes(self, input_shape):
        return {"weight": (self.units, input_shape[0]), "bias": (self.units,)}

    def parameter_count(self, input_shape):
        """inputs x outputs weights + outputs biases."""
        return dense_parameters_formula(input_shape[0], self.units), input_shape[0] * self.units + self.units

    def multiply_adds(self, input_shape, output_shape):
        return lesson_formulas().product((input_shape[0], self.units)), input_shape[0] * self.units

    def forward_formula(self, inputs, weights, bias, scale=None):
        return dense_forward_formula(inputs, weights, bias, scale)

    def weight_gradient_formula(self, x, upstream):
        return dense_weight_gradient_formula(x, upstream)

    def bias_gradient_formula(self, upstream):
        return dense_bias_gradient_formula(upstream)

    def input_gradient_formula(self, weights, upstream):
        return dense_input_gradient_formula(weights, upstream)

    def parameters_from_book(self, reader, layout, index):
        """The weights and biases its own sheet shows, as rows of inputs or of outputs."""
        sheet = layout.sheet(self.kind, index)
        weight = reader.array(sheet.weight)
        return {"weight": weight.T if sheet.rows_are_inputs else weight, "bias": reader.array(sheet.bias).reshape(-1)}

    # -- the worked example and the exercise, on blocks (``lesson_formulas`` has the shared lines)

    def example_product_formula(self, x, weight_row, unit):
        return dense_example_product_formula(x, weight_row, unit)

    def example_unit_formula(self, row, unit):
        return dense_example_unit_formula(row, unit)

    def example_result_formula(self, total, bias, scale=None):
        return dense_example_result_formula(total, bias, scale)

    def exercise_part_formula(self, inputs, weights, scale=None):
        return dense_exercise_part_formula(inputs, weights, scale)

    def forward_one(self, x, params):
        return dense_forward(x, params["weight"], params["bias"])

    def backward_one(self, dout, x, params):
        dx, dw, db = dense_backward(dout, x, params["weight"])
        return dx, {"weight": dw, "bias": db}


def dense_forward(x, w, b):
    """x (..., D), w (M, D), b (M,) -> x @ w.T + b, shape (..., M)."""
    return x @ w.T + b


def dense_backward(dout, x, w):
    """dout (..., M) -> dx (..., D), dw (M, D), db (M,)."""
    flat_dout, flat_x = dout.reshape(-1, w.shape[0]), x.reshape(-1, w.shape[1])
    return dout @ w, flat_dout.T @ flat_x, flat_dout.sum(axis=0)


def dense_forward_formula(inputs, weights, bias, scale=None):
    """One output: SUMPRODUCT of the input column and this output's weight column, plus bias.

    ``scale`` (a cell reference) multiplies the sum for a first layer, which reads the pixels.
    """
    products = f"SUMPRODUCT({inputs.range_ref(absolute=True)},{weights.range_ref(absolute=True)})"
    if scale is not None:
        products = f"{products}*{scale}"
    return formulas.checked(f"={products}+{bias.ref()}")


def dense_bias_gradient_formula(upstream):
    """``dense_backward``'s db of one output: its upstream gradient."""
    return formulas.reference(upstream)


def dense_weight_gradient_formula(x, upstream):
    """``dense_backward``'s dw of one weight: its input times its output's upstream gradient."""
    return f"={x.ref()}*{upstream.ref(absolute=True)}"


def dense_input_gradient_formula(weights, upstream):
    """``dense_backward``'s dx of one input: SUMPRODUCT(its weight to every output, the
    upstream row)."""
    return f"=SUMPRODUCT({weights.range_ref()},{upstream.range_ref(absolute=True)})"


def dense_parameters_formula(inputs, units):
    """The summary's count of parameters: inputs x outputs weights + outputs biases."""
    return f"={inputs}*{units}+{units}"


# ---------------------------------------------------------------- the worked example and the exercise


def dense_example_product_formula(x, weight_row, unit):
    """One input times its weight to picked output ``unit``."""
    return f"={x.ref()}*{_unit_index(weight_row, unit)}"


def dense_example_unit_formula(row, unit):
    """The picked output's entry of a one-row block (its bias, or the output cell itself)."""
    return f"={_unit_index(row, unit)}"


def dense_example_result_formula(total, bias, scale=None):
    """The sum of the products (times the scale, for a first layer) plus the bias."""
    scaled = f"{total.ref()}*{scale}" if scale else total.ref()
    return f"={scaled}+{bias.ref()}"


def dense_exercise_part_formula(inputs, weights, scale=None):
    """A handful of one output's products, summed (text without "=")."""
    part = "+".join(f"{x.ref()}*{w.ref()}" for x, w in zip(inputs, weights))
    return f"({part})*{scale}" if scale else part


def _unit_index(row, unit):
    return f"INDEX({row.range_ref(absolute=True)},1,{unit.ref(absolute=True)})"
