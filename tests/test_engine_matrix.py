"""A matrix of workbooks: LibreOffice and Gnumeric both agree with NumPy, and with each other."""

import math

import pytest

from xlcnn import make_workbook, verify_workbooks
from xlcnn.cells import sheet_ref
from xlcnn.errors import ShapeError
from xlcnn.layout import check_backprop
from xlcnn.presets import load_preset, preset_names
from xlcnn.resources import sample_photos
from xlcnn.verify import _number, _read_grids

pytestmark = pytest.mark.usefixtures("libreoffice", "gnumeric")

SMALL = 12     # every preset fits at 12 pixels; the default network keeps its trained 28

def _can_backprop(name):
    """Whether the preset's network has gradient sheets (one dense layer last, stride 1)."""
    try:
        check_backprop(load_preset(name).network()[0])
    except ShapeError:
        return False
    return True


CASES = {
    **{f"preset-{name}": {"preset": name, "size": SMALL} for name in preset_names()},
    **{f"preset-{name}-backprop": {"preset": name, "size": SMALL, "steps": 1}
       for name in preset_names() if _can_backprop(name)},
    "default-backprop": {"steps": 1},
    "two-blocks-backprop": {"preset": "two-blocks", "size": SMALL, "steps": 2},
    "exercise": {"exercise": True},
    "zh": {"lang": "zh", "steps": 1},
}


# Hand-made filters leave rounding leftovers where a map is 0 on paper: ReLU's switch and max-pool
# routing must decide the same in every engine (the tie rule, layers.tie_margin).
SOBEL_CASES = {"sobel": "sobel-x,sobel-y", "edges": "vertical,horizontal", "laplacian": "laplacian,blur"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{name: path} of the matrix and of the hand-made-filter workbooks, built once."""
    folder = tmp_path_factory.mktemp("matrix")
    photo = sample_photos()[1]
    books = {name: make_workbook(photo, folder / f"{name}.xlsx", **options).path for name, options in CASES.items()}
    books.update({name: make_workbook(sample_photos()[0], folder / f"{name}.xlsx", filters=filters, steps=1).path
                  for name, filters in SOBEL_CASES.items()})
    return books


@pytest.fixture(scope="module")
def books(built):
    return [built[name] for name in CASES]


@pytest.fixture(scope="module")
def verified(built):
    """{path: [LibreOffice's report, Gnumeric's]} for every workbook: one LibreOffice start for all.

    Each report keeps the values its engine recalculated, which ``differences`` compares.
    """
    paths = list(built.values())
    reports = verify_workbooks(paths, engine="all", keep_values=True)   # one LibreOffice start, one ssconvert per book
    assert [(r.path, r.engine) for r in reports] == [(b, e) for b in paths for e in ("LibreOffice", "Gnumeric")]
    return {path: reports[2 * n:2 * n + 2] for n, path in enumerate(paths)}


@pytest.fixture(scope="module")
def differences(built, verified):
    """{path: (largest relative difference, where)} between the engines, from the values verify recalculated."""
    return {book: engine_difference(book, *(report.values for report in verified[book])) for book in built.values()}


def test_every_kind_of_workbook_verifies_in_both_engines(books, verified):
    for book in books:
        assert len(verified[book]) == 2
        for report in verified[book]:
            assert report.ok, report.table()


def engine_difference(book, lo_values, gn_values):
    """The largest |LibreOffice - Gnumeric| over the book's formula cells, relative to the largest value of its
    sheet, and where.

    The values are those each engine's report compared: its CSV at full precision where
    verify could trust it, else a recalculated .xlsx copy; text results must be identical.
    """
    worst, where = 0.0, ""
    for sheet, grid in _read_grids(book, data_only=False).items():
        cells = [(r, c) for r, row in enumerate(grid) for c, v in enumerate(row)
                 if isinstance(v, str) and v.startswith("=")]
        pairs = [(_cell(lo_values[sheet], r, c), _cell(gn_values[sheet], r, c), r, c) for r, c in cells]
        numbers = [abs(n) for a, _, _, _ in pairs if (n := _number(a)) is not None]
        scale = max(1e-300, max(numbers, default=0.0))
        for a, b, r, c in pairs:
            x, y = _number(a), _number(b)
            if x is None or y is None:
                assert _text(a) == _text(b), (book.name, sheet_ref(sheet, r, c), a, b)
                continue
            if abs(x - y) / scale > worst or not where:
                worst, where = abs(x - y) / scale, f"{book.name} {sheet_ref(sheet, r, c)}"
    return worst, where


def _text(value):
    """A result that is not a number as a CSV writes it: nothing is "", a boolean TRUE or FALSE."""
    return "" if value is None else str(value).upper() if isinstance(value, bool) else value


def largest(differences, books):
    return max((differences[book] for book in books), key=lambda found: (found[0], found[1]))


def _cell(grid, r, c):
    return grid[r][c] if r < len(grid) and c < len(grid[r]) else None


def test_libreoffice_and_gnumeric_agree_on_every_formula_cell(books, differences):
    worst, where = largest(differences, books)
    print(f"largest LibreOffice vs Gnumeric difference: {worst:.3g} of its sheet's largest value, at {where}")
    assert math.isfinite(worst) and worst < 1e-9, where


def test_hand_made_sobel_filters_with_backprop_verify_in_both_engines(built, verified, differences):
    books = [built[name] for name in SOBEL_CASES]
    for book in books:
        assert len(verified[book]) == 2
        for report in verified[book]:
            assert report.ok, report.table()
    worst, where = largest(differences, books)
    assert math.isfinite(worst) and worst < 1e-9, where
