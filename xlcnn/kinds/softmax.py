"""Softmax and the cross-entropy loss: logits (..., N) -> probabilities (..., N).

The engine never runs softmax backwards by itself: the gradient of the loss with respect to
the logits, p - y, comes from ``softmax_cross_entropy`` in one step, and its formula twin
(``softmax_cross_entropy_backward_formula``) starts the gradient sheets. ``softmax_forward`` has
a formula twin in ``formulas.py``.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from .base import TIE_MARGIN, Layer, kind_with


@dataclass(frozen=True)
class Softmax(Layer):
    """Logits -> probabilities; the loss is the cross-entropy against the true label."""

    kind = "softmax"
    onnx_ops = ("Softmax",)
    title = "Softmax"
    never_negative = True
    gives_probabilities = True
    has_backward = False

    def output_shape_one(self, shape, where):
        if len(shape) != 1:
            raise ShapeError(f"{where} needs a vector of logits; put {kind_with('makes_column')} and "
                             f"{kind_with('fully_connected')} layers before it")
        return shape

    @classmethod
    def from_onnx(cls, node, in_shape):
        if int(node.attrs.get("axis", -1)) not in (-1, 1) or len(in_shape) != 1:
            raise node.fail(f"takes the softmax of shape {tuple(in_shape)} along axis {node.attrs.get('axis')}",
                            "xlcnn's softmax turns one vector of logits per picture into probabilities")
        return cls(), {}

    def to_onnx(self, params, in_shape):
        return "Softmax", {"axis": -1}, []

    def forward_one(self, x, params):
        return softmax_forward(x)

    # -- the loss, which the layer that gives the probabilities brings (``gives_probabilities``)

    def log_probabilities(self, logits):
        return log_softmax(logits)

    def loss(self, logits, label):
        """The loss of one picture whose true class is ``label``."""
        return cross_entropy(logits, label)

    def loss_and_gradient(self, logits, labels):
        """The mean loss of a batch of logits (N, M) and its gradient with respect to them, in one step."""
        return softmax_cross_entropy(logits, labels)

    @staticmethod
    def loss_gradient_formula(probability, one_hot):
        """dL/dz of one logit, where the gradient sheets start, from its probability and one-hot cells."""
        return softmax_cross_entropy_backward_formula(probability, one_hot)

    # -- its sheet, as the verifier reads it (``plans.ProbabilitySheet``)

    def checked_cells(self, sheet, logits, probabilities, log_probabilities):
        """(stage name, block of its ``sheet``, the engine's values) of every number the sheet works out
        from the logits of one picture; the prediction (a class name) is checked with the loss."""
        shifted = logits - logits.max()
        return [("logits", sheet.logit, logits), ("z - max", sheet.shifted, shifted),
                ("e^(z - max)", sheet.exp, np.exp(shifted)), ("softmax sum", sheet.sum, np.exp(shifted).sum()),
                ("probabilities", sheet.probability, probabilities), ("ln p", sheet.log_probability, log_probabilities)]

    @staticmethod
    def formula_blocks(sheet):
        """The blocks of its sheet that must hold formulas, never typed-in values."""
        return (sheet.logit, sheet.shifted, sheet.exp, sheet.probability, sheet.log_probability, sheet.max, sheet.sum,
                sheet.prediction, sheet.confidence)


def softmax_forward(z):
    """Probabilities from logits z (..., N); subtracting max(z) keeps e^z finite for any z."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z):
    """ln(softmax(z)) computed as (z - max) - ln(sum e^(z - max)): finite for any z."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy(z, label):
    """-ln p[label] of one picture, through log-softmax so it stays finite when p underflows."""
    return float(-log_softmax(z)[label])


def softmax_cross_entropy(z, labels):
    """Mean loss of a batch z (N, M) with integer labels (N,), and its gradient dz = (p - y) / N."""
    n = z.shape[0]
    log_p = log_softmax(z)
    loss = -log_p[np.arange(n), labels].mean()
    dz = np.exp(log_p)
    dz[np.arange(n), labels] -= 1.0
    return float(loss), dz / n


def softmax_cross_entropy_backward_formula(probability, one_hot):
    """``softmax_cross_entropy``'s gradient for one logit: p - y."""
    return f"={probability.ref()}-{one_hot.ref()}"


def predicted_class(probabilities):
    """The first class within TIE_MARGIN x the largest probability of it (the tie rule in ``base``)."""
    p = np.asarray(probabilities)
    return int(np.argmax(p >= p.max() - TIE_MARGIN * p.max()))   # argmax of booleans: the first True
