"""Batch normalization: each channel (or unit) normalised, then scaled by gamma and shifted by beta.

y = gamma (x - mean) / sqrt(var + eps) + beta, per channel of a map or per unit of a vector (after a
conv layer or a fully connected one). Shapes: x (..., C, H, W) or (..., N); gamma (``weight``), beta
(``bias``), the running mean and the running variance all (C,) or (N,), named as PyTorch names them.

Inference (``forward``/``backward``, the workbook): the running mean and variance are held fixed, so
the backward pass treats them as the other parameters (their gradients are the derivatives of y).
Training (``train_forward``/``train_backward``): each batch is normalised by its own mean and biased
variance, the gradient goes through them, and ``updated_buffers`` moves the running statistics towards
the batch's, as PyTorch does in train mode. Each NumPy function has its formula twins below it.
"""

import re
from dataclasses import dataclass, replace

import numpy as np

from .. import formulas
from ..errors import ShapeError, UsageError
from .base import Layer, channel_axis, lesson_formulas, per_channel

_SPELLING = re.compile(r"bn(?:-eps((?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?))?")   # a decimal: not "." or "1.2.3"
STATISTICS = ("running_mean", "running_var")   # PyTorch's buffers: kept, not learned
DEFAULT_EPS = 1e-5      # PyTorch's
MOMENTUM = 0.1          # PyTorch's: each training batch moves the running statistics a tenth of the way


