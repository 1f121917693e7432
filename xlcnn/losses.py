"""The mean-squared-error loss of a regression: the NumPy pair and, beside it, its formula twins.

A regression ends with its last fully connected layer's outputs y (n numbers, no probabilities)
and compares them with targets t typed in by the student: L = mean((y - t)^2), and the
backward pass starts from dL/dy = 2 (y - t) / n. The classifier's loss (cross-entropy) lives
with its probabilities in ``kinds/``; this module holds the other one.
"""

import numpy as np

from .errors import UsageError

LOSSES = ("cross-entropy", "mse")      # --loss: the classifier's (the default) and the regression's
REGRESSION = "mse"


# ---------------------------------------------------------------- NumPy


def mse_forward(y, t):
    """Mean of (y - t)^2 over every element of y and t (same shape): one number."""
    return float(np.mean((np.asarray(y, dtype=float) - np.asarray(t, dtype=float)) ** 2))


def mse_backward(y, t):
    """dL/dy of ``mse_forward``: 2 (y - t) / (number of elements), the shape of y."""
    y, t = np.asarray(y, dtype=float), np.asarray(t, dtype=float)
    return 2.0 * (y - t) / y.size


def mse_loss(y, t):
    """A batch's loss and its gradient: y and t (N, n) -> (mean over pictures of each picture's
    mean squared error, dL/dy (N, n) = 2 (y - t) / (N n))."""
    return mse_forward(y, t), mse_backward(y, t)


# ---------------------------------------------------------------- the formula twins


def squared_error_formula(output, target):
    """One output's squared error, (y - t)^2: the term ``mse_forward`` averages."""
    return f"=({output.ref()}-{target.ref()})^2"


def mse_formula(squared_errors):
    """``mse_forward``: the mean of the squared errors."""
    return f"=AVERAGE({squared_errors.range_ref()})"


def mse_backward_formula(output, target, count):
    """``mse_backward`` for one output of a picture: 2 (y - t) / n, n the number of outputs."""
    return f"=2*({output.ref()}-{target.ref()})/{count}"


# ---------------------------------------------------------------- --target


def check_target_count(targets, outputs, option="--target"):
    """One target per output of the network, or UsageError saying both counts."""
    if len(targets) != outputs:
        raise UsageError(f"{option}: {len(targets)} number(s) for {outputs} output(s) of the network; "
                         "give one target per output")
    return tuple(targets)
