"""Engine-level tests for xlcnn.layers: hand-computed cases, loop references, SciPy oracle."""

import numpy as np
import pytest

from xlcnn.layers import (conv_forward, conv_forward_naive, cross_entropy, dense_forward, flatten_forward,
                          log_softmax, maxpool_forward, pad_input, relu_forward, softmax_forward)


def _ramp():
    """x[c, i, j] = c*25 + i*5 + j: a (3, 5, 5) input whose window sums are easy to add by hand."""
    return np.arange(75, dtype=np.float64).reshape(3, 5, 5)


def _ones_filter():
    """One 3x3x3 filter of ones, bias 0.5: each output is the window's sum plus 0.5."""
    return np.ones((1, 3, 3, 3)), np.array([0.5])


def _output_side(size, kernel, stride, padding):
    return (size - kernel + 2 * padding) // stride + 1


# ---------------------------------------------------------------- hand-computed convolutions

# Window sums of the ramp for the all-ones filter. Without padding, a full window at (i, j)
# adds 9*25*(0+1+2) + 9*5*(3i+3) + 9*(3j+3) = 837 + 135i + 27j. With padding 1 the border
# windows lose the rows/columns outside the image, e.g. out[0, 0] = (0+1+5+6) + (25+26+30+31)
# + (50+51+55+56) = 336.
ONES_P0_S1 = [[837.5, 864.5, 891.5],
              [972.5, 999.5, 1026.5],
              [1107.5, 1134.5, 1161.5]]
ONES_P0_S2 = [[837.5, 891.5],
              [1107.5, 1161.5]]
ONES_P1_S1 = [[336.5, 513.5, 531.5, 549.5, 372.5],
              [549.5, 837.5, 864.5, 891.5, 603.5],
              [639.5, 972.5, 999.5, 1026.5, 693.5],
              [729.5, 1107.5, 1134.5, 1161.5, 783.5],
              [516.5, 783.5, 801.5, 819.5, 552.5]]
ONES_P1_S2 = [[336.5, 531.5, 372.5],
              [639.5, 999.5, 693.5],
              [516.5, 801.5, 552.5]]


@pytest.mark.parametrize(("stride", "padding", "expected"), [
    (1, 0, ONES_P0_S1),
    (2, 0, ONES_P0_S2),
    (1, 1, ONES_P1_S1),
    (2, 1, ONES_P1_S2),
])
@pytest.mark.parametrize("conv", [conv_forward, conv_forward_naive])
def test_ones_filter_sums_each_window(conv, stride, padding, expected):
    w, b = _ones_filter()
    out = conv(_ramp(), w, b, stride, padding)
    side = _output_side(5, 3, stride, padding)
    assert out.shape == (1, side, side)
    np.testing.assert_allclose(out[0], expected, rtol=0, atol=1e-9)


def test_first_output_is_window_sum_plus_bias():
    w, b = _ones_filter()
    x = _ramp()
    assert conv_forward(x, w, b)[0, 0, 0] == pytest.approx(x[:, :3, :3].sum() + 0.5)
    assert x[:, :3, :3].sum() == 837


@pytest.mark.parametrize(("stride", "padding", "side"), [(1, 0, 3), (2, 0, 2), (1, 1, 5), (2, 1, 3)])
def test_output_side_follows_formula(stride, padding, side):
    assert _output_side(5, 3, stride, padding) == side
    w = np.ones((2, 3, 3, 3))
    assert conv_forward(_ramp(), w, np.zeros(2), stride, padding).shape == (2, side, side)


def test_one_hot_centre_filter_returns_that_channel():
    x = _ramp()
    w = np.zeros((1, 3, 3, 3))
    w[0, 1, 1, 1] = 1.0
    out = conv_forward(x, w, np.zeros(1), stride=1, padding=1)
    assert out.shape == (1, 5, 5)
    np.testing.assert_array_equal(out[0], x[1])
    # channel 1 of the ramp, written out: 25..49
    np.testing.assert_array_equal(out[0, 0], [25, 26, 27, 28, 29])
    np.testing.assert_array_equal(out[0, 4], [45, 46, 47, 48, 49])


def test_one_hot_centre_with_stride_two_subsamples_channel():
    x = _ramp()
    w = np.zeros((1, 3, 3, 3))
    w[0, 1, 1, 1] = 1.0
    out = conv_forward(x, w, np.array([-25.0]), stride=2, padding=1)
    np.testing.assert_array_equal(out[0], [[0, 2, 4], [10, 12, 14], [20, 22, 24]])


def test_several_filters_keep_their_order_and_bias():
    x = _ramp()
    w = np.zeros((3, 3, 3, 3))
    for k in range(3):
        w[k, k, 1, 1] = 1.0  # filter k copies channel k
    b = np.array([0.0, 10.0, 100.0])
    out = conv_forward(x, w, b, stride=1, padding=1)
    for k in range(3):
        np.testing.assert_array_equal(out[k], x[k] + b[k])


