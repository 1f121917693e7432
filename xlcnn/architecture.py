"""Networks written as text, e.g. ``network.EXAMPLE_ARCHITECTURE``, and named layer positions.

Grammar: one item per layer, separated by commas (spaces and case do not matter). Each
layer kind reads its own item (``parse``) and documents it (``grammar``, ``examples``);
``GRAMMAR`` gathers them, one line per family of kinds, as the README lists them.
The layers a classifier's end needs are added when left out (``kinds.complete``).

Branches: each item reads the item before it (the first reads the picture) unless it
names what it reads in parentheses; ``name=`` in front of an item names its output, and
``input`` is the picture. The joining kinds (``kinds.MERGES``) read two or more named
outputs; each kind's ``branch_example()`` shows one.

Names may be written in any order (the layers are put in an order that computes), but a
layer may not read itself or a layer that reads it, and every layer but the last must feed
another. ``format_architecture`` writes a network back, naming only the outputs read out of
order, after their ``--until`` names (``layer_names``).
"""

import re
from itertools import groupby

from .errors import ShapeError, UsageError, did_you_mean
from .graph import INPUT, as_inputs, readers, require_chain, sources, topological_order
from .kinds import CLASSES, MERGES, complete, parse_layer
from .kinds.base import joining_kinds

# one line per family of kinds (the classes' first base), in the registry's order
GRAMMAR = "\n".join(" | ".join(cls.grammar or cls.kind for cls in family)
                     for _, family in groupby(CLASSES, key=lambda cls: cls.__mro__[1]))
EXAMPLES = ", ".join(item for cls in CLASSES for item in cls.examples)

_NAMED = re.compile(r"(?:([a-z_][a-z0-9_]*)=)?([^=()]+)(?:\(([^()]*)\))?")
BRANCH_EXAMPLE = MERGES[0].branch_example()


def parse_architecture(text, classes, option="--arch", probabilities=True):
    """The layers of a chain from the text form; ``classes`` is the number of outputs of an item that leaves its count out (one per class).

    A branched text is refused (the workbook draws chains only, for now); ``parse_network`` reads both.
    """
    layers, inputs = parse_network(text, classes, option, probabilities)
    require_chain(inputs, option)
    return layers


def parse_network(text, classes, option="--arch", probabilities=True):
    """(layers, inputs) from the text form: the layers in an order that computes and their wiring
    (None for a chain; see ``graph.py``). ``classes`` is the number of outputs of an item that leaves its count out (one per class).
    Without ``probabilities`` (a regression) nothing is added after the last layer (``kinds.complete``)."""
    items = [item.strip().lower().replace(" ", "") for item in _split_items(str(text), option)]
    if not any(items):
        raise UsageError(f"{option} is empty; write the layers, e.g. {EXAMPLES}")
    names, layers, refs = zip(*(_parse_named_item(item, n, classes, option) for n, item in enumerate(items, start=1)))
    labels = [name or f"item {n} ({item})" for n, (name, item) in enumerate(zip(names, items), start=1)]
    wiring = _resolve(names, layers, refs, labels, option)
    try:
        order = topological_order(wiring, labels)
    except ShapeError as exc:
        raise ShapeError(f"{option}: {exc}") from None
    position = {old: new for new, old in enumerate(order)}
    position[INPUT] = INPUT
    layers = [layers[old] for old in order]
    wiring = [tuple(position[source] for source in wiring[old]) for old in order]
    for index, read_by in enumerate(readers(wiring, len(wiring))[:-1]):
        if not read_by:
            raise ShapeError(f"{option}: {labels[order[index]]} is never used: every layer but the last must feed "
                             f"another; join it to the rest with {_joins()}, or leave it out")
    layers, wiring = complete(layers, wiring, probabilities)
    return layers, as_inputs(wiring)


