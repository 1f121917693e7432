"""Build the workbook: plan the layout, write each sheet in story order, save atomically."""

import glob
import hashlib
import io
import zipfile
import os
import tempfile
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from openpyxl import Workbook
from PIL import Image, ImageOps
from openpyxl.workbook.defined_name import DefinedName

from .. import __version__
from ..errors import OutputError, UsageError
from ..network import class_named
from ..architecture import layer_names
from ..cells import looks_like_a_cell
from ..collector import fewer_collections
from ..layout import plan_summary_only, plan_within_limits
from ..options import BuildOptions
from ..resources import texts as load_texts
from ..targets import check_target
from ..layout import EXERCISES
from ..losses import REGRESSION, check_target_count
from ..plans import (AddSheet, Im2colSheet, MapStack, ScatterKernelsSheet, ScatterSheet, StackedSheet, ConvSheet, ConnectedSheet, FiltersSheet, ColumnSheet, FoldSheet, InputSheet, LossSheet, ManifestSheet,
                     MapSheet, NormSheet, OverviewSheet, PoolSheet, ProbabilitySheet, SquaredErrorSheet, SummarySheet, VectorSheet)
from .classifier import write_column, write_connected, write_loss, write_probabilities, write_vector_activation
from .common import Context, random_beyond_filters
from .maps import write_add, write_stacked, write_filters, write_input, write_maps
from .scatter import write_scatter, write_scatter_kernels
from .norm import write_norm
from .fold import write_fold
from .meta import META_SHEET, write_meta, write_sheet_ids
from ..image import to_rgb
from .exercise import add_exercises, mark_hidden, plan_exercises
from .explain import highlight_receptive_field
from .legend import write_legends
from .gradients import write_descent, write_gradients
from .knows import class_pictures
from .overview import write_back_links, write_manifest, write_overview
from .printing import set_up_printing
from . import sheetdata, styles
from .summary import total_cells, write_summary
from .im2col import write_im2col
from .regression import write_squared_errors
from .evaluate import NO_CELLS, Evaluator, Range
from .sheetdata import cells_of
from ..stages import workbook_stages

# the writer of each planned sheet, by the plan's type: the layout chose it from the layer's kind
WRITERS = {
    InputSheet: write_input, FiltersSheet: write_filters, ConvSheet: write_maps, PoolSheet: write_maps,
    MapSheet: write_maps, VectorSheet: write_vector_activation, ColumnSheet: write_column, ConnectedSheet: write_connected,
    ProbabilitySheet: write_probabilities, LossSheet: write_loss, SummarySheet: write_summary, OverviewSheet: write_overview,
    ManifestSheet: write_manifest, AddSheet: write_add, StackedSheet: write_stacked,
    Im2colSheet: write_im2col, SquaredErrorSheet: write_squared_errors,
    ScatterKernelsSheet: write_scatter_kernels, ScatterSheet: write_scatter,
    NormSheet: write_norm, FoldSheet: write_fold,
}


@dataclass
class BuildResult:
    path: Path
    formulas: int
    sheets: list
    label: str | None          # None: a classifier whose true label the student is to pick
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    source: str | None = None          # the photo's file name
    prediction: str | None = None      # the predicted class and its probability (a classifier only)
    probability: float | None = None
    targets: tuple = ()                # a regression's targets, and the loss its outputs give
    loss: float | None = None


