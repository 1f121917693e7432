"""Prove a workbook right: recalculate it in a spreadsheet engine and compare every stage with NumPy.

The NumPy side is built from what the workbook holds (pixels, weights, scale, true
label), so a workbook a student has edited is checked against its own inputs. The
engines (LibreOffice, Gnumeric) sit behind ``engines.Engine``; all the comparing is here.

Each stage is compared with a tolerance relative to its own scale, 1e-9 x the largest
absolute value of the NumPy stage, so a wrong gradient of 1e-7 is caught as surely as a
wrong logit, and rounding leftovers near zero in a map of values near 1 are not errors.
"""

import csv
import math
from concurrent.futures import ThreadPoolExecutor
import tempfile
import urllib.parse
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import gnumeric, libreoffice
from .cells import sheet_ref
from .collector import fewer_collections
from .engines import stop_engines
from .errors import ModelError, ShapeError, UsageError, WorkbookError
from .layout import SUMMARY_COLUMNS, renamed, replan
from .losses import REGRESSION
from .plans import FoldSheet, NormSheet, ScatterSheet, all_blocks, example_of
from .resources import texts as load_texts
from .stages import LAYER_KINDS, output_blocks, workbook_stages
from .summary import TOTAL_COLUMNS, bottlenecks, compared, comparison_numbers, summarize
from .xlsxread import read_workbook
from .kinds import LAYER_TYPES
from .libreoffice import DEFAULT_TIMEOUT
from .network import Model
from .workbook.build import Network
from .workbook.meta import META_SHEET, read_meta, sheet_titles

TOLERANCE = 1e-9        # relative to each stage's largest absolute value
SMALLEST_SCALE = 1e-300  # a stage of zeros is compared at 1e-9 x this, i.e. exactly
CSV_MARGIN = 1000        # an engine's CSV is read only when its rounding is this far below every tolerance
ENGINES = {engine.name: engine for engine in (libreoffice.ENGINE, gnumeric.ENGINE)}
ENGINE_CHOICES = (*ENGINES, "all")
ERROR_VALUES = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#UNKNOWN!",
                "Err:")


@dataclass
class StageCheck:
    """One row of the report: a stage, how many cells, the largest error, where, and the tolerance."""

    stage: str
    cells: int
    max_error: float
    worst_cell: str
    ok: bool
    tolerance: float | None = None     # None for text compared exactly


@dataclass
class Report:
    path: Path
    checks: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    prediction: str = ""
    loss: float = math.nan
    losses: list = field(default_factory=list)   # the loss of every forward pass (before and after each step)
    engine: str = "LibreOffice"
    finest_tolerance: float = math.inf            # the smallest tolerance any comparison used
    label_chosen: bool = True                     # False: the loss sheet still waits for the true label
    values: dict | None = field(default=None, repr=False, compare=False)   # kept only when asked (keep_values)

    @property
    def ok(self):
        return not self.problems and all(check.ok for check in self.checks)

    def table(self):
        """The report as aligned text lines."""
        rows = [("stage", "cells", "max abs error", "tolerance", "worst cell", "")]
        for c in self.checks:
            tolerance = "exact" if c.tolerance is None else f"{c.tolerance:.3g}"
            rows.append((c.stage, str(c.cells), f"{c.max_error:.3g}", tolerance, c.worst_cell, "ok" if c.ok else "FAIL"))
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.extend(f"problem: {p}" for p in self.problems)
        verdict = "PASS" if self.ok else "FAIL"
        result = f"prediction {self.prediction}, loss {self.loss:.6g}, " if self.prediction else (
            "" if math.isnan(self.loss) else f"loss {self.loss:.6g}, ")
        if self.prediction and not self.label_chosen:
            result = f"prediction {self.prediction}, true label not chosen yet (loss not checked), "
        if len(self.losses) > 1:
            result += "after each descent step " + " -> ".join(f"{loss:.4g}" for loss in self.losses[1:]) + ", "
        lines.append(f"{verdict}: {self.path.name} in {self.engine}: {result}"
                     f"tolerance {TOLERANCE:g} x each stage's largest value")
        return "\n".join(lines)


# ---------------------------------------------------------------- public


def verify_workbook(path, timeout=DEFAULT_TIMEOUT, engine="libreoffice"):
    """Recalculate ``path`` in ``engine`` ("libreoffice" or "gnumeric") and compare every stage with NumPy."""
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r}: verify_workbook takes one of {', '.join(ENGINES)}")
    return verify_workbooks([path], timeout, engine)[0]


