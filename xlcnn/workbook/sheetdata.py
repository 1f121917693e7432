"""The cells of every sheet, kept by xlcnn and written as SpreadsheetML rows in one pass.

openpyxl makes a Python object for every cell and sends each one through an XML
element tree when it saves; for the hundreds of thousands of formulas of a big
workbook that costs more than all of xlcnn's own work. So the sheet writers put
their cells here instead (value, kind and style, keyed by zero-based row and
column), openpyxl writes everything else of the workbook (styles, names, colour
scales, charts, page setup), and ``save`` splices each sheet's rows into the
sheet file openpyxl wrote, streaming them into the zip. The style table's two long
lists, a fill and a cell format per colour of the photo, are written as text too
(styles_xml).
"""

import io
import math
import numbers
import re
import zipfile
from datetime import datetime, timezone
from xml.sax.saxutils import escape

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell as OpenpyxlCell
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.formula.translate import Translator
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.dimensions import ColumnDimension
from openpyxl.writer.excel import ExcelWriter

from ..cells import a1, col_name, column_names, column_number, row_number
from . import styles_xml
from .styles import EXCEL_CELL_FORMATS

CELL_TAGS_AT_MOST = 160   # <c r=".." s=".." t=".."><is><t xml:space="preserve"></t></is></c> and a number
ROW_TAGS_AT_MOST = 60     # <row r="1048576" ht="409.5" customHeight="1"></row>
CHUNK_ROWS = 2_000     # rows joined and compressed at a time: bounded memory, few write calls
SHEET_DATA = re.compile(rb"<sheetData\s*/>|<sheetData>\s*</sheetData>")
DIMENSION = re.compile(rb'<dimension ref="[^"]*"\s*/>')


class Cell:
    """One cell: its value, what kind of value it is, and the style objects it wears.

    ``kind`` is "f" (formula text starting with "="), "s" (text, never read as a
    formula) or "n" (a number); an empty cell (value None) keeps only its style.
    A formula's ``cached`` value (number, text or boolean) is stored beside it, for
    viewers that show the file without recalculating.
    """

    __slots__ = ("value", "kind", "cached", "shared", "font", "fill", "number_format", "protection", "border",
                 "alignment", "style")

    def __init__(self):
        self.value = self.kind = self.cached = self.shared = None
        self.font = self.fill = self.number_format = self.protection = self.border = self.alignment = None
        self.style = ""   # the ' s="n"' attribute, given just before saving

    def style_key(self):
        # style objects are shared module constants or live as long as their cells, so ids are stable
        return (id(self.font), id(self.fill), self.number_format, id(self.protection), id(self.border),
                id(self.alignment))


class SheetCells:
    """The cells of one worksheet, {row: {col: Cell}}, in any order of writing."""

    def __init__(self):
        self.rows = {}
        self.max_row = -1
        self.max_col = -1
        self.widths = {}    # col -> width in characters; written as runs of equal widths
        self.heights = {}   # row -> height in points, for rows that are not the default height
        self.merges = []    # merged blocks: only their top-left cell may hold anything
        self.shared_formulas = 0
        self.hidden = set()  # (row, col) of cells an exercise hides: no colour scale may cover them
        self.scale = None    # the sheet's first colour rule (a styles.Scale): its legend shows it

    def share(self, block):
        """Store the formulas of ``block`` once, as Excel does: each cell's is its top-left one, moved.

        The caller knows the formulas repeat (a stride-1 layer slides the same window);
        the last cell is checked against the moved top-left formula all the same.
        """
        if block.size < 2:
            return
        first, last = self.rows[block.row][block.col], self.rows[block.last_row][block.last_col]
        moved = Translator(first.value, a1(block.row, block.col)).translate_formula(a1(block.last_row, block.last_col))
        if moved != last.value:
            raise RuntimeError(f"{block.range()}: {last.value} is not {first.value} moved ({moved})")
        number = self.shared_formulas
        self.shared_formulas += 1
        for i, j, row, col in block.cells():
            cell = self.rows[row][col]
            if cell.kind != "f":
                raise RuntimeError(f"{a1(row, col)} holds no formula to share")
            cell.shared = (number, block.range() if i == j == 0 else None)

    def at(self, row, col):
        """The cell at zero-based (row, col), made empty when nothing is there yet."""
        line = self.rows.get(row)
        if line is None:
            line = self.rows[row] = {}
            self.max_row = max(self.max_row, row)
        cell = line.get(col)
        if cell is None:
            cell = line[col] = Cell()
            self.max_col = max(self.max_col, col)
        return cell

    def width_runs(self):
        """[(first col, last col, width)] for consecutive columns of equal width."""
        runs = []
        for col in sorted(self.widths):
            width = self.widths[col]
            if runs and runs[-1][1] == col - 1 and runs[-1][2] == width:
                runs[-1] = (runs[-1][0], col, width)
            else:
                runs.append((col, col, width))
        return runs

    def texts(self, rows):
        """The text values in the given rows (for sizing the printed page)."""
        return [cell.value for row in rows for cell in self.rows.get(row, {}).values() if cell.kind == "s"]


