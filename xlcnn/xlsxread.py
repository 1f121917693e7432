"""Read every cell of an .xlsx in one pass: its formula (or constant) and its stored value.

Verify needs both for every cell: the formulas and constants (pixels, weights, the
true label) to rebuild the network, and the stored values to check them against an
engine's recalculation. openpyxl reads a workbook once per kind and spends most of its
time in Python per cell, rewriting every shared formula token by token; this reader
walks each sheet's XML once with the C parser. It reads what Excel, LibreOffice,
Gnumeric and xlcnn write: shared and inline strings, shared formulas, booleans, errors.
"""

import posixpath
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from xml.etree.ElementTree import XMLParser, iterparse

from .collector import fewer_collections

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
DOC_RELS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


@dataclass
class Workbook:
    """{sheet: grid} of formulas-or-constants and of stored values, and the workbook-level names.

    A grid is a list of rows (zero-based), each a list of cells padded with None. A
    formula reads as "=..." (every cell of a shared formula as its first cell's text:
    the engines recalculate the real ones); a stored value as a float, an int, text,
    a boolean or an error text such as "#DIV/0!".
    """

    formulas: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)


@fewer_collections
def read_workbook(path):
    """Read ``path``; raises zipfile.BadZipFile, KeyError or a ParseError when it is not a readable .xlsx."""
    with zipfile.ZipFile(path) as z:
        sheets, names = _sheets_and_names(z)
        strings = _shared_strings(z)
        book = Workbook(names=names)
        for title, part in sheets:
            with z.open(part) as xml:
                book.formulas[title], book.values[title] = _read_sheet(xml, strings)
        return book


# ---------------------------------------------------------------- private


def _sheets_and_names(z):
    """[(title, part name)] in tab order, and {name: text} of the workbook-level defined names."""
    targets = {}
    for _, rel in iterparse(z.open("xl/_rels/workbook.xml.rels")):
        if rel.tag == f"{RELS}Relationship":
            target = rel.get("Target")
            targets[rel.get("Id")] = target.lstrip("/") if target.startswith("/") else \
                posixpath.normpath(posixpath.join("xl", target))
    sheets, names = [], {}
    for _, element in iterparse(z.open("xl/workbook.xml")):
        if element.tag == f"{MAIN}sheet":
            sheets.append((element.get("name"), targets[element.get(f"{DOC_RELS}id")]))
        elif element.tag == f"{MAIN}definedName" and element.get("localSheetId") is None:
            names[element.get("name")] = element.text or ""
    return sheets, names


def _shared_strings(z):
    if "xl/sharedStrings.xml" not in z.namelist():
        return []
    strings = []
    for _, element in iterparse(z.open("xl/sharedStrings.xml")):
        if element.tag == f"{MAIN}si":
            strings.append(_text_of(element))
            element.clear()
    return strings


def _text_of(element):
    """The text of a string item: its <t>, or the <t> of every rich-text run (phonetic runs left out)."""
    parts = []
    for child in element:
        if child.tag == f"{MAIN}t":
            parts.append(child.text or "")
        elif child.tag == f"{MAIN}r":
            parts.extend(t.text or "" for t in child.iter(f"{MAIN}t"))
    return "".join(parts)


C, ROW, F, V, IS = (f"{MAIN}{tag}" for tag in ("c", "row", "f", "v", "is"))


def _read_sheet(xml, strings):
    formulas, values = {}, {}
    shared = {}       # si -> the shared formula's text, from its first cell
    row = -1
    # Only the end of each <row> is handled: its cells are its children then. Starts and the
    # ends of <c>, <f> and <v> would each cost a trip through Python, about six per cell.
    for _, element in iterparse(xml, events=("end",), parser=XMLParser()):
        if element.tag != ROW:
            continue
        row = int(element.get("r")) - 1 if element.get("r") else row + 1
        col = -1
        for cell in element:
            if cell.tag != C:
                continue
            ref = cell.get("r")
            if ref:
                row, col = _position(ref)
            else:
                col += 1
            formula, value = _cell(cell, strings, shared)
            if formula is not None:
                formulas[row, col] = formula
            if value is not None:
                values[row, col] = value
        element.clear()
    return _grid(formulas), _grid(values)


def _cell(element, strings, shared):
    """(formula or constant, stored value) of one <c> element."""
    kind = element.get("t", "n")
    f = v = found = None
    for child in element:
        tag = child.tag
        if tag == V:
            v = child
        elif tag == F:
            f = child
        elif tag == IS:
            found = child
    raw = v.text if v is not None else None
    if kind == "inlineStr":
        value = _text_of(found) if found is not None else ""
    elif raw is None:
        value = None
    elif kind == "s":
        value = strings[int(raw)]
    elif kind == "b":
        value = raw.strip() in ("1", "true")
    elif kind in ("str", "e", "d"):
        value = raw
    else:
        value = float(raw) if any(ch in raw for ch in ".eE") or raw.strip().lower() in ("nan", "inf") else int(raw)
    if f is None:
        return value, value
    text = f.text
    if f.get("t") == "shared":
        if text:
            shared[f.get("si")] = text
        else:
            text = shared.get(f.get("si"), "")
    return "=" + (text or ""), value


@lru_cache(maxsize=1 << 16)    # every sheet names the same few thousand cells
def _position(ref):
    """Zero-based (row, col) of an A1 reference such as "AB12"."""
    col = 0
    for n, ch in enumerate(ref):
        if ch.isdigit():
            return int(ref[n:]) - 1, col - 1
        col = col * 26 + ord(ch.upper()) - 64
    raise ValueError(f"cell reference {ref!r} has no row number")


def _grid(cells):
    """{(row, col): value} -> rows of values from row 0, each padded with None to its last cell."""
    if not cells:
        return []
    height = max(r for r, _ in cells) + 1
    rows = [[] for _ in range(height)]
    for (r, c), value in cells.items():
        line = rows[r]
        if len(line) <= c:
            line.extend([None] * (c + 1 - len(line)))
        line[c] = value
    return rows
