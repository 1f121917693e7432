"""The registry of layer kinds: the one place that lists them.

Each kind is one module of this package (see ``base.py`` for the interface every layer
class provides). Adding a kind means writing its module, listing it in ``MODULES`` below
and adding its texts; nothing else branches on kinds.
"""

from ..errors import UsageError
from ..graph import INPUT
# each kind's module is named after its kind; ``abs`` hides the builtin here, which this file never calls
from . import (abs, add, avgpool2d, bn, concat, conv2d, dense, flatten, gap, leakyrelu, maxpool2d, relu, sigmoid,
               softmax, tanh, tconv)
from .abs import Abs
from .add import Add
from .avgpool2d import AvgPool2D
from .base import Activation, Layer, Merge, Pool
from .bn import BatchNorm
from .concat import Concat
from .conv2d import Conv2D
from .dense import Dense
from .flatten import Flatten
from .gap import GlobalAvgPool
from .leakyrelu import LeakyReLU
from .maxpool2d import MaxPool2D
from .relu import ReLU
from .sigmoid import Sigmoid
from .softmax import Softmax
from .tanh import Tanh
from .tconv import TransposedConv

# in the order the README lists them; ``parse_layer`` tries them in this order
MODULES = (conv2d, tconv, bn, relu, leakyrelu, sigmoid, tanh, abs, maxpool2d, avgpool2d, gap, flatten, dense, softmax,
           add, concat)
CLASSES = (Conv2D, TransposedConv, BatchNorm, ReLU, LeakyReLU, Sigmoid, Tanh, Abs, MaxPool2D, AvgPool2D, GlobalAvgPool,
           Flatten, Dense, Softmax, Add, Concat)
LAYER_TYPES = {cls.kind: cls for cls in CLASSES}          # kind name -> class
KIND_MODULES = {cls.kind: module for cls, module in zip(CLASSES, MODULES)}   # kind name -> its module

# the families, as the classes declare them
ACTIVATIONS = tuple(cls for cls in CLASSES if issubclass(cls, Activation))
POOLS = tuple(cls for cls in CLASSES if issubclass(cls, Pool))
MERGES = tuple(cls for cls in CLASSES if issubclass(cls, Merge))   # the layers that read several inputs


def require_drawn(layers):
    """Refuse, in one line, a network with a layer the workbook has no sheets for yet (``Layer.drawn``)."""
    for number, layer in enumerate(layers, start=1):
        if not layer.drawn():
            raise UsageError(f"layer {number} ({layer.describe()}): the workbook has no sheets for this layer yet; "
                             "`xlcnn summary` shows its table")


def parse_layer(item, classes, option):
    """The layer an ``--arch`` item spells (lower case, no spaces), or None if no kind reads it."""
    for cls in CLASSES:
        layer = cls.parse(item, classes, option)
        if layer is not None:
            return layer
    return None


def complete(layers, wiring, probabilities=True):
    """The layers the ``--arch`` text may leave out, put in: a flatten before the first dense layer
    (when nothing before it made a vector) and a softmax after a final dense layer.

    ``layers`` are in an order that computes and ``wiring[i]`` is what layer i reads (INPUT for the
    picture); both are returned with the added layers wired in. Without ``probabilities`` (a
    regression, --loss mse) the network ends with its last dense layer: no softmax is added,
    and one in the text is refused.
    """
    if not probabilities and any(isinstance(layer, Softmax) for layer in layers):
        raise UsageError("--loss mse: the network ends with its last dense layer (its outputs are the "
                         "predictions); leave softmax out of the layers")
    done, done_wiring, moved = [], [], {INPUT: INPUT}
    for index, (layer, reads) in enumerate(zip(layers, wiring)):
        reads = tuple(moved[source] for source in reads)
        if isinstance(layer, Dense) and not any(isinstance(d, (Flatten, Dense)) for d in done):
            done.append(Flatten())
            done_wiring.append(reads)
            reads = (len(done) - 1,)
        moved[index] = len(done)
        done.append(layer)
        done_wiring.append(reads)
    if done and isinstance(done[-1], Dense) and probabilities:
        done.append(Softmax())
        done_wiring.append((len(done) - 2,))
    return tuple(done), tuple(done_wiring)


__all__ = [cls.__name__ for cls in CLASSES] + [
    "ACTIVATIONS", "CLASSES", "KIND_MODULES", "LAYER_TYPES", "MERGES", "MODULES", "POOLS", "Activation", "Layer",
    "Merge", "Pool", "complete", "parse_layer", "require_drawn"]
