"""Every backward pass against central differences, and the fast versions against loops."""

import numpy as np
import pytest

from xlcnn import layers as L
from xlcnn.engine import forward_batch, loss_and_gradients
from xlcnn.network import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax, random_model


def numerical_gradient(f, x, dout, h=1e-5):
    """d(sum(f(x) * dout))/dx by central differences, one element at a time."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        plus = np.sum(f(x) * dout)
        x[index] = old - h
        minus = np.sum(f(x) * dout)
        x[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


def batch_loss(model, pixels, labels):
    """The loss of ``loss_and_gradients`` (checked equal where used) without its backward pass, which the
    central differences (two losses per parameter) would pay for and throw away: a classifier's mean
    cross-entropy of the logits, the last layer's input."""
    return np.array(model.layers[-1].loss_and_gradient(forward_batch(model, pixels)[-2], labels)[0])


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


CONV_CASES = [(s, p) for s in (1, 2) for p in (0, 1)]


@pytest.mark.parametrize("stride, padding", CONV_CASES)
def test_conv_backward_matches_central_differences(stride, padding):
    rng = np.random.default_rng(stride * 10 + padding)
    x, w, b = rng.normal(size=(2, 3, 7, 7)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    out = L.conv_forward(x, w, b, stride, padding)
    dout = rng.normal(size=out.shape)
    dx, dw, db = L.conv_backward(dout, x, w, stride, padding)
    # conv is linear in each argument, so a large step adds no truncation error, only less rounding
    h = 1e-3
    assert rel_error(dx, numerical_gradient(lambda v: L.conv_forward(v, w, b, stride, padding), x, dout, h)) < 1e-6
    assert rel_error(dw, numerical_gradient(lambda v: L.conv_forward(x, v, b, stride, padding), w, dout, h)) < 1e-6
    assert rel_error(db, numerical_gradient(lambda v: L.conv_forward(x, w, v, stride, padding), b, dout, h)) < 1e-6


@pytest.mark.parametrize("stride, padding", CONV_CASES + [(3, 2)])
def test_conv_backward_matches_the_loop_version(stride, padding):
    rng = np.random.default_rng(7)
    x, w = rng.normal(size=(2, 6, 6)), rng.normal(size=(3, 2, 3, 3))
    dout = rng.normal(size=L.conv_forward(x, w, np.zeros(3), stride, padding).shape)
    for fast, slow in zip(L.conv_backward(dout, x, w, stride, padding),
                          L.conv_backward_naive(dout, x, w, stride, padding)):
        np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)


def test_relu_backward():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4, 4))
    x[np.abs(x) < 1e-3] = 0.5          # keep central differences away from the kink
    dout = rng.normal(size=x.shape)
    assert rel_error(L.relu_backward(dout, x), numerical_gradient(L.relu_forward, x, dout)) < 1e-6
    assert np.all(L.relu_backward(np.ones(3), np.array([-1.0, 0.0, 2.0])) == [0, 0, 1])


@pytest.mark.parametrize("size, stride", [(2, 2), (3, 2), (2, 1), (3, 3)])
def test_maxpool_backward_matches_central_differences(size, stride):
    rng = np.random.default_rng(size * 10 + stride)
    x = rng.permutation(2 * 2 * 7 * 7).reshape(2, 2, 7, 7) / 10.0    # distinct values: no ties
    dout = rng.normal(size=L.maxpool_forward(x, size, stride).shape)
    numeric = numerical_gradient(lambda v: L.maxpool_forward(v, size, stride), x, dout, h=1e-4)
    assert rel_error(L.maxpool_backward(dout, x, size, stride), numeric) < 1e-6


@pytest.mark.parametrize("size, stride", [(2, 2), (3, 2)])
def test_maxpool_ties_go_to_the_first_maximum_in_row_major_order(size, stride):
    x = np.zeros((1, 5, 5))                      # a flat background: every cell ties
    dout = np.arange(1.0, 1 + L.maxpool_forward(x, size, stride).size).reshape(1, *L.maxpool_forward(x, size, stride).shape[1:])
    dx = L.maxpool_backward(dout, x, size, stride)
    expected = np.zeros_like(x)
    for i in range(dout.shape[1]):
        for j in range(dout.shape[2]):
            expected[0, i * stride, j * stride] += dout[0, i, j]   # top-left of each window
    np.testing.assert_array_equal(dx, expected)


def test_dense_backward():
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(4, 6)), rng.normal(size=(3, 6)), rng.normal(size=3)
    dout = rng.normal(size=(4, 3))
    dx, dw, db = L.dense_backward(dout, x, w)
    assert rel_error(dx, numerical_gradient(lambda v: L.dense_forward(v, w, b), x, dout)) < 1e-6
    assert rel_error(dw, numerical_gradient(lambda v: L.dense_forward(x, v, b), w, dout)) < 1e-6
    assert rel_error(db, numerical_gradient(lambda v: L.dense_forward(x, w, v), b, dout)) < 1e-6


def test_flatten_backward_is_the_reverse_reshape():
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(L.flatten_backward(L.flatten_forward(x), x.shape), x)


def test_softmax_cross_entropy_gradient_and_stability():
    rng = np.random.default_rng(4)
    z, labels = rng.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0])
    _, dz = L.softmax_cross_entropy(z, labels)
    numeric = numerical_gradient(lambda v: np.array(L.softmax_cross_entropy(v, labels)[0]), z, np.array(1.0))
    assert rel_error(dz, numeric) < 1e-6
    loss, dz = L.softmax_cross_entropy(np.array([[5000.0, 0.0, -5000.0]]), np.array([2]))
    assert loss == pytest.approx(10000.0) and np.all(np.isfinite(dz))


NETWORKS = {
    "default": (Conv2D(2, 3), ReLU(), MaxPool2D(2), Flatten(), Dense(3), Softmax()),
    "stride2-pad1": (Conv2D(2, 3, stride=2, padding=1), ReLU(), MaxPool2D(2), Flatten(), Dense(3), Softmax()),
    "two-blocks": (Conv2D(2, 3, padding=1), ReLU(), MaxPool2D(2), Conv2D(3, 3, padding=1), ReLU(),
                   MaxPool2D(2), Flatten(), Dense(3), Softmax()),
    "average-pool": (Conv2D(2, 3), ReLU(), AvgPool2D(2), Flatten(), Dense(3), Softmax()),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_whole_network_gradients_match_central_differences(name):
    model = random_model(NETWORKS[name], image_size=8, seed=5)
    rng = np.random.default_rng(6)
    for p in model.params:  # zero biases put windows of padding exactly on ReLU's kink
        if "bias" in p:
            p["bias"] = rng.normal(0, 0.5, p["bias"].shape)
    pixels, labels = rng.uniform(0, 255, size=(3, 3, 8, 8)), np.array([0, 1, 2])
    loss, grads, _ = loss_and_gradients(model, pixels, labels)
    assert batch_loss(model, pixels, labels) == loss
    for p, g in zip(model.params, grads):
        for key, value in p.items():
            numeric = numerical_gradient(lambda v: batch_loss(model, pixels, labels), value, np.array(1.0))
            assert rel_error(g[key], numeric) < 1e-6, key
