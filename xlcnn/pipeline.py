"""The library calls behind the commands: photo -> workbook, image folders -> trained model."""

import multiprocessing
import signal
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .architecture import parse_network, until_count
from .datasets import load_image_folder
from .datasets import IMAGE_SUFFIXES
from .errors import ModelError, OutputError, UsageError, XlcnnError
from .image import load_image, to_gray
from .kernels import filter_weights, named_filters, parse_filter_names, parse_filters
from .losses import REGRESSION, check_target_count
from .matrices import is_matrix_file, load_matrix
from .layout import plan_within_limits
from .options import BuildOptions, option_name
from .kinds.base import class_with, kind_with
from .network import (DEFAULT_ARCH_TEXT, DEFAULT_ARCHITECTURE, DEFAULT_CLASSES, check_normalisation, describe, is_classifier,
                      lesson_architecture, load_model, random_model, save_model)
from .presets import load_preset, preset_names
from .resources import default_model_path, default_sample, texts as load_texts
from .train import TrainConfig, train_model
from .workbook import build_workbook
from .summary import summarize
from .workbook.build import build_summary_book, check_workbook_target, partial_files

DEFAULT_SIZE = 28


# ---------------------------------------------------------------- build


@dataclass
class SummaryResult:
    rows: list              # summary.SummaryRow, the input's first
    path: Path | None       # the workbook written, if one was asked for
    title: str              # what the table is of: a preset's name or "custom"


def make_summary(preset=None, arch=None, size=None, channels=None, classes=None, output=None, lang="en", model=None):
    """The per-layer table of a network of any size (``xlcnn summary``), and with ``output`` a
    workbook holding it as live formulas. The network is a preset (any, including the real
    networks too big to build: lenet5, alexnet, vgg16, resnet18), an ``--arch`` text or a ``model`` file
    (.npz or .onnx), else the default; ``size``, ``channels`` (1 or 3) and ``classes`` (a count) change
    its input and outputs (a model file's only through ``size``, where it leaves the size open)."""
    if output is not None:
        check_workbook_target(output)
    if model is not None:
        if preset or arch or channels or classes:
            raise UsageError("--model already fixes the network; leave out --preset, --arch, --channels and --classes")
        found, _ = _load_any_model(model, size, ())
        layers, inputs, input_shape = found.layers, found.inputs, found.input_shape
        recipe = None
    else:
        recipe = load_preset(preset, lang) if preset else None
        regression = bool(recipe and recipe.regression and not arch)   # a regression preset ends with its outputs
        count = classes or (len(recipe.targets if regression else recipe.classes) if recipe else len(DEFAULT_CLASSES))
        text = arch or (recipe.architecture if recipe else DEFAULT_ARCH_TEXT)
        layers, inputs = parse_network(text, count, option="--arch" if arch else f"preset {preset}",
                                       probabilities=not regression)
        side = size or (recipe.size if recipe else DEFAULT_SIZE)
        input_shape = (channels or (recipe.channels if recipe else 3), side, side)
    texts = load_texts(lang)["sheets"]["summary"]
    rows = summarize(layers, input_shape, input_name=texts["input_row"], row_name="{id}", inputs=inputs)
    path = None
    if output is not None:
        path = build_summary_book(layers, input_shape, output, inputs=inputs, lang=lang,
                                  description=recipe.description if recipe else "")
    return SummaryResult(rows, path, recipe.name if recipe else Path(model).name if model else "custom")


# model names are worded by the workbook's texts: ("shipped", ""), ("preset", name), ("custom", ""), ("file", name)
SHIPPED_NAME = ("shipped", "default_model.npz")


@dataclass
class ModelChoice:
    """The model for a build, with what the workbook and the user should be told about it."""

    model: object
    name: str | None = None
    description: str = ""
    notes: list = field(default_factory=list)
    unfit_options: str = ""     # the options that keep the shipped trained weights out, e.g. "--grayscale"
    targets: tuple = ()         # a regression's targets, one per output; () for a classifier


