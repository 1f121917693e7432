"""The workbook as written: sheets, names, validation, styles, limits; no spreadsheet engine needed."""

import openpyxl
import pytest
from conftest import make_photo
from some_sheets import load_sheets

from xlcnn.errors import OutputError, ShapeError, UsageError
from xlcnn.layout import plan_layout
from xlcnn.network import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax, random_model
from xlcnn.workbook import build_workbook, sheetdata

NINE_STEPS = ["1 Input", "2 Filters", "3 Conv", "4 ReLU", "5 Pool", "6 Flatten", "7 Dense", "8 Softmax", "9 Loss",
              "10 Summary"]


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """Built and read once for the tests that only look at it (the same picture as photo_array)."""
    result = build_workbook(random_model(seed=0), make_photo(28), tmp_path_factory.mktemp("book") / "book.xlsx",
                            label="square")
    return result, openpyxl.load_workbook(result.path)


def test_one_sheet_per_step_in_story_order(book):
    result, wb = book
    assert result.sheets == ["Overview"] + NINE_STEPS + ["Manifest"]
    assert wb.sheetnames == ["Overview"] + NINE_STEPS + ["Manifest", "xlcnn"]
    assert wb["xlcnn"].sheet_state == "hidden"
    assert wb.active.title == "Overview"


def test_defined_names_point_at_the_results(book):
    _, wb = book
    names = {name: dn.attr_text for name, dn in wb.defined_names.items()}
    assert names["loss"] == "'9 Loss'!$B$16"
    assert names["true_label"] == "'9 Loss'!$B$10"
    assert names["prediction"].startswith("'8 Softmax'!")
    assert names["logits"] == "'8 Softmax'!$B$10:$B$12"
    assert names["probabilities"] == "'8 Softmax'!$E$10:$E$12"


def test_true_label_is_a_drop_down_of_the_class_names(book):
    _, wb = book
    ws = wb["9 Loss"]
    assert ws["B10"].value == "square"
    [dv] = ws.data_validations.dataValidation
    assert dv.type == "list" and "B10" in str(dv.sqref)
    assert dv.formula1 == "$B$12:$D$12"
    assert [ws.cell(12, c).value for c in (2, 3, 4)] == ["='8 Softmax'!A10", "='8 Softmax'!A11", "='8 Softmax'!A12"]


def test_every_sheet_explains_itself(book):
    _, wb = book
    for name in NINE_STEPS:
        ws = wb[name]
        assert ws["A1"].value.startswith(f"Step {name.split()[0]}:")
        assert ws["A2"].value and len(ws["A2"].value) > 30
        assert ws.freeze_panes


def test_load_sheets_reads_the_sheets_asked_for_as_load_workbook_does(book):
    """tests/some_sheets.py, which tests that look at a sheet or two read with: each of those sheets as the
    whole book holds it, its print settings bound to it, and the sheets left unread refuse to be read."""
    result, wb = book
    asked = load_sheets(result.path, lambda position, title: position == 0 or title in ("8 Softmax", "9 Loss"))
    assert [ws.title for ws in asked] == ["Overview", "8 Softmax", "9 Loss"]
    for ws in asked:
        whole = wb[ws.title]
        assert [[(c.value, c.number_format, c.protection.locked, c.fill.fgColor.rgb) for c in row] for row in ws.iter_rows()] == \
            [[(c.value, c.number_format, c.protection.locked, c.fill.fgColor.rgb) for c in row] for row in whole.iter_rows()]
        assert (ws.print_area, ws.print_title_rows, ws.freeze_panes, ws.sheet_state) == \
            (whole.print_area, whole.print_title_rows, whole.freeze_panes, whole.sheet_state)
        assert len(ws._images) == len(whole._images) and ws.merged_cells.ranges == whole.merged_cells.ranges
        assert ws.data_validations.dataValidation == whole.data_validations.dataValidation
        assert list(ws.conditional_formatting) == list(whole.conditional_formatting)
    assert len(asked[0]._images) == 1 and asked[2].data_validations.dataValidation and asked[1].print_area   # the photo
    with pytest.raises(AttributeError, match="not read"):
        asked[0].parent._sheets[1].cell(1, 1)


def test_pixels_are_constants_and_conv_cells_formulas(book, photo_array):
    _, wb = book
    ws = wb["1 Input"]
    assert ws["B11"].value == int(photo_array[0, 0, 0])          # red, row 0, col 0
    assert ws["B11"].value == int(photo_array[0, 0, 0])
    assert ws.cell(11 + 30, 2).value == int(photo_array[0, 0, 1])  # label + 28 rows + gap
    assert wb["3 Conv"]["B11"].value.startswith("=(SUMPRODUCT(")
    assert "untrained" in wb["1 Input"]["A8"].value.lower()


def test_heatmaps_on_every_matrix(book):
    _, wb = book
    for name in ("1 Input", "2 Filters", "3 Conv", "4 ReLU", "5 Pool", "6 Flatten", "7 Dense"):
        assert len(wb[name].conditional_formatting) > 0, name