@fewer_collections
def build_workbook(model, image, out_path, options=None, *, label=None, source=None, seed=None, model_name=None,
                   description="", unfit_options="", command=None, progress=None, matrix=False, targets=(), **changes):
    """Write ``image`` (H, W, 3 uint8) through ``model`` as a live-formula workbook.

    ``options`` (a BuildOptions; ``changes`` are its fields, a shorthand) gives the
    language, the exercises, the descent steps and their rate, and the formula budget
    (LimitError beyond it). What belongs to this one build is given apart: ``label``
    is a class name; None leaves it blank on the loss sheet for the student to
    pick (the loss stays blank until then), which backpropagation (``steps``) cannot do. ``source`` is the photo's
    path, recorded with its SHA-256; ``seed`` seeded the weights (None: trained ones); ``model_name`` names
    the model in the workbook and ``description`` (a preset's paragraph) opens the summary sheet.
    ``unfit_options`` (e.g. "--grayscale") are the options that kept the shipped trained
    weights out; the notice names them. ``command`` (the one that rebuilds the workbook) goes on the manifest.
    ``progress(done, total)`` is called after each sheet of the first pass and before saving.
    With ``matrix``, ``image`` is a (C, H, W) array of any numbers (a textbook's matrix), not a photo.
    ``targets`` (one number per output of the last layer) make a network without probabilities a
    regression: its loss sheet holds them, editable, and the mean squared error.
    Returns a BuildResult.
    """
    options = BuildOptions.given(options, **changes)
    check_workbook_target(out_path)
    pixels = np.asarray(image)
    if not matrix:    # a photo's (H, W, 3) or (H, W) as (C, H, W); a matrix of any numbers already is
        pixels = (pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
    label_index = _label_index(model, label)
    regression = bool(targets) and not model.classifier
    if regression:
        check_target_count(targets, model.layers[-1].units)
    if options.steps and label_index is None and not regression:
        raise UsageError("backpropagation starts from the loss, which needs the photo's true class: give --label "
                         f"(one of: {', '.join(model.class_names)})")
    model.validate()
    if model.inputs is not None and options.exercise:
        raise UsageError("--exercise: exercises are planned for chains of layers only; leave it out to build "
                         "a branched network")
    texts = load_texts(options.lang)
    # class names are shown (and verified) in the workbook's language
    pictures = class_pictures(model)   # known by the shapes' own (English) names
    model = replace(model, class_names=tuple(texts["class_names"].get(n, n) for n in model.class_names))
    layout = plan_within_limits(model.layers, pixels.shape, model.class_names, texts["step_titles"], options.steps,
                                options.max_formulas, model.inputs, im2col=options.im2col, normalised=model.normalised,
                                regression=regression, fold=options.fold_bn)
    ctx = Context(model, layout, texts, pixels, label_index, seed, model_name=_model_name(model_name, texts),
                  description=description or "", unfit_options=unfit_options, class_pictures=pictures,
                  options=options, matrix=matrix, targets=tuple(targets) if regression else ())
    source_entries = _source_entries(source, seed)
    ctx.source_name = source_entries.get("source")
    ctx.photo = thumbnail(None if matrix else source, styles.as_grey_levels(pixels) if matrix else pixels)
    ctx.manifest = manifest_entries(ctx, source_entries, command)
    wb = Workbook()
    wb.remove(wb.active)
    for plan in layout.sheets:  # every sheet exists before any is written: the overview's chart reads ahead
        wb.create_sheet(plan.name)
    stages, passes = workbook_stages(layout, model, pixels, label_index, options.rate, ctx.targets or None)
    exercises = plan_exercises(ctx, passes, EXERCISES) if options.exercise else None
    if exercises:   # before anything is written: colour scales leave the hidden cells out
        mark_hidden(wb, exercises)
    first_pass = layout.pass_sheets(0)
    total = len(first_pass) + 1
    for done, plan in enumerate(first_pass, start=1):
        if type(plan) in WRITERS:
            WRITERS[type(plan)](ctx, wb[plan.name], plan)
        if progress:
            progress(done, total)
    ctx.formulas += write_learning(ctx, wb, layout)
    if model.layers[0].has_filters:   # outlines follow the first pass's worked example
        conv = layout.sheet(model.layers[0].kind, 0)
        highlight_receptive_field(ctx, wb[layout.sheet("input").name], wb[layout.sheet("filters", 0).name],
                                  conv, model.layers[0])
    write_back_links(ctx, wb)
    if exercises:
        add_exercises(ctx, wb, exercises)
    write_legends(ctx, wb, layout)
    names = _define_names(wb, layout, model.layers, regression)
    store_values(wb, stages, names)
    for plan in layout.sheets:
        set_up_printing(wb[plan.name], plan, texts["print"])
    extra = {"lang": options.lang, "steps": options.steps, "model": ctx.model_name, **source_entries}
    if options.im2col:     # only a workbook that has one says so: older workbooks' metadata stays as it was
        extra["im2col"] = True
    if model.normalised:
        extra["normalised"] = True
    if options.fold_bn:
        extra["fold"] = True
    if regression:   # a classifier's metadata stays as it always was
        extra["loss"] = REGRESSION
    write_meta(wb, model, pixels.shape, extra)
    wb.active = 0
    path = save_atomically(wb, out_path)
    label_name = model.class_names[label_index] if label_index is not None else None
    result = BuildResult(path, ctx.formulas, [plan.name for plan in layout.sheets], label_name,
                         source=ctx.source_name)
    if regression:
        result.targets, result.loss = ctx.targets, passes[0].loss
    if model.classifier:
        result.prediction = model.class_names[passes[0].prediction]
        result.probability = float(passes[0].probabilities.max())
    return result


@dataclass(frozen=True)
class Network:
    """What the summary reads of a model: its layers and their wiring, no weights. A table of a
    network too big for a workbook (VGG-16's 138 million parameters) needs nothing more."""

    layers: tuple
    inputs: tuple | None = None
    class_names: tuple = ()
    trained: bool = False
    params: None = None      # no weights


def build_summary_book(layers, input_shape, out_path, *, inputs=None, lang="en", description=""):
    """A workbook holding only the summary sheet of a network of any size: shapes, parameters,
    activations, multiply-adds, memory and receptive fields as live formulas, with the totals named
    ``total_parameters``, ``total_activations`` and ``total_multiply_adds``. Returns its path."""
    check_workbook_target(out_path)
    texts = load_texts(lang)
    network = Network(tuple(layers), inputs)
    layout = plan_summary_only(network.layers, texts["step_titles"], input_shape, inputs)
    (plan,) = layout.sheets
    ctx = Context(network, layout, texts, None, None, description=description or "")
    wb = Workbook()
    wb.remove(wb.active)
    write_summary(ctx, wb.create_sheet(plan.name), plan)
    names = total_cells(plan)
    _name_blocks(wb, names)
    store_values(wb, [], names)
    set_up_printing(wb[plan.name], plan, texts["print"])
    write_meta(wb, network, input_shape, {"lang": lang, "table": True})
    wb.active = 0
    return save_atomically(wb, out_path)


def _label_index(model, label):
    """The true class's index; None when not given (or not a classifier), so nothing is invented.

    The one check of --label: a name that is no class of the model is refused (UsageError).
    """
    if label is None:
        return None
    index = model.class_names.index(class_named(label, model.class_names))
    return index if model.classifier else None


def output_names(layout, layers):
    """{name: block} of every layer's output in the first pass, named as ``--until`` names the layer,
    with the map's number for maps (inside any padding border): conv1_1 ... conv1_K for the K maps of
    the first layer of filters, and the name alone for vectors. The probabilities keep theirs."""
    names = {}
    for index, name in enumerate(layer_names(layers)):
        if layers[index].gives_probabilities:
            continue
        output = layout.output_of(index)
        if isinstance(output, MapStack):
            names.update({f"{name}_{c + 1}": output.interior(c) for c in range(output.shape[0])})
        elif not looks_like_a_cell(name):     # "add1" is a cell of column ADD: no name may look like one
            names[name] = output
    return names


def _define_names(wb, layout, layers, regression=False):
    """Workbook-level names for the key results, so formulas and readers can use them."""
    names = {"input_scale": layout.sheet("input").scale}
    if layout.descent is not None:
        names["learning_rate"] = layout.descent.rate
    if regression:
        loss = layout.sheet("loss")
        names.update({"outputs": loss.outputs, "targets": loss.targets, "loss": loss.loss})
    elif any(plan.kind == "loss" for plan in layout.sheets):
        probabilities, loss = layout.sheet_of(len(layers) - 1), layout.sheet("loss")   # the last layer gives them
        names.update({
            "logits": probabilities.logit, "probabilities": probabilities.probability,
            "prediction": probabilities.prediction, "class_names": probabilities.classes,
            "true_label": loss.true_label, "loss": loss.loss,
        })
    names.update(total_cells(layout.sheet("summary")))
    names.update(output_names(layout, layers))
    _name_blocks(wb, names)
    write_sheet_ids(wb, layout)     # and, hidden, which sheet is which: verify finds renamed tabs
    return names


def _name_blocks(wb, names):
    """A workbook-level defined name for each {name: block}."""
    for name, block in names.items():
        wb.defined_names[name] = DefinedName(name, attr_text=block.range_ref(absolute=True))


def store_values(wb, stages, names):
    """Give every formula cell its value: the engine's where it has one, else evaluated from its inputs.

    Viewers that do not recalculate (Protected View, previews, pandas) show these.
    """
    sheets = {ws.title: cells_of(ws) for ws in wb.worksheets}
    for stage in stages:
        values = iter(stage.values.tolist())   # Python floats, the doubles float() makes, without a NumPy scalar each
        for block in stage.blocks:
            rows = sheets[block.sheet].rows
            for _, _, row, col in block.cells():
                value = next(values)
                cell = rows.get(row, NO_CELLS).get(col)
                if cell is not None and cell.kind == "f":   # nearly every value is a float already: no call for it
                    cell.cached = value if type(value) is float or isinstance(value, str) else float(value)
    ranges = {name.lower(): Range(b.sheet, b.row, b.col, b.last_row, b.last_col) for name, b in names.items()}
    Evaluator(sheets, ranges).fill()


def write_learning(ctx, wb, layout):
    """Gradient sheets, the descent sheet and every later forward pass; returns the formulas written."""
    if layout.descent is None:
        return 0
    passes = [layout, *layout.passes]
    count = 0
    for step, gradients in enumerate(layout.gradients):
        forward = passes[step]
        grad_ctx = replace(ctx, layout=forward, step=step, formulas=0)
        for plan in gradients.values():
            write_gradients(grad_ctx, wb[plan.name], plan, forward, gradients)
        later = replace(ctx, layout=passes[step + 1], step=step + 1, previous=forward,
                        previous_gradients=gradients, formulas=0)
        for plan in passes[step + 1].sheets[1:]:
            WRITERS[type(plan)](later, wb[plan.name], plan)
        count += grad_ctx.formulas + later.formulas
    descent_ctx = replace(ctx, formulas=0)
    write_descent(descent_ctx, wb[layout.descent.name], layout.descent, passes)
    return count + descent_ctx.formulas


def _model_name(name, texts):
    """("preset", "edges") -> "preset edges" in the workbook's language; plain strings pass through."""
    if name is None:
        return texts["model_names"]["custom"].format(name="")
    if isinstance(name, tuple):
        kind, value = name
        return texts["model_names"][kind].format(name=value)
    return str(name)


def thumbnail(source, pixels, side=150):
    """The overview's picture, encoded: the original photo as JPEG when there is one, else the pixels as PNG.

    JPEG keeps a photo's thumbnail to a few kB (as PNG it weighed more than all the
    formulas of a 28 x 28 workbook); the blocky pixel grid stays sharp as PNG.
    """
    if source is not None:
        try:
            photo = _photo_thumbnail(Path(source).read_bytes(), side)
        except OSError:
            photo = None
        if photo is not None:
            return photo
    buffer = io.BytesIO()
    array = pixels.transpose(1, 2, 0) if pixels.shape[0] == 3 else np.repeat(pixels[0][..., None], 3, axis=2)
    grid = Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).resize((side, side), Image.Resampling.NEAREST)
    grid.save(buffer, format="PNG")
    return buffer.getvalue()