def choose_model(options=None, check=None, input_shape=None, **changes):
    """Decide the network and its weights from the build options (``changes``: BuildOptions fields).

    A model file is used as it is. Otherwise the layers come from ``arch``, a preset or
    the default network, changed by hand-made ``filters``, ``grayscale`` and the options each kind takes
    (``Layer.with_build_options``);
    when they match the shipped model exactly its trained weights are used, else the
    weights are seeded random numbers (and the workbook says the network is untrained).
    ``check(layers, class_names, input_shape)`` runs before any weight is made: a network
    too big for a workbook is refused before its (perhaps gigabytes of) weights exist. ``lang``
    picks the language of a preset's description. ``input_shape`` (C, H, W) is a matrix's, which
    fixes the input (and makes its scale 1 unless ``input_scale`` says otherwise); None for a photo.
    """
    options = BuildOptions.given(options, **changes)
    choice = _choose_model(options, check, input_shape)
    if options.input_scale is not None:
        choice.model = replace(choice.model, input_scale=options.input_scale)
    elif input_shape is not None:    # a matrix's numbers are used as they are
        choice.model = replace(choice.model, input_scale=1.0)
    if options.normalisation is not None:
        mean, std = options.normalisation
        check_normalisation(mean, std, choice.model.channels, "--mean/--std", UsageError)
        choice.model = replace(choice.model, input_mean=mean, input_std=std)
    return choice


def _choose_model(options, check, input_shape):
    if input_shape is not None and (options.size is not None or options.grayscale or options.fit is not None):
        raise UsageError("a matrix is used as it is: leave out --size, --grayscale and --fit (its rows, columns "
                         "and blank-line-separated channels give the input's shape)")
    if options.model_path is not None:
        model, notes = _load_any_model(options.model_path, options.size, options.class_names)
        if input_shape is not None and tuple(input_shape) != model.input_shape:
            raise UsageError(f"the matrix is {' x '.join(map(str, input_shape))} (channels x height x width) but "
                             f"{options.model_path} reads {' x '.join(map(str, model.input_shape))}")
        if options.size is not None and options.size != model.image_size:
            raise UsageError(f"--size {options.size} does not fit {options.model_path}: that model was made for "
                             f"{model.image_size}x{model.image_size} images; leave out --size")
        if input_shape is None and model.image_width:
            raise UsageError(f"{options.model_path}: the model reads {model.image_size} x {model.image_width} pixels; "
                             "a photo is fitted to a square, so give it a matrix of that shape instead")
        if input_shape is None and model.channels not in (1, 3):   # a photo becomes 1 (grey) or 3 (RGB) matrices
            raise ModelError(f"{options.model_path}: the model reads {model.channels} input channels; "
                             "xlcnn feeds it a photo as 1 (grayscale) or 3 (RGB)")
        return ModelChoice(model, ("file", Path(options.model_path).name), notes=notes)
    recipe = load_preset(options.preset, options.lang) if options.preset else None
    if recipe and recipe.tables_only:
        raise UsageError(f"--preset {recipe.name} is a real network too big for a workbook; see its table with "
                         f"`xlcnn summary --preset {recipe.name}`, or build a lesson preset ({', '.join(preset_names())})")
    regression = regression_loss(options, recipe)
    if options.target is not None and not regression:
        raise UsageError("--target gives the targets of a regression; add --loss mse (a classifier has --label instead)")
    classes = options.class_names or (recipe.classes if recipe else DEFAULT_CLASSES)
    if regression:   # no classes: the outputs are compared with targets, one per output
        classes = ()
        if options.class_names:
            raise UsageError("--classes names the classes of a classifier; --loss mse has targets instead (--target)")
    outputs = len(options.target_values or (recipe.targets if recipe else ())) if regression else len(classes)
    # parsed with the number of classes (a regression's targets): a fully connected layer at the end that leaves its
    # count out has one output each
    text, option = (options.arch, "--arch") if options.arch else (
        (recipe.architecture, f"preset {recipe.name}") if recipe else (DEFAULT_ARCH_TEXT, "--arch"))
    layers, inputs = parse_network(text, outputs, option, probabilities=not regression)
    connected = kind_with("fully_connected")   # the kind a regression ends with, as the messages name it
    if regression and any(layer.fully_connected and not layer.units for layer in layers):
        raise UsageError(f"--loss mse: a plain '{connected}' has one output per target; give --target "
                         f"(e.g. --target 0.5,-0.25) or write the count ({connected}2)")
    if regression and not layers[-1].fully_connected:
        raise UsageError(f"--loss mse: the network must end with a {connected} layer, whose outputs are compared with "
                         f"the targets; it ends with {layers[-1].describe()}")
    if not any(layer.fully_connected for layer in layers):
        classes = ()
    size = options.size or (recipe.size if recipe else DEFAULT_SIZE)
    chosen = options.filters or (",".join(recipe.filters) if recipe and recipe.filters else None)
    hand = parse_filters(chosen) if chosen else ()
    grayscale = options.grayscale or (recipe.grayscale if recipe else False)
    layers = _with_options(layers, hand, options)
    channels, size, width = input_shape or (1 if grayscale else 3, size, size)
    description = recipe.description if recipe else ""
    if check is not None:
        check(layers, classes, (channels, size, width), inputs, regression)
    # hand-made filters replace the first layer's weights, and a matrix is no photo: the shipped model stands in for neither
    changed = hand or input_shape or options.class_names or options.bias_values
    shipped = None if changed else _shipped_if_same(layers, classes, size, channels)
    if shipped is not None:
        return ModelChoice(shipped, SHIPPED_NAME, description)
    model = random_model(layers, classes, image_size=size, seed=options.seed, channels=channels, inputs=inputs,
                         image_width=None if width == size else width)
    if hand:
        model.params[0]["weight"] = filter_weights(hand, channels)
        model.params[0]["bias"] = np.zeros(len(hand))
        model.description = ", ".join(f.name for f in hand)
    if options.bias_values:
        model.params[0]["bias"] = _first_biases(layers, options.bias_values)
    model.hand_made = bool(hand)
    name = ("preset", recipe.name) if recipe else ("custom", "")
    fixed = input_shape or options.preset or options.arch or default_model_path() is None   # never the shipped model
    unfit = "" if fixed else options.unfit_options(size, DEFAULT_SIZE, hand, grayscale)
    targets = ()
    if regression:   # --target, else the preset's, else 0 for every output (the middle of the picture)
        given = options.target_values or (recipe.targets if recipe else ())
        targets = check_target_count(given or (0.0,) * layers[-1].units, layers[-1].units)
    return ModelChoice(model, name, description, unfit_options=unfit, targets=targets)


