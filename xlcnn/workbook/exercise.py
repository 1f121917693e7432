"""Exercise mode: a few cells of every stage hidden behind "?" for students to work out.

The hidden cells keep their formulas, so the network and the verifier are untouched;
the sheet is protected so the formula and its value stay out of sight, and a small
table beside the worked example takes the student's answers and checks them.
"""

import numpy as np
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import PatternFill, Protection

from . import styles
from .common import cell_at, put_formula, put_text

TOLERANCE = 0.005      # answers are read off cells shown with two decimals
RIGHT_FILL = PatternFill("solid", fgColor="C6EFCE")
WRONG_FILL = PatternFill("solid", fgColor="FFC7CE")


def add_exercises(ctx, wb, reference):
    """Hide EXERCISES cells on every sheet with a worked example; ``reference`` is the engine's forward pass."""
    texts = ctx.texts["exercise"]
    for number, plan in enumerate(ctx.layout.sheets):
        if "explain" not in plan.blocks:
            continue
        ws = wb[plan.name]
        table = plan.blocks["explain"]["exercise"]
        values = reference.stages[plan.layer].output
        targets = _pick_cells(values, table.height, np.random.default_rng(number))
        put_text(ws, table.row - 2, table.col, texts["title"], styles.LABEL_FONT)
        put_text(ws, table.row - 1, table.col, texts["instructions"].format(tolerance=TOLERANCE))
        for n, position in enumerate(targets):
            target = _cell_of(plan, position)
            _hide(ws, target)
            label = (texts["cell"].format(k=position[0] + 1, i=position[1] + 1, j=position[2] + 1)
                     if len(position) == 3 else texts["item"].format(n=position[0] + 1))
            put_text(ws, table.row + n, table.col, label)
            answer, check = table.sub(n, 1, 1, 1), table.sub(n, 2, 1, 1)
            cell = cell_at(ws, answer.row, answer.col)
            cell.fill, cell.protection = styles.PARAM_FILL, Protection(locked=False)
            formula = (f'=IF({answer.ref()}="","",IF(ABS({answer.ref()}-{target.ref()})<={TOLERANCE},'
                       f'"{texts["right"]}","{texts["wrong"]}"))')
            put_formula(ctx, ws, check, formula).protection = Protection(locked=True, hidden=True)
            ws.conditional_formatting.add(check.range(), FormulaRule(formula=[f'{check.a1(0, 0)}="{texts["right"]}"'],
                                                                     fill=RIGHT_FILL))
            ws.conditional_formatting.add(check.range(), FormulaRule(formula=[f'{check.a1(0, 0)}="{texts["wrong"]}"'],
                                                                     fill=WRONG_FILL))
        ws.protection.sheet = True   # no password: it keeps answers out of sight, it is not security


def _pick_cells(values, count, rng):
    """Positions of ``count`` cells, preferring ones whose value is not (near) zero."""
    flat = np.abs(values).reshape(-1)
    candidates = np.flatnonzero(flat > 0.01)
    if len(candidates) < count:
        candidates = np.arange(flat.size)
    chosen = np.sort(rng.choice(candidates, size=min(count, len(candidates)), replace=False))
    return [np.unravel_index(index, values.shape) for index in chosen]


def _cell_of(plan, position):
    output = plan.blocks["output"]
    if hasattr(output, "maps"):
        k, i, j = position
        return output.interior(int(k)).sub(int(i), int(j), 1, 1)
    return output.item(int(position[0]))


def _hide(ws, block):
    """Show "?" instead of the value, and hide the formula once the sheet is protected."""
    cell = cell_at(ws, block.row, block.col)
    cell.number_format = '"?";"?";"?"'
    cell.fill = styles.PARAM_FILL
    cell.protection = Protection(locked=True, hidden=True)