def test_colour_view_shows_the_pixels(book, photo_array):
    _, wb = book
    ws = wb["1 Input"]
    r, g, b = (int(v) for v in photo_array[5, 7])
    cell = ws.cell(11 + 5, 1 + 28 + 2 + 1 + 7)
    assert cell.fill.fgColor.rgb.endswith(f"{r:02X}{g:02X}{b:02X}")


def test_formulas_stay_within_excel_limits(tmp_path, photo_array):
    layers = (Conv2D(8, 5, padding=2), ReLU(), MaxPool2D(2), Conv2D(16, 3, padding=1), ReLU(), MaxPool2D(2),
              Flatten(), Dense(3), Softmax())
    result = build_workbook(random_model(layers, image_size=28), photo_array, tmp_path / "deep.xlsx")
    wb = openpyxl.load_workbook(result.path)
    longest = max(len(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row
                  if isinstance(c.value, str) and c.value.startswith("="))
    assert longest < 8192
    assert max(ws.max_column for ws in wb.worksheets) < 16384


def test_padding_border_is_zero_and_read_by_formulas(tmp_path, photo_array):
    layers = (Conv2D(2, 3, padding=1), ReLU(), MaxPool2D(2), Flatten(), Dense(3), Softmax())
    result = build_workbook(random_model(layers), photo_array, tmp_path / "pad.xlsx")
    wb = openpyxl.load_workbook(result.path, read_only=True)     # reads only the sheets asked for
    ws = wb["1 Input"]
    assert ws["B11"].value == 0 and ws["C12"].value == int(photo_array[0, 0, 0])
    assert ws["B11"].fill.fgColor.rgb.endswith("D9D9D9")
    assert "'1 Input'!B11:D13" in wb["3 Conv"]["B11"].value
    wb.close()


def test_hostile_class_names_stay_text(tmp_path, photo_array):
    names = ('=HYPERLINK("http://x","y")', "=cmd|'/C calc'!A0", "+1+1")
    model = random_model(class_names=names, seed=0)
    result = build_workbook(model, photo_array, tmp_path / "h.xlsx")
    wb = openpyxl.load_workbook(result.path, read_only=True)
    cells = [wb["8 Softmax"].cell(10 + n, 1) for n in range(3)]
    assert [c.value for c in cells] == list(names)
    assert all(c.data_type == "s" for c in cells)
    wb.close()


def test_bad_label_and_output_are_refused_without_writing(tmp_path, photo_array):
    model = random_model(seed=0)
    with pytest.raises(UsageError, match="'dog'"):
        build_workbook(model, photo_array, tmp_path / "x.xlsx", label="dog")
    with pytest.raises(OutputError, match="does not exist"):
        build_workbook(model, photo_array, tmp_path / "missing" / "x.xlsx")
    with pytest.raises(UsageError, match=".xlsx"):
        build_workbook(model, photo_array, tmp_path / "x.csv")
    assert list(tmp_path.iterdir()) == []


def test_failed_build_leaves_the_old_file_intact(tmp_path, photo_array, monkeypatch):
    target = tmp_path / "keep.xlsx"
    build_workbook(random_model(seed=0), photo_array, target)     # an earlier build, to be kept
    old = target.read_bytes()

    def broken_save(wb, filename):
        open(filename, "wb").write(b"half")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(sheetdata, "save", broken_save)
    with pytest.raises(OutputError, match="No space left"):
        build_workbook(random_model(seed=0), photo_array, target)
    assert target.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["keep.xlsx"]


def test_layout_refuses_networks_beyond_excel_limits():
    with pytest.raises(ShapeError, match="rows"):
        plan_layout((Conv2D(200, 3), ReLU(), Flatten(), Dense(3), Softmax()), (3, 512, 512), ("a", "b", "c"))


def test_workbook_gets_ordinary_permissions(tmp_path, photo_array):
    import os
    import stat
    mask = os.umask(0)
    os.umask(mask)
    path = build_workbook(random_model(seed=0), photo_array, tmp_path / "shared.xlsx").path
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_overview_thumbnail_shows_a_16_bit_photo_not_a_white_square(tmp_path):
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    ramp = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)   # 0 .. 65520: clips to white if mishandled
    photo = tmp_path / "deep.png"
    Image.fromarray(ramp).save(photo)
    result = build_workbook(random_model(seed=0), np.zeros((28, 28, 3), np.uint8), tmp_path / "t.xlsx", source=photo)
    with zipfile.ZipFile(result.path) as z:
        name = next(n for n in z.namelist() if n.startswith("xl/media/"))
        picture = np.asarray(Image.open(io.BytesIO(z.read(name))).convert("L"), dtype=float)
    assert name.endswith(".jpeg")
    assert picture.std() > 20 and picture.min() < 60     # a ramp from dark to light