def regression_loss(options, recipe=None):
    """Whether the build is a regression (--loss mse, or a preset whose loss it is, unless --loss says otherwise)."""
    loss = options.loss or (recipe.loss if recipe else None)
    return loss == REGRESSION


def _load_any_model(path, size, class_names):
    """(model, notes) from an xlcnn model file (.npz) or an ONNX file (.onnx), whose open input size ``size``
    fixes (a fixed one it must equal)."""
    if str(path).lower().endswith(".onnx"):
        from .onnx_import import load_onnx     # the onnx package is an optional extra
        return load_onnx(path, size, class_names)
    return load_model(path), []


def _first_biases(layers, values):
    """--bias: one number per filter of the first layer, which must have filters."""
    if not layers[0].has_filters:
        raise UsageError(f"{option_name('bias')} sets the biases of the first {class_with('has_filters').noun}, and "
                         f"this network starts with {layers[0].describe()}")
    if len(values) != layers[0].filters:
        raise UsageError(f"{option_name('bias')}: {len(values)} number(s) for {layers[0].filters} filters; "
                         "give one bias per filter")
    return np.array(values, dtype=float)


def unfit_warning(unfit_options, seed):
    """The one line that says why the default network lost its trained weights."""
    return (f"{unfit_options} {'does' if ' --' not in unfit_options else 'do'} not fit the shipped trained model "
            f"(trained on {DEFAULT_SIZE}x{DEFAULT_SIZE} colour pictures with its own learned filters), so this "
            f"network has random weights (seed {seed}) and its prediction is a guess; leave "
            f"{'it' if ' --' not in unfit_options else 'them'} out to use the trained model")


def _with_options(layers, hand, options):
    """Hand-made filters set the first layer's filters (their size and count); then every layer takes the build
    ``options`` of its kind (``Layer.with_build_options``)."""
    layers = list(layers)
    if hand:
        if not layers[0].has_filters:
            raise UsageError(f"--filters needs a network that starts with a {class_with('has_filters').noun}")
        layers[0] = replace(layers[0], filters=len(hand), kernel=hand[0].side)
    return tuple(layer.with_build_options(options) for layer in layers)


def _shipped_if_same(layers, classes, size, channels):
    path = default_model_path()
    if path is None:
        return None
    shipped = load_model(path)
    same = (tuple(layers) == tuple(shipped.layers) and tuple(classes) == tuple(shipped.class_names)
            and size == shipped.image_size and channels == shipped.channels)
    return shipped if same else None


def guess_label(model, photo):
    """The class named in the photo's file name ("circle-2.jpg" -> "circle"), else None: never invented."""
    stem = Path(photo).stem.lower()
    for name in sorted(model.class_names, key=len, reverse=True):
        if name.lower() in stem:
            return name
    return None


