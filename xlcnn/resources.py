"""Find the bundled ``templates/`` and ``samples/`` folders.

In a wheel they are installed inside the package (``xlcnn/templates``); in a source
checkout or an editable install they sit beside the package at the top of the repo.
"""

import json

from .errors import UsageError
from functools import lru_cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name):
    """The folder ``templates`` or ``samples``, wherever this installation keeps it."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"xlcnn's {name}/ folder is missing from this installation")


LANGUAGES = ("en", "zh")


@lru_cache(maxsize=None)
def texts(lang="en"):
    """The explanation texts of one language, from templates/texts/<lang>.json.

    Keys missing from a translation fall back to English, so a new language can start small.
    """
    folder = resource_dir("templates") / "texts"
    path = folder / f"{lang}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.json")))
        raise UsageError(f"--lang {lang!r}: no texts for this language; choose one of {known}")
    merged = json.loads((folder / "en.json").read_text(encoding="utf-8"))
    if lang != "en":
        _merge(merged, json.loads(path.read_text(encoding="utf-8")))
    return merged


def _merge(base, override):
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


DEFAULT_MODEL = "default_model.npz"


def default_model_path():
    """The shipped trained model, or None when this installation has none."""
    path = resource_dir("samples") / DEFAULT_MODEL
    return path if path.is_file() else None


def sample_photos():
    """The bundled sample photos, sorted by name."""
    folder = resource_dir("samples")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"})


def default_sample():
    """The photo ``xlcnn build`` uses when none is given."""
    return sample_photos()[0]
