"""Pictures to learn from: a teacher's image folders, or coloured shapes generated from a seed."""

from pathlib import Path

import numpy as np

from .errors import ImageError, OutputError, UsageError
from .image import load_image, prepare_image
from .shapes import SHAPES, draw_shape

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".mpo"}


def load_image_folder(folder, size=28, fit="crop"):
    """One sub-folder per class (the ImageFolder layout) -> (images, labels, class_names, skipped).

    images is (N, size, size, 3) uint8, labels (N,) int. Files that cannot be read are
    skipped and listed in ``skipped`` as (path, reason), so one bad photo never stops a run.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder; give a folder with one sub-folder of photos per class")
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UsageError(f"{folder}: no class sub-folders; put each class's photos in a folder of its own")
    if len(classes) < 2:
        raise UsageError(f"{folder}: only one class ({classes[0].name}); a classifier needs at least two")
    images, labels, skipped = [], [], []
    for label, class_dir in enumerate(classes):
        count = 0
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append((path, "not an image file name"))
                continue
            try:
                images.append(load_image(path, size=size, fit=fit))
            except ImageError as exc:
                skipped.append((path, str(exc)))
                continue
            labels.append(label)
            count += 1
        if count == 0:
            raise UsageError(f"{class_dir}: class {class_dir.name!r} has no readable images")
    return np.stack(images), np.array(labels), tuple(p.name for p in classes), skipped


def generate_shapes(per_class, size=28, seed=0, draw_size=64):
    """A deterministic dataset of circles, squares and triangles -> (images, labels, class_names).

    Each picture is drawn at ``draw_size`` and shrunk with the photo loader's own
    resampling, so training sees what ``xlcnn build`` will show the network.
    """
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for n in range(per_class * len(SHAPES)):
        label = n % len(SHAPES)
        images.append(prepare_image(draw_shape(SHAPES[label], draw_size, rng), size=size))
        labels.append(label)
    return np.stack(images), np.array(labels), SHAPES


def write_shapes(folder, per_class=100, size=64, seed=0):
    """Write the generated dataset as image folders (folder/circle/0001.png, ...); returns the count."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    try:
        for name in SHAPES:
            (folder / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class * len(SHAPES)):
            name = SHAPES[n % len(SHAPES)]
            draw_shape(name, size, rng).save(folder / name / f"{n // len(SHAPES) + 1:04d}.png")
    except OSError as exc:
        raise OutputError(f"{folder}: cannot write the pictures ({exc.strerror or exc})") from None
    return per_class * len(SHAPES)