@dataclass(frozen=True)
class BatchNorm(Layer):
    """Each channel normalised by its running mean and variance, then scaled by gamma and shifted by beta."""

    eps: float = DEFAULT_EPS   # added to the variance so a channel that never varies divides by no zero
    kind = "bn"
    onnx_ops = ("BatchNormalization",)
    folds = True
    grammar = "bn[-eps{E}]"
    examples = ("bn", "bn-eps0.001")
    title = "BN"
    positive_parameters = ("running_var",)
    buffers = STATISTICS
    normalises = True
    gradient_sheet = "norm"

    @classmethod
    def parse(cls, item, classes, option):
        m = _SPELLING.fullmatch(item)
        return (cls(float(m.group(1))) if m.group(1) else cls()) if m else None

    @property
    def own_eps(self):
        """eps as text when it is not the default (compared as the text the spelling writes), else ""; Python's
        shortest text of a float reads back as the same float."""
        text = repr(float(self.eps))
        return "" if text == repr(DEFAULT_EPS) else text

    def spelling(self):
        return "bn" + (f"-eps{self.own_eps}" if self.own_eps else "")

    def describe(self):
        return "batch norm" + (f", eps {self.own_eps}" if self.own_eps else "")

    def text_extras(self):
        return ("eps",) if self.own_eps else ()

    def output_shape_one(self, shape, where):
        if not 0 <= self.eps < np.inf:    # bn-eps1e400 reads as infinity, and every output as 0 / inf
            raise ShapeError(f"{where}: eps must be a finite number 0 or more, not {self.eps}")
        return shape

    def parameters_from_book(self, reader, layout, index):
        """Its four numbers per channel as the sheet holds them (a student may have edited them)."""
        plan = layout.sheet(self.kind, index)
        return {name: reader.array(block).reshape(-1) for name, block in plan.parameter_blocks().items()}

    def as_in_book(self, reader, layout, index):
        """With eps as its sheet holds it."""
        return replace(self, eps=reader.number(layout.sheet(self.kind, index).eps))

    @classmethod
    def from_onnx(cls, node, in_shape):
        """BatchNormalization at inference: its four stored inputs, in ONNX's order, and epsilon."""
        if int(node.attrs.get("training_mode", 0)):
            raise node.fail("normalises with the batch's own statistics (training_mode)",
                            "export the model in eval mode (model.eval())")
        names = ("weight", "bias", *STATISTICS)
        words = ("scale", "bias", "running mean", "running variance")
        params = {name: node.weight(n, word).reshape(-1) for n, (name, word) in enumerate(zip(names, words), start=1)}
        # ONNX keeps epsilon as a float32: its shortest float32 text is the number the author wrote
        # (1e-5, not 9.999999747378752e-06, which would show on every sheet and in the layer's spelling)
        return cls(float(str(np.float32(node.attrs.get("epsilon", DEFAULT_EPS))))), params

    def to_onnx(self, params, in_shape):
        return "BatchNormalization", {"epsilon": self.eps}, [params[name] for name in ("weight", "bias", *STATISTICS)]

    def folded(self, params, before, axis=0):
        """The weights and biases of the layer before (its outputs along ``axis`` of the weight) with this
        batch norm folded in: gamma / sqrt(var + eps) scales each output, the shift joins its bias (a layer
        without biases gets them: its bias was 0)."""
        factor = params["weight"] / np.sqrt(params["running_var"] + self.eps)
        shape = [1] * before["weight"].ndim
        shape[axis] = -1
        return {**before, "weight": before["weight"] * factor.reshape(shape),
                "bias": (before.get("bias", 0.0) - params["running_mean"]) * factor + params["bias"]}

    def parameter_shapes(self, input_shape):
        """gamma, beta, mean and variance: one each per channel of a map, or per unit of a vector."""
        return {name: (input_shape[0],) for name in ("weight", "bias", *STATISTICS)}

    def initial_value(self, name, shape):
        """What a fresh layer holds, as frameworks start it: gamma 1, beta 0, mean 0, variance 1."""
        return np.ones(shape) if name in ("weight", "running_var") else np.zeros(shape)

    # -- the summary: gamma and beta are its weights and biases; the statistics are buffers

    def parameter_count(self, input_shape):
        """C gammas + C betas, as PyTorch's ``parameters()`` counts them (the statistics are buffers)."""
        return lesson_formulas().product((2, input_shape[0])), 2 * input_shape[0]

    def multiply_adds(self, input_shape, output_shape):
        """One per cell: gamma / sqrt(var + eps) and the shift fold into one multiply and one add."""
        count = int(np.prod(output_shape))
        return lesson_formulas().product(output_shape) if len(output_shape) > 1 else None, count

    # -- the NumPy pair

    def forward_one(self, x, params):
        return bn_forward(x, params["weight"], params["bias"], params["running_mean"], params["running_var"], self.eps)

    def backward_one(self, dout, x, params):
        dx, grads = bn_backward(dout, x, params["weight"], params["running_mean"], params["running_var"], self.eps)
        return dx, grads

    # -- training: the batch's own statistics, and the running ones moved towards them

    def train_forward(self, xs, params):
        (x,) = xs
        if _per_channel_count(x) < 2:    # one number per channel: variance 0, every x^ 0
            raise UsageError("batch norm while training: a batch of one picture gives it one number per "
                             f"{'unit' if x.ndim == 2 else 'map'}, whose variance is 0; train with --batch-size 2 "
                             "or more")
        return bn_forward(x, params["weight"], params["bias"], *bn_batch_statistics(x), self.eps)

    def train_backward(self, dout, xs, params):
        dx, grads = bn_train_backward(dout, xs[0], params["weight"], self.eps)
        return [dx], grads

    def updated_buffers(self, xs, params):
        mean, var = bn_batch_statistics(xs[0])
        count = _per_channel_count(xs[0])
        return {"running_mean": (1 - MOMENTUM) * params["running_mean"] + MOMENTUM * mean,
                "running_var": (1 - MOMENTUM) * params["running_var"] + MOMENTUM * var * count / max(count - 1, 1)}

    def normalised_one(self, x, params):
        """x^, the first of the sheet's two steps (the engine's output is the second)."""
        return bn_normalised(x, params["running_mean"], params["running_var"], self.eps)

    # -- the formula twins, for the sheet's two stacks

    def normalise_formula(self, x, mean, var, eps, scale=None):
        return bn_normalised_formula(x, mean, var, eps, scale)

    def shift_formula(self, normalised, gamma, beta):
        return bn_shift_formula(normalised, gamma, beta)

    def input_gradient_formula(self, upstream, gamma, var, eps):
        return bn_scaled_formula(upstream, gamma, var, eps)

    def gamma_gradient_formula(self, upstream, normalised):
        return bn_gamma_gradient_formula(upstream, normalised)

    def beta_gradient_formula(self, upstream):
        return bn_beta_gradient_formula(upstream)

    def folded_weight_formula(self, weight, gamma, var, eps):
        return bn_scaled_formula(weight, gamma, var, eps)

    def folded_bias_formula(self, bias, gamma, beta, mean, var, eps):
        return bn_folded_bias_formula(bias, gamma, beta, mean, var, eps)


def bn_forward(x, gamma, beta, mean, var, eps=1e-5):
    """gamma (x - mean) / sqrt(var + eps) + beta, channel by channel: x (..., C, H, W) or (..., N), the rest (C,)."""
    return per_channel(gamma, x) * bn_normalised(x, mean, var, eps) + per_channel(beta, x)


def _per_channel_count(x):
    """How many numbers each channel's statistics are taken over: the batch times the cells of a map."""
    return x.size // x.shape[channel_axis(x)]


def _channel_sum(a, x):
    """Over the batch and the cells of each map (``x``'s shape tells which axis holds channels): one number per channel."""
    axis = channel_axis(x)
    return np.moveaxis(a, axis, -1).reshape(-1, a.shape[axis]).sum(axis=0)


