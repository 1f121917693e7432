"""Reading a workbook-level defined name's values back, as the tests that check names do."""

import numpy as np


def named_values(wb, name):
    """The values of the range a defined name points at, as a 2-D float array (a single cell: 1 x 1)."""
    sheet, ref = next(iter(wb.defined_names[name].destinations))
    cells = wb[sheet][ref.replace("$", "")]
    rows = cells if isinstance(cells, tuple) else ((cells,),)
    return np.array([[cell.value for cell in row] for row in rows], dtype=float)
