"""One pure NumPy function per layer kind: the reference the workbook must equal.

Shapes: x is (C, H, W); conv weights w are (K, C, F, F), bias (K,); dense weights
(N_out, N_in), bias (N_out,). Output sizes follow floor((W - F + 2P) / S) + 1.
Each function here has a formula twin of the same name in ``formulas.py``.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad_input(x, padding):
    """(C, H, W) -> (C, H + 2P, W + 2P) with a border of zeros."""
    if padding == 0:
        return x
    return np.pad(x, ((0, 0), (padding, padding), (padding, padding)))


def conv_forward(x, w, b, stride=1, padding=0):
    """Cross-correlation of x (C, H, W) with K filters w (K, C, F, F), plus bias b (K,).

    out[k, i, j] = sum over c, u, v of xp[c, i*S + u, j*S + v] * w[k, c, u, v] + b[k],
    where xp is x with P zeros around it. Returns (K, H_out, W_out).
    """
    kernel = w.shape[-1]
    windows = sliding_window_view(pad_input(x, padding), (kernel, kernel), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]  # (C, H_out, W_out, F, F)
    return np.einsum("cijuv,kcuv->kij", windows, w, optimize=True) + b[:, None, None]


def conv_forward_naive(x, w, b, stride=1, padding=0):
    """The same convolution written as plain loops; kept as the test reference."""
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


def relu_forward(x):
    """max(0, x) element by element; any shape."""
    return np.maximum(x, 0.0)


def maxpool_forward(x, size=2, stride=2):
    """Largest value of each size x size window of x (C, H, W) -> (C, H_out, W_out)."""
    windows = sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    return windows.max(axis=(3, 4))


def flatten_forward(x):
    """(C, H, W) -> (C*H*W,) in C order: map by map, each map row by row."""
    return x.reshape(-1)


def dense_forward(x, w, b):
    """x (N_in,), w (N_out, N_in), b (N_out,) -> w @ x + b, shape (N_out,)."""
    return w @ x + b


def softmax_forward(z):
    """Probabilities from logits z (N,); subtracting max(z) keeps e^z finite for any z."""
    shifted = z - np.max(z)
    e = np.exp(shifted)
    return e / e.sum()


def log_softmax(z):
    """ln(softmax(z)) computed as (z - max) - ln(sum e^(z - max)): finite for any z."""
    shifted = z - np.max(z)
    return shifted - np.log(np.exp(shifted).sum())


def cross_entropy(z, label):
    """-ln p[label], through log-softmax so it stays finite when p[label] underflows."""
    return float(-log_softmax(z)[label])
