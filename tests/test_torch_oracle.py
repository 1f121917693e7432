"""The NumPy engine against PyTorch, an optional oracle (``pip install torch==2.13.0``, CPU).

Skipped where PyTorch is not installed: it is never a dependency of xlcnn. Each kind runs
forward and backward on random inputs in both, in float64, and must agree to 1e-12.
"""

import numpy as np
import pytest

from xlcnn.kinds import LAYER_TYPES

torch = pytest.importorskip("torch")
F = torch.nn.functional

# (--arch item, the PyTorch function of one input with the same meaning)
ACTIVATIONS = {
    "relu": F.relu, "leakyrelu0.2": lambda x: F.leaky_relu(x, 0.2), "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "abs": torch.abs,
}
POOLS = {
    "maxpool2": lambda x: F.max_pool2d(x, 2), "maxpool3-s2": lambda x: F.max_pool2d(x, 3, 2),
    "avgpool2": lambda x: F.avg_pool2d(x, 2), "avgpool3-s1": lambda x: F.avg_pool2d(x, 3, 1),
    # padding (never a max; zeros counted in a mean) and ceil mode, as frameworks do them
    "maxpool3-s2-p1": lambda x: F.max_pool2d(x, 3, 2, 1), "maxpool3-s2-ceil": lambda x: F.max_pool2d(x, 3, 2, ceil_mode=True),
    "maxpool2-p1-ceil": lambda x: F.max_pool2d(x, 2, 2, 1, ceil_mode=True),
    "avgpool3-s2-p1": lambda x: F.avg_pool2d(x, 3, 2, 1), "avgpool3-s2-ceil": lambda x: F.avg_pool2d(x, 3, 2, ceil_mode=True),
    "avgpool3-s2-p1-ceil": lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
    "gap": lambda x: F.adaptive_avg_pool2d(x, 1),
}


def _layer(item):
    from xlcnn.kinds import parse_layer
    return parse_layer(item, 3, "--arch")


def _compare(item, torch_function, shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    dout_shape = torch_function(torch.from_numpy(x)).shape
    dout = rng.normal(size=tuple(dout_shape))
    layer = _layer(item)
    ours = layer.forward([x], {})
    ours_dx = layer.backward(dout, [x], {})[0][0]
    tx = torch.from_numpy(x).requires_grad_()
    out = torch_function(tx)
    out.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(ours, out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours_dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("item", ACTIVATIONS)
def test_activations_agree_with_pytorch(item):
    _compare(item, ACTIVATIONS[item], (2, 3, 5, 5))


@pytest.mark.parametrize("item", POOLS)
@pytest.mark.parametrize("side", [5, 6, 7, 8])
def test_pools_agree_with_pytorch(item, side):
    _compare(item, POOLS[item], (2, 3, side, side + 1), seed=side)


def test_every_activation_is_compared():
    from xlcnn.kinds import ACTIVATIONS as KINDS
    assert {_layer(item).kind for item in ACTIVATIONS} == {cls.kind for cls in KINDS}
    assert set(LAYER_TYPES) >= {_layer(item).kind for item in POOLS}