@lru_cache(maxsize=4)   # build after build of the same photo (a class set, a test run): decoded and encoded once
def _photo_thumbnail(data, side):
    """The photo's bytes as a JPEG thumbnail, or None when they are no picture Pillow reads."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (2 * side, 2 * side))   # a JPEG decodes at a fraction of its size; enough here
            picture = to_rgb(ImageOps.exif_transpose(img))   # 16-bit and transparent photos as the loader sees them
    except (OSError, ValueError):
        return None
    picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def manifest_entries(ctx, source_entries, command=None):
    """What the manifest sheet lists, in order: enough to rebuild the workbook (``command`` does it in one line)."""
    model = ctx.model
    weights = "trained" if model.trained else "random" if not model.hand_made else (
        "hand_made_random" if random_beyond_filters(model) else "hand_made")
    _, height, width = ctx.layout.input_shape
    entries = {
        "version": __version__,
        "photo": source_entries.get("source", "-"),
        "sha256": source_entries.get("source_sha256", "-"),
        "size": f"{height} x {width}",
        "fit": ctx.texts["manifest"]["fits"].get(model.fit, model.fit),
        "channels": str(ctx.layout.input_shape[0]),
        "input_scale": f"{model.input_scale:.10g}",
        "model": ctx.model_name,
        "weights": ctx.texts["manifest"]["weights"][weights],
        "seed": "-" if ctx.seed is None else str(ctx.seed),
        "language": ctx.options.lang,
    }
    if command is not None:
        entries["command"] = command
    entries["exercise"] = ctx.texts["manifest"]["yes" if ctx.options.exercise else "no"]
    return entries


def _source_entries(source, seed):
    entries = {"seed": seed}
    if source is not None:
        data = Path(source).read_bytes()
        entries.update(source=Path(source).name, source_sha256=hashlib.sha256(data).hexdigest())
    return entries


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def written_by_xlcnn(path):
    """Whether ``path`` is an .xlsx with xlcnn's hidden sheet, so replacing it loses nothing of the user's."""
    try:
        with zipfile.ZipFile(path) as z:
            return f'name="{META_SHEET}"'.encode() in z.read("xl/workbook.xml")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


PART_SUFFIX = ".xlsx.part"


def partial_files(out_path):
    """The temporary files ``save_atomically`` may have left beside ``out_path`` when its process was killed."""
    path = Path(out_path)
    return list(path.parent.glob(f".{glob.escape(path.stem)}-*{PART_SUFFIX}"))


def check_workbook_target(out_path):
    """Refuse, before any work, a workbook path that cannot or must not be written; returns its folder."""
    path = Path(out_path)
    if path.suffix.lower() != ".xlsx":
        raise UsageError(f"-o {out_path}: the output must be an .xlsx file")
    return check_target(path, out_path, written_by_xlcnn, "a workbook")


def save_atomically(wb, out_path):
    """Save to a temporary file beside the target, then rename: never a half-written file.

    The target is checked again: the folder or the file may have changed while the sheets were written.
    """
    path = Path(out_path)
    folder = check_workbook_target(path)
    try:
        handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=PART_SUFFIX, dir=folder)
    except OSError as exc:
        raise OutputError(f"{out_path}: cannot write in {folder} ({exc.strerror})") from None
    os.close(handle)
    try:
        sheetdata.save(wb, tmp)
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes owner-only files; a workbook is for sharing
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{out_path}: cannot write the workbook ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
