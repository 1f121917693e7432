"""The NumPy engine against PyTorch, an optional oracle (``pip install torch==2.13.0``, CPU).

Skipped where PyTorch is not installed: it is never a dependency of xlcnn. Each kind runs
forward and backward on random inputs in both, in float64, and must agree to 1e-12.
"""

import numpy as np
import pytest

from conftest import OnFirstUse
from xlcnn.kinds import LAYER_TYPES

# imported when a test first uses them (seconds to import; every xdist worker collects this file)
torch = OnFirstUse("torch", load=pytest.importorskip)
F = OnFirstUse("torch.nn.functional", load=pytest.importorskip)

# (--arch item, the PyTorch function of one input with the same meaning)
ACTIVATIONS = {
    "relu": lambda x: F.relu(x), "leakyrelu0.2": lambda x: F.leaky_relu(x, 0.2), "sigmoid": lambda x: torch.sigmoid(x),
    "tanh": lambda x: torch.tanh(x), "abs": lambda x: torch.abs(x),
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
    # windows that do not overlap, as the gradient sheets write them; stride above size and a last
    # window that ends before the maps do leave input cells no window reaches (gradient 0)
    "maxpool2-s2-p1": lambda x: F.max_pool2d(x, 2, 2, 1), "avgpool2-s2-p1": lambda x: F.avg_pool2d(x, 2, 2, 1),
    "maxpool2-ceil": lambda x: F.max_pool2d(x, 2, ceil_mode=True), "avgpool2-ceil": lambda x: F.avg_pool2d(x, 2, ceil_mode=True),
    "maxpool2-s3-p1-ceil": lambda x: F.max_pool2d(x, 2, 3, 1, ceil_mode=True),
    "avgpool2-s3-p1-ceil": lambda x: F.avg_pool2d(x, 2, 3, 1, ceil_mode=True),
    "maxpool4-p1": lambda x: F.max_pool2d(x, 4, 4, 1), "avgpool4-p1": lambda x: F.avg_pool2d(x, 4, 4, 1),
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


# ---------------------------------------------------------------- kinds with parameters

def _bn(x, p, eps):
    return F.batch_norm(x, p["running_mean"], p["running_var"], p["weight"], p["bias"], training=False, eps=eps)


# (--arch item, input shape, the PyTorch function of the input and the parameters with the same meaning)
WITH_PARAMETERS = {
    "conv3x3x4-p1": ((2, 3, 6, 6), lambda x, p: F.conv2d(x, p["weight"], p["bias"], padding=1)),
    "conv3x3x6-g3-s2": ((2, 3, 7, 7), lambda x, p: F.conv2d(x, p["weight"], p["bias"], stride=2, groups=3)),
    "conv3x3x8-g2-p1-nobias": ((2, 4, 5, 5), lambda x, p: F.conv2d(x, p["weight"], None, padding=1, groups=2)),
    "conv3x3x6-dw-d2-flip": ((2, 3, 7, 7),
                             lambda x, p: F.conv2d(x, p["weight"].flip(-1, -2), p["bias"], dilation=2, groups=3)),
    "conv1x1x4-s2-nobias": ((2, 3, 5, 5), lambda x, p: F.conv2d(x, p["weight"], None, stride=2)),
    "tconv3x3x2-s2-p1": ((2, 3, 3, 3), lambda x, p: F.conv_transpose2d(x, p["weight"], p["bias"], 2, 1)),
    "tconv2x2x3-s2": ((2, 2, 4, 3), lambda x, p: F.conv_transpose2d(x, p["weight"], p["bias"], 2)),
    "tconv4x4x2-s3-p2": ((2, 2, 3, 3), lambda x, p: F.conv_transpose2d(x, p["weight"], p["bias"], 3, 2)),
    "tconv3x3x2": ((2, 3, 4, 4), lambda x, p: F.conv_transpose2d(x, p["weight"], p["bias"])),
    "bn": ((2, 3, 4, 5), lambda x, p: _bn(x, p, 1e-5)),
    "bn-eps0.01": ((4, 6), lambda x, p: _bn(x, p, 0.01)),    # after a fully connected layer: per unit
}


def _random_parameters(layer, shape, rng):
    params = {name: rng.normal(size=s) for name, s in layer.parameter_shapes(shape[1:]).items()}
    for name in layer.positive_parameters:
        params[name] = rng.uniform(0.2, 2.0, size=params[name].shape)
    return params


@pytest.mark.parametrize("item", WITH_PARAMETERS)
def test_kinds_with_parameters_agree_with_pytorch(item):
    """Forward, and the gradients of the input and of every parameter PyTorch learns."""
    shape, torch_function = WITH_PARAMETERS[item]
    rng = np.random.default_rng(len(item))
    layer, x = _layer(item), rng.normal(size=shape)
    params = _random_parameters(layer, shape, rng)
    ours = layer.forward([x], params)
    dout = rng.normal(size=ours.shape)
    (ours_dx,), ours_grads = layer.backward(dout, [x], params)
    tx = torch.from_numpy(x).requires_grad_()
    learned = {name for name in params if not name.startswith("running_")}   # PyTorch's buffers have no gradient
    tp = {name: torch.from_numpy(value).requires_grad_(name in learned) for name, value in params.items()}
    out = torch_function(tx, tp)
    out.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(ours, out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours_dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert sorted(ours_grads) == sorted(params)
    for name in learned:
        np.testing.assert_allclose(ours_grads[name], tp[name].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_batch_norm_statistics_gradients_agree_with_pytorch_autograd():
    """The running mean and variance are buffers to PyTorch; held fixed, they are inputs of a plain
    expression, and autograd of that expression gives their gradients."""
    rng = np.random.default_rng(7)
    layer, x = _layer("bn"), rng.normal(size=(2, 3, 4, 4))
    params = _random_parameters(layer, x.shape, rng)
    dout = rng.normal(size=x.shape)
    _, grads = layer.backward(dout, [x], params)
    tp = {name: torch.from_numpy(value).requires_grad_() for name, value in params.items()}
    along = {name: value[:, None, None] for name, value in tp.items()}
    out = along["weight"] * (torch.from_numpy(x) - along["running_mean"]) / torch.sqrt(along["running_var"] + 1e-5) \
        + along["bias"]
    plain = {name: value.detach() for name, value in tp.items()}
    np.testing.assert_allclose(out.detach().numpy(), _bn(torch.from_numpy(x), plain, 1e-5).numpy(), rtol=1e-12)
    out.backward(torch.from_numpy(dout))
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(grads[name], tp[name].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_every_kind_with_parameters_is_compared():
    compared = {_layer(item).kind for item in WITH_PARAMETERS}
    assert compared >= {"conv2d", "tconv", "bn"}


# ---------------------------------------------------------------- ResNet-18, written out in torch.nn

def _basic_block():
    """The class, made on first use (it derives from torch's Module)."""

    class BasicBlock(torch.nn.Module):
        """torchvision's BasicBlock: conv-BN-ReLU-conv-BN, the input added back (through a 1 x 1 conv and BN
        when the block halves the maps or changes the channels), then ReLU."""

        def __init__(self, channels, filters, stride):
            super().__init__()
            nn = torch.nn
            self.conv1 = nn.Conv2d(channels, filters, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(filters)
            self.conv2 = nn.Conv2d(filters, filters, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(filters)
            self.downsample = None
            if stride != 1 or channels != filters:
                self.downsample = nn.Sequential(nn.Conv2d(channels, filters, 1, stride, bias=False),
                                                nn.BatchNorm2d(filters))

        def forward(self, x):
            out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(out + (x if self.downsample is None else self.downsample(x)))
    return BasicBlock


def _resnet18(classes=1000):
    nn, _BasicBlock = torch.nn, _basic_block()
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    channels = 64
    for filters, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_BasicBlock(channels, filters, stride), _BasicBlock(filters, filters, 1)]
        channels = filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*layers).double().eval()


def test_resnet18_preset_counts_what_pytorch_counts():
    from xlcnn.pipeline import make_summary
    rows = make_summary("resnet18").rows
    net = _resnet18()
    assert sum(p.numel() for p in net.parameters()) == 11_689_512      # torchvision's published count
    assert sum(row.numbers()["parameters"] for row in rows) == 11_689_512
    assert sum(row.buffers for row in rows) == sum(b.numel() for name, b in net.named_buffers() if "running" in name)


def test_resnet18_preset_computes_what_the_torch_module_computes():
    """The preset's text, given the torch module's weights and statistics, gives the same logits:
    the text is ResNet-18 layer by layer, shortcuts and all (on a 32 x 32 picture, to be quick)."""
    from xlcnn.engine import forward_batch
    from xlcnn.network import random_model
    from xlcnn.architecture import parse_network
    from xlcnn.presets import load_preset
    torch.manual_seed(0)
    net = _resnet18(classes=10)
    for module in net.modules():     # statistics away from 0 and 1, so a swapped mean and variance would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    layers, inputs = parse_network(load_preset("resnet18").architecture, 10)
    model = random_model(layers, [str(n) for n in range(10)], image_size=32, inputs=inputs, input_scale=1.0)
    ours = [p for p in model.params if p]
    theirs = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Linear))]
    assert len(ours) == len(theirs)
    for p, module in zip(ours, theirs):
        state = {name: value.detach().numpy().copy() for name, value in module.state_dict().items()
                 if name != "num_batches_tracked"}
        assert sorted(state) == sorted(p)
        p.update(state)
    x = np.random.default_rng(3).normal(size=(2, 3, 32, 32))
    logits = forward_batch(model, x)[-2]
    np.testing.assert_allclose(logits, net(torch.from_numpy(x)).detach().numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (6, 4)])   # after a conv (BatchNorm2d), after a dense layer (1d)
