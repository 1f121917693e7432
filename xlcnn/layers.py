"""One pure NumPy function pair per layer kind: the reference the workbook must equal.

Shapes: a picture x is (C, H, W), or (N, C, H, W) for a batch; every function here
accepts both (the leading batch axis is optional). Conv weights w are (K, C, F, F),
bias (K,); dense weights (M, D), bias (M,), as in PyTorch. Output sizes follow
floor((W - F + 2P) / S) + 1. Each ``*_forward`` has a formula twin of the same name
in ``formulas.py``; each ``*_backward`` takes the upstream gradient ``dout`` and the
forward inputs, and returns the gradients with respect to them.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad_input(x, padding):
    """(..., C, H, W) -> (..., C, H + 2P, W + 2P) with a border of zeros."""
    if padding == 0:
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(padding, padding), (padding, padding)])


def _windows(x, size, stride):
    """Every size x size window at the given stride: (..., C, H_out, W_out, size, size), a view."""
    return sliding_window_view(x, (size, size), axis=(-2, -1))[..., ::stride, ::stride, :, :]


# ---------------------------------------------------------------- convolution


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


def conv_forward(x, w, b, stride=1, padding=0, dilation=1, flip=False):
    """Cross-correlation of x (..., C, H, W) with K filters w (K, C, F, F), plus bias b (K,).

    out[k, i, j] = sum over c, u, v of xp[c, i*S + u, j*S + v] * w[k, c, u, v] + b[k],
    where xp is x with P zeros around it and w the effective kernel (see
    ``effective_kernel``). Returns (..., K, H_out, W_out).
    """
    w = effective_kernel(w, dilation, flip)
    windows = _windows(pad_input(x, padding), w.shape[-1], stride)
    return np.einsum("...cijuv,kcuv->...kij", windows, w, optimize=True) + b[:, None, None]


def conv_backward(dout, x, w, stride=1, padding=0, dilation=1, flip=False):
    """Gradients of conv_forward: dout (..., K, H_out, W_out) -> (dx, dw, db).

    dw[k, c, u, v] = sum over positions of the input window times dout (what the
    workbook's filter-gradient cells will compute); dx spreads each dout back over
    the window it came from, through the same weights.
    """
    if dilation != 1 or flip:
        dx, dw, db = conv_backward(dout, x, effective_kernel(w, dilation, flip), stride, padding)
        return dx, kernel_gradient(dw, dilation, flip), db
    kernel = w.shape[-1]
    xp = pad_input(x, padding)
    dw = np.einsum("...kij,...cijuv->kcuv", dout, _windows(xp, kernel, stride), optimize=True)
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


# ---------------------------------------------------------------- the tie rule

# Where a layer chooses (a ReLU gradient's switch, max pooling's routing, the predicted
# class), two numbers equal on paper can differ in their last bits, and differently in
# every spreadsheet engine (and in NumPy). Choosing on exact comparisons would give each
# engine its own answer, so every choice counts numbers within a margin as equal. The
# margin scales with the whole tensor, not with a window: in a window of rounding
# leftovers near zero, a margin relative to the window would still be decided by them.
# The workbook's formulas apply the same rule.
TIE_MARGIN = 1e-12


def tie_margin(x):
    """TIE_MARGIN x the largest |value| of each picture's whole tensor; ``x`` is a batch (N, ...)."""
    return TIE_MARGIN * np.abs(x).max(axis=tuple(range(1, x.ndim)), keepdims=True)


# ---------------------------------------------------------------- ReLU


def relu_forward(x):
    """max(0, x) element by element; any shape."""
    return np.maximum(x, 0.0)


def relu_backward(dout, x, margin=0.0):
    """The switch: gradient passes where x > margin, else 0 (so exactly 0 blocks it).

    The engine passes ``tie_margin(x)``: a map that is 0 on paper holds rounding
    leftovers such as 1e-17, positive in one spreadsheet and not in another.
    """
    return dout * (x > margin)


def leaky_relu_forward(x, alpha=0.01):
    """x where x > 0, alpha * x elsewhere."""
    return np.where(x > 0, x, alpha * x)


def leaky_relu_backward(dout, x, alpha=0.01, margin=0.0):
    """Slope 1 where x > margin, alpha elsewhere (``margin`` as in ``relu_backward``)."""
    return dout * np.where(x > margin, 1.0, alpha)


def sigmoid_forward(x):
    """1 / (1 + e^-x), computed from e^-|x| so it never overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(dout, x):
    s = sigmoid_forward(x)
    return dout * s * (1 - s)


def tanh_forward(x):
    return np.tanh(x)


def tanh_backward(dout, x):
    return dout * (1 - np.tanh(x) ** 2)


# ---------------------------------------------------------------- pooling


def maxpool_forward(x, size=2, stride=2):
    """Largest value of each size x size window of x (..., C, H, W) -> (..., C, H_out, W_out)."""
    return _windows(x, size, stride).max(axis=(-2, -1))


def maxpool_backward(dout, x, size=2, stride=2, margin=None):
    """Each window's gradient goes to its first near-maximum in row-major order.

    A cell is a near-maximum when it is within ``margin`` (default ``tie_margin``: TIE_MARGIN
    x the largest |value| of the picture's whole input to this layer) of its window's maximum;
    the workbook's routing formulas apply the same rule, so every engine agrees. Exact
    ties (a flat background) send the gradient to one cell only, as in PyTorch.
    """
    windows = _windows(x, size, stride)
    h_out, w_out = windows.shape[-4:-2]
    flat_windows = windows.reshape(*windows.shape[:-2], size * size)
    if margin is None:
        margin = tie_margin(x) if x.ndim == 4 else tie_margin(x[None])[0]
    maximum = flat_windows.max(axis=-1, keepdims=True)
    first_max = (flat_windows >= maximum - np.asarray(margin)[..., None]).argmax(axis=-1)
    dx = np.zeros(x.shape, dtype=np.result_type(dout, float))
    if stride == size:  # windows tile the map: build the routed blocks in one go
        routed = np.zeros((*first_max.shape, size * size))
        np.put_along_axis(routed, first_max[..., None], dout[..., None], axis=-1)
        routed = routed.reshape(*first_max.shape, size, size).swapaxes(-3, -2)
        dx[..., :h_out * size, :w_out * size] = routed.reshape(*first_max.shape[:-2], h_out * size, w_out * size)
        return dx
    rows = np.arange(h_out)[:, None] * stride + first_max // size
    cols = np.arange(w_out)[None, :] * stride + first_max % size
    flat = dx.reshape(-1, *x.shape[-2:])
    maps = np.arange(flat.shape[0]).reshape(first_max.shape[:-2])[..., None, None]
    np.add.at(flat, (np.broadcast_to(maps, rows.shape), rows, cols), dout)
    return flat.reshape(x.shape)


def predicted_class(probabilities):
    """The first class within TIE_MARGIN x the largest probability of it (the tie rule above)."""
    p = np.asarray(probabilities)
    return int(np.argmax(p >= p.max() - TIE_MARGIN * p.max()))   # argmax of booleans: the first True


def avgpool_forward(x, size=2, stride=2):
    """Mean of each size x size window of x (..., C, H, W) -> (..., C, H_out, W_out)."""
    return _windows(x, size, stride).mean(axis=(-2, -1))


def avgpool_backward(dout, x, size=2, stride=2):
    """Each window's gradient is shared equally by its size * size cells."""
    dx = np.zeros(x.shape, dtype=np.result_type(dout, float))
    h_out, w_out = dout.shape[-2:]
    share = dout / (size * size)
    for u in range(size):
        for v in range(size):
            dx[..., u:u + stride * (h_out - 1) + 1:stride, v:v + stride * (w_out - 1) + 1:stride] += share
    return dx


# ---------------------------------------------------------------- flatten and dense


def flatten_forward(x):
    """(C, H, W) -> (C*H*W,) in C order: map by map, each map row by row."""
    return x.reshape(-1)


def flatten_backward(dout, shape):
    """The gradient of a reshape is the reverse reshape."""
    return dout.reshape(shape)


def dense_forward(x, w, b):
    """x (..., D), w (M, D), b (M,) -> x @ w.T + b, shape (..., M)."""
    return x @ w.T + b


def dense_backward(dout, x, w):
    """dout (..., M) -> dx (..., D), dw (M, D), db (M,)."""
    flat_dout, flat_x = dout.reshape(-1, w.shape[0]), x.reshape(-1, w.shape[1])
    return dout @ w, flat_dout.T @ flat_x, flat_dout.sum(axis=0)


# ---------------------------------------------------------------- joining branches: add and concat


def add_forward(xs):
    """The element-wise sum of a sequence of arrays of one shape (maps or vectors); same shape out."""
    out = xs[0].copy()
    for x in xs[1:]:
        out += x
    return out


def add_backward(dout, xs):
    """Every term of a sum gets the sum's gradient unchanged: one copy of dout per input."""
    return [dout.copy() for _ in xs]


def _channel_axis(x):
    """Maps (..., C, H, W) join along C; vectors (N, D) or (D,) along D. A (C, H, W) map has 3
    dimensions and a batch of vectors 2, so the number of dimensions tells them apart."""
    return -3 if x.ndim >= 3 else -1


def concat_forward(xs):
    """Maps (..., C_i, H, W) stacked along the channels -> (..., sum C_i, H, W); vectors end to end."""
    return np.concatenate(xs, axis=_channel_axis(xs[0]))


def concat_backward(dout, xs):
    """Each input gets back its own slice of channels of dout, in order."""
    axis = _channel_axis(xs[0])
    ends = np.cumsum([x.shape[axis] for x in xs])[:-1]
    return np.split(dout, ends, axis=axis)


# ---------------------------------------------------------------- softmax and loss


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
