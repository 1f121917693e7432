"""Ready-made lessons: architectures with a description, stored as JSON in templates/presets/."""

import json
from dataclasses import dataclass

from .architecture import parse_architecture
from .errors import UsageError
from .kernels import parse_filter_names
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

    def layers(self):
        return parse_architecture(self.architecture, len(self.classes), option=f"preset {self.name}")


def preset_names():
    return sorted(p.stem for p in (resource_dir("templates") / "presets").glob("*.json"))


def load_preset(name):
    """The preset called ``name`` (see ``xlcnn presets``)."""
    path = resource_dir("templates") / "presets" / f"{name}.json"
    if not path.is_file():
        raise UsageError(f"--preset {name!r}: no such preset; choose one of {', '.join(preset_names())}")
    data = json.loads(path.read_text(encoding="utf-8"))
    filters = parse_filter_names(",".join(data["filters"])) if data.get("filters") else ()
    return Preset(data["name"], data["description"], data["architecture"], tuple(data.get("classes", ())),
                  int(data.get("size", 28)), filters, bool(data.get("grayscale", False)))
