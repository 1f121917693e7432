"""The hidden sheet that lets the verifier re-plan a workbook's layout.

It records the architecture and shapes, never numbers the engine will compare:
pixels, weights, the scale and the true label are always read from the visible
sheets, so a student's edits are what gets verified.
"""

import json

from ..errors import WorkbookError
from ..network import layer_from_dict, layer_to_dict
from .common import put_text

META_SHEET = "xlcnn"
FORMAT = 1


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
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkbookError(f"{path}: the hidden '{META_SHEET}' sheet is damaged ({exc}); rebuild the workbook") from None
    if meta.get("format") != FORMAT:
        raise WorkbookError(f"{path}: workbook format {meta.get('format')!r} is not supported; rebuild it")
    return meta
