"""The library calls behind the commands: photo -> workbook, image folders -> trained model."""

from pathlib import Path

from .datasets import load_image_folder
from .errors import ModelError, UsageError
from .image import load_image
from .network import (DEFAULT_ARCHITECTURE, DEFAULT_CLASSES, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax,
                      describe, load_model, random_model, save_model)
from .resources import default_model_path, default_sample
from .train import TrainConfig, train_model
from .workbook import build_workbook

DEFAULT_SIZE = 28


# ---------------------------------------------------------------- build


SHIPPED_NAME = "default_model.npz (shipped with xlcnn)"


def choose_model(model_path=None, size=None, seed=0):
    """The model to use, its name and a list of notes for the user.

    With no model file, the shipped trained model when it fits ``size``; otherwise a
    network with seeded random weights (the workbook says it is untrained).
    """
    if model_path is not None:
        model = load_model(model_path)
        if size is not None and size != model.image_size:
            raise UsageError(f"--size {size} does not fit {model_path}: that model was made for "
                             f"{model.image_size}x{model.image_size} images; leave out --size")
        return model, Path(model_path).name, []
    shipped = default_model_path()
    if shipped is not None:
        model = load_model(shipped)
        if size is None or size == model.image_size:
            return model, SHIPPED_NAME, []
        note = (f"the shipped model is trained on {model.image_size}x{model.image_size} pictures; "
                f"at --size {size} the network has random weights (seed {seed})")
        return random_model(model.layers, model.class_names, image_size=size, seed=seed), None, [note]
    model = random_model(DEFAULT_ARCHITECTURE, DEFAULT_CLASSES, image_size=size or DEFAULT_SIZE, seed=seed)
    return model, None, []


def guess_label(model, photo):
    """The class named in the photo's file name ("circle-2.jpg" -> "circle"), else the first class."""
    stem = Path(photo).stem.lower()
    for name in sorted(model.class_names, key=len, reverse=True):
        if name.lower() in stem:
            return name
    return model.class_names[0]


def make_workbook(photo=None, output=None, size=None, model_path=None, label=None, fit=None, seed=0):
    """Load ``photo`` (default: the bundled sample), run it through the model, write the workbook.

    Returns the BuildResult (with ``notes`` for the user). ``output`` defaults to the
    photo's name with .xlsx.
    """
    photo = Path(photo) if photo is not None else default_sample()
    model, model_name, notes = choose_model(model_path, size, seed)
    output = Path(output) if output is not None else Path(photo.stem + ".xlsx")
    if label is not None and label not in model.class_names:
        raise UsageError(f"--label {label!r} is not a class of this model; "
                         f"choose one of: {', '.join(model.class_names)}")
    image = load_image(photo, size=model.image_size, fit=fit or model.fit)
    result = build_workbook(model, image, output, label=label or guess_label(model, photo), source=photo,
                            seed=None if model.trained else seed, model_name=model_name)
    result.notes = notes
    return result


# ---------------------------------------------------------------- train


def architecture(classes, filters=4, kernel=3, pool=2):
    """The classic lesson network: conv -> ReLU -> max pool -> flatten -> dense -> softmax."""
    return (Conv2D(filters, kernel), ReLU(), MaxPool2D(pool), Flatten(), Dense(classes), Softmax())


def train_from_folder(data_dir, output, size=DEFAULT_SIZE, filters=4, kernel=3, pool=2, config=TrainConfig(),
                      fit="crop", progress=None):
    """Train a new model on an image folder and save it to ``output``.

    Returns (model, TrainResult, skipped files). Nothing is written unless training succeeds.
    """
    if Path(output).suffix.lower() != ".npz":
        raise UsageError(f"-o {output}: a model file must end in .npz")
    if not Path(output).resolve().parent.is_dir():
        raise UsageError(f"-o {output}: folder {Path(output).parent} does not exist")
    images, labels, names, skipped = load_image_folder(data_dir, size=size, fit=fit)
    layers = architecture(len(names), filters, kernel, pool)
    model = random_model(layers, names, image_size=size, seed=config.seed, fit=fit)
    result = train_model(model, images, labels, config, progress)
    model.description = (f"{', '.join(describe(layer) for layer in layers)}; trained on {len(labels)} pictures "
                         f"({result.train_count} to learn from, {result.val_count} to check) of "
                         f"{', '.join(names)}; validation accuracy {result.val_accuracy:.1%}")
    try:
        save_model(model, output)
    except OSError as exc:
        raise ModelError(f"{output}: cannot write the model ({exc.strerror or exc})") from None
    return model, result, skipped