def format_architecture(layers, inputs=None):
    """The text form of a network (inverse of parse_network for explicit layers); ``inputs``: a graph's wiring.

    An item reads the one before it unless it says otherwise in parentheses; only outputs that are
    read that way get a name, their ``--until`` name.
    """
    wiring = sources(inputs, len(layers))
    named = {source for index, reads in enumerate(wiring) if reads != _default_reads(index) for source in reads}
    names = layer_names(layers)
    items = []
    for index, (layer, reads) in enumerate(zip(layers, wiring)):
        item = (f"{names[index]}=" if index in named else "") + layer.spelling()
        if reads != _default_reads(index):
            item += "(" + ",".join("input" if s == INPUT else names[s] for s in reads) + ")"
        items.append(item)
    return ",".join(items)


def layer_names(layers):
    """Short names for --until: each layer's ``stem`` and its count, e.g. conv1, conv2."""
    counts, names = {}, []
    for layer in layers:
        stem = layer.stem
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


def _split_items(text, option):
    """The items of the text: split at the commas outside parentheses (a join's "x(a,b)" is one item)."""
    items, depth, start = [], 0, 0
    for at, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth not in (0, 1):
            raise UsageError(f"{option}: unbalanced parentheses in {text!r}; write e.g. {BRANCH_EXAMPLE}")
        if char == "," and depth == 0:
            items.append(text[start:at])
            start = at + 1
    if depth:
        raise UsageError(f"{option}: unbalanced parentheses in {text!r}; write e.g. {BRANCH_EXAMPLE}")
    return items + [text[start:]]


def _parse_named_item(item, n, classes, option):
    """(name or None, layer, the names it reads or None for "the item before") from one item."""
    m = _NAMED.fullmatch(item)
    if not m:
        raise UsageError(f"{option}: cannot read item {n}, {item!r}; write layers such as {EXAMPLES}, "
                         f"or branches such as {BRANCH_EXAMPLE}")
    name, body, refs = m.groups()
    if name == "input":
        raise UsageError(f"{option}: item {n}, {item!r}: 'input' names the picture; choose another name")
    layer = _parse_item(body, n, classes, option)
    refs = None if refs is None else tuple(refs.split(","))
    if refs is not None and not all(refs):
        raise UsageError(f"{option}: item {n}, {item!r}: a name is missing in the parentheses; write e.g. "
                         f"{BRANCH_EXAMPLE}")
    if layer.joins and (refs is None or len(refs) < 2):
        raise UsageError(f"{option}: item {n}, {item!r}: {layer.kind} joins two or more named outputs; "
                         f"write e.g. {BRANCH_EXAMPLE}")
    if not layer.joins and refs is not None and len(refs) != 1:
        raise UsageError(f"{option}: item {n}, {item!r}: a {layer.kind} layer reads one input; only {joining_kinds()} "
                         "join several")
    return name, layer, refs


def _resolve(names, layers, refs, labels, option):
    """What each item reads, as item indices (INPUT for the picture): the names given, else the item before."""
    known = {}
    for n, name in enumerate(names):
        if name in known:
            raise UsageError(f"{option}: the name {name!r} is given twice (items {known[name] + 1} and {n + 1}); "
                             "each output needs its own name")
        if name:
            known[name] = n
    wiring = []
    for n, reads in enumerate(refs):
        if reads is None:
            wiring.append(_default_reads(n))
            continue
        for ref in reads:
            if ref != "input" and ref not in known:
                hint = did_you_mean(ref, list(known)) if known else ""
                raise UsageError(f"{option}: {labels[n]} reads {ref!r}, but no layer is named so{hint}; name an "
                                 f"output with {ref}=..., or read the picture with (input)")
        wiring.append(tuple(INPUT if ref == "input" else known[ref] for ref in reads))
    return wiring


def _joins():
    """The joining kinds as the text writes them: "a(...) or b(...)"."""
    return " or ".join(f"{cls.kind}(...)" for cls in MERGES)


def _default_reads(index):
    """What an item reads when it does not say: the item before it, or the picture for the first."""
    return (index - 1,)


def _parse_item(item, n, classes, option):
    layer = parse_layer(item, classes, option)
    if layer is None:
        raise UsageError(f"{option}: cannot read item {n}, {item!r}; write layers such as {EXAMPLES}")
    return layer