def test_batch_norm_in_training_agrees_with_pytorch_in_train_mode(shape):
    """Training normalises with the batch's mean and biased variance, backpropagates through them and moves
    the running statistics a tenth of the way to the batch's (the running variance unbiased), as
    torch.nn.BatchNorm2d/1d do in train mode."""
    rng = np.random.default_rng(11)
    layer, x = _layer("bn-eps0.001"), rng.normal(loc=0.5, scale=2.0, size=shape)
    params = _random_parameters(layer, shape, rng)
    dout = rng.normal(size=shape)
    ours = layer.train_forward([x], params)
    (ours_dx,), grads = layer.train_backward(dout, [x], params)
    buffers = layer.updated_buffers([x], params)
    module = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(
        shape[1], eps=1e-3, momentum=0.1).double().train()
    with torch.no_grad():
        for name, value in params.items():
            getattr(module, name).copy_(torch.from_numpy(value))
    tx = torch.from_numpy(x).requires_grad_()
    out = module(tx)
    out.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(ours, out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours_dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name in ("weight", "bias"):
        np.testing.assert_allclose(grads[name], getattr(module, name).grad.numpy(), rtol=1e-10, atol=1e-12)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(buffers[name], getattr(module, name).numpy(), rtol=1e-12, atol=1e-12)
    module.eval()   # inference reads the running statistics, as the workbook does
    with torch.no_grad():
        np.testing.assert_allclose(layer.forward([x], {**params, **buffers}), module(torch.from_numpy(x)).numpy(),
                                   rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- whole branched presets, forward and backward

def _torch_layer(layer, xs, p):
    """Layer ``layer`` of an xlcnn network in torch.nn.functional, on the tensors ``xs`` it reads."""
    kind, x = layer.kind, xs[0]
    if kind == "conv2d":
        return F.conv2d(x, p["weight"], p.get("bias"), layer.stride, layer.padding, layer.dilation,
                        layer.groups_for(x.shape[1]))
    if kind == "tconv":
        return F.conv_transpose2d(x, p["weight"], p["bias"], layer.stride, layer.padding)
    if kind == "bn":
        return F.batch_norm(x, p["running_mean"], p["running_var"], p["weight"], p["bias"], False, 0.0, layer.eps)
    if kind in ("maxpool2d", "avgpool2d"):
        pool = F.max_pool2d if kind == "maxpool2d" else F.avg_pool2d
        return pool(x, layer.size, layer.step, layer.padding, ceil_mode=layer.ceil)
    simple = {"relu": F.relu, "gap": lambda x: F.adaptive_avg_pool2d(x, 1), "flatten": lambda x: x.flatten(1),
              "add": lambda *xs: sum(xs), "concat": lambda *xs: torch.cat(xs, 1),
              "dense": lambda x: F.linear(x, p["weight"], p["bias"]), "softmax": lambda x: x}
    return simple[kind](*xs)


@pytest.mark.parametrize("preset", ["resnet-block", "inception-block", "mobilenet-block", "upsample"])
def test_branched_presets_learn_as_pytorch_does(preset):
    """Each teaching preset's whole network (joins, forks, batch norm, grouped and transposed convolutions),
    with statistics and weights away from 0 and 1: the loss and every learned parameter's gradient agree
    with PyTorch's autograd, in eval mode (the statistics held fixed, as the workbook holds them)."""
    from xlcnn.engine import loss_and_gradients
    from xlcnn.graph import INPUT, sources
    from xlcnn.network import random_model
    from xlcnn.presets import load_preset
    chosen = load_preset(preset)
    layers, inputs = chosen.network()
    model = random_model(layers, list(chosen.classes), image_size=12, inputs=inputs, input_scale=1.0, seed=5)
    rng = np.random.default_rng(7)
    for p in model.params:
        for name in p:
            p[name] = p[name] + rng.normal(scale=0.3, size=p[name].shape) if name != "running_var" \
                else rng.uniform(0.5, 2.0, size=p[name].shape)
    x = rng.normal(size=(2, chosen.channels, 12, 12))
    labels = np.array([0, 2])
    loss, grads, _ = loss_and_gradients(model, x, labels)
    tx = torch.from_numpy(x).requires_grad_()
    tparams = [{name: torch.from_numpy(v.copy()).requires_grad_(name not in layer.buffers) for name, v in p.items()}
               for layer, p in zip(model.layers, model.params)]
    outs = {INPUT: tx}
    for index, (layer, reads) in enumerate(zip(model.layers, sources(model.inputs, len(model.layers)))):
        outs[index] = _torch_layer(layer, [outs[r] for r in reads], tparams[index])
    tloss = F.cross_entropy(outs[len(model.layers) - 1], torch.from_numpy(labels))
    tloss.backward()
    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    for layer, ours, theirs in zip(model.layers, grads, tparams):
        for name, value in theirs.items():
            if name not in layer.buffers:
                np.testing.assert_allclose(ours[name], value.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=f"{layer} {name}")