@fewer_collections
def verify_workbooks(paths, timeout=DEFAULT_TIMEOUT, engine="libreoffice", keep_values=False):
    """Verify several workbooks with one start of each engine; "all" runs every engine.

    Returns one report per workbook and engine, workbook by workbook. With ``keep_values``
    each report keeps the recalculated values it compared in ``values`` ({sheet: grid},
    CSV text or an .xlsx copy's values), so engines can be compared with each other
    without recalculating again. The engines
    recalculate in threads while this one reads the workbooks as written, so on two
    cores the reading costs no extra time. The recalculated values come back as one
    CSV file per sheet, which the engines write and Python reads far faster than a
    second .xlsx; a recalculated .xlsx copy is read where a CSV cannot be trusted.
    """
    if engine not in ENGINE_CHOICES:
        raise UsageError(f"--engine {engine!r}: choose one of {', '.join(ENGINE_CHOICES)}")
    engines = list(ENGINES.values()) if engine == "all" else [ENGINES[engine]]
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.is_file():
            raise WorkbookError(f"{path}: workbook not found")
    with tempfile.TemporaryDirectory(prefix="xlcnn-verify-") as tmp:
        # numbered copies, so two books both called x.xlsx cannot collide in one conversion
        inbox = Path(tmp) / "in"
        inbox.mkdir()
        copies = []
        for n, p in enumerate(paths):
            copies.append(inbox / f"book{n}.xlsx")
            copies[-1].write_bytes(p.read_bytes())
        with ThreadPoolExecutor(max_workers=len(engines)) as pool:
            running = [pool.submit(_csv_values, e, copies, Path(tmp) / e.name, timeout) for e in engines]
            try:
                books = [_read_book(p) for p in paths]
                recalculated = [future.result() for future in running]
            except BaseException as exc:
                for future in running:
                    future.cancel()
                if isinstance(exc, KeyboardInterrupt):   # Ctrl-C: stop the engines, which the pool would wait for
                    stop_engines()
                raise
        reports = [_csv_report(e, path, book, None if values is None else values[n])
                   for n, (path, book) in enumerate(zip(paths, books)) for e, values in zip(engines, recalculated)]
        # the books whose CSV cannot be trusted go back to each engine in one more start, for an exact .xlsx copy
        for k, e in enumerate(engines):
            untrusted = [n for n in range(len(paths)) if reports[n * len(engines) + k] is None]
            if untrusted:
                exact = e.to_xlsx([copies[n] for n in untrusted], Path(tmp) / f"{e.name}-exact", timeout)
                for n, copy in zip(untrusted, exact):
                    reports[n * len(engines) + k] = _compare(paths[n], books[n], _read_values(copy), e.title)
        if not keep_values:
            for report in reports:
                report.values = None
        return reports


def _csv_values(engine, paths, out_dir, timeout):
    """Per workbook, {sheet: grid of recalculated values as CSV text}; None when the engine cannot write them."""
    sheets = engine.to_csv(paths, out_dir, timeout)
    if sheets is None:
        return None
    return [{name: _csv_grid(file) for name, file in files.items()} for files in sheets]


def _csv_report(engine, path, book, csv_values):
    """The report from the engine's CSV values when they can be trusted, else None (an exact .xlsx copy is needed).

    Not trusted: a sheet whose CSV file cannot be matched to its name, a CSV that need
    not start at A1 (Gnumeric's starts at the first cell holding something) when some
    sheet's A1 is empty, and numbers rounded too coarsely for a stage's tolerance
    (LibreOffice writes 1.2345678e-13 as 0.00000000000012345678).
    """
    values = None if csv_values is None else _by_sheet_name(csv_values, book.formulas)
    if values is not None and (engine.csv_from_a1 or _starts_at_a1(book)):
        report = _compare(path, book, values, engine.title)
        if report.finest_tolerance >= CSV_MARGIN * engine.csv_step:
            return report
    return None


def _starts_at_a1(book):
    """Whether A1 of every sheet holds a constant, so a CSV that skips empty rows and columns starts at A1."""
    for grid in book.formulas.values():
        first = _get(grid, 0, 0)
        if first is None or first == "" or (isinstance(first, str) and first.startswith("=")):
            return False
    return True


