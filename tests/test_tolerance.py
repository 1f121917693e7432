"""A tolerance that bites: each stage within 1e-9 x its own largest value, in every engine."""

import numpy as np
import openpyxl
import pytest

from xlcnn import make_workbook, verify_workbooks
from xlcnn.cells import sheet_ref
from xlcnn.engine import loss_and_gradients
from xlcnn.resources import sample_photos
from xlcnn.verify import _read_book

pytestmark = pytest.mark.usefixtures("libreoffice", "gnumeric")


def _cell(block, i=0, j=0):
    """openpyxl's 1-based (row, column) of cell (i, j) of a block."""
    row, col = block.cell(i, j)
    return row + 1, col + 1


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    """The three workbooks below, verified in both engines with one start of each: {name: (details, reports)}."""
    folder = tmp_path_factory.mktemp("tolerance")
    books = {"gradient": _gradient_off_by_a_thousandth(folder / "grad.xlsx")}
    path, layout = _tiny_book(folder / "tiny.xlsx")
    books["tiny"] = (path, layout)
    books["tiny off"] = _tiny_off_by_a_thousandth(path, layout, folder / "tiny-off.xlsx")
    reports = verify_workbooks([details[0] for details in books.values()], engine="all")
    return {name: (details, reports[2 * n:2 * n + 2]) for n, (name, details) in enumerate(books.items())}


def _gradient_off_by_a_thousandth(path):
    """A confident prediction (loss 3e-7) has gradients of 1e-7 and below: one of them times 1.001 is
    off by less than 1e-9, which an absolute tolerance of 1e-9 let through."""
    path = make_workbook(sample_photos()[2], path, steps=1).path
    book = _read_book(path)
    upstream = []
    _, grads, _ = loss_and_gradients(book.model, book.pixels[None], np.array([book.label]), upstream)
    largest = max([np.abs(u).max() for u in upstream] + [np.abs(v).max() for g in grads for v in g.values()])
    index, plan = min((i, p) for i, p in book.layout.gradients[0].items() if getattr(p, "input", None) is not None)
    grad = upstream[index - 1][0]
    # 0.1% of the cell is under 1e-9, yet over 3 x 1e-9 x the largest gradient anywhere
    small = (1e-3 * np.abs(grad) < 1e-9) & (1e-3 * np.abs(grad) > 3e-9 * largest)
    c, i, j = next(zip(*np.nonzero(small)))
    block = plan.input.interior(c)
    wb = openpyxl.load_workbook(path)
    target = wb[plan.name].cell(*_cell(block, i, j))
    target.value = f"=({target.value[1:]})*1.001"
    wb.save(path)
    return path, plan.name, sheet_ref(plan.name, *block.cell(i, j)), 1e-3 * abs(grad[c, i, j])


def test_a_small_gradient_off_by_a_thousandth_is_caught(verified):
    (_, stage, where, error), reports = verified["gradient"]
    assert len(reports) == 2
    for report in reports:
        check = next(c for c in report.checks if c.stage == stage)
        assert not check.ok and check.worst_cell == where, report.table()
        assert check.max_error == pytest.approx(error, rel=1e-3)
        assert check.tolerance < check.max_error < 1e-9


def _tiny_book(path):
    """The default workbook with an input scale of 2e-15 and no conv biases: maps of about 1e-12."""
    path = make_workbook(sample_photos()[0], path).path
    layout = _read_book(path).layout
    wb = openpyxl.load_workbook(path)
    ws = wb[layout.sheet("input").name]
    ws.cell(*_cell(layout.sheet("input").scale)).value = 2e-15
    ws = wb[layout.sheet("filters", 0).name]
    for bias in layout.sheet("filters", 0).bias:
        ws.cell(*_cell(bias)).value = 0
    wb.save(path)
    return path, layout


def _tiny_off_by_a_thousandth(path, layout, copy):
    conv = layout.sheet("conv2d", 0)
    wb = openpyxl.load_workbook(path)
    cell = wb[conv.name].cell(*_cell(conv.output.interior(1), 5, 7))
    cell.value = f"=({cell.value[1:]})*1.001"
    wb.save(copy)
    return copy, layout


def test_tiny_stages_are_compared_at_full_precision(verified):
    """LibreOffice's CSV keeps 8 digits of 1e-12; verify reads an .xlsx copy for such stages and still bites."""
    ((_, layout), reports), (_, off_reports) = verified["tiny"], verified["tiny off"]
    conv = layout.sheet("conv2d", 0)
    assert len(reports) == len(off_reports) == 2
    for report in reports:
        assert report.ok, report.table()
        check = next(c for c in report.checks if c.stage == conv.name)
        assert check.tolerance < 1e-20
    for report in off_reports:
        check = next(c for c in report.checks if c.stage == conv.name)
        assert not check.ok, report.table()
        assert check.worst_cell == sheet_ref(conv.name, *conv.output.interior(1).cell(5, 7))
