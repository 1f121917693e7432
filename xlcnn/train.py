"""Teaching the network: optimisers, light augmentation and the training loop."""

import time
from dataclasses import dataclass, field

import numpy as np

from .engine import as_channels_first, loss_and_gradients, predict
from .errors import UsageError

try:  # one BLAS thread: with a busy second core an epoch was measured 20-50x slower
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl is a dependency, but stay usable without it
    from contextlib import nullcontext as threadpool_limits  # type: ignore[assignment]


# ---------------------------------------------------------------- optimisers


class SGD:
    """Plain gradient descent with momentum: v = m*v - lr*g; w += v."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.velocity = lr, momentum, {}

    def step(self, params, grads):
        for i, (p, g) in enumerate(zip(params, grads)):
            for key in g:
                v = self.velocity.get((i, key), 0.0)
                v = self.momentum * v - self.lr * g[key]
                self.velocity[(i, key)] = v
                p[key] += v


class Adam:
    """Adam (Kingma and Ba, 2015): per-weight steps scaled by running gradient moments."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m, self.v, self.t = {}, {}, 0

    def step(self, params, grads):
        self.t += 1
        correction1, correction2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t
        for i, (p, g) in enumerate(zip(params, grads)):
            for key, grad in g.items():
                m = self.beta1 * self.m.get((i, key), 0.0) + (1 - self.beta1) * grad
                v = self.beta2 * self.v.get((i, key), 0.0) + (1 - self.beta2) * grad * grad
                self.m[(i, key)], self.v[(i, key)] = m, v
                p[key] -= self.lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)


OPTIMISERS = {"adam": Adam, "sgd": SGD}


# ---------------------------------------------------------------- the loop


@dataclass
class TrainConfig:
    epochs: int = 20
    lr: float = 0.01
    optimizer: str = "adam"
    batch_size: int = 32
    val_split: float = 0.2
    augment: bool = True
    seed: int = 0


@dataclass
class EpochStats:
    epoch: int
    loss: float
    train_accuracy: float
    val_accuracy: float
    seconds: float


@dataclass
class TrainResult:
    history: list = field(default_factory=list)
    train_accuracy: float = float("nan")
    val_accuracy: float = float("nan")
    confusion: np.ndarray | None = None     # rows: true class, columns: predicted (validation set)
    train_count: int = 0
    val_count: int = 0


def split(labels, val_split, rng):
    """Indices (train, validation), shuffled, with the same share of every class held out."""
    train, val = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = int(round(len(members) * val_split)) if len(members) > 1 else 0
        val.extend(members[:n_val])
        train.extend(members[n_val:])
    return rng.permutation(np.array(train, dtype=int)), np.array(sorted(val), dtype=int)


def augment(batch, rng, max_shift=2):
    """Random horizontal flips, shifts of up to ``max_shift`` pixels and brightness changes.

    batch is (N, C, H, W) in 0..255; shifts repeat the edge pixels instead of wrapping.
    """
    out = batch.copy()
    flip = rng.random(len(out)) < 0.5
    out[flip] = out[flip, :, :, ::-1]
    h, w = out.shape[-2:]
    padded = np.pad(out, ((0, 0), (0, 0), (max_shift, max_shift), (max_shift, max_shift)), mode="edge")
    shifts = rng.integers(0, 2 * max_shift + 1, size=(len(out), 2))
    for n, (dy, dx) in enumerate(shifts):
        out[n] = padded[n, :, dy:dy + h, dx:dx + w]
    brightness = rng.uniform(0.85, 1.15, size=(len(out), 1, 1, 1))
    return np.clip(out * brightness, 0, 255)


def train_model(model, images, labels, config=TrainConfig(), progress=None):
    """Train ``model`` in place on images (N, H, W, C) uint8 with integer labels; return a TrainResult.

    The same seed gives the same weights bit for bit. ``progress(stats_or_None, done, total)``
    is called after every batch (stats None) and after every epoch (an EpochStats).
    """
    _check_config(config, len(labels))
    rng = np.random.default_rng(config.seed)
    x = as_channels_first(images, model.channels)
    labels = np.asarray(labels)
    train_idx, val_idx = split(labels, config.val_split, rng)
    optimiser = OPTIMISERS[config.optimizer](lr=config.lr)
    result = TrainResult(train_count=len(train_idx), val_count=len(val_idx))
    n_batches = -(-len(train_idx) // config.batch_size)
    if n_batches > 1 and len(train_idx) % config.batch_size == 1 and any(layer.normalises for layer in model.layers):
        n_batches -= 1    # the one picture left over joins the last batch: alone, its batch statistics say nothing
    with threadpool_limits(limits=1):
        for epoch in range(1, config.epochs + 1):
            started = time.perf_counter()
            order = rng.permutation(train_idx)
            losses = []
            for b in range(n_batches):
                batch = order[b * config.batch_size:(b + 1) * config.batch_size if b < n_batches - 1 else None]
                pixels = augment(x[batch], rng) if config.augment else x[batch]
                loss, grads, _ = loss_and_gradients(model, pixels, labels[batch], training=True)
                optimiser.step(model.params, [{name: g for name, g in grad.items() if name not in layer.buffers}
                                              for layer, grad in zip(model.layers, grads)])
                losses.append(loss * len(batch))
                if progress:
                    progress(None, b + 1, n_batches)
            stats = EpochStats(epoch, float(np.sum(losses) / len(train_idx)), accuracy(model, x[train_idx], labels[train_idx]),
                               accuracy(model, x[val_idx], labels[val_idx]), time.perf_counter() - started)
            result.history.append(stats)
            if progress:
                progress(stats, n_batches, n_batches)
        result.train_accuracy = result.history[-1].train_accuracy
        result.val_accuracy = result.history[-1].val_accuracy
        result.confusion = confusion_matrix(model, x[val_idx], labels[val_idx], len(model.class_names))
    model.trained = True
    model.train_accuracy, model.val_accuracy = result.train_accuracy, result.val_accuracy
    return result


def accuracy(model, x, labels):
    """Share of pictures whose most probable class is the true one (nan for no pictures)."""
    if len(labels) == 0:
        return float("nan")
    return float(np.mean(predict(model, x).argmax(axis=1) == labels))


def confusion_matrix(model, x, labels, classes):
    """counts[true, predicted] over the given pictures."""
    counts = np.zeros((classes, classes), dtype=int)
    if len(labels):
        np.add.at(counts, (labels, predict(model, x).argmax(axis=1)), 1)
    return counts


def _check_config(config, count):
    if config.optimizer not in OPTIMISERS:
        raise UsageError(f"--optimizer {config.optimizer!r}: choose one of {', '.join(OPTIMISERS)}")
    if config.epochs < 1 or config.batch_size < 1:
        raise UsageError("--epochs and --batch-size must be at least 1")
    if not 0 <= config.val_split < 1:
        raise UsageError(f"--val-split {config.val_split}: must be from 0 up to (not including) 1")
    if not config.lr > 0:
        raise UsageError(f"--lr {config.lr}: the learning rate must be positive")
    if count < 2:
        raise UsageError(f"only {count} picture(s) to learn from; need at least two")