def test_pad_input_adds_zero_border():
    x = _ramp()
    assert pad_input(x, 0) is x
    xp = pad_input(x, 2)
    assert xp.shape == (3, 9, 9)
    np.testing.assert_array_equal(xp[:, 2:-2, 2:-2], x)
    assert xp[:, :2].sum() == 0 and xp[:, -2:].sum() == 0
    assert xp[:, :, :2].sum() == 0 and xp[:, :, -2:].sum() == 0


# ---------------------------------------------------------------- random shapes

# (K, C, H, W, F, S, P): square and non-square maps, odd leftovers that the stride drops
RANDOM_CASES = [
    (1, 1, 5, 5, 3, 1, 0),
    (4, 3, 28, 28, 3, 1, 0),
    (2, 3, 7, 9, 3, 2, 1),
    (3, 2, 8, 11, 5, 3, 2),
    (5, 4, 10, 6, 1, 1, 0),
    (2, 1, 9, 13, 4, 2, 0),
    (3, 3, 6, 6, 6, 1, 0),
    (2, 2, 4, 7, 3, 1, 3),
    (6, 3, 12, 10, 2, 2, 1),
    (1, 5, 11, 11, 7, 4, 3),
]


def _random_case(case, seed):
    k, c, h, w_, f, _, _ = case
    rng = np.random.default_rng(seed)
    return rng.normal(size=(c, h, w_)), rng.normal(size=(k, c, f, f)), rng.normal(size=k)


@pytest.mark.parametrize("case", RANDOM_CASES, ids=str)
def test_conv_equals_naive_loops(case):
    k, _, h, w_, f, s, p = case
    x, w, b = _random_case(case, seed=RANDOM_CASES.index(case))
    fast = conv_forward(x, w, b, s, p)
    slow = conv_forward_naive(x, w, b, s, p)
    assert fast.shape == slow.shape == (k, _output_side(h, f, s, p), _output_side(w_, f, s, p))
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)


def _valid_part(full, kernel):
    """The outputs of a same-size ``scipy.ndimage`` filter whose every tap fell inside the input.

    ndimage.correlate centres a kernel of F taps on tap F // 2 (even F: the later of the middle
    two), so output i reads inputs i - F // 2 .. i + (F - 1) // 2, all inside only from i = F // 2
    to n - 1 - (F - 1) // 2.
    """
    rows, cols = full.shape[-2:]
    return full[..., kernel // 2:rows - (kernel - 1) // 2, kernel // 2:cols - (kernel - 1) // 2]


def _scipy_conv(x, w, b, stride, padding):
    """Independent oracle: per-channel correlation on the padded input, its valid part, summed, then strided."""
    from scipy import ndimage    # here, not at the top: scipy takes a while, and every xdist worker collects this file
    # (ndimage, not scipy.signal: the same sums, a third of the import)
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    maps = []
    for k in range(w.shape[0]):
        full = sum(_valid_part(ndimage.correlate(xp[c], w[k, c], mode="constant", cval=0.0), w.shape[-1])
                   for c in range(x.shape[0]))
        maps.append(full[::stride, ::stride] + b[k])
    return np.stack(maps)


@pytest.mark.parametrize("case", RANDOM_CASES, ids=str)
def test_conv_equals_scipy_correlate(case):
    _, _, _, _, _, s, p = case
    x, w, b = _random_case(case, seed=100 + RANDOM_CASES.index(case))
    np.testing.assert_allclose(conv_forward(x, w, b, s, p), _scipy_conv(x, w, b, s, p), rtol=1e-10, atol=1e-10)


def test_scipy_oracle_agrees_with_hand_values():
    w, b = _ones_filter()
    np.testing.assert_allclose(_scipy_conv(_ramp(), w, b, 2, 1)[0], ONES_P1_S2)


# ---------------------------------------------------------------- pooling, relu, flatten, dense


def _maxpool_loops(x, size, stride):
    c, h, w = x.shape
    h_out, w_out = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.empty((c, h_out, w_out))
    for ch in range(c):
        for i in range(h_out):
            for j in range(w_out):
                out[ch, i, j] = x[ch, i * stride:i * stride + size, j * stride:j * stride + size].max()
    return out


@pytest.mark.parametrize(("shape", "size", "stride"), [
    ((2, 8, 8), 2, 2),
    ((3, 7, 9), 2, 2),     # odd sides: the last row/column is dropped
    ((2, 7, 9), 3, 2),     # overlapping windows
    ((4, 26, 26), 2, 2),
    ((1, 13, 10), 3, 2),
])
def test_maxpool_equals_loops(shape, size, stride):
    x = np.random.default_rng(7).normal(size=shape)
    out = maxpool_forward(x, size, stride)
    expected = _maxpool_loops(x, size, stride)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)


