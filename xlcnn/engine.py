"""The NumPy reference engine: a forward pass that keeps every intermediate tensor."""

from dataclasses import dataclass

import numpy as np

from . import layers as L
from .network import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax


@dataclass
class Stage:
    """One layer's output in the forward pass."""

    index: int      # position of the layer in model.layers
    kind: str       # the layer kind ("conv2d", "relu", ...)
    output: np.ndarray


@dataclass
class ForwardPass:
    """Everything the workbook shows, computed by NumPy."""

    pixels: np.ndarray          # (C, H, W) as given, before scaling
    stages: list                # one Stage per layer, softmax's output = probabilities
    logits: np.ndarray
    probabilities: np.ndarray
    log_probabilities: np.ndarray
    label: int
    loss: float

    @property
    def prediction(self):
        return int(np.argmax(self.probabilities))


def forward(model, pixels, label=0):
    """Run ``model`` on pixels (C, H, W) or a photo array (H, W, 3); return a ForwardPass."""
    pixels = np.asarray(pixels, dtype=np.float64)
    if pixels.ndim == 3 and pixels.shape[-1] == model.channels and pixels.shape[0] != model.channels:
        pixels = pixels.transpose(2, 0, 1)
    x = pixels * model.input_scale
    stages = []
    logits = None
    for index, (layer, p) in enumerate(zip(model.layers, model.params)):
        if isinstance(layer, Softmax):
            logits = x
        x = _apply(layer, p, x)
        stages.append(Stage(index, layer.kind, x))
    return ForwardPass(
        pixels=pixels,
        stages=stages,
        logits=logits,
        probabilities=x,
        log_probabilities=L.log_softmax(logits),
        label=label,
        loss=L.cross_entropy(logits, label),
    )


def _apply(layer, p, x):
    if isinstance(layer, Conv2D):
        return L.conv_forward(x, p["weight"], p["bias"], layer.stride, layer.padding)
    if isinstance(layer, ReLU):
        return L.relu_forward(x)
    if isinstance(layer, MaxPool2D):
        return L.maxpool_forward(x, layer.size, layer.step)
    if isinstance(layer, Flatten):
        return L.flatten_forward(x)
    if isinstance(layer, Dense):
        return L.dense_forward(x, p["weight"], p["bias"])
    if isinstance(layer, Softmax):
        return L.softmax_forward(x)
    raise TypeError(f"no engine for layer {layer!r}")
