"""The transposed conv layer: each input cell scatters a weighted copy of the kernel onto a larger output.

Shapes: x (..., C, H, W), w (C, K, F, F) as PyTorch stores it (input channels first), b (K,)
-> (..., K, H_out, W_out) with H_out = (H - 1) S - 2P + F: cell (i, j) of channel c adds
x[c, i, j] w[c, k] onto the F x F patch at (i S, j S) of map k, overlapping patches add up,
and P rows and columns are cut from every side. It is the gradient of a plain conv layer's
input turned into a layer of its own: it upsamples (3 x 3, stride 2, kernel 3, padding 1 gives 5 x 5).
"""

import re
from dataclasses import dataclass

import numpy as np

from .. import formulas
from ..errors import ShapeError, UsageError
from .base import Layer, kernels_from_book, lesson_formulas, pad_input, require_positive, windows

_SPELLING = re.compile(r"tconv(\d+)x(\d+)x(\d+)((?:-(?:s\d+|p\d+))*)")


@dataclass(frozen=True)
class TransposedConv(Layer):
    """K kernels of F x F x C scattered from every input cell at stride S, P cells cut from each side."""

    filters: int
    kernel: int
    stride: int = 1
    padding: int = 0
    kind = "tconv"
    onnx_ops = ("ConvTranspose",)
    output_axis = 1         # weights (C, K, F, F), as PyTorch stores a transposed convolution's
    grammar = "tconv{F}x{F}x{K}[-s{S}][-p{P}]"
    examples = ("tconv3x3x4-s2-p1", "tconv2x2x8-s2")
    title = "TConv"
    scatters = True
    gradient_sheet = "scatter"

    @classmethod
    def parse(cls, item, classes, option):
        m = _SPELLING.fullmatch(item)
        if not m:
            return None
        if m.group(1) != m.group(2):
            raise UsageError(f"{option}: {item!r} has a {m.group(1)}x{m.group(2)} kernel; only square kernels "
                             "are supported")
        options = {{"s": "stride", "p": "padding"}[part[0]]: int(part[1:]) for part in m.group(4).split("-") if part}
        return cls(int(m.group(3)), int(m.group(1)), **options)

    def spelling(self):
        text = f"tconv{self.kernel}x{self.kernel}x{self.filters}"
        return text + (f"-s{self.stride}" if self.stride != 1 else "") + (f"-p{self.padding}" if self.padding else "")

    def describe(self):
        return (f"transposed conv {self.kernel}x{self.kernel}, {self.filters} filters, stride {self.stride}, "
                f"padding {self.padding}")

    def parameters_from_book(self, reader, layout, index):
        """The kernels (channel by kernel, the stored order) and biases its kernels sheet shows."""
        return kernels_from_book(reader, layout, index)

    @classmethod
    def from_onnx(cls, node, in_shape):
        """ConvTranspose with a stored (C, K, F, F) weight, one group, no output padding."""
        weight = node.weight(1, "weight")
        if weight.ndim != 4 or len(in_shape) != 3 or weight.shape[0] != in_shape[0]:
            raise node.fail(f"has weights of shape {weight.shape} for an input of shape {tuple(in_shape)}")
        if int(node.attrs.get("group", 1)) != 1 or any(node.attrs.get("output_padding", ())) \
                or node.one("dilations", (1, 1)) != 1 or "output_shape" in node.attrs:
            raise node.fail("uses groups, dilations, output_padding or output_shape",
                            "xlcnn's transposed convolution has one group and its output size from S, P and F")
        kernel, stride = weight.shape[2], node.one("strides", (1, 1))
        if weight.shape[3] != kernel or node.one("kernel_shape", weight.shape[2:]) != kernel:
            raise node.fail(f"has {weight.shape[2]}x{weight.shape[3]} kernels", "xlcnn's kernels are square")
        if node.auto_pad != "NOTSET":
            raise node.fail(f"sets its output size with auto_pad {node.auto_pad}",
                            "xlcnn's transposed convolution takes explicit pads (output (W - 1) S - 2P + F)")
        pads = node.attrs.get("pads", (0, 0, 0, 0))
        if len(set(int(p) for p in pads)) > 1:
            raise node.fail(f"pads {list(pads)} differ between sides", "xlcnn cuts every side alike")
        bias = node.optional(2)
        layer = cls(weight.shape[1], kernel, stride, int(pads[0]) if len(pads) else 0)
        return layer, {"weight": weight, "bias": np.zeros(layer.filters) if bias is None else bias.reshape(-1)}

    def to_onnx(self, params, in_shape):
        attrs = {"kernel_shape": [self.kernel] * 2, "strides": [self.stride] * 2, "pads": [self.padding] * 4}
        return "ConvTranspose", attrs, [params["weight"], params["bias"]]

    def text_values(self):
        return {"kernel": self.kernel, "stride": self.stride, "padding": self.padding, "filters": self.filters}

    # -- shapes

    def output_shape_one(self, shape, where):
        if len(shape) != 3:
            raise ShapeError(f"{where} needs a (channels, height, width) input, got a vector of {shape[0]}")
        require_positive(where, filters=self.filters, kernel=self.kernel, stride=self.stride)
        sides = [tconv_output_size(side, self.kernel, self.stride, self.padding) for side in shape[1:]]
        if self.padding < 0 or min(sides) < 1:
            raise ShapeError(f"{where}: (W - 1) S - 2P + F = ({shape[1]} - 1) x {self.stride} - 2x{self.padding} + "
                             f"{self.kernel} = {sides[0]}; the padding cuts away the whole output")
        return (self.filters, *sides)

    def parameter_shapes(self, input_shape):
        return {"weight": (input_shape[0], self.filters, self.kernel, self.kernel), "bias": (self.filters,)}

    def reaching(self, at, side):
        """(input index, kernel tap) of every input row whose scattered kernel covers output row ``at``, for an
        input ``side`` rows tall (the same for columns)."""
        return tconv_reaching(at, side, self.kernel, self.stride, self.padding)

    def landing(self, i, out_side):
        """(kernel tap, output row) of every tap of input row ``i`` that lands inside an output ``out_side``
        rows tall (the same for columns): ``reaching`` the other way round."""
        return tconv_landing(i, out_side, self.kernel, self.stride, self.padding)

    def reach(self, height, width):
        """How many input cells reach each output cell, for an input of height x width."""
        return tconv_reach(height, width, self.kernel, self.stride, self.padding)

    # -- the formula twins, on blocks

    def cell_formula(self, terms, bias, scale=None):
        return tconv_cell_formula(terms, bias, scale)

    def reach_formula(self, rows, cols):
        return tconv_reach_formula(rows, cols)

    def product_formula(self, x, w):
        return tconv_product_formula(x, w)

    def example_result_formula(self, total, bias, scale=None):
        return tconv_example_result_formula(total, bias, scale)

    def weight_gradient_formula(self, pairs, scale=None):
        return tconv_weight_gradient_formula(pairs, scale)

    def input_gradient_formula(self, pairs):
        return tconv_input_gradient_formula(pairs)

    def bias_gradient_formula(self, upstream):
        return tconv_bias_gradient_formula(upstream)

    # -- the summary

    def side_arithmetic(self, side, out_side):
        f, s, p = self.kernel, self.stride, self.padding
        return f"({side} - 1) x {s} - 2x{p} + {f} = {out_side}", f"=({side}-1)*{s}-2*{p}+{f}"

    def parameter_count(self, input_shape):
        """F x F x C x K weights + K biases."""
        f, c, k = self.kernel, input_shape[0], self.filters
        return lesson_formulas().product((f, f, c, k)) + f"+{k}", f * f * c * k + k

    def multiply_adds(self, input_shape, output_shape):
        """One per weight per input cell: each of the C x H x W cells is scattered through F x F x K taps
        (the taps that land in the cut border are counted too: they are computed, then thrown away)."""
        c, h, w = input_shape
        taps = self.kernel * self.kernel * self.filters
        return lesson_formulas().product((c, h, w, taps)), c * h * w * taps

    # -- the NumPy pair

    def forward_one(self, x, params):
        return tconv_forward(x, params["weight"], params["bias"], self.stride, self.padding)

    def backward_one(self, dout, x, params):
        dx, dw, db = tconv_backward(dout, x, params["weight"], self.stride, self.padding)
        return dx, {"weight": dw, "bias": db}