def test_maxpool_hand_values():
    x = np.array([[[1, 2, 0, -1],
                   [3, -4, 5, 6],
                   [-7, -8, 0, 0],
                   [-9, -2, 0, 1]]], dtype=float)
    np.testing.assert_array_equal(maxpool_forward(x, 2, 2), [[[3, 6], [-2, 1]]])
    # 3x3 windows, stride 1: two positions per side
    np.testing.assert_array_equal(maxpool_forward(x, 3, 1), [[[5, 6], [5, 6]]])


def test_relu():
    x = np.array([[-2.0, -0.0, 0.0], [1e-300, 3.5, -1e300]])
    np.testing.assert_array_equal(relu_forward(x), [[0, 0, 0], [1e-300, 3.5, 0]])
    assert relu_forward(x).shape == x.shape


def test_flatten_is_c_order_of_chw():
    c, h, w = 2, 3, 4
    x = np.arange(c * h * w, dtype=float).reshape(c, h, w)
    flat = flatten_forward(x)
    assert flat.shape == (24,)
    np.testing.assert_array_equal(flat, np.arange(24))
    for ch in range(c):
        for i in range(h):
            for j in range(w):
                assert flat[ch * h * w + i * w + j] == x[ch, i, j]


def test_flatten_of_non_contiguous_input_is_still_c_order():
    x = np.arange(24, dtype=float).reshape(4, 3, 2).transpose(2, 1, 0)  # (2, 3, 4), not contiguous
    flat = flatten_forward(x)
    np.testing.assert_array_equal(flat, [x[c, i, j] for c in range(2) for i in range(3) for j in range(4)])


def test_dense_is_w_at_x_plus_b_with_out_in_weights():
    w = np.array([[1.0, 2.0, 3.0],
                  [-1.0, 0.0, 0.5]])  # (out=2, in=3)
    x = np.array([1.0, 10.0, 100.0])
    b = np.array([0.25, -1.0])
    out = dense_forward(x, w, b)
    assert out.shape == (2,)
    np.testing.assert_array_equal(out, [321.25, 48.0])


def test_dense_random_matches_sum():
    rng = np.random.default_rng(3)
    w, x, b = rng.normal(size=(5, 11)), rng.normal(size=11), rng.normal(size=5)
    expected = [sum(w[o, i] * x[i] for i in range(11)) + b[o] for o in range(5)]
    np.testing.assert_allclose(dense_forward(x, w, b), expected, rtol=1e-12)


# ---------------------------------------------------------------- softmax and loss


def test_softmax_small_values():
    p = softmax_forward(np.array([0.0, np.log(3.0)]))
    np.testing.assert_allclose(p, [0.25, 0.75])
    np.testing.assert_allclose(softmax_forward(np.zeros(4)), [0.25] * 4)


@pytest.mark.parametrize("z", [
    [1000.0, 999.0, -1000.0],
    [-5000.0, -5001.0],
    [1e300, -1e300],
    [0.0, 0.0, 0.0],
])
def test_softmax_sums_to_one_and_is_finite(z):
    p = softmax_forward(np.array(z))
    assert np.all(np.isfinite(p))
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(p >= 0)


def test_softmax_large_logits_values():
    e = np.exp(-1.0)
    np.testing.assert_allclose(softmax_forward(np.array([1000.0, 999.0, -1000.0])),
                               [1 / (1 + e), e / (1 + e), 0.0], atol=1e-15)
    np.testing.assert_allclose(softmax_forward(np.array([-5000.0, -5001.0])), [1 / (1 + e), e / (1 + e)])


@pytest.mark.parametrize("z", [[1000.0, 999.0, -1000.0], [-5000.0, -5001.0], [1000.0, 0.0]])
def test_log_softmax_finite_and_consistent(z):
    z = np.array(z)
    lp = log_softmax(z)
    assert np.all(np.isfinite(lp))
    assert np.all(lp <= 0)
    np.testing.assert_allclose(np.exp(lp), softmax_forward(z), atol=1e-15)


def test_log_softmax_values():
    lp = log_softmax(np.array([1000.0, 999.0, -1000.0]))
    log_norm = np.log1p(np.exp(-1.0))
    np.testing.assert_allclose(lp, [-log_norm, -1 - log_norm, -2000 - log_norm])


def test_cross_entropy_large_margin_is_finite():
    loss = cross_entropy(np.array([1000.0, 0.0]), 1)
    assert isinstance(loss, float)
    assert np.isfinite(loss)
    assert loss == pytest.approx(1000.0)


def test_cross_entropy_is_minus_log_probability():
    z = np.array([0.5, -1.0, 2.0])
    p = softmax_forward(z)
    for label in range(3):
        assert cross_entropy(z, label) == pytest.approx(-np.log(p[label]))
    assert cross_entropy(np.array([1000.0, 0.0]), 0) == pytest.approx(0.0, abs=1e-300)