def _by_sheet_name(values, sheets):
    """The CSV grids keyed by the workbook's own sheet names, or None when one is missing.

    LibreOffice names each CSV file after its sheet, URL-decoding it on the way
    ("c%41d" becomes "cAd"), so a name is also looked up as decoded.
    """
    named = {}
    for name in sheets:
        grid = values.get(name)
        if grid is None:
            grid = values.get(urllib.parse.unquote(name))
        if grid is None:
            return None
        named[name] = grid
    return named


# ---------------------------------------------------------------- reading workbooks


@dataclass
class _Book:
    """What verify needs from the workbook as written: layout, model, formulas, cached values."""

    layout: object
    model: Model
    pixels: np.ndarray
    label: int | None   # None: the student has not picked the true label yet
    formulas: dict      # sheet -> grid of raw cell contents (formula text or constants)
    cached: dict        # sheet -> grid of stored values (None where nothing is stored)
    learning_rate: float = 0.0
    targets: np.ndarray | None = None   # a regression's targets, as the loss sheet holds them


XLSX_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm")


def _open_workbook(path):
    """Every cell of ``path`` in one pass (see ``xlsxread``), or one line saying why it cannot be read."""
    if Path(path).suffix.lower() not in XLSX_SUFFIXES:   # notes.pdf, report.docx
        raise WorkbookError(f"{path}: not an .xlsx workbook; verify reads the .xlsx files xlcnn builds")
    try:
        return read_workbook(path)
    except (zipfile.BadZipFile, OSError, KeyError, IndexError, ValueError, SyntaxError) as exc:   # SyntaxError: XML
        raise WorkbookError(f"{path}: not a readable .xlsx workbook ({exc})") from None


def _read_grids(path, data_only, names=None):
    """{sheet: grid} of stored values (``data_only``) or of formulas and constants; fills ``names`` when given."""
    book = _open_workbook(path)
    if names is not None:
        names.update(book.names)
    return book.values if data_only else book.formulas


def _get(grid, row, col):
    if row < len(grid) and col < len(grid[row]):
        return grid[row][col]
    return None


def _read_values(path):
    return _read_grids(path, data_only=True)