def tconv_output_size(size, kernel, stride, padding):
    """(W - 1) S - 2P + F: the last input cell's patch starts at (W - 1) S and is F wide; P cut from each end."""
    return (size - 1) * stride - 2 * padding + kernel


# ---------------------------------------------------------------- the NumPy functions


def tconv_forward(x, w, b, stride=1, padding=0):
    """x (..., C, H, W), w (C, K, F, F), b (K,) -> (..., K, H_out, W_out).

    full[k, i S + u, j S + v] += sum over c of x[c, i, j] w[c, k, u, v]; the output is full
    without its first and last P rows and columns, plus b[k].
    """
    kernel = w.shape[-1]
    height, width = x.shape[-2:]
    full_h, full_w = (height - 1) * stride + kernel, (width - 1) * stride + kernel
    full = np.zeros((*x.shape[:-3], w.shape[1], full_h, full_w), dtype=np.result_type(x, w))
    for u in range(kernel):
        for v in range(kernel):
            rows = slice(u, u + stride * (height - 1) + 1, stride)
            cols = slice(v, v + stride * (width - 1) + 1, stride)
            full[..., rows, cols] += np.einsum("...cij,ck->...kij", x, w[:, :, u, v], optimize=True)
    return full[..., padding:full_h - padding, padding:full_w - padding] + b[:, None, None]


