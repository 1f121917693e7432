"""Networks as directed acyclic graphs: which layers each layer reads, in an order that computes.

A network is its layers in topological order (every layer after the layers it reads) and,
beside them, ``inputs``: ``inputs[i]`` is the tuple of layers that layer i reads, as indices
into the layers, with ``INPUT`` for the network's own input (the scaled picture). The last
layer is the network's output. A chain, where layer i reads layer i - 1 and the first reads
the picture, is the easy case: its ``inputs`` are None, so chains look as they always did.

Whatever walks a network (shape inference, the engine, the workbook's planner) goes through
the layers in order and asks ``sources(inputs, count)[i]`` what layer i reads; by then every
one of those has been computed.
"""

from .errors import ShapeError, UsageError
from .kinds.base import merge_kinds

INPUT = -1      # "the network's input" among a layer's sources; never an index into the layers


def sources(inputs, count):
    """What each of ``count`` layers reads: ``inputs`` itself, or the chain's (i - 1,) when it is None."""
    return tuple((i - 1,) for i in range(count)) if inputs is None else inputs


def as_inputs(wiring):
    """``wiring`` (a sequence of source sequences, or None) as ``inputs``: tuples, and None for a chain."""
    if wiring is None:
        return None
    wiring = tuple(tuple(int(s) for s in reads) for reads in wiring)
    return None if wiring == sources(None, len(wiring)) else wiring


def readers(inputs, count):
    """readers[i]: the layers that read layer i, in order (a chain's layer i is read by i + 1 alone)."""
    found = [[] for _ in range(count)]
    for index, reads in enumerate(sources(inputs, count)):
        for source in reads:
            if source != INPUT:
                found[source].append(index)
    return found


def check_wiring(inputs, count, describe_layer):
    """Refuse wiring that cannot be computed in order: a source that is not an earlier layer, a layer
    that reads nothing, or a layer (other than the last, the output) whose result nobody reads.

    ``describe_layer(i)`` words layer i for the message, e.g. "layer 3 (add)".
    """
    if inputs is None:
        return
    if len(inputs) != count:
        raise ShapeError(f"{count} layers but wiring for {len(inputs)}")
    for index, reads in enumerate(inputs):
        if not reads:
            raise ShapeError(f"{describe_layer(index)} reads nothing; every layer reads the input or earlier layers")
        for source in reads:
            if not INPUT <= source < index:
                raise ShapeError(f"{describe_layer(index)} reads layer {source + 1}, which does not come before it: "
                                 "a network flows one way, from the input to the output, without loops")
    for index, read_by in enumerate(readers(inputs, count)[:-1]):
        if not read_by:
            raise ShapeError(f"{describe_layer(index)} is never used: every layer but the last must feed another")


def topological_order(wiring, names):
    """An order of the layers in which each comes after those it reads, as close to the given order as
    possible; ``wiring[i]`` lists the layers i reads (indices, INPUT for the input). A loop is refused,
    naming it from ``names``.
    """
    waiting = {i: {s for s in reads if s != INPUT} for i, reads in enumerate(wiring)}
    order = []
    while waiting:
        ready = [i for i, needs in waiting.items() if not needs]
        if not ready:
            raise ShapeError(f"{_loop(waiting, names)}: a network flows one way, from the input to the output; "
                             "a layer cannot read itself or a layer that reads it")
        first = min(ready)   # the earliest written: a chain keeps its order
        order.append(first)
        del waiting[first]
        for needs in waiting.values():
            needs.discard(first)
    return order


def require_chain(inputs, where):
    """The workbook draws chains only, for now: refuse a branched network with one clear line."""
    if inputs is not None:
        raise UsageError(f"{where}: branched networks ({', '.join(merge_kinds())}, named layers) cannot be drawn as a workbook "
                         "yet; `xlcnn train` trains them, and a chain of layers builds a workbook")


# ---------------------------------------------------------------- private


def _loop(waiting, names):
    """'the layers a -> b -> a read each other in a loop', following unresolved sources from any waiting layer."""
    path, at = [], min(waiting)
    while at not in path:
        path.append(at)
        at = min(waiting[at])
    loop = path[path.index(at):] + [at]
    if len(loop) == 2:
        return f"{names[at]} reads itself"
    return f"the layers {' -> '.join(names[i] for i in reversed(loop))} read each other in a loop"
