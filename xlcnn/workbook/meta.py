"""The hidden sheet that lets the verifier re-plan a workbook's layout.

It records the architecture and shapes, never numbers the engine will compare:
pixels, weights, the scale and the true label are always read from the visible
sheets, so a student's edits are what gets verified.
"""

import json

from openpyxl.workbook.defined_name import DefinedName

from ..cells import sheet_of_ref, sheet_ref
from ..errors import WorkbookError
from ..graph import as_inputs
from ..network import layer_from_dict, layer_to_dict
from .common import put_text

META_SHEET = "xlcnn"
FORMAT = 1
SHEET_ID = "_xlcnn_sheet_{n}"    # one hidden workbook name per planned sheet, n = its place in the plan


def write_meta(wb, model, input_shape, extra):
    ws = wb.create_sheet(META_SHEET)
    ws.sheet_state = "hidden"
    entries = {
        "format": FORMAT,
        "architecture": [layer_to_dict(layer) for layer in model.layers],
        "class_names": list(model.class_names),
        "input_shape": list(input_shape),
        "trained": bool(model.trained),
        **extra,
    }
    if model.inputs is not None:   # a graph's wiring; a chain's metadata stays as it always was
        entries["inputs"] = [list(reads) for reads in model.inputs]
    for row, (key, value) in enumerate(entries.items()):
        put_text(ws, row, 0, key)
        put_text(ws, row, 1, json.dumps(value, ensure_ascii=False))


def read_meta(rows, path):
    """Parse the metadata sheet's rows [(key, json), ...] back into a dict."""
    try:
        meta = {key: json.loads(value) for key, value, *_ in rows if key}
        meta["layers"] = tuple(layer_from_dict(d) for d in meta["architecture"])
        meta["input_shape"] = tuple(meta["input_shape"])
        meta["class_names"] = tuple(meta["class_names"])
        meta["inputs"] = as_inputs(meta.get("inputs"))
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkbookError(f"{path}: the hidden '{META_SHEET}' sheet is damaged ({exc}); rebuild the workbook") from None
    if meta.get("format") != FORMAT:
        raise WorkbookError(f"{path}: workbook format {meta.get('format')!r} is not supported; rebuild it")
    return meta


def write_sheet_ids(wb, layout):
    """Name each planned sheet by its place in the plan: a hidden workbook name pointing at its A1.

    Excel, LibreOffice and Gnumeric rewrite every reference, names included, when a tab
    is renamed, so these names still lead to the right sheet after a teacher renamed
    tabs or a later xlcnn changed its sheet titles.
    """
    for n, plan in enumerate(layout.sheets, start=1):
        name = SHEET_ID.format(n=n)
        wb.defined_names[name] = DefinedName(name, attr_text=sheet_ref(plan.name, 0, 0, absolute=True), hidden=True)


def sheet_titles(layout, defined_names, titles):
    """{planned sheet name: its tab in this workbook}, found through the names of ``write_sheet_ids``.

    ``defined_names`` maps each workbook-level name to its reference text; ``titles``
    are the workbook's tabs. A sheet without a usable name (a workbook written before
    these names existed) keeps its planned name.
    """
    found = {}
    for n, plan in enumerate(layout.sheets, start=1):
        sheet = sheet_of_ref(defined_names.get(SHEET_ID.format(n=n), ""))
        found[plan.name] = sheet if sheet in titles else plan.name
    return found
