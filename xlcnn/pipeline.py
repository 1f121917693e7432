"""From a photo file to a verified workbook: the library call behind ``xlcnn build``."""

from pathlib import Path

from .errors import UsageError
from .image import load_image
from .network import DEFAULT_ARCHITECTURE, DEFAULT_CLASSES, load_model, random_model
from .resources import default_sample
from .workbook import build_workbook

DEFAULT_SIZE = 28


def choose_model(model_path=None, size=None, seed=0):
    """The model to use: a model file, or seeded random weights for the default network."""
    if model_path is not None:
        model = load_model(model_path)
        if size is not None and size != model.image_size:
            raise UsageError(f"--size {size} does not fit {model_path}: that model was made for "
                             f"{model.image_size}x{model.image_size} images; leave out --size")
        return model
    return random_model(DEFAULT_ARCHITECTURE, DEFAULT_CLASSES, image_size=size or DEFAULT_SIZE, seed=seed)


def guess_label(model, photo):
    """The class named in the photo's file name ("circle-2.png" -> "circle"), else the first class."""
    stem = Path(photo).stem.lower()
    for name in sorted(model.class_names, key=len, reverse=True):
        if name.lower() in stem:
            return name
    return model.class_names[0]


def make_workbook(photo=None, output=None, size=None, model_path=None, label=None, fit=None, seed=0):
    """Load ``photo`` (default: the bundled sample), run it through the model, write the workbook.

    Returns the BuildResult. ``output`` defaults to the photo's name with .xlsx.
    """
    photo = Path(photo) if photo is not None else default_sample()
    model = choose_model(model_path, size, seed)
    output = Path(output) if output is not None else Path(photo.stem + ".xlsx")
    if label is not None and label not in model.class_names:
        raise UsageError(f"--label {label!r} is not a class of this model; "
                         f"choose one of: {', '.join(model.class_names)}")
    image = load_image(photo, size=model.image_size, fit=fit or model.fit)
    return build_workbook(model, image, output, label=label or guess_label(model, photo), source=photo,
                          seed=None if model_path else seed)