def tconv_backward(dout, x, w, stride=1, padding=0):
    """Gradients of tconv_forward: dout (..., K, H_out, W_out) -> (dx, dw, db).

    The cut border got no gradient (zeros put back around dout); each input cell's F x F patch of
    that is a window at stride S: dx[c, i, j] = sum of the window times w[c], and dw[c, k] = sum over
    input cells of x[c, i, j] times their window of map k.
    """
    kernel = w.shape[-1]
    patches = windows(pad_input(dout, padding), kernel, stride)     # (..., K, H, W, F, F)
    dx = np.einsum("...kijuv,ckuv->...cij", patches, w, optimize=True)
    dw = np.einsum("...cij,...kijuv->ckuv", x, patches, optimize=True)
    db = dout.sum(axis=(-2, -1)).reshape(-1, w.shape[1]).sum(axis=0)
    return dx, dw, db


def tconv_reaching(at, side, kernel, stride=1, padding=0):
    """[(i, u)] of the input rows i (of ``side``) whose kernel's tap row u lands on output row ``at``:
    i S + u = at + P with 0 <= u < F (the cut border shifts the output by P). Columns alike."""
    full = at + padding
    first, last = max(0, -(-(full - kernel + 1) // stride)), min(side - 1, full // stride)
    return [(i, full - i * stride) for i in range(first, last + 1)]


def tconv_landing(i, out_side, kernel, stride=1, padding=0):
    """[(u, y)] of the taps u of input row i's kernel that land on an output row y inside the output (of
    ``out_side`` rows): y = i S + u - P, the rows the cut border did not take."""
    return [(u, i * stride + u - padding) for u in range(kernel) if 0 <= i * stride + u - padding < out_side]


def tconv_reach(height, width, kernel, stride=1, padding=0):
    """(H_out, W_out): how many input cells' kernels cover each output cell. It is the layer itself on an
    input of ones through one kernel of ones: where it is uneven, the stamps overlap unevenly."""
    ones = np.ones((1, 1, kernel, kernel))
    return tconv_forward(np.ones((1, height, width)), ones, np.zeros(1), stride, padding)[0]


def tconv_forward_naive(x, w, b, stride=1, padding=0):
    """tconv_forward of one picture (C, H, W) as plain loops, scattering cell by cell; the test reference."""
    channels, height, width = x.shape
    _, filters, kernel, _ = w.shape
    full = np.zeros((filters, (height - 1) * stride + kernel, (width - 1) * stride + kernel))
    for c in range(channels):
        for i in range(height):
            for j in range(width):
                full[:, i * stride:i * stride + kernel, j * stride:j * stride + kernel] += x[c, i, j] * w[c]
    return full[:, padding:full.shape[1] - padding, padding:full.shape[2] - padding] + b[:, None, None]


# ---------------------------------------------------------------- the formula twins


def tconv_cell_formula(terms, bias, scale=None):
    """One output cell of ``tconv_forward``: input cell x weight tap for every (input cell, tap) pair in
    ``terms`` (1 x 1 blocks: each input cell, of every channel, whose stamped kernel covers the cell), plus
    the bias. No pair (a stride wider than the kernel leaves gaps): the bias alone. ``scale`` (a
    first layer) multiplies the sum, as the engine scales the pixels first."""
    products = "+".join(f"{x.ref()}*{w.ref(absolute=True)}" for x, w in terms)
    if products and scale is not None:
        products = f"({products})*{scale}"
    return formulas.checked(f"={products}+{bias.ref(absolute=True)}" if products else f"={bias.ref(absolute=True)}")


def tconv_reach_formula(rows, cols):
    """One cell of ``tconv_reach``: the input rows that reach it times the input columns that do."""
    return f"={rows}*{cols}"


def tconv_product_formula(x, w):
    """One contribution of the worked example: the input cell times the tap of the kernel it stamps."""
    return f"={x.ref()}*{w.ref()}"


def tconv_example_result_formula(total, bias, scale=None):
    """The worked example's result: the sum of its contributions (times the input ``scale`` cell for a first
    layer) plus the bias: ``tconv_cell_formula`` in steps."""
    return f"={total.ref()}*{scale.ref()}+{bias.ref()}" if scale is not None else f"={total.ref()}+{bias.ref()}"


def tconv_weight_gradient_formula(pairs, scale=None):
    """One tap of ``tconv_backward``'s dw: input cell x the upstream gradient of the output cell where that
    cell's stamp put this tap, summed over the ``pairs`` (input cell, upstream cell) of the taps that land
    inside the output (none: 0); times ``scale`` for a first layer, which reads the pixels."""
    terms = "+".join(f"{x.ref()}*{g.ref()}" for x, g in pairs)
    if not terms:
        return "=0"
    return formulas.checked(f"=({terms})*{scale}" if scale is not None else f"={terms}")


def tconv_input_gradient_formula(pairs):
    """One cell of ``tconv_backward``'s dx: every (weight tap, upstream cell) pair of its stamps, over every
    output map, the tap times the gradient of the output cell it landed on (none: 0)."""
    terms = "+".join(f"{w.ref(absolute=True)}*{g.ref()}" for w, g in pairs)
    return formulas.checked(f"={terms}") if terms else "=0"


def tconv_bias_gradient_formula(upstream):
    """``tconv_backward``'s db of one output map: the sum of its upstream gradient map."""
    return f"=SUM({upstream.range_ref()})"
