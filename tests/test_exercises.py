"""Exercises that teach, read back from the .xlsx: nothing gives a hidden answer away, every one is short.

A hidden cell is one shown as "?" (its number format). The rules checked:
- on every protected sheet the only unlocked cells are the answer cells;
- every sheet holding a "?" is protected, and every "?" is locked, its formula hidden, uncoloured
  (no fill, no colour-scale range covering it);
- no visible cell copies a "?" (a formula reading one cell or range that holds it) and shows the
  same number within the answer tolerance;
- worked examples are locked at the first cell, and no "?" sits where one reads;
- every exercise is a handful of terms.
"""

import json
import re
from typing import NamedTuple

import openpyxl
import pytest
from openpyxl.utils.cell import column_index_from_string, range_boundaries

from books import shared_book
from xlcnn.layout import plan_layout
from xlcnn.plans import example_of, output_of
from xlcnn.network import layer_from_dict
from xlcnn.resources import sample_photos, texts
from xlcnn.workbook.exercise import TOLERANCE
from xlcnn.xlsxread import read_workbook

HIDDEN = '"?";"?";"?"'
HANDFUL = 5          # products a dense exercise may ask for, at most
TERMS_BY_HAND = 27   # products of a convolution answer, at most (3 channels x 3 x 3)
REF = re.compile(r"(?:'((?:[^']|'')+)'!|([A-Za-z0-9_]+)!)?\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?")
CHECK = re.compile(r'^=IF\(([A-Z]+\d+)="",""')

BOOKS = {
    "default": dict(),
    "default-steps": dict(steps=1),
    "lenet-zh": dict(preset="lenet-like", size=16, lang="zh"),
    "one-by-one": dict(preset="one-by-one", size=14),
    # pooling windows that leave the last rows out: a hidden cell there is read by no window
    "ragged-pool": dict(arch="conv3x3x2-p1,leakyrelu0.2,maxpool3,dense", size=11, steps=1),
}


class Book(NamedTuple):
    wb: openpyxl.Workbook    # as written: formulas, formats, protection
    values: dict             # {sheet: rows of stored values, zero-based}
    hidden: dict             # {sheet: its cells shown as "?"}


@pytest.fixture(scope="module", params=sorted(BOOKS))
def book(request, tmp_path_factory):
    """The stored values come from xlcnn's one-pass reader, which reads them as openpyxl does (test_xlsxread) in
    less time; the hidden cells are found once, as three tests ask for them."""
    path = shared_book(tmp_path_factory, photo=sample_photos()[1], exercise=True, **BOOKS[request.param])
    wb = openpyxl.load_workbook(path)
    hidden = {ws.title: [c for row in ws.iter_rows() for c in row if c.number_format == HIDDEN] for ws in wb.worksheets}
    return Book(wb, read_workbook(path).values, hidden)


def stored(values, cell):
    """The value stored in ``cell`` (a cell of the book as written), from ``values`` (Book.values)."""
    grid = values[cell.parent.title]
    r, c = cell.row - 1, cell.column - 1
    return grid[r][c] if r < len(grid) and c < len(grid[r]) else None


def references(formula, own):
    """(sheet, min_col, min_row, max_col, max_row) of every cell or range a formula reads."""
    for quoted, plain, c1, r1, c2, r2 in REF.findall(formula):
        sheet = (quoted.replace("''", "'") or plain or own)
        if plain and not quoted and plain.upper() in ("LN", "EXP"):
            continue
        a, b = column_index_from_string(c1), int(r1)
        yield sheet, a, b, column_index_from_string(c2) if c2 else a, int(r2) if r2 else b


def test_only_answer_cells_are_unlocked_on_protected_sheets(book):
    wb = book.wb
    protected = [ws for ws in wb.worksheets if ws.protection.sheet]
    assert protected
    for ws in protected:
        answers = {m.group(1) for row in ws.iter_rows() for c in row
                   if isinstance(c.value, str) and (m := CHECK.match(c.value))}
        unlocked = {c.coordinate for row in ws.iter_rows() for c in row if c.protection.locked is False}
        assert unlocked == answers, (ws.title, unlocked - answers)


def test_hidden_cells_are_protected_and_uncoloured(book):
    wb = book.wb
    count = 0
    for ws in wb.worksheets:
        hidden = book.hidden[ws.title]
        count += len(hidden)
        if not hidden:
            continue
        assert ws.protection.sheet, ws.title
        for cell in hidden:
            assert cell.value.startswith("=") and cell.protection.locked and cell.protection.hidden
            assert cell.fill.fill_type is None, (ws.title, cell.coordinate)
        for cf in ws.conditional_formatting:
            if not any(rule.colorScale is not None for rule in cf.rules):
                continue
            for piece in cf.sqref.ranges:
                a, b, c, d = range_boundaries(str(piece))
                covered = [h.coordinate for h in hidden if b <= h.row <= d and a <= h.column <= c]
                assert not covered, (ws.title, str(piece), covered)
    assert count >= 4