def cells_of(ws):
    """The SheetCells of an openpyxl worksheet, made on first use."""
    store = ws.__dict__.get("_xlcnn_cells")
    if store is None:
        store = ws._xlcnn_cells = SheetCells()
    return store


# ---------------------------------------------------------------- saving


def save(wb, path):
    """Write ``wb`` to ``path``: openpyxl's package with every sheet's rows spliced in."""
    styles = _StyleIds(wb)
    bytes_at_most = {}
    for ws in wb.worksheets:
        if ws._cells:
            raise RuntimeError(f"sheet {ws.title!r} has cells written through openpyxl; use sheetdata.cells_of")
        bytes_at_most[ws] = _style_and_measure(cells_of(ws), styles)
        _check_merges(ws)
        _set_column_widths(ws)
    if len(wb._cell_styles) > EXCEL_CELL_FORMATS:   # painted_colours keeps the photo's share below this
        raise RuntimeError(f"{len(wb._cell_styles):,} cell formats; Excel allows about {EXCEL_CELL_FORMATS:,}")
    with styles_xml.long_lists_left_out(wb):   # openpyxl is slow at them: they are written as text below
        package = _openpyxl_package(wb)
    sheets = {ws.path.lstrip("/"): ws for ws in wb.worksheets}   # ws.path is known once openpyxl has saved
    with zipfile.ZipFile(package) as source, \
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            ws = sheets.get(info.filename)
            if info.filename == styles_xml.PART:   # every combination the cells use, _StyleIds made them
                target.writestr(info.filename, styles_xml.with_long_lists(data, wb))
            elif ws is None:
                target.writestr(info.filename, data)
            else:
                _write_sheet(target, info.filename, data, cells_of(ws), bytes_at_most[ws])


