"""The convolution: K filters of F x F x C slid over the input, one weighted sum per position.

Shapes: x (..., C, H, W), w (K, C/G, F, F), b (K,) -> (..., K, H_out, W_out), with
H_out = floor((H - D(F - 1) - 1 + 2P) / S) + 1 and G groups (1 unless the layer is grouped or
depthwise). The NumPy functions' formula twins (``*_formula``) close the module.
"""

import re
from dataclasses import dataclass, replace

import numpy as np

from .. import formulas
from ..cells import quote_sheet
from ..errors import ShapeError, UsageError
from .base import Layer, kernels_from_book, lesson_formulas, optional, pad_input, require_positive, window_side, windows

_SPELLING = re.compile(r"conv(\d+)x(\d+)x(\d+)((?:-(?:s\d+|p\d+|same|valid|d\d+|flip|g\d+|dw|nobias))*)")


@dataclass(frozen=True)
class Conv2D(Layer):
    """K filters of F x F x C, moved with stride S over the input with P zeros around it.

    ``dilation`` D spreads the filter's taps D cells apart (D - 1 holes between them);
    ``flip`` makes it a true convolution: the kernel is turned 180 degrees before use.
    ``groups`` G splits the channels into G groups, each filter reading the C/G channels of its
    group (filters 1 to K/G the first group, ...); ``depthwise`` makes G the number of input
    channels (each filter reads one channel); without ``bias`` the layer adds none (a batch
    norm after it shifts instead, as in ResNet).
    """

    filters: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    flip: bool = False
    groups: int = optional(1)
    depthwise: bool = optional(False)
    bias: bool = optional(True)
    kind = "conv2d"
    onnx_ops = ("Conv",)
    grammar = "conv{F}x{F}x{K}[-s{S}][-p{P}|-same|-valid][-d{D}][-flip][-g{G}|-dw][-nobias]"
    examples = ("conv3x3x8", "conv5x5x6-same", "conv3x3x4-s2-p1-d2", "conv3x3x8-g2", "conv3x3x4-dw-nobias")
    gradient_sheet = "filters"
    gradient_text = "conv2d"
    title = "Conv"
    noun = "convolution"
    has_filters = True
    example_by_hand = True

    def groups_for(self, channels):
        """G for an input of ``channels``: the channels themselves for a depthwise layer."""
        return channels if self.depthwise else self.groups

    @property
    def span(self):
        """Side of the window the filter covers: D * (F - 1) + 1."""
        return self.dilation * (self.kernel - 1) + 1

    def tap_at(self, a, b):
        """The stored weight (u, v) that position (a, b) of the effective kernel holds, or None for a hole."""
        if a % self.dilation or b % self.dilation:
            return None
        u, v = a // self.dilation, b // self.dilation
        return (self.kernel - 1 - u, self.kernel - 1 - v) if self.flip else (u, v)

    def offset_of(self, u, v):
        """Where stored weight (u, v) sits in the effective kernel: the inverse of ``tap_at``."""
        if self.flip:
            u, v = self.kernel - 1 - u, self.kernel - 1 - v
        return u * self.dilation, v * self.dilation

    def with_build_options(self, options):
        """--true-convolution turns every kernel 180 degrees: a true convolution, not a correlation."""
        return replace(self, flip=True) if options.true_convolution else self

    # -- text

    @classmethod
    def parse(cls, item, classes, option):
        """conv{F}x{F}x{K}[-s{S}][-p{P}|-same|-valid][-d{D}][-flip][-g{G}|-dw][-nobias]"""
        m = _SPELLING.fullmatch(item)
        if not m:
            return None
        size_a, size_b, filters = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if size_a != size_b:
            raise UsageError(f"{option}: {item!r} has a {size_a}x{size_b} kernel; only square kernels are supported")
        options = dict(stride=1, padding=0, dilation=1, flip=False)
        same = False
        words = {"flip": ("flip", True), "dw": ("depthwise", True), "nobias": ("bias", False)}
        for part in filter(None, m.group(4).split("-")):
            if part == "same":
                same = True
            elif part == "valid":
                options["padding"] = 0
            elif part in words:
                options[words[part][0]] = words[part][1]
            else:
                options[{"s": "stride", "p": "padding", "d": "dilation", "g": "groups"}[part[0]]] = int(part[1:])
        if options.get("depthwise") and "groups" in options:
            raise UsageError(f"{option}: {item!r}: -dw makes the groups the input channels; leave out -g")
        if same:
            span = options["dilation"] * (size_a - 1) + 1
            if span % 2 == 0:
                raise UsageError(f"{option}: {item!r}: 'same' padding needs an odd window, and this one spans {span}")
            options["padding"] = (span - 1) // 2
        return cls(filters, size_a, **options)

    def spelling(self):
        text = f"conv{self.kernel}x{self.kernel}x{self.filters}"
        text += f"-s{self.stride}" if self.stride != 1 else ""
        text += f"-p{self.padding}" if self.padding else ""
        text += f"-d{self.dilation}" if self.dilation != 1 else ""
        text += "-flip" if self.flip else ""
        text += f"-g{self.groups}" if self.groups != 1 else ""
        return text + ("-dw" if self.depthwise else "") + ("" if self.bias else "-nobias")

    def text_extras(self):
        extras = {"dilation": self.dilation != 1, "flip": self.flip, "groups": self.groups != 1,
                  "depthwise": self.depthwise, "no_bias": not self.bias}
        return tuple(key for key, shown in extras.items() if shown)

    @classmethod
    def from_onnx(cls, node, in_shape):
        """Conv with a stored (K, C/G, F, F) weight, square windows and equal padding on every side; a missing
        bias is zeros (a per-channel shift after it may fold into it)."""
        weight = node.weight(1, "weight")
        if weight.ndim != 4:
            raise node.fail(f"convolves {weight.ndim - 2}-d inputs", "xlcnn convolves 2-d maps")
        groups = int(node.attrs.get("group", 1))
        if len(in_shape) != 3 or weight.shape[1] * groups != in_shape[0] or weight.shape[0] % groups:
            raise node.fail(f"has filters of {weight.shape[1]} channels in {groups} group(s) for an input of shape "
                            f"{tuple(in_shape)}")
        stride, dilation, kernel = node.one("strides", (1, 1)), node.one("dilations", (1, 1)), weight.shape[2]
        if weight.shape[3] != kernel or node.one("kernel_shape", weight.shape[2:]) != kernel:
            raise node.fail(f"has {weight.shape[2]}x{weight.shape[3]} filters", "xlcnn's filters are square")
        padding = node.padding(in_shape[1:], dilation * (kernel - 1) + 1, stride)
        layer = cls(weight.shape[0], kernel, stride, padding, dilation, groups=groups)
        bias = node.optional(2)
        return layer, {"weight": weight, "bias": np.zeros(layer.filters) if bias is None else bias.reshape(-1)}

    def to_onnx(self, params, in_shape):
        """ONNX's Conv slides the kernel as it is stored: a true convolution's is written turned."""
        weight = params["weight"][..., ::-1, ::-1] if self.flip else params["weight"]
        attrs = {"kernel_shape": [self.kernel] * 2, "strides": [self.stride] * 2, "pads": [self.padding] * 4,
                 "dilations": [self.dilation] * 2, "group": self.groups_for(in_shape[0])}
        return "Conv", attrs, [weight, params["bias"]] if self.bias else [weight]

    def describe(self):
        text = f"conv {self.kernel}x{self.kernel}, {self.filters} filters, stride {self.stride}, padding {self.padding}"
        if self.dilation != 1:
            text += f", dilation {self.dilation}"
        text += ", flipped (true convolution)" if self.flip else ""
        text += f", {self.groups} groups" if self.groups != 1 else ""
        return text + (", depthwise" if self.depthwise else "") + ("" if self.bias else ", no bias")

    def group_reads(self, k, channels):
        """(first input channel, how many) filter k reads of an input of ``channels``: its group's, in order
        (filters 1 to K/G read the first C/G channels, ...); every channel when the layer has one group."""
        groups = self.groups_for(channels)
        per = channels // groups
        return k // (self.filters // groups) * per, per

    # -- shapes

    def output_shape_one(self, shape, where):
        if len(shape) != 3:
            raise ShapeError(f"{where} needs a (channels, height, width) input, got a vector of {shape[0]}")
        require_positive(where, filters=self.filters, kernel=self.kernel, stride=self.stride, dilation=self.dilation,
                         groups=self.groups)
        if self.padding < 0:
            raise ShapeError(f"{where}: padding must be 0 or more, not {self.padding}")
        groups = self.groups_for(shape[0])
        if self.depthwise and self.filters % groups:    # the groups are the channels: only the filters can miss
            raise ShapeError(f"{where}: a depthwise layer gives each input channel its own filters: its "
                             f"{self.filters} filters must be a multiple of the {shape[0]} input channels")
        if shape[0] % groups or self.filters % groups:
            raise ShapeError(f"{where}: {groups} groups must divide both the {shape[0]} input channels and the "
                             f"{self.filters} filters")
        return (self.filters, *(window_side(where, side, self.span, self.stride, self.padding) for side in shape[1:]))

    def parameter_shapes(self, input_shape):
        """weight (K, C/G, F, F), as PyTorch stores a grouped convolution's; bias (K,) unless left out."""
        weight = (self.filters, input_shape[0] // self.groups_for(input_shape[0]), self.kernel, self.kernel)
        return {"weight": weight, "bias": (self.filters,)} if self.bias else {"weight": weight}

    def window(self):
        return self.span, self.stride, self.padding

    def text_values(self):
        return {"kernel": self.kernel, "stride": self.stride, "padding": self.padding, "filters": self.filters}

    def parameters_from_book(self, reader, layout, index):
        """The weights and biases its filters sheet shows (a layer without biases: its weights only; its
        sheet's bias cells are fixed zeros)."""
        params = kernels_from_book(reader, layout, index)
        return params if self.bias else {"weight": params["weight"]}

    def example_reads(self, at):
        """Every channel's window; the padding takes the first rows and columns."""
        _, i, j = at
        return i < self.span - self.padding and j < self.span - self.padding

    # -- the formula twins, on blocks

    def forward_formula(self, windows, filter_slices, bias, scale=None, check=True):
        return conv_forward_formula(windows, filter_slices, bias, scale, check)

    def im2col_formula(self, filter_row, window_column, bias, scale=None):
        return im2col_forward_formula(filter_row, window_column, bias, scale)

    def weight_gradient_formula(self, window, upstream, scale=None):
        return conv_weight_gradient_formula(window, upstream, scale)

    def bias_gradient_formula(self, upstream):
        return conv_bias_gradient_formula(upstream)

    def input_gradient_formula(self, upstream_windows, turned_kernels):
        return conv_input_gradient_formula(upstream_windows, turned_kernels)

    def turned_weight_formula(self, weight):
        return turned_weight_formula(weight)

    # -- the worked example, its highlight and the exercise, on blocks (``lesson_formulas`` has the shared lines)

    def example_input_formula(self, padded, i, j, stride, row, col):
        return conv_example_input_formula(padded, i, j, stride, row, col)

    def example_tap_formula(self, band, k, step, row, col):
        return conv_example_tap_formula(band, k, step, row, col)

    def example_result_formula(self, channel_sums, bias, scale=None):
        return conv_example_result_formula(channel_sums, bias, scale)

    def receptive_field_formula(self, padded, i, j):
        return conv_receptive_field_formula(padded, i, j, self.stride, self.dilation, self.span)

    def exercise_part_formula(self, window, kernel, scale=None):
        return conv_exercise_part_formula(window, kernel, scale)

    def parameter_count(self, input_shape):
        """F x F x C/G x K weights (a filter reads the C/G channels of its group) + K biases, if any."""
        f, c, k = self.kernel, input_shape[0] // self.groups_for(input_shape[0]), self.filters
        if not self.bias:
            return lesson_formulas().product((f, f, c, k)), f * f * c * k
        return conv_parameters_formula(f, c, k), f * f * c * k + k

    def standard_twin(self, channels):
        """The same convolution with every filter reading every channel, when this one is grouped."""
        return replace(self, groups=1, depthwise=False) if self.groups_for(channels) != 1 else None

    def multiply_adds(self, input_shape, output_shape):
        """One per weight tap per output cell: K x H_out x W_out x F x F x C/G."""
        k, h, w = output_shape
        taps = self.kernel * self.kernel * input_shape[0] // self.groups_for(input_shape[0])
        return lesson_formulas().product((k, h, w, taps)), k * h * w * taps

    # -- the NumPy pair

    def forward_one(self, x, params):
        return conv_forward(x, params["weight"], params.get("bias"), self.stride, self.padding, self.dilation,
                            self.flip, self.groups_for(x.shape[-3]))

    def backward_one(self, dout, x, params):
        dx, dw, db = conv_backward(dout, x, params["weight"], self.stride, self.padding, self.dilation, self.flip,
                                   self.groups_for(x.shape[-3]))
        return dx, ({"weight": dw, "bias": db} if self.bias else {"weight": dw})


def conv_output_size(size, kernel, stride, padding, dilation=1):
    """floor((W - F + 2P) / S) + 1, the number of window positions along one side.

    With dilation D the window spans D(F - 1) + 1 cells, which takes the place of F.
    """
    return (size - dilation * (kernel - 1) - 1 + 2 * padding) // stride + 1


# ---------------------------------------------------------------- the NumPy functions


def effective_kernel(w, dilation=1, flip=False):
    """The kernel a convolution really slides: turned 180 degrees for a true convolution,
    then spread out with dilation - 1 zeros between taps. (K, C, F, F) -> (K, C, span, span).

    The workbook draws this same block beside each filter, so one SUMPRODUCT per
    channel covers dilated and flipped filters too.
    """
    if flip:
        w = w[..., ::-1, ::-1]
    if dilation == 1:
        return w
    span = dilation * (w.shape[-1] - 1) + 1
    spread = np.zeros((*w.shape[:-2], span, span), dtype=w.dtype)
    spread[..., ::dilation, ::dilation] = w
    return spread


def kernel_gradient(dw_effective, dilation=1, flip=False):
    """The gradient of the stored kernel from that of its effective kernel (the inverse map)."""
    dw = dw_effective[..., ::dilation, ::dilation]
    return dw[..., ::-1, ::-1] if flip else dw


def conv_forward(x, w, b, stride=1, padding=0, dilation=1, flip=False, groups=1):
    """Cross-correlation of x (..., C, H, W) with K filters w (K, C/G, F, F), plus bias b (K,) (None: no bias).

    out[k, i, j] = sum over c, u, v of xp[c, i*S + u, j*S + v] * w[k, c, u, v] + b[k],
    where xp is x with P zeros around it and w the effective kernel (see
    ``effective_kernel``). With G groups, filter k reads only the C/G channels of its group,
    g = k // (K/G), and c runs over those. Returns (..., K, H_out, W_out).
    """
    w = effective_kernel(w, dilation, flip)
    if groups != 1:     # each group a convolution of its own: its channels of x, its filters
        out = np.concatenate([conv_forward(part, filters, None, stride, padding) for part, filters in
                              zip(np.split(x, groups, axis=-3), np.split(w, groups, axis=0))], axis=-3)
    else:
        slides = windows(pad_input(x, padding), w.shape[-1], stride)
        out = np.einsum("...cijuv,kcuv->...kij", slides, w, optimize=True)
    return out if b is None else out + b[:, None, None]


def conv_backward(dout, x, w, stride=1, padding=0, dilation=1, flip=False, groups=1):
    """Gradients of conv_forward: dout (..., K, H_out, W_out) -> (dx, dw, db).

    dw[k, c, u, v] = sum over positions of the input window times dout (what the
    workbook's filter-gradient cells will compute); dx spreads each dout back over
    the window it came from, through the same weights. With G groups each group is a
    convolution of its own: its channels of x, its filters, its maps of dout.
    """
    if dilation != 1 or flip:
        dx, dw, db = conv_backward(dout, x, effective_kernel(w, dilation, flip), stride, padding, groups=groups)
        return dx, kernel_gradient(dw, dilation, flip), db
    if groups != 1:
        parts = [conv_backward(d, part, filters, stride, padding) for d, part, filters in
                 zip(np.split(dout, groups, axis=-3), np.split(x, groups, axis=-3), np.split(w, groups, axis=0))]
        dx, dw, db = zip(*parts)
        return np.concatenate(dx, axis=-3), np.concatenate(dw, axis=0), np.concatenate(db)
    kernel = w.shape[-1]
    xp = pad_input(x, padding)
    dw = np.einsum("...kij,...cijuv->kcuv", dout, windows(xp, kernel, stride), optimize=True)
    db = dout.sum(axis=(-2, -1)).reshape(-1, w.shape[0]).sum(axis=0)
    dxp = np.zeros_like(xp, dtype=np.result_type(dout, w))
    h_out, w_out = dout.shape[-2:]
    for u in range(kernel):
        for v in range(kernel):
            rows = slice(u, u + stride * (h_out - 1) + 1, stride)
            cols = slice(v, v + stride * (w_out - 1) + 1, stride)
            dxp[..., rows, cols] += np.einsum("...kij,kc->...cij", dout, w[:, :, u, v], optimize=True)
    height, width = x.shape[-2:]
    return dxp[..., padding:padding + height, padding:padding + width], dw, db


def conv_forward_naive(x, w, b, stride=1, padding=0):
    """The same convolution of one picture (C, H, W) as plain loops; the test reference."""
    xp = pad_input(x, padding)
    n_filters, _, kernel, _ = w.shape
    h_out = (xp.shape[1] - kernel) // stride + 1
    w_out = (xp.shape[2] - kernel) // stride + 1
    out = np.zeros((n_filters, h_out, w_out))
    for k in range(n_filters):
        for i in range(h_out):
            for j in range(w_out):
                window = xp[:, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
                out[k, i, j] = np.sum(window * w[k]) + b[k]
    return out


def conv_backward_naive(dout, x, w, stride=1, padding=0):
    """conv_backward for one picture as plain loops; the test reference."""
    xp = pad_input(x, padding)
    dxp, dw = np.zeros_like(xp, dtype=float), np.zeros_like(w, dtype=float)
    kernel = w.shape[-1]
    for k in range(w.shape[0]):
        for i in range(dout.shape[1]):
            for j in range(dout.shape[2]):
                rows = slice(i * stride, i * stride + kernel)
                cols = slice(j * stride, j * stride + kernel)
                dw[k] += xp[:, rows, cols] * dout[k, i, j]
                dxp[:, rows, cols] += w[k] * dout[k, i, j]
    height, width = x.shape[-2:]
    return dxp[:, padding:padding + height, padding:padding + width], dw, dout.sum(axis=(1, 2))


# ---------------------------------------------------------------- the formula twins


def conv_forward_formula(windows, filter_slices, bias, scale=None, check=True):
    """One output cell: sum over channels of SUMPRODUCT(window, filter slice), plus bias.

    ``windows`` and ``filter_slices`` are equal-sized blocks, one per input channel.
    ``scale`` (a cell reference) multiplies the sum; the first layer uses it to turn
    0-255 pixels into the 0-1 range the weights expect.
    """
    products = "+".join(
        f"SUMPRODUCT({w.range_ref()},{f.range_ref(absolute=True)})"
        for w, f in zip(windows, filter_slices))
    if scale is not None:
        products = f"({products})*{scale}"
    formula = f"={products}+{bias.ref(absolute=True)}"
    return formulas.checked(formula) if check else formula


def im2col_forward_formula(filter_row, window_column, bias, scale=None):
    """``conv_forward_formula`` as im2col computes it: the filter unrolled into a row times the input
    window unrolled into a column (one matrix product, MMULT of 1 x N and N x 1), plus the bias."""
    product = f"MMULT({filter_row.range_ref(absolute=True)},{window_column.range_ref()})"
    if scale is not None:
        product = f"{product}*{scale}"
    return formulas.checked(f"={product}+{bias.ref(absolute=True)}")


def conv_weight_gradient_formula(window, upstream, scale=None):
    """One tap of ``conv_backward``'s dw: SUMPRODUCT(the input the tap saw at every
    position, the upstream map); times ``scale`` for the first layer, which reads the pixels."""
    formula = f"=SUMPRODUCT({window.range_ref()},{upstream.range_ref()})"
    return f"{formula}*{scale}" if scale else formula


def conv_bias_gradient_formula(upstream):
    """``conv_backward``'s db of one filter: the sum of its upstream map."""
    return f"=SUM({upstream.range_ref()})"


def conv_input_gradient_formula(upstream_windows, turned_kernels):
    """One cell of ``conv_backward``'s dx: the zero-padded upstream maps slid under the
    kernels turned 180 degrees, summed over filters (one window and one turned kernel each)."""
    terms = "+".join(f"SUMPRODUCT({window.range_ref()},{kernel.range_ref(absolute=True)})"
                     for window, kernel in zip(upstream_windows, turned_kernels))
    return f"={terms}"


def turned_weight_formula(weight):
    """One tap of a kernel turned 180 degrees: a plain reference to the weight it mirrors."""
    return formulas.reference(weight)


def conv_parameters_formula(kernel, channels, filters):
    """The summary's count of parameters: F x F x C x K weights + K biases."""
    return f"={kernel}*{kernel}*{channels}*{filters}+{filters}"


# ---------------------------------------------------------------- the worked example and the exercise


def conv_example_input_formula(padded, i, j, stride, row, col):
    """The input under tap (row, col) of the window of picked output (i, j): INDEX into one
    padded input map (``row`` and ``col`` are the tap's offsets, dilation included)."""
    index = lesson_formulas().picked_index
    return f"=INDEX({padded.range_ref(absolute=True)},{index(i, stride, row)},{index(j, stride, col)})"


def conv_example_tap_formula(band, k, step, row, col):
    """Tap (row, col) of picked filter k in ``band``: filters stacked ``step`` rows apart (a
    filter's bias, in the column of biases, is its tap (0, 0))."""
    return f"=INDEX({band.range_ref(absolute=True)},{lesson_formulas().picked_index(k, step, row)},{col + 1})"


def conv_example_result_formula(channel_sums, bias, scale=None):
    """The channels' sums (times the scale cell, for the first layer) plus the bias: the layer's own
    ``conv_forward_formula`` worked out by hand."""
    total = "+".join(cell.ref() for cell in channel_sums)
    if scale is not None:
        total = f"({total})*{scale.ref()}"
    return f"={total}+{bias.ref()}"


def conv_receptive_field_formula(padded, i, j, stride, dilation, span):
    """TRUE on the cells of one padded input map that the picked output cell's filter taps read.

    ``i`` and ``j`` are the cells holding the picked row and column, on the map's own sheet;
    conditional formats refer to their own sheet without its name (some engines insist).
    """
    top, left = f"ROW({padded.ref(absolute=True)})", f"COLUMN({padded.ref(absolute=True)})"
    i, j = i.ref(absolute=True), j.ref(absolute=True)
    dy, dx = f"(ROW()-{top}-({i}-1)*{stride})", f"(COLUMN()-{left}-({j}-1)*{stride})"
    inside = (f"AND({dy}>=0,{dy}<={span - 1},{dx}>=0,{dx}<={span - 1},"
              f"MOD({dy},{dilation})=0,MOD({dx},{dilation})=0)")
    return inside.replace(quote_sheet(padded.sheet) + "!", "")


def conv_exercise_part_formula(window, kernel, scale=None):
    """One channel's part of an output cell: SUMPRODUCT(window, kernel slice), times the scale for
    the first layer (text without "=")."""
    part = f"SUMPRODUCT({window.range_ref()},{kernel.range_ref()})"
    return f"{part}*{scale}" if scale else part
