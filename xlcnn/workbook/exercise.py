"""Exercise mode: on every stage with a worked example, two numbers for students to work out by hand.

An exercise is either a cell of the stage hidden behind "?" (a pooling window, an
activation, a layer with filters with few terms) or, where the whole cell would be a long sum,
a part of it: one channel of a filter's cell, a handful of products of a fully connected output.
Hidden cells keep their formulas, so the network and the verifier are untouched.

Nothing may give a hidden answer away (planned before any sheet is written):
- the worked example is locked at the first cell, so no hidden cell sits where it, or the
  next layer's worked example, reads;
- a later cell that shows the same number (a switch passing a positive cell, the largest cell
  of a window, a cell moved into a column, the same cell after a descent step) is hidden too;
- colour scales leave hidden cells out (``cells_of(ws).hidden``), so "?" carries no colour;
- every sheet holding a hidden cell is protected with only the answer cells unlocked.
"""

from dataclasses import dataclass, field
from itertools import islice

import numpy as np
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import PatternFill, Protection

from .. import lesson_formulas as lf
from ..plans import example_of, output_of
from ..cells import Block
from . import styles
from .common import UNLOCKED, cell_at, put_formula, put_text
from .sheetdata import cells_of

TOLERANCE = 0.005      # answers are read off cells shown with two decimals
TERMS_BY_HAND = 27     # a filter's cell with more products (C x F x F) is asked for one channel's part
HANDFUL = 4            # products in a fully connected layer's exercise
HIDDEN_FORMAT = '"?";"?";"?"'
RIGHT_FILL = PatternFill("solid", fgColor="C6EFCE")
WRONG_FILL = PatternFill("solid", fgColor="FFC7CE")
LOCKED_HIDDEN = Protection(locked=True, hidden=True)


@dataclass
class Target:
    label: str
    truth: str                  # formula text (no "=") of the right answer (``lesson_formulas.exercise_cell``, a kind's
                                #   ``exercise_part_formula``)
    hidden: Block | None = None  # the stage cell shown as "?", when the answer is a whole cell


@dataclass
class ExercisePlan:
    targets: dict = field(default_factory=dict)   # sheet name -> [Target]
    hidden: dict = field(default_factory=dict)    # sheet name -> {(row, col)}: every "?" cell, targets and copies


def plan_exercises(ctx, passes, count):
    """Choose ``count`` exercises on every first-pass sheet with a worked example; ``passes`` are the
    engine's forward passes, one per pass of the workbook."""
    layout, model = ctx.layout, ctx.model
    views = [layout, *layout.passes]
    plan = ExercisePlan()
    for number, sheet in enumerate(layout.sheets):
        if example_of(sheet) is None or sheet not in layout.pass_sheets(0):
            continue
        rng = np.random.default_rng(number)
        if model.layers[sheet.layer].fully_connected:
            plan.targets[sheet.name] = [_unit_part(ctx, sheet, passes[0], rng, plan.hidden) for _ in range(count)]
            continue
        values = passes[0].stages[sheet.layer].output

        def copies(position, layer=sheet.layer, values=values):
            return _copies(model.layers, views, passes, layer, position, values[position])
        chosen = _pick_cells(values, count, rng,
                             lambda position: _clear(model.layers, sheet.layer, position, copies(position)))
        plan.targets[sheet.name] = [_map_target(ctx, sheet, position, values, rng) for position in chosen]
        for position, target in zip(chosen, plan.targets[sheet.name]):
            if target.hidden is not None:
                _mark(plan, target.hidden)
                for block in sheet.shown_with(position):   # a step of the same cell shown beside it (x^)
                    _mark(plan, block)
                _mark_picture(plan, layout, sheet.layer, position)
                for view, layer, at in copies(position):
                    _mark(plan, _cell_of(view.sheet_of(layer), at))
                    if view is layout:
                        _mark_picture(plan, layout, layer, at)
    return plan


def mark_hidden(wb, plan):
    """Tell each sheet's store which cells are hidden, before any colour scale is written."""
    for name, cells in plan.hidden.items():
        cells_of(wb[name]).hidden |= cells