def _openpyxl_package(wb):
    """What openpyxl's ``wb.save`` writes, as an uncompressed zip in memory: each part is
    compressed once, when it is copied into the final file, not also here."""
    package = io.BytesIO()
    wb.properties.modified = datetime.now(timezone.utc).replace(tzinfo=None)   # as openpyxl's save_workbook does
    with zipfile.ZipFile(package, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        _PackageWriter(wb, archive).write_data()
    return package


class _PackageWriter(ExcelWriter):
    """openpyxl's writer, each sheet's XML made in memory rather than in a temporary file.

    openpyxl writes every sheet to a file in the temp folder, copies it into the package
    and deletes it; our sheet files hold no rows yet (they are spliced in later), so
    memory is the cheaper place. The body is openpyxl 3.1's ``write_worksheet`` with ``out`` given.
    """

    def write_worksheet(self, ws):
        ws._drawing = SpreadsheetDrawing()
        ws._drawing.charts = ws._charts
        ws._drawing.images = ws._images
        writer = WorksheetWriter(ws, out=io.BytesIO())
        writer.write()
        ws._rels = writer._rels
        self._archive.writestr(ws.path[1:], writer.read())
        self.manifest.append(ws)


def _check_merges(ws):
    """A merged block hides all but its top-left cell; anything written under it would be lost.

    Its other cells may carry a style (a border all round a merged box, as Excel draws it).
    """
    cells = cells_of(ws)
    for block in cells.merges:
        for i, j, row, col in block.cells():
            if (i or j) and cells.rows.get(row, {}).get(col, _EMPTY).value is not None:
                raise RuntimeError(f"sheet {ws.title!r}: {block.range()} is merged but {a1(row, col)} is written")


_EMPTY = Cell()


def _set_column_widths(ws):
    """One <col> element per run of equal widths, not one per column."""
    for first, last, width in cells_of(ws).width_runs():
        ws.column_dimensions[col_name(first)] = ColumnDimension(
            ws, index=col_name(first), width=width, min=column_number(first), max=column_number(last))


def _write_sheet(target, name, xml, cells, bytes_at_most):
    match = SHEET_DATA.search(xml)
    if match is None:
        raise RuntimeError(f"{name}: openpyxl wrote no empty <sheetData> to fill")
    head, tail = xml[:match.start()], xml[match.end():]
    head = DIMENSION.sub(f'<dimension ref="{_dimension(cells)}"/>'.encode(), head, count=1)
    # ZIP64 headers only where a sheet could pass 2 GiB: Excel is strict about ZIP64 it does not need
    with target.open(name, "w", force_zip64=bytes_at_most > zipfile.ZIP64_LIMIT) as out:
        out.write(head)
        out.write(b"<sheetData>")
        chunk = []
        names = column_names(cells.max_col + 1)   # "A1" text per cell costs a call; the row's number is shared
        for n, row in enumerate(sorted(cells.rows.keys() | cells.heights.keys())):   # a tall row may be empty
            chunk.append(_row_xml(row, cells.rows.get(row, {}), names, cells.heights.get(row)))
            if n % CHUNK_ROWS == CHUNK_ROWS - 1:
                out.write("".join(chunk).encode())
                chunk = []
        out.write("".join(chunk).encode())
        out.write(b"</sheetData>")
        out.write(tail)


def _style_and_measure(cells, styles):
    """Give every cell its ' s="n"' attribute, and return an upper bound of the sheet's XML in bytes
    (escaping makes one character at most 5: &amp;). One walk over the cells serves both: a walk over
    every cell of a big workbook costs a few percent of its build.

    Cells side by side mostly wear the same style objects (a map's numbers, a column of labels),
    and six identity tests against the previous cell's cost less than making and looking up its key.
    """
    total = ROW_TAGS_AT_MOST * len(cells.heights.keys() - cells.rows.keys())
    known = styles.known   # looked up here, not through styles.attribute: one call less per cell
    font = fill = number_format = protection = border = alignment = style = object()   # no cell wears it
    for line in cells.rows.values():
        total += ROW_TAGS_AT_MOST + CELL_TAGS_AT_MOST * len(line)
        for cell in line.values():
            if not (cell.font is font and cell.fill is fill and cell.number_format is number_format
                    and cell.protection is protection and cell.border is border and cell.alignment is alignment):
                font, fill, number_format = cell.font, cell.fill, cell.number_format
                protection, border, alignment = cell.protection, cell.border, cell.alignment
                style = known.get(cell.style_key())
                if style is None:
                    style = styles.attribute(cell)
            cell.style = style
            value, cached = cell.value, cell.cached
            if isinstance(value, str):
                total += 5 * len(value)
            if isinstance(cached, str):
                total += 5 * len(cached)
    return total


def _dimension(cells):
    if cells.max_row < 0:
        return "A1"
    return f"A1:{a1(cells.max_row, cells.max_col)}"


def _row_xml(row, line, names, height=None):
    """One <row> element, its cells in column order, as openpyxl itself would write them.

    ``names`` holds the sheet's column letters (cells.column_names), so a cell's reference
    is two strings joined, the same text as ``a1(row, col)``.
    """
    size = "" if height is None else f' ht="{height:g}" customHeight="1"'
    number = row_number(row)
    parts = [f'<row r="{number}"{size}>']
    for col in sorted(line):
        cell = line[col]
        ref = names[col] + number
        style = cell.style
        value, kind = cell.value, cell.kind
        if value is None:
            parts.append(f'<c r="{ref}"{style}/>')
        elif kind == "f":
            parts.append(_formula_xml(ref, style, value, cell.cached, cell.shared))
        elif kind == "s":
            parts.append(f'<c r="{ref}"{style} t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>')
        elif math.isfinite(value):
            parts.append(f'<c r="{ref}"{style} t="n"><v>{_number_text(value)}</v></c>')
        else:   # no spreadsheet can hold it; a bug upstream, not something to write and repair later
            raise ValueError(f"cell {ref}: {value!r} is not a finite number")
    parts.append("</row>")
    return "".join(parts)


def _number_text(value):
    """A constant exactly as given: repr round-trips every float, where openpyxl's %.16g loses the 17th digit."""
    if type(value) in (float, int):   # nearly every constant: asking numbers.Integral costs more than the text
        return repr(value)
    return str(int(value)) if isinstance(value, numbers.Integral) else repr(float(value))


def _formula_xml(ref, style, formula, cached, shared=None):
    """A formula and its stored value: a number at full precision (repr round-trips), text or a boolean.

    A shared formula (``shared`` = (number, range on its first cell, else None)) is written
    in full on its first cell only.
    """
    if shared is None:
        f = f"<f>{escape(formula[1:])}</f>"
    elif shared[1] is not None:
        f = f'<f t="shared" ref="{shared[1]}" si="{shared[0]}">{escape(formula[1:])}</f>'
    else:
        f = f'<f t="shared" si="{shared[0]}"/>'
    if type(cached) is float and math.isfinite(cached):   # nearly every formula's: the cheapest test first
        return f'<c r="{ref}"{style}>{f}<v>{cached!r}</v></c>'
    if isinstance(cached, bool):
        return f'<c r="{ref}"{style} t="b">{f}<v>{int(cached)}</v></c>'
    if isinstance(cached, str):   # control characters XML cannot hold became "?" in the cells it reads too
        return f'<c r="{ref}"{style} t="str">{f}<v>{escape(ILLEGAL_CHARACTERS_RE.sub("?", cached))}</v></c>'
    if cached is None or not math.isfinite(cached):
        # a blank or made-up stored value is what a viewer would show: refuse to write one
        raise ValueError(f"cell {ref}: formula {formula} has no true value to store ({cached!r})")
    return f'<c r="{ref}"{style}>{f}<v>{float(cached)!r}</v></c>'


class _StyleIds:
    """The ' s="n"' attribute for each distinct combination of style objects.

    openpyxl's own cell object adds the fonts, fills, formats and protections to the
    workbook's tables; doing that once per combination, not once per cell, is the saving.
    """

    def __init__(self, wb):
        self.scratch = wb.worksheets[0]
        self.known = {}

    def attribute(self, cell):
        key = cell.style_key()
        known = self.known.get(key)
        if known is None:
            known = self.known[key] = self._new(cell)
        return known

    def _new(self, cell):
        styled = OpenpyxlCell(self.scratch)
        if cell.font is not None:
            styled.font = cell.font
        if cell.fill is not None:
            styled.fill = cell.fill
        if cell.number_format is not None:
            styled.number_format = cell.number_format
        if cell.protection is not None:
            styled.protection = cell.protection
        if cell.border is not None:
            styled.border = cell.border
        if cell.alignment is not None:
            styled.alignment = cell.alignment
        return f' s="{styled.style_id}"' if styled.has_style else ""

