"""The NumPy reference engine's functions, one pair per layer kind, gathered under one name.

Each pair lives in its kind's module in ``kinds/`` beside the layer class that calls it and
beside its formula twins (``*_formula``); this module collects every kind's public
functions but those builders (plus the shared helpers), read from the registry, so
every kind's ``*_forward`` and friends keep one address and a new kind needs no line here.
Shapes: a picture x is (C, H, W), or (N, C, H, W) for a batch; every function accepts both.
"""

from .kinds import MODULES
from .kinds.base import TIE_MARGIN, pad_input, tie_margin


def _engine_functions(module):
    """A kind module's own public functions, its formula builders left out."""
    return {name: value for name, value in vars(module).items()
            if callable(value) and not isinstance(value, type) and not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__ and not name.endswith("_formula")}


_GATHERED = {name: value for module in MODULES for name, value in _engine_functions(module).items()}
globals().update(_GATHERED)

__all__ = sorted(["TIE_MARGIN", "pad_input", "tie_margin", *_GATHERED])