def _csv_grid(path):
    """A sheet's values from LibreOffice's CSV, as the text it wrote ("" for an empty cell).

    A CSV cannot tell the number 1 from the text "1" (a class may be called "1" or "01"),
    so cells stay text here: compared as numbers where a number is expected, as text
    where text is (see ``_number``).
    """
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def _number(value):
    """A cell's value as a float, or None when it holds no number.

    Takes what openpyxl reads (int, float, str, None) and CSV text alike; a percent
    format survives even "not as shown" in LibreOffice's CSV, so "87.5%" is 0.875.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        number = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and value.strip() == value and "_" not in value else None


def _tolerance(values):
    """1e-9 x the largest absolute value of a stage (NaN counts as nothing)."""
    scale = max((abs(v) for v in values if not math.isnan(v)), default=0.0)
    return TOLERANCE * max(SMALLEST_SCALE, scale)


def _same_value(old, new, tolerance):
    """A stored value against a recalculated one: numbers within ``tolerance``, text exactly.

    A CSV writes a boolean as TRUE or FALSE.
    """
    if isinstance(old, bool):
        return new is old or new == str(old).upper()
    if isinstance(old, (int, float)):
        fresh = _number(new)
        return fresh is not None and abs(old - fresh) <= tolerance
    return old == ("" if new is None else new)


def model_from_workbook(path):
    """(model, pixels) of a workbook xlcnn built, as they stand in its cells (a student's edits included);
    the pixels are (C, H, W), before the input scale."""
    path = Path(path)
    book = _read_book(path)
    if book.pixels is None:
        raise WorkbookError(f"{path}: holds a table only, no weights")
    try:
        book.model.validate()    # an edited std of 0, say: refused here, not written into a model
    except (ModelError, ShapeError) as exc:
        raise WorkbookError(f"{path}: {exc}") from None
    return book.model, book.pixels


def _read_book(path):
    if not path.is_file():
        raise WorkbookError(f"{path}: workbook not found")
    cells = _open_workbook(path)
    formulas, names = cells.formulas, cells.names
    if META_SHEET not in formulas:
        raise WorkbookError(f"{path}: not a workbook written by xlcnn (no '{META_SHEET}' sheet)")
    meta = read_meta(formulas[META_SHEET], path)
    titles = load_texts(meta.get("lang", "en"))["step_titles"]
    layout = replan(meta, titles)
    # each planned sheet is found through its hidden name, so renamed tabs and changed texts do not matter
    layout = renamed(layout, sheet_titles(layout, names, formulas))
    missing = [plan.name for plan in layout.sheets if plan.name not in formulas]
    if missing:
        raise WorkbookError(f"{path}: sheet {missing[0]!r} is missing; rebuild the workbook")
    cached = cells.values     # what a viewer that does not recalculate shows
    if meta.get("table"):
        return _Book(layout, Network(meta["layers"], meta["inputs"]), None, None, formulas, cached, 0.0)
    reader = _Reader(path, formulas)
    model, pixels, label = _model_from_book(reader, layout, meta)
    rate = reader.number(layout.descent.rate) if layout.descent is not None else 0.0
    # a regression's targets are the student's numbers on the loss sheet, like a classifier's label
    targets = reader.array(layout.sheet("loss").targets).reshape(-1) if meta.get("loss") == REGRESSION else None
    return _Book(layout, model, pixels, label, formulas, cached, rate, targets)


class _Reader:
    """Reads numbers and text out of blocks, with messages that name the cell."""

    def __init__(self, path, grids):
        self.path, self.grids = path, grids

    def number(self, block, i=0, j=0):
        row, col = block.cell(i, j)
        value = _get(self.grids[block.sheet], row, col)
        if value is None:
            value = 0.0  # an emptied cell counts as 0, as in the spreadsheet itself
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WorkbookError(f"{self.path}: cell {sheet_ref(block.sheet, row, col)} should hold a number, "
                                f"not {value!r}")
        return float(value)

    def array(self, block):
        return np.array([[self.number(block, i, j) for j in range(block.width)] for i in range(block.height)])

    def text(self, block):
        return _get(self.grids[block.sheet], block.row, block.col)


def _model_from_book(reader, layout, meta):
    layers = meta["layers"]
    first = layout.sheet("input")
    pixels = np.stack([reader.array(first.pixels.interior(c)) for c in range(layout.input_shape[0])])
    params = [layer.parameters_from_book(reader, layout, index) for index, layer in enumerate(layers)]
    layers = tuple(layer.as_in_book(reader, layout, index) for index, layer in enumerate(layers))
    scale = reader.number(first.scale)
    names = meta["class_names"]
    _, height, width = layout.input_shape
    mean, std = ((tuple(reader.number(cell) for cell in cells) for cells in (first.mean, first.std))
                 if first.normalised is not None else (None, None))
    model = Model(layers, params, names, image_size=height, image_width=None if width == height else width,
                  input_scale=scale, channels=layout.input_shape[0], trained=meta.get("trained", False), inputs=meta["inputs"],
                  input_mean=mean, input_std=std)
    if not names:
        return model, pixels, 0
    label_text = reader.text(layout.sheet("loss").true_label)
    if label_text in (None, "") and layout.descent is None:
        return model, pixels, None     # not picked yet: everything but the loss is checked
    if label_text not in names:
        raise WorkbookError(f"{reader.path}: the true label {label_text!r} is not one of the classes "
                            f"({', '.join(names)}); pick one from the list")
    return model, pixels, names.index(label_text)


# ---------------------------------------------------------------- comparing


def _compare(path, book, values, engine):
    report = Report(path, engine=engine)
    if book.pixels is None:    # a table of a network: its summary is all there is
        report.checks.append(_check_summary(book, values))
        return _finish(report, book, values)
    layout = book.layout
    stages, passes = workbook_stages(layout, book.model, book.pixels, book.label, book.learning_rate, book.targets)
    explained = {plan.name: (plan, passes[step]) for step in range(len(passes))
                 for plan in layout.pass_sheets(step) if example_of(plan) is not None}
    for stage in stages:
        if stage.name == "prediction":
            report.checks.append(_check_prediction(stage.blocks[0], stage.values[0], values))
            continue
        report.checks.append(_check_blocks(stage.name, stage.blocks, stage.values, values))
        if stage.name in explained:   # the worked example beside the layer, right after it in the report
            report.checks.append(_check_explain(book, *explained[stage.name], values))
    report.losses = [reference.loss for reference in passes]
    if book.model.classifier:
        _check_overview(report, book, passes[0], values)
        if book.label is None:
            report.checks.append(_check_blank_loss(book, values))
    elif book.targets is not None:    # a regression: the overview repeats its loss, and there is no prediction
        report.loss = passes[0].loss
        overview = book.layout.sheet("overview")
        report.checks.append(_check_blocks("overview", [overview.loss_value], np.array([report.loss]), values))
    report.checks.append(_check_summary(book, values))
    return _finish(report, book, values)


def _finish(report, book, values):
    """What every workbook is checked for last: error cells, typed-in values, stale stored results."""
    report.problems.extend(_error_cells(values))
    report.problems.extend(_not_formulas(book))
    stale, finest = _stale_values(book, values)
    report.problems.extend(stale)
    report.values = values
    report.finest_tolerance = min([finest, *(c.tolerance for c in report.checks if c.tolerance is not None)])
    return report


def _check_overview(report, book, reference, values):
    """The overview repeats the first pass's prediction, confidence and loss."""
    report.prediction = book.model.class_names[reference.prediction]
    report.loss = reference.loss
    report.label_chosen = book.label is not None
    overview = book.layout.sheet("overview")
    shown = [overview.confidence_value] + ([overview.loss_value] if book.label is not None else [])
    expected = [reference.probabilities.max()] + ([reference.loss] if book.label is not None else [])
    report.checks.append(_check_blocks("overview", shown, np.array(expected), values))
    report.checks.append(_check_prediction(overview.prediction_value, report.prediction, values))


def _check_blank_loss(book, values):
    """With no true label picked, the loss (and the overview's copy) must show nothing rather than a number."""
    cells = [book.layout.sheet("loss").loss, book.layout.sheet("overview").loss_value]
    got = [_get(values[block.sheet], block.row, block.col) for block in cells]
    ok = all(value in (None, "") for value in got)
    where = sheet_ref(cells[0].sheet, cells[0].row, cells[0].col)
    return StageCheck("loss (true label not chosen: blank)", len(cells), 0.0 if ok else math.inf, where, ok)


def _check_explain(book, plan, reference, values):
    """The worked example's result, and the cell it fetched, equal the engine at the chosen position."""
    example = plan.explain
    stage = reference.stages[plan.layer].output
    try:
        chosen = [int(_get(book.formulas[plan.name], row, col)) - 1 for _, _, row, col in example.choose.cells()]
        expected = float(stage[tuple(chosen)])
    except (IndexError, TypeError, ValueError):
        expected = float("nan")     # an out-of-range position shows as an error cell, reported below
    # at the tolerance of the whole map: one cell of it may be a rounding leftover near zero
    return _check_blocks(f"{plan.name} (explained)", [example.result, example.cell],
                         np.array([expected, expected]), values, scale_of=stage)


def _check_summary(book, values):
    """The summary sheet's numbers against shapes and parameter counts worked out here."""
    table = book.layout.sheet("summary").table
    cells, expected = [], []
    rows = summarize(book.model.layers, book.layout.input_shape, inputs=book.model.inputs)
    for r, row in enumerate(rows):
        for key, value in row.numbers().items():
            cells.append(table.sub(r, SUMMARY_COLUMNS.index(key), 1, 1))
            expected.append(value)
    totals = book.layout.sheet("summary").totals
    for key in TOTAL_COLUMNS:
        cells.append(totals.sub(0, SUMMARY_COLUMNS.index(key), 1, 1))
        expected.append(sum(row.numbers().get(key, 0) for row in rows))
    fed = book.layout.sheet("summary").bottlenecks
    for n, row in enumerate(bottlenecks(rows)):    # with the 1x1, without it, and their ratio
        with_it = rows[row.bottleneck[0]].multiply_adds[1] + row.multiply_adds[1]
        cells += [fed.sub(2 * n, 1, 1, 2), fed.sub(2 * n + 1, 2, 1, 1)]
        expected += [with_it, row.bottleneck[1][1], row.bottleneck[1][1] / with_it]
    if book.model.params is not None:    # the parameter count must also equal the engine's own arrays
        cells.append(totals.sub(0, SUMMARY_COLUMNS.index("parameters"), 1, 1))
        expected.append(sum(int(np.size(v)) for layer, p in zip(book.model.layers, book.model.params)
                            for name, v in p.items() if name not in layer.buffers))   # buffers are not parameters
    comparison = book.layout.sheet("summary").comparison
    lines = [line for row in compared(rows) for line in comparison_numbers(row)]
    for n, numbers in enumerate(lines):     # layers beside their standard twins, and the ratios
        cells.append(comparison.sub(n, 2, 1, len(numbers)))
        expected.extend(numbers)
    return _check_blocks(table.sheet, cells, np.array(expected, dtype=float), values)


def _check_blocks(stage, blocks, expected, values, scale_of=None):
    """Compare cells of ``blocks`` (in order, row-major) with ``expected`` read in the same order.

    The tolerance is 1e-9 x the largest absolute value of ``expected`` (or of ``scale_of``).
    """
    expected = np.asarray(expected, dtype=float).reshape(-1)
    tolerance = _tolerance(np.ravel(expected if scale_of is None else scale_of).tolist())
    worst, worst_cell, count, ok = 0.0, "", 0, True
    for block in blocks:
        grid = values[block.sheet]
        for _, _, row, col in block.cells():
            want = expected[count]
            got = _number(_get(grid, row, col))
            count += 1
            if got is None:
                error, ok = math.inf, False
            else:
                error = abs(got - want)
                ok = ok and error <= tolerance
            if error > worst or not worst_cell:
                worst, worst_cell = error, sheet_ref(block.sheet, row, col)
    return StageCheck(stage, count, worst, worst_cell, ok and count == expected.size, tolerance)


def _check_prediction(block, expected, values):
    got = _get(values[block.sheet], block.row, block.col)
    ok = got == expected     # text, exactly: a class called "01" is not the class "1"
    return StageCheck("prediction", 1, 0.0 if ok else math.inf, sheet_ref(block.sheet, block.row, block.col), ok)


def _error_cells(values):
    problems = []
    for sheet, grid in values.items():
        for r, row in enumerate(grid):
            for c, value in enumerate(row):
                if isinstance(value, str) and value.startswith(ERROR_VALUES):
                    problems.append(f"error value {value} in {sheet_ref(sheet, r, c)}")
    return problems[:20]


def _derived_blocks(layout):
    """Every block whose cells must be formulas."""
    for plan in layout.sheets:
        if plan.kind == "input" and plan.normalised is not None:
            yield from output_blocks(plan.normalised)
        if isinstance(plan, ScatterSheet):     # its reach map, output side and worked example
            yield from plan.derived()
        if plan.kind in LAYER_KINDS:
            yield from output_blocks(plan.output)
            if isinstance(plan, NormSheet):   # x^ as well as y
                yield from output_blocks(plan.normalised)
        elif isinstance(plan, FoldSheet):
            yield from all_blocks(plan.formula_parts())
        elif plan.kind == "filters":   # the taps of an effective kernel that hold a weight (holes are plain zeros)
            yield from (cell for _, _, cell, stored in plan.taps() if stored is not None)
        elif plan.kind in LAYER_TYPES:   # the probabilities' sheet (the other layers' are LAYER_KINDS)
            yield from LAYER_TYPES[plan.kind].formula_blocks(plan)
        elif plan.kind == "loss":
            yield from plan.derived()


def _not_formulas(book):
    """Derived cells that hold a typed-in value instead of a formula."""
    bad = []
    for block in _derived_blocks(book.layout):
        grid = book.formulas[block.sheet]
        for _, _, row, col in block.cells():
            value = _get(grid, row, col)
            if not (isinstance(value, str) and value.startswith("=")):
                bad.append(sheet_ref(block.sheet, row, col))
    if bad:
        return [f"{len(bad)} cell(s) that should be formulas hold plain values, first {bad[0]}"]
    return []


def _stale_values(book, values):
    """Stored results that differ from what the formulas compute (a viewer would show them).

    Every formula cell with a stored value in the workbook as read from disk (not the
    engine's copy) is compared with its recalculated value, at 1e-9 x the largest
    recalculated value of its sheet. Returns the problems and the finest tolerance used.
    """
    stale, finest = [], math.inf
    if not book.cached:
        return [], finest
    for sheet, grid in book.formulas.items():
        cells = [(r, c) for r, row in enumerate(grid) for c, value in enumerate(row)
                 if isinstance(value, str) and value.startswith("=")]
        cached, fresh = book.cached.get(sheet, []), values.get(sheet, [])
        stored = [(r, c, _get(cached, r, c)) for r, c in cells if _get(cached, r, c) is not None]
        if not stored:
            continue
        numbers = [n for n in (_number(_get(fresh, r, c)) for r, c in cells) if n is not None]
        tolerance = _tolerance(numbers)
        if numbers:     # a sheet of text formulas only (a link back) is compared exactly, at any rounding
            finest = min(finest, tolerance)
        stale.extend(sheet_ref(sheet, r, c) for r, c, old in stored
                     if not _same_value(old, _get(fresh, r, c), tolerance))
    if stale:
        return [f"{len(stale)} stored value(s) differ from their recalculated formulas, first {stale[0]}"], finest
    return [], finest