def add_exercises(ctx, wb, plan):
    """Write the exercise tables, show every hidden cell as "?", and protect the sheets that hold them."""
    texts = ctx.texts["exercise"]
    answers = set()
    for name, targets in plan.targets.items():
        ws = wb[name]
        example = next(p for p in ctx.layout.sheets if p.name == name).explain
        put_text(ws, *example.exercise_title.cell(0, 0), texts["title"], styles.LABEL_FONT)
        put_text(ws, *example.exercise_instructions.cell(0, 0), texts["instructions"].format(tolerance=TOLERANCE))
        for n, target in enumerate(targets):
            # the name on a row of its own, so nothing cuts it; the answer and its check below it
            put_text(ws, *example.exercise_label(n).cell(0, 0), target.label, styles.LABEL_FONT)
            answer, check = example.answer(n), example.check(n)
            cell = cell_at(ws, *answer.cell(0, 0))
            cell.fill, cell.protection = styles.PARAM_FILL, UNLOCKED
            answers.add(cell)
            formula = lf.exercise_check(answer, target.truth, TOLERANCE, texts["right"], texts["wrong"])
            put_formula(ctx, ws, check, formula).protection = LOCKED_HIDDEN
            for word, fill in (("right", RIGHT_FILL), ("wrong", WRONG_FILL)):
                ws.conditional_formatting.add(check.range(),
                                              FormulaRule(formula=[lf.exercise_mark_rule(check, texts[word])], fill=fill))
    for name, cells in plan.hidden.items():
        for row, col in cells:
            cell = cell_at(wb[name], row, col)
            cell.number_format, cell.fill, cell.protection = HIDDEN_FORMAT, None, LOCKED_HIDDEN
    for name in {*plan.targets, *plan.hidden}:
        _protect(wb[name], answers)


# ---------------------------------------------------------------- private


def _protect(ws, answers):
    """Protect the sheet with only the ``answers`` (store cells) open: the worked example's
    position and every weight are locked, so nothing can be pointed at a "?"."""
    for row in cells_of(ws).rows.values():
        for cell in row.values():
            if cell in answers or cell.protection is None or cell.protection.locked:
                continue
            cell.protection = None
            if cell.fill is styles.PARAM_FILL:   # yellow means "type here": only the answers keep it
                cell.fill = None
    ws.protection.sheet = True   # no password: it keeps answers out of sight, it is not security


def _pick_cells(values, count, rng, clear):
    """Positions of ``count`` cells that give nothing away, preferring ones whose value is not (near) zero."""
    flat = np.abs(values).reshape(-1)
    order = rng.permutation(flat.size)
    positions = list(zip(*(axis.tolist() for axis in np.unravel_index(order, values.shape))))   # (int, ...) each
    awake = (p for p in positions if flat[np.ravel_multi_index(p, values.shape)] > 0.01 and clear(p))
    chosen = list(islice(awake, count))   # lazily: a big map has far more cells than it needs to look at
    if len(chosen) < count:
        chosen += list(islice((p for p in positions if p not in chosen and clear(p)), count - len(chosen)))
    return sorted(chosen)


def _clear(layers, layer, position, copies):
    """Whether no worked example shows the position or a copy of its value.

    Worked examples are locked at the first cell: each shows that cell of its own sheet
    and reads a window at the top-left corner of the sheet before it.
    """
    return not any(at == (0, 0, 0) or _read_by_next_example(layers, index, at)
                   for index, at in [(layer, position), *((index, at) for _, index, at in copies)])


def _read_by_next_example(layers, index, at):
    """Whether the worked example of layer ``index + 1`` reads cell ``at`` of layer ``index``'s output."""
    if index + 1 >= len(layers) or len(at) != 3:
        return False
    return layers[index + 1].example_reads(tuple(at))


