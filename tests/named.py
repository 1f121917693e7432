"""Reading values back: a workbook-level defined name's, as the tests that check names do, and one cell of
what an engine recalculated, as a verify report keeps it."""

import numpy as np
from openpyxl.utils.cell import range_boundaries

from xlcnn.verify import _number


def named_values(wb, name, recalculated=None):
    """The values of the range a defined name points at, as a 2-D float array (a single cell: 1 x 1).

    Read from ``wb``'s own cells, or from ``recalculated`` when given: {sheet: grid}, zero-based, the
    values an engine recalculated as a verify report keeps them (``verify_workbooks(keep_values=True)``).
    """
    sheet, ref = next(iter(wb.defined_names[name].destinations))
    if recalculated is not None:
        first_col, first_row, last_col, last_row = range_boundaries(ref.replace("$", ""))
        grid = recalculated[sheet]
        return np.array([[_number(grid[r][c]) for c in range(first_col - 1, last_col)]
                         for r in range(first_row - 1, last_row)], dtype=float)
    cells = wb[sheet][ref.replace("$", "")]
    rows = cells if isinstance(cells, tuple) else ((cells,),)
    return np.array([[cell.value for cell in row] for row in rows], dtype=float)


def recalculated_value(grid, row, col):
    """A recalculated cell (zero-based) of ``grid`` (a verify report's ``values[sheet]``), CSV text or an .xlsx
    copy's value: numbers as floats, other text as it is, None beyond the grid."""
    value = grid[row][col] if row < len(grid) and col < len(grid[row]) else None
    number = _number(value)
    return value if number is None else number