def test_no_visible_cell_shows_a_hidden_value(book):
    wb, values = book.wb, book.values
    hidden = {(ws.title, h.column, h.row): stored(values, h) for ws in wb.worksheets for h in book.hidden[ws.title]}
    # a formula can read a "?" only on its own sheet or by naming a sheet that holds one: the others (most of
    # them) need no parsing
    names = {name for name, _, _ in hidden}
    spelt = {text for name in names for text in (name, name.replace("'", "''"))}
    copies = 0
    for ws in wb.worksheets:
        own = ws.title in names
        for row in ws.iter_rows():
            for cell in row:
                if not (isinstance(cell.value, str) and cell.value.startswith("=")):
                    continue
                if not (own or any(text in cell.value for text in spelt)) or cell.number_format == HIDDEN:
                    continue
                refs = list(references(cell.value, ws.title))
                if len(refs) != 1:       # a copy reads one cell or one window
                    continue
                sheet, a, b, c, d = refs[0]
                shown = stored(values, cell)
                for (name, col, r), value in hidden.items():
                    if name == sheet and a <= col <= c and b <= r <= d and isinstance(shown, (int, float)):
                        copies += 1
                        assert abs(shown - value) > TOLERANCE, (f"{ws.title}!{cell.coordinate} shows {shown}, "
                                                                 f"the hidden {name} cell holds {value}")
    assert copies   # the rule was exercised: the cells after a "?" do read it


def _plan(wb):
    meta = {row[0].value: json.loads(row[1].value) for row in wb["xlcnn"].iter_rows()}
    layers = [layer_from_dict(d) for d in meta["architecture"]]
    titles = texts(meta.get("lang", "en"))["step_titles"]
    return layers, plan_layout(layers, tuple(meta["input_shape"]), meta["class_names"], titles, meta.get("steps", 0))


def test_worked_examples_are_locked_away_from_the_answers(book):
    """Each worked example is locked at the first cell; no "?" is that cell or in the window the next
    sheet's example reads (a conv: every map's top-left span minus padding; a pool: map 1's first window)."""
    wb = book.wb
    layers, layout = _plan(wb)
    for plan in layout.sheets:
        explain = example_of(plan)
        if explain is None or not wb[plan.name].protection.sheet:
            continue
        ws = wb[plan.name]
        choose = explain.choose
        for n in range(choose.height):
            cell = ws.cell(choose.row + n + 1, choose.col + 1)
            assert cell.value == 1 and cell.protection.locked, (plan.name, cell.coordinate)
    for plan in layout.sheets:
        out = output_of(plan)
        if not hasattr(out, "maps"):
            continue
        following = layers[plan.layer + 1] if plan.layer is not None and plan.layer + 1 < len(layers) else None
        for h in book.hidden[plan.name]:
            k = next(k for k in range(out.shape[0]) if out.interior(k).row <= h.row - 1 <= out.interior(k).last_row)
            i, j = h.row - 1 - out.interior(k).row, h.column - 1 - out.interior(k).col
            assert (k, i, j) != (0, 0, 0), (plan.name, h.coordinate)
            if following is not None and following.kind == "conv2d":
                reach = following.span - following.padding
                assert not (i < reach and j < reach), (plan.name, h.coordinate)
            if following is not None and following.kind in ("maxpool2d", "avgpool2d"):
                assert not (k == 0 and i < following.size and j < following.size), (plan.name, h.coordinate)


def test_every_exercise_is_a_handful_of_terms(book):
    """A "?" of a conv sheet has at most TERMS_BY_HAND products; other answers name their few terms."""
    wb = book.wb
    layers, layout = _plan(wb)
    for plan in layout.pass_sheets(0):
        if example_of(plan) is None:
            continue
        ws = wb[plan.name]
        checks = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str) and CHECK.match(c.value)]
        assert len(checks) == 2, plan.name
        for check in checks:
            truth = re.search(r"ABS\([A-Z]+\d+-\((.*)\)\)<=", check).group(1)
            if plan.kind == "dense":
                assert 1 <= truth.count("*") <= HANDFUL, truth
            elif "SUMPRODUCT" in truth:       # one channel's part of a long convolution sum
                layer = layers[plan.layer]
                assert layer.kernel ** 2 <= TERMS_BY_HAND and truth.count("SUMPRODUCT") == 1
            else:                             # a whole cell, shown as "?"
                target = ws[truth]
                assert target.number_format == HIDDEN
                if plan.kind == "conv2d":
                    layer = layers[plan.layer]
                    source = layout.input_of(plan.layer)
                    assert source.shape[0] * layer.kernel ** 2 <= TERMS_BY_HAND


def test_exercise_labels_have_their_row_to_themselves(book):
    """A label is never cut by the answer cell: nothing stands to its right on its row for a long way."""
    wb = book.wb
    _, layout = _plan(wb)
    for plan in layout.pass_sheets(0):
        if example_of(plan) is None:
            continue
        ws, table = wb[plan.name], example_of(plan).exercise
        for n in range(0, table.height, 2):
            row = table.row + n + 1
            label = ws.cell(row, table.col + 1)
            assert isinstance(label.value, str) and label.value
            assert all(ws.cell(row, col).value is None for col in range(table.col + 2, table.col + 40))
