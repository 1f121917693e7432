"""Build the workbook: plan the layout, write each sheet in story order, save atomically."""

import hashlib
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from openpyxl import Workbook
from openpyxl.workbook.defined_name import DefinedName

from ..errors import OutputError, UsageError
from ..layout import plan_layout
from ..resources import texts as load_texts
from ..layout import ACTIVATION_KINDS, MapStack
from .classifier import write_dense, write_flatten, write_loss, write_softmax, write_vector_activation
from .common import Context
from .maps import INPUT_SCALE_NAME, write_filters, write_input, write_maps
from .meta import write_meta
from .summary import write_summary

def write_activation(ctx, ws, plan):
    """Activations work on maps and on vectors alike; the plan says which."""
    if isinstance(plan.blocks["output"], MapStack):
        return write_maps(ctx, ws, plan)
    return write_vector_activation(ctx, ws, plan)


WRITERS = {
    "input": write_input, "filters": write_filters, "conv2d": write_maps, "maxpool2d": write_maps,
    "avgpool2d": write_maps, "flatten": write_flatten, "dense": write_dense, "softmax": write_softmax,
    "loss": write_loss, "summary": write_summary,
    **{kind: write_activation for kind in ACTIVATION_KINDS},
}


@dataclass
class BuildResult:
    path: Path
    formulas: int
    sheets: list
    label: str
    notes: list = field(default_factory=list)


def build_workbook(model, image, out_path, label=None, source=None, seed=None, lang="en", model_name=None,
                   description=""):
    """Write ``image`` (H, W, 3 uint8) through ``model`` as a live-formula workbook.

    ``label`` is a class name (default: the first class). ``source`` is the photo's
    path, recorded with its SHA-256; ``model_name`` names the model in the workbook and
    ``description`` (a preset's paragraph) opens the summary sheet.
    Returns a BuildResult.
    """
    pixels = np.asarray(image)
    pixels = (pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
    label_index = _label_index(model, label)
    model.validate()
    texts = load_texts(lang)
    # class names are shown (and verified) in the workbook's language
    model = replace(model, class_names=tuple(texts["class_names"].get(n, n) for n in model.class_names))
    layout = plan_layout(model.layers, pixels.shape, model.class_names, texts["step_titles"])
    ctx = Context(model, layout, texts, pixels, label_index, seed, model_name=model_name or "(unnamed)",
                  description=description or "")
    wb = Workbook()
    wb.remove(wb.active)
    for plan in layout.sheets:
        ws = wb.create_sheet(plan.name)
        WRITERS[plan.kind](ctx, ws, plan)
    _define_names(wb, layout)
    write_meta(wb, model, pixels.shape, {"lang": lang, "model": model_name, **_source_entries(source, seed)})
    wb.active = 0
    path = save_atomically(wb, out_path)
    label_name = model.class_names[label_index] if model.classifier else None
    return BuildResult(path, ctx.formulas, [plan.name for plan in layout.sheets], label_name)


def _label_index(model, label):
    if label is None or not model.classifier:
        return 0
    if label not in model.class_names:
        raise UsageError(f"--label {label!r} is not a class of this model; choose one of: {', '.join(model.class_names)}")
    return model.class_names.index(label)


def _define_names(wb, layout):
    """Workbook-level names for the key results, so formulas and readers can use them."""
    names = {INPUT_SCALE_NAME: layout.sheet("input").blocks["scale"]}
    if any(plan.kind == "loss" for plan in layout.sheets):
        softmax = layout.sheet("softmax").blocks
        loss = layout.sheet("loss").blocks
        names.update({
            "logits": softmax["logit"], "probabilities": softmax["probability"],
            "prediction": softmax["prediction"], "class_names": softmax["class"],
            "true_label": loss["true_label"], "loss": loss["loss"],
        })
    for name, block in names.items():
        wb.defined_names[name] = DefinedName(name, attr_text=block.range_ref(absolute=True))


def _source_entries(source, seed):
    entries = {"seed": seed}
    if source is not None:
        data = Path(source).read_bytes()
        entries.update(source=Path(source).name, source_sha256=hashlib.sha256(data).hexdigest())
    return entries


def save_atomically(wb, out_path):
    """Save to a temporary file beside the target, then rename: never a half-written file."""
    path = Path(out_path)
    if path.suffix.lower() != ".xlsx":
        raise UsageError(f"-o {out_path}: the output must be an .xlsx file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{out_path}: folder {folder} does not exist")
    if path.is_dir():
        raise OutputError(f"{out_path}: is a folder, not a file")
    try:
        handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".xlsx.part", dir=folder)
    except OSError as exc:
        raise OutputError(f"{out_path}: cannot write in {folder} ({exc.strerror})") from None
    os.close(handle)
    try:
        wb.save(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{out_path}: cannot write the workbook ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
