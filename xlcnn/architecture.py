"""Networks written as text, e.g. "conv3x3x8-same,relu,maxpool2,dense", and named layer positions.

Grammar, one item per layer, separated by commas (spaces and case do not matter):

    conv{F}x{F}x{K}[-s{S}][-p{P}|-same|-valid][-d{D}][-flip]
    relu | leakyrelu[{alpha}] | sigmoid | tanh
    maxpool{N}[-s{S}] | avgpool{N}[-s{S}]
    flatten | dense[{units}] | softmax

``dense`` without a number has one output per class. A flatten is added before the
first dense layer and a softmax after the last one when they are left out.
"""

import re

from .errors import UsageError
from .network import (ACTIVATIONS, POOLS, AvgPool2D, Conv2D, Dense, Flatten, LeakyReLU, MaxPool2D, ReLU, Sigmoid,
                      Softmax, Tanh)

EXAMPLES = "conv3x3x8, conv5x5x6-same, conv3x3x4-s2-p1-d2, maxpool2, avgpool3-s2, relu, leakyrelu0.1, dense16, dense"

_CONV = re.compile(r"conv(\d+)x(\d+)x(\d+)((?:-(?:s\d+|p\d+|same|valid|d\d+|flip))*)")
_POOL = re.compile(r"(max|avg)pool(\d+)(?:-s(\d+))?")
_LEAKY = re.compile(r"leakyrelu(\d*\.?\d+)?")
_DENSE = re.compile(r"dense(\d+)?")
_SIMPLE = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "flatten": Flatten, "softmax": Softmax}


def parse_architecture(text, classes, option="--arch"):
    """Layers from the text form; ``classes`` is the number of outputs of a plain ``dense``."""
    items = [item.strip().lower().replace(" ", "") for item in str(text).split(",")]
    if not any(items):
        raise UsageError(f"{option} is empty; write the layers, e.g. {EXAMPLES}")
    layers = [_parse_item(item, n, classes, option) for n, item in enumerate(items, start=1)]
    return _complete(layers)


def format_architecture(layers):
    """The text form of a list of layers (inverse of parse_architecture for explicit layers)."""
    return ",".join(_format_layer(layer) for layer in layers)


def layer_names(layers):
    """Short names for --until: conv1, relu1, pool1, conv2, ..., flatten1, dense1, softmax1."""
    counts, names = {}, []
    for layer in layers:
        stem = "pool" if isinstance(layer, POOLS) else layer.kind.replace("2d", "")
        counts[stem] = counts.get(stem, 0) + 1
        names.append(f"{stem}{counts[stem]}")
    return names


def until_count(layers, name):
    """How many layers to keep so that ``name`` (a layer name or a 1-based number) is the last."""
    names = layer_names(layers)
    key = str(name).strip().lower()
    if key.isdigit() and 1 <= int(key) <= len(layers):
        return int(key)
    if key in names:
        return names.index(key) + 1
    raise UsageError(f"--until {name!r}: no such layer; this network has {', '.join(names)} (or 1 to {len(layers)})")


# ---------------------------------------------------------------- private


def _parse_item(item, n, classes, option):
    if item in _SIMPLE:
        return _SIMPLE[item]()
    if m := _CONV.fullmatch(item):
        return _conv(item, m, option)
    if m := _POOL.fullmatch(item):
        cls = MaxPool2D if m.group(1) == "max" else AvgPool2D
        return cls(int(m.group(2)), int(m.group(3) or 0))
    if m := _LEAKY.fullmatch(item):
        return LeakyReLU(float(m.group(1))) if m.group(1) else LeakyReLU()
    if m := _DENSE.fullmatch(item):
        return Dense(int(m.group(1)) if m.group(1) else classes)
    raise UsageError(f"{option}: cannot read item {n}, {item!r}; write layers such as {EXAMPLES}")


def _conv(item, m, option):
    size_a, size_b, filters = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if size_a != size_b:
        raise UsageError(f"{option}: {item!r} has a {size_a}x{size_b} kernel; only square kernels are supported")
    options = dict(stride=1, padding=0, dilation=1, flip=False)
    same = False
    for part in filter(None, m.group(4).split("-")):
        if part == "same":
            same = True
        elif part == "valid":
            options["padding"] = 0
        elif part == "flip":
            options["flip"] = True
        else:
            options[{"s": "stride", "p": "padding", "d": "dilation"}[part[0]]] = int(part[1:])
    if same:
        span = options["dilation"] * (size_a - 1) + 1
        if span % 2 == 0:
            raise UsageError(f"{option}: {item!r}: 'same' padding needs an odd window, and this one spans {span}")
        options["padding"] = (span - 1) // 2
    return Conv2D(filters, size_a, **options)


def _complete(layers):
    """Add the flatten before the first dense (the input itself is maps) and the softmax after a final dense."""
    done = []
    for layer in layers:
        if isinstance(layer, Dense) and not any(isinstance(d, (Flatten, Dense)) for d in done):
            done.append(Flatten())
        done.append(layer)
    if done and isinstance(done[-1], (Dense, *ACTIVATIONS)) and any(isinstance(d, Dense) for d in done):
        if isinstance(done[-1], Dense):
            done.append(Softmax())
    return tuple(done)


def _format_layer(layer):
    if isinstance(layer, Conv2D):
        text = f"conv{layer.kernel}x{layer.kernel}x{layer.filters}"
        text += f"-s{layer.stride}" if layer.stride != 1 else ""
        text += f"-p{layer.padding}" if layer.padding else ""
        text += f"-d{layer.dilation}" if layer.dilation != 1 else ""
        return text + ("-flip" if layer.flip else "")
    if isinstance(layer, POOLS):
        word = "avg" if isinstance(layer, AvgPool2D) else "max"
        return f"{word}pool{layer.size}" + (f"-s{layer.stride}" if layer.stride and layer.stride != layer.size else "")
    if isinstance(layer, LeakyReLU):
        return f"leakyrelu{layer.alpha:g}"
    if isinstance(layer, Dense):
        return f"dense{layer.units}"
    return layer.kind
