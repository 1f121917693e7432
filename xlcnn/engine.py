"""The NumPy reference engine: forward pass (every intermediate kept) and backward pass.

Internally everything runs on batches (N, C, H, W); ``forward`` wraps one picture
in a batch of one, so the workbook is checked by the same code that trains. Both passes
walk the network's layers in order (a graph's layers are in topological order), each
layer reading the outputs of its sources (see ``graph.py``) through its own ``forward`` and
``backward`` (see ``kinds/``).
"""

from dataclasses import dataclass, replace

import numpy as np

from . import layers as L
from .graph import INPUT
from .losses import mse_forward, mse_loss
from .network import is_classifier


@dataclass
class Stage:
    """One layer's output in the forward pass."""

    index: int      # position of the layer in model.layers
    kind: str       # the layer's kind (``Layer.kind``)
    output: np.ndarray


@dataclass
class ForwardPass:
    """Everything the workbook shows, computed by NumPy."""

    pixels: np.ndarray          # (C, H, W) as given, before scaling
    stages: list                # one Stage per layer; a classifier's last = probabilities
    logits: np.ndarray
    probabilities: np.ndarray
    log_probabilities: np.ndarray
    label: int
    loss: float

    @property
    def prediction(self):
        return None if self.probabilities is None else L.predicted_class(self.probabilities)


def as_channels_first(pixels, channels=3):
    """A photo array (H, W, C) or (N, H, W, C) -> (C, H, W) or (N, C, H, W), as float64."""
    pixels = np.asarray(pixels, dtype=np.float64)
    if pixels.shape[-1] == channels and pixels.shape[-3] != channels:
        pixels = np.moveaxis(pixels, -1, -3)
    return pixels


def forward(model, pixels, label=0, targets=None):
    """Run ``model`` on one picture, (C, H, W) or (H, W, C); return a ForwardPass.

    ``label`` is the true class's index, or None when nobody has chosen it (the loss is then nan).
    A regression (no probabilities) gives its ``targets``, one per output: the loss is then
    the mean squared error of the last layer's outputs.
    """
    pixels = as_channels_first(pixels, model.channels)
    outputs = forward_batch(model, pixels[None])
    stages = [Stage(i, layer.kind, out[0]) for i, (layer, out) in enumerate(zip(model.layers, outputs[1:]))]
    if not is_classifier(model.layers):  # a lesson that stops early, or a regression: no probabilities
        loss = float("nan") if targets is None else mse_forward(outputs[-1][0], targets)
        return ForwardPass(pixels, stages, None, None, None, label, loss)
    logits, last = _logits(model, outputs)[0], model.layers[-1]
    return ForwardPass(
        pixels=pixels,
        stages=stages,
        logits=logits,
        probabilities=outputs[-1][0],
        log_probabilities=last.log_probabilities(logits),
        label=label,
        loss=float("nan") if label is None else last.loss(logits, label),   # None: not chosen yet
    )


def forward_batch(model, pixels, training=False):
    """Pixels (N, C, H, W) -> [scaled input, output of layer 0, output of layer 1, ...].

    Element i + 1 is the output of layer i; in a chain, element i is the input of layer i.
    ``training``: each layer computes as it does while learning (``Layer.train_forward``).
    """
    outputs = [model.network_input(pixels)]
    for layer, p, reads in zip(model.layers, model.params, model.sources()):
        step = layer.train_forward if training else layer.forward
        outputs.append(step(_read(outputs, reads), p))
    return outputs


def _read(outputs, reads):
    """The tensors a layer reads, from ``forward_batch``'s outputs (INPUT, -1, is element 0)."""
    return [outputs[source + 1] for source in reads]


def _logits(model, outputs):
    """What the last layer of a classifier (the one that gives the probabilities) reads: the logits."""
    return _read(outputs, model.sources()[-1])[0]


def predict(model, pixels, batch_size=256):
    """Class probabilities (N, classes) for a batch of pictures (N, H, W, C) or (N, C, H, W)."""
    pixels = as_channels_first(pixels, model.channels)
    return np.concatenate([forward_batch(model, pixels[i:i + batch_size])[-1]
                           for i in range(0, len(pixels), batch_size)])


def loss_and_gradients(model, pixels, labels, keep=None, training=False):
    """Mean loss of a batch and the gradient of every parameter.

    A classifier's loss is the cross-entropy of integer ``labels`` (N,); a network without
    probabilities (a regression) takes target vectors (N, outputs) as ``labels`` and its
    loss is their mean squared error. Returns (loss, grads, last outputs); grads[i] is
    {"weight": ..., "bias": ...} for layers with parameters and {} otherwise. If ``keep`` is
    a list, keep[i] receives the gradient of the loss with respect to the output of layer i
    (the last layer's own entry is the gradient of its input, the logits: p - y).
    ``training``: the batch is a training batch (``Layer.train_forward``, ``train_backward``), and the
    layers that keep running statistics move them towards this batch's, in ``model.params``, as
    frameworks do in training mode.
    """
    outputs = forward_batch(model, pixels, training)
    if is_classifier(model.layers):
        loss, dlogits = model.layers[-1].loss_and_gradient(_logits(model, outputs), labels)
        grads, upstream, _ = backward_batch(model, outputs, dlogits, training=training)
    else:
        loss, doutput = mse_loss(outputs[-1], labels)
        grads, upstream, _ = backward_batch(model, outputs, doutput, through_last=True, training=training)
    if training:
        for layer, p, reads in zip(model.layers, model.params, model.sources()):
            p.update(layer.updated_buffers(_read(outputs, reads), p))
    if keep is not None:
        keep[:] = upstream
    return loss, grads, outputs[-1]


def backward_batch(model, outputs, dlogits, through_last=False, training=False):
    """The backward pass from the gradient of the logits (what a classifier's last layer reads).

    ``outputs`` are ``forward_batch``'s. Returns (grads, upstream, dinput): grads[i] as in
    ``loss_and_gradients``, upstream[i] the gradient of layer i's output (the last layer's
    own entry: dlogits) and dinput that of the scaled input. The layers are walked backwards, so
    every layer that reads layer i has added its share to upstream[i] before layer i is reached.
    With ``through_last`` (a regression) ``dlogits`` is the gradient of the last layer's output,
    and the walk starts at that layer. ``training``: the backward pass of ``forward_batch(..., training=True)``.
    """
    count = len(model.layers)
    grads = [{} for _ in model.layers]
    upstream = [None] * count
    dinput = None

    def pass_back(source, gradient):
        nonlocal dinput
        if source == INPUT:
            dinput = gradient if dinput is None else dinput + gradient
        else:
            upstream[source] = gradient if upstream[source] is None else upstream[source] + gradient

    wiring = model.sources()
    upstream[-1] = dlogits
    start = count - 1
    if not through_last:   # the last layer and the loss are handled together by the caller: start below it
        pass_back(wiring[-1][0], dlogits)
        start = count - 2
    for index in range(start, -1, -1):
        layer, p, reads = model.layers[index], model.params[index], wiring[index]
        step = layer.train_backward if training else layer.backward
        dxs, grads[index] = step(upstream[index], _read(outputs, reads), p)
        for source, dx in zip(reads, dxs):
            pass_back(source, dx)
    return grads, upstream, dinput


def descent_step(model, grads, rate):
    """A copy of ``model`` after one step of gradient descent: w <- w - rate * dL/dw (a layer's ``buffers``,
    kept but not learned, stay as they are)."""
    params = [{key: value if key in layer.buffers else value - rate * g[key] for key, value in p.items()}
              for layer, p, g in zip(model.layers, model.params, grads)]
    return replace(model, params=params)