def make_workbook(photo=None, output=None, options=None, progress=None, **changes):
    """Load ``photo`` (default: the bundled sample), run it through the model, write the workbook.

    Returns the BuildResult (with ``notes`` for the user). ``output`` defaults to the
    photo's name with .xlsx. ``options`` is a BuildOptions (``changes`` are its fields, a
    shorthand: ``make_workbook(photo, steps=1)``). The output, Excel's limits and the budget
    of formula cells are checked before any weight or cell is made.
    """
    options = BuildOptions.given(options, **changes)
    photo = Path(photo) if photo is not None else default_sample()
    output = workbook_path(photo, output)
    check_workbook_target(output)
    titles = load_texts(options.lang)["step_titles"]

    def check(layers, classes, input_shape, inputs=None, regression=False):   # the layers --until keeps, planned
        _refuse_until_on_graph(options, inputs)                             # as build will plan them
        if options.until is not None and until_count(layers, options.until) < len(layers):
            kept = until_count(layers, options.until)
            folding = [index for index, layer in enumerate(layers) if layer.folds]
            if options.fold_bn and folding and folding[0] >= kept:   # else "no layer to fold", which misleads
                raise UsageError(f"{option_name('fold_bn')}: {option_name('until')} {options.until} ends the workbook "
                                 f"before layer {folding[0] + 1} ({layers[folding[0]].spelling()}), the first it folds")
            layers, classes, regression = layers[:kept], (), False
        plan_within_limits(layers, input_shape, classes, titles, options.steps, options.max_formulas, inputs,
                           im2col=options.im2col, normalised=options.normalisation is not None, regression=regression,
                           fold=options.fold_bn)
    matrix = load_matrix(photo) if is_matrix_file(photo) else None
    choice = choose_model(options, check, None if matrix is None else matrix.shape)
    model = choice.model
    _refuse_until_on_graph(options, model.inputs)
    targets = choice.targets
    if options.until is not None and until_count(model.layers, options.until) < len(model.layers):
        model, targets = model.truncated(until_count(model.layers, options.until)), ()   # a lesson: no loss
    if matrix is not None:
        image = matrix
    else:
        image = load_image(photo, size=model.image_size, fit=options.fit or model.fit, max_pixels=options.max_pixels)
        if model.channels == 1:
            image = to_gray(image)
    result = build_workbook(model, image, output, options, label=options.label or guess_label(model, photo),
                            source=photo, seed=None if model.trained else options.seed, model_name=choice.name,
                            description=choice.description, unfit_options=choice.unfit_options,
                            command=options.command(photo, output), progress=progress, matrix=matrix is not None,
                            targets=targets)
    result.notes = choice.notes
    if choice.unfit_options:
        result.warnings.append(unfit_warning(choice.unfit_options, options.seed))
    return result


def _refuse_until_on_graph(options, inputs):
    if options.until is not None and inputs is not None:
        raise UsageError(f"{option_name('until')}: a branched network cannot be cut short yet; leave it out")


def workbook_path(photo=None, output=None):
    """Where ``make_workbook`` writes: ``output``, else the photo's name (default: the bundled sample) as .xlsx."""
    photo = Path(photo) if photo is not None else default_sample()
    return Path(output) if output is not None else Path(photo.stem + ".xlsx")


def photos_in(paths):
    """The photos named, with every folder replaced by the photos in it (sorted)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(path)
    if not found:
        raise UsageError(f"no photos found in {', '.join(map(str, paths))}")
    return found


def make_workbooks(photos, out_dir=".", options=None, workers=2, progress=None, **changes):
    """Build one workbook per photo (named after it) in ``out_dir``, on ``workers`` processes.

    ``options`` (a BuildOptions; ``changes`` are its fields) is the same for every photo.
    A photo that fails is reported, not fatal. Returns ([BuildResult], [(photo, message)]).
    ``progress(done, total)`` is called as workbooks finish.
    """
    options = BuildOptions.given(options, **changes)
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        if out_dir.suffix or out_dir.exists():
            raise UsageError(f"-o {out_dir}: with several photos, -o names a folder (made if its parent exists)")
        if not out_dir.parent.is_dir():
            raise OutputError(f"-o {out_dir}: folder {out_dir.parent} does not exist")
        try:
            out_dir.mkdir()
        except OSError as exc:
            raise OutputError(f"-o {out_dir}: cannot make the folder ({exc.strerror or exc})") from None
    photos = photos_in(photos)
    stems = [p.stem for p in photos]
    outputs = [out_dir / (f"{p.stem}-{n}" if stems.count(p.stem) > 1 else p.stem) for n, p in enumerate(photos)]
    jobs = [(photo, out.with_suffix(".xlsx"), options) for photo, out in zip(photos, outputs)]
    built, failed = [], []
    with tempfile.TemporaryDirectory(prefix="xlcnn-build-") as scratch:   # the workers' temporary files
        pool = multiprocessing.Pool(max(1, min(workers, len(jobs))), initializer=_worker_setup, initargs=(scratch,))
        try:
            for done, (photo, result, error) in enumerate(pool.imap_unordered(_build_one, jobs), start=1):
                if error is None:
                    built.append(result)
                else:
                    failed.append((photo, error))
                if progress:
                    progress(done, len(jobs))
        except BaseException:
            pool.terminate()   # Ctrl-C: the builds under way stop now and no other starts ...
            for _, output, _ in jobs:   # ... and what they had half written goes
                for part in partial_files(output):
                    part.unlink(missing_ok=True)
            raise
        pool.close()
        pool.join()
    built.sort(key=lambda result: str(result.path))
    return built, failed


def _worker_setup(scratch):
    """A worker leaves Ctrl-C to the parent (a terminal sends it to every worker too) and keeps its
    temporary files in ``scratch``, which the parent removes however the workers end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tempfile.tempdir = scratch


