"""One ONNX node as the layer kinds read it: its operator, attributes and stored inputs, in plain Python.

The importer (``onnx_import.py``) decodes the file; each kind's ``from_onnx`` reads a ``Node``
and asks the helpers below for the window geometry ONNX spells per axis (``kernel_shape``,
``strides``, ``dilations``, ``pads``, ``auto_pad``), which xlcnn keeps as one number each.
Nothing here imports the ``onnx`` package.
"""

from dataclasses import dataclass, field

from .errors import ModelError


@dataclass
class Node:
    """``constants[i]`` is the array stored for input i + 1 (weights, a bias, a shape), None for a computed one."""

    op: str
    name: str
    attrs: dict = field(default_factory=dict)
    constants: list = field(default_factory=list)

    @property
    def where(self):
        return f"node {self.name!r} ({self.op})" if self.name else f"a {self.op} node"

    def fail(self, problem, fix=""):
        """A ModelError naming the node, what does not fit and (when there is one) what would make it fit."""
        return ModelError(f"{self.where}: {problem}" + (f"; {fix}" if fix else ""))

    def weight(self, index, what):
        """Stored input ``index`` (1: the first after the data), or a clear error when the graph computes it."""
        value = self.constants[index - 1] if index - 1 < len(self.constants) else None
        if value is None:
            raise self.fail(f"its {what} is computed in the graph, not stored", "xlcnn reads stored weights only")
        return value

    def optional(self, index):
        return self.constants[index - 1] if index - 1 < len(self.constants) else None

    def one(self, name, default):
        """An attribute that ONNX gives per axis (height, width) and xlcnn as one number: both must agree."""
        values = tuple(int(v) for v in self.attrs.get(name, default))
        if len(values) != 2 or values[0] != values[1]:
            raise self.fail(f"{name} {list(values)} differs between height and width",
                            "xlcnn's windows are square, with one stride and one dilation")
        return values[0]

    @property
    def auto_pad(self):
        auto = self.attrs.get("auto_pad", b"NOTSET")
        return auto.decode() if isinstance(auto, bytes) else str(auto)

    def padding(self, sides, span, stride):
        """The zeros on every side of maps of ``sides`` (height, width): ``pads`` (top, left, bottom, right) all
        equal, or ``auto_pad``'s, which must come out the same on every side of both axes."""
        auto = self.auto_pad
        if auto == "VALID":
            return 0
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            totals = {max(0, (-(-side // stride) - 1) * stride + span - side) for side in sides}
            if len(totals) > 1 or min(totals) % 2:
                raise self.fail(f"auto_pad {auto} pads {sorted(totals)} cells across the two axes, not the same "
                                "on every side", "xlcnn pads every side alike; export with explicit equal padding")
            return totals.pop() // 2
        pads = tuple(int(v) for v in self.attrs.get("pads", (0, 0, 0, 0)))
        if len(set(pads)) > 1:
            raise self.fail(f"pads {list(pads)} differ between sides", "xlcnn pads every side alike")
        return pads[0] if pads else 0
