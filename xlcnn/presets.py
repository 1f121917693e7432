"""Ready-made lessons: architectures with a description, stored as JSON in templates/presets/."""

import json
from dataclasses import dataclass

from .architecture import parse_architecture, parse_network
from .errors import InputError, UsageError, did_you_mean
from .kernels import parse_filter_names
from .losses import REGRESSION
from .resources import resource_dir


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    architecture: str
    classes: tuple
    size: int = 28
    filters: tuple = ()
    grayscale: bool = False
    tables_only: bool = False   # a real network too big for a workbook: ``xlcnn summary`` shows its table
    loss: str | None = None     # "mse": a regression (see ``losses.py``); None: a classifier
    targets: tuple = ()         # a regression's targets when --target leaves them out

    @property
    def channels(self):
        return 1 if self.grayscale else 3

    @property
    def regression(self):
        return self.loss == REGRESSION

    def layers(self):
        """The layers of a chain (a branched preset is refused: see ``network``)."""
        outputs = len(self.targets) if self.regression else len(self.classes)
        return parse_architecture(self.architecture, outputs, option=f"preset {self.name}",
                                  probabilities=not self.regression)

    def network(self):
        """(layers, inputs): the layers and, for a branched preset, their wiring (None for a chain)."""
        outputs = len(self.targets) if self.regression else len(self.classes)
        return parse_network(self.architecture, outputs, option=f"preset {self.name}",
                             probabilities=not self.regression)


def preset_names(tables=False):
    """The presets a workbook can be built from; with ``tables``, the real networks that
    ``xlcnn summary`` tabulates (too big to build) instead."""
    names = sorted(p.stem for p in (resource_dir("templates") / "presets").glob("*.json"))
    return [name for name in names if _tables_only(name) == tables]


def _tables_only(name):
    try:
        data = json.loads((resource_dir("templates") / "presets" / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False     # load_preset says what is wrong with it
    return isinstance(data, dict) and bool(data.get("tables_only"))


def load_preset(name, lang="en"):
    """The preset called ``name`` (see ``xlcnn presets``), its description in ``lang``.

    The description in another language is "description_<lang>"; a preset without one
    (a teacher's own) shows its "description".
    """
    path = resource_dir("templates") / "presets" / f"{name}.json"
    if not path.is_file():
        every = preset_names() + preset_names(tables=True)
        raise UsageError(f"--preset {name!r}: no such preset{did_you_mean(name, every)}; "
                         f"choose one of {', '.join(every)}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        architecture = data["architecture"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
        raise InputError(f"{path}: not a readable preset ({exc})") from None
    except KeyError:
        raise InputError(f"{path}: the preset names no \"architecture\"") from None
    filters = parse_filter_names(",".join(data["filters"])) if data.get("filters") else ()
    # a preset a teacher adds may leave out everything but the architecture
    description = data.get(f"description_{lang}") or data.get("description", "")
    # a real network's thousand classes are counted, not named
    classes = tuple(data.get("classes", ())) or tuple(str(n) for n in range(1, int(data.get("class_count", 0)) + 1))
    targets = tuple(float(value) for value in data.get("targets", ()))
    return Preset(data.get("name", name), description, architecture, classes, int(data.get("size", 28)), filters,
                  bool(data.get("grayscale", False)), bool(data.get("tables_only", False)), data.get("loss"), targets)