def _copies(layers, views, passes, layer, position, value):
    """Every (view, layer, position) of a later cell showing ``value`` as is (within TOLERANCE)."""
    found = []
    for step, (view, reference) in enumerate(zip(views, passes)):
        outputs = [stage.output for stage in reference.stages]
        if step and abs(outputs[layer][position] - value) <= TOLERANCE:
            found.append((view, layer, position))   # the same cell after a descent step
        at, index = position, layer
        while index + 1 < len(layers):
            at = layers[index + 1].copied_cell(view.sheet_of(index + 1), at)
            index += 1
            if at is None or abs(outputs[index][at] - value) > TOLERANCE:
                break
            found.append((view, index, at))
    return found


def _cell_of(plan, position):
    output = output_of(plan)
    if hasattr(output, "maps"):
        return output.at(*(int(n) for n in position))
    return output.item(int(position[0]))


def _mark(plan, block):
    plan.hidden.setdefault(block.sheet, set()).add((block.row, block.col))


def _mark_picture(plan, layout, layer, position):
    """Hide the overview's picture cell that summarises a hidden map cell: it may show it as is."""
    if len(position) != 3:
        return
    for pictures in layout.sheets[0].pictures:
        cell = pictures.cell_for(*(int(n) for n in position)) if pictures.layer == layer else None
        if cell is not None:
            _mark(plan, cell)


def _map_target(ctx, sheet, position, values, rng):
    """A whole cell of a map sheet, or (for a long sum over filters) one channel's part of it."""
    texts = ctx.texts["exercise"]
    k, i, j = position
    label = texts["cell"].format(k=k + 1, i=i + 1, j=j + 1)
    cell = _cell_of(sheet, position)
    layer = ctx.model.layers[sheet.layer]
    if not layer.has_filters:
        return Target(label, lf.exercise_cell(cell), cell)
    source = ctx.layout.input_of(sheet.layer)
    channels = source.shape[0]
    filters = ctx.layout.sheet("filters", sheet.layer)
    reads = filters.reads(k)     # the channels filter k sums over: every one, or its group's
    if len(reads) * layer.kernel * layer.kernel <= TERMS_BY_HAND:
        return Target(label, lf.exercise_cell(cell), cell)
    part = int(rng.integers(len(reads)))
    c = reads[part]
    window = sheet.window(c, i, j)
    scale = ctx.scale_for(sheet.layer)
    truth = layer.exercise_part_formula(window, filters.kernels[k][part], scale)
    name = ctx.channel_labels(channels)[c] if sheet.layer == 0 else f"{ctx.texts['explain']['map']} {c + 1}"
    return Target(texts["channel_part"].format(k=k + 1, i=i + 1, j=j + 1, c=name), truth)


def _unit_part(ctx, sheet, reference, rng, hidden):
    """A handful of one output's products, input x weight, at inputs that are not zero.

    The output is not the one the worked example explains (its products are shown there),
    and no input is one shown as "?" (``hidden``: sheet -> cells) for an earlier exercise.
    """
    source, layer = ctx.layout.input_of(sheet.layer), ctx.model.layers[sheet.layer]
    inputs = reference.stages[sheet.layer - 1].output.reshape(-1)
    units = sheet.output.size
    n = int(rng.integers(1, units)) if units > 1 else 0
    shown = np.array([source.item(i).cell(0, 0) not in hidden.get(source.sheet, ()) for i in range(inputs.size)])
    awake = np.flatnonzero((np.abs(inputs) > 0.01) & shown)
    pool = awake if len(awake) >= HANDFUL else np.flatnonzero(shown)
    picked = sorted(int(x) for x in rng.choice(pool, size=min(HANDFUL, pool.size), replace=False))
    scale = ctx.scale_for(sheet.layer)
    truth = layer.exercise_part_formula([source.item(i) for i in picked], [sheet.weight_cell(i, n) for i in picked], scale)
    names = ctx.model.class_names if ctx.model.classifier and units == len(ctx.model.class_names) else None
    unit = names[n] if names else f"{ctx.texts['exercise']['item'].format(n=n + 1)}"
    label = ctx.texts["exercise"][layer.exercise_word].format(unit=unit, inputs=", ".join(str(i + 1) for i in picked))
    return Target(label, truth)