def _build_one(job):
    """One build in a worker process: (photo, result, None), or (photo, None, a user error's one-line message)."""
    photo, output, options = job
    try:
        return photo, make_workbook(photo, output, options), None
    except XlcnnError as exc:
        return photo, None, str(exc)


# ---------------------------------------------------------------- train


def train_from_folder(data_dir, output, size=DEFAULT_SIZE, filters=4, kernel=3, pool=2, config=TrainConfig(),
                      fit="crop", progress=None, preset=None, arch=None, on_skipped=None, init_filters=None):
    """Train a new model on an image folder and save it to ``output``.

    The network is the classic lesson network (``network.lesson_architecture``), or the layers
    of ``arch`` or a preset. Returns (model, TrainResult, skipped files). Nothing is
    written unless training succeeds. ``on_skipped(skipped)`` hears of the unreadable
    files as soon as the folder is read, before the first epoch. ``init_filters`` (names
    such as "vertical,horizontal") start the first layer's filters from those hand-made
    kernels instead of random numbers, so the filters it learns stay recognisable.
    """
    if Path(output).suffix.lower() != ".npz":
        raise UsageError(f"-o {output}: a model file must end in .npz")
    if not Path(output).resolve().parent.is_dir():
        raise OutputError(f"-o {output}: folder {Path(output).parent} does not exist")
    if preset and load_preset(preset).regression:    # before the folder is read: nothing there can help
        raise UsageError(f"--preset {preset} is a regression (--loss mse); xlcnn train teaches classifiers only, "
                         "from folders of labelled photos")
    images, labels, names, skipped = load_image_folder(data_dir, size=size, fit=fit)
    if on_skipped is not None and skipped:
        on_skipped(skipped)
    inputs = None   # a chain, unless the text joins branches
    if arch:
        layers, inputs = parse_network(arch, len(names))
    elif preset:
        layers, inputs = parse_network(load_preset(preset).architecture, len(names), option=f"preset {preset}")
    else:
        layers = lesson_architecture(len(names), filters, kernel, pool)
    if not is_classifier(layers):
        raise UsageError("training needs a classifier: the network must end with a "
                         f"{kind_with('fully_connected')} layer")
    model = random_model(layers, names, image_size=size, seed=config.seed, fit=fit, inputs=inputs)
    if init_filters:
        _start_from_filters(model, parse_filter_names(init_filters))
    result = train_model(model, images, labels, config, progress)
    model.description = (f"{', '.join(describe(layer) for layer in layers)}; trained on {len(labels)} pictures "
                         f"({result.train_count} to learn from, {result.val_count} to check) of "
                         f"{', '.join(names)}; validation accuracy {result.val_accuracy:.1%}")
    try:
        save_model(model, output)
    except OSError as exc:
        raise OutputError(f"{output}: cannot write the model ({exc.strerror or exc})") from None
    return model, result, skipped


def _start_from_filters(model, names):
    """The first layer's filters become the named 3x3 kernels (biases 0); they must have that shape."""
    first = model.layers[0]
    if not first.has_filters or first.kernel != 3 or first.filters != len(names):
        raise UsageError(f"--init-filters names {len(names)} 3x3 kernels; the network must start with "
                         f"{len(names)} filters of 3x3 (e.g. --filters {len(names)} --kernel 3)")
    model.params[0]["weight"] = named_filters(names, model.channels)
    model.params[0]["bias"] = np.zeros(len(names))