def bn_batch_statistics(x):
    """(mean, biased variance) of each channel over a batch x (N, C, H, W) or (N, D): what training
    normalises with (the variance divides by the count, as PyTorch's normalisation does)."""
    count = _per_channel_count(x)
    mean = _channel_sum(x, x) / count
    return mean, _channel_sum((x - per_channel(mean, x)) ** 2, x) / count


def bn_train_backward(dout, x, gamma, eps=1e-5):
    """(dx, {"weight": dgamma, "bias": dbeta}) of ``bn_forward`` with the batch's own statistics, which
    depend on x: dx = gamma / (m s) (m dx^ - sum dx^ - x^ sum dx^ x^) with dx^ = dout, x^ the normalised
    batch, s = sqrt(var + eps) and m the count per channel."""
    mean, var = bn_batch_statistics(x)
    s = np.sqrt(per_channel(var, x) + eps)
    xhat = bn_normalised(x, mean, var, eps)
    count = _per_channel_count(x)
    dsum, dxsum = _channel_sum(dout, x), _channel_sum(dout * xhat, x)
    dx = per_channel(gamma, x) / (count * s) * (count * dout - per_channel(dsum, x) - xhat * per_channel(dxsum, x))
    return dx, {"weight": dxsum, "bias": dsum}


def bn_normalised(x, mean, var, eps=1e-5):
    """x^ = (x - mean) / sqrt(var + eps), channel by channel: the value before gamma and beta."""
    return (x - per_channel(mean, x)) / np.sqrt(per_channel(var, x) + eps)


def bn_normalised_formula(x, mean, var, eps, scale=None):
    """x^ of one cell, twin of ``bn_normalised``: its channel's mean, variance and eps are 1 x 1 blocks
    (``scale``: the input scale's name, for a first layer that reads the pixels)."""
    return formulas.checked(f"=({formulas.scaled(x, scale)}-{mean.ref(absolute=True)})"
                            f"/SQRT({var.ref(absolute=True)}+{eps.ref(absolute=True)})")


def bn_shift_formula(normalised, gamma, beta):
    """y = gamma x^ + beta of one cell, twin of ``bn_forward`` after ``bn_normalised``."""
    return formulas.checked(f"={gamma.ref(absolute=True)}*{normalised.ref()}+{beta.ref(absolute=True)}")


def bn_backward(dout, x, gamma, mean, var, eps=1e-5):
    """(dx, {parameter: gradient}) of ``bn_forward`` with the statistics held fixed.

    dx = dout gamma / s with s = sqrt(var + eps); dgamma = sum of dout x_hat and dbeta = sum of dout over
    every cell of the channel (and the batch); dmean = -sum of dout gamma / s; dvar = -sum of dout gamma
    (x - mean) / (2 s^3).
    """
    def along(values):
        return per_channel(values, x)

    s = np.sqrt(along(var) + eps)
    centred = x - along(mean)
    grads = {"weight": _channel_sum(dout * centred / s, x), "bias": _channel_sum(dout, x),
             "running_mean": -_channel_sum(dout, x) * gamma / np.sqrt(var + eps),
             "running_var": -_channel_sum(dout * centred, x) * gamma / (2 * (var + eps) ** 1.5)}
    return dout * along(gamma) / s, grads


def bn_scaled_formula(cell, gamma, var, eps):
    """One cell times its channel's gamma / SQRT(var + eps), the factor batch norm scales by: a folded weight
    of the layer before (twin of ``BatchNorm.folded``'s weights) and, with the statistics held fixed, an
    input cell's gradient from its output's (``bn_backward``'s dx). All 1 x 1 blocks."""
    return formulas.checked(f"={cell.ref()}*{gamma.ref(absolute=True)}/SQRT({var.ref(absolute=True)}"
                            f"+{eps.ref(absolute=True)})")


def bn_folded_bias_formula(bias, gamma, beta, mean, var, eps):
    """One bias of the layer before, folded: (b - mean) gamma / SQRT(var + eps) + beta; twin of
    ``BatchNorm.folded``'s biases."""
    return formulas.checked(f"=({bias.ref()}-{mean.ref(absolute=True)})*{gamma.ref(absolute=True)}"
                            f"/SQRT({var.ref(absolute=True)}+{eps.ref(absolute=True)})+{beta.ref(absolute=True)}")


def bn_gamma_gradient_formula(upstream, normalised):
    """dL/dgamma of one channel (``bn_backward``): the sum of dL/dy x^ over its cells, two blocks of one shape."""
    return formulas.checked(f"=SUMPRODUCT({upstream.range_ref()},{normalised.range_ref()})")


def bn_beta_gradient_formula(upstream):
    """dL/dbeta of one channel (``bn_backward``): the sum of dL/dy over its cells."""
    return formulas.checked(f"=SUM({upstream.range_ref()})")
