"""Workbook round trips through LibreOffice: every stage equals NumPy, and tampering is caught."""

import re
import shutil
import zipfile
from types import SimpleNamespace

import numpy as np
import openpyxl
import pytest
from PIL import Image

from books import shared_book
from xlcnn import make_workbook, verify_workbook, verify_workbooks
from xlcnn.errors import WorkbookError
from xlcnn.libreoffice import recalculate
from xlcnn.network import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax, random_model
from xlcnn.resources import default_sample, sample_photos
from xlcnn.verify import _stale_values
from xlcnn.workbook import build_workbook

from conftest import make_photo

def assert_passes(report):
    assert report.ok, report.table()
    assert {c.stage for c in report.checks} >= {"logits", "probabilities", "loss", "prediction"}
    assert all(c.max_error <= 1e-9 * 1000 for c in report.checks)


def photo_files(folder):
    """The same kind of picture in many formats and modes, as users send them."""
    base = Image.fromarray(make_photo(90, seed=3))
    files = []

    def save(name, img, **kw):
        files.append(folder / name)
        img.save(files[-1], **kw)
    save("plain.jpg", base, quality=90)
    save("wide.png", base.resize((150, 60)))
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(base.size))
    save("alpha.png", rgba)
    save("gray.bmp", base.convert("L"))
    save("palette.gif", base.convert("P"))
    save("print.tif", base.convert("CMYK"))
    save("photo.webp", base)
    wide = (np.asarray(base.convert("L"), dtype=np.uint16) * 257)
    save("deep16.png", Image.fromarray(wide))
    return files


def test_samples_and_photos_of_every_format_verify(verified):
    """The default build of every shipped sample and of photos in every format (verified below, with the rest)."""
    photos = [key[1] for key in verified if isinstance(key, tuple)]
    assert len(photos) == len(sample_photos()) + 8
    for photo in photos:
        report = verified["photo", photo]
        assert_passes(report)
        if photo in sample_photos():     # the shipped model names every sample correctly
            assert report.prediction == photo.stem.split("-")[0], photo.name


SIZES = (9, 17, 64)
ARCHITECTURES = {
    "stride2-pad1": (Conv2D(3, 3, stride=2, padding=1), ReLU(), MaxPool2D(2), Flatten(), Dense(3), Softmax()),
    "two-blocks-padded": (Conv2D(4, 3, padding=1), ReLU(), MaxPool2D(2), Conv2D(6, 3, padding=1), ReLU(),
                          MaxPool2D(2), Flatten(), Dense(3), Softmax()),
    "overlapping-pool": (Conv2D(2, 5), ReLU(), MaxPool2D(3, 2), Flatten(), Dense(3), Softmax()),
}


def _edited(path, target, edit):
    """``target``: a copy of the workbook at ``path``, changed by ``edit(wb)`` as a student would."""
    wb = openpyxl.load_workbook(path)
    edit(wb)
    wb.save(target)
    return target


def _paint_and_change_a_weight(wb):
    ws = wb["1 Input"]
    for row in range(11, 25):                    # paint a block of red pixels white
        for col in range(2, 16):
            ws.cell(row, col).value = 255
    wb["2 Filters"]["B11"].value = 2.5           # and change one filter weight


def _set(sheet, cell, value):
    def edit(wb):
        wb[sheet][cell].value = value(wb[sheet][cell].value) if callable(value) else value
    return edit


@pytest.fixture(scope="module")
def verified(tmp_path_factory, libreoffice):
    """The workbooks of the tests in this module, verified with one LibreOffice start: {name: report}."""
    folder = tmp_path_factory.mktemp("verify")
    plain = shared_book(tmp_path_factory)     # the default sample's default book, verified once for both names
    # the format photos' names name no class, so they are given one: the loss is checked for every book
    books = {("photo", p): plain if p == default_sample() else
             make_workbook(p, folder / f"{p.stem}-{p.suffix[1:]}.xlsx",
                           label=None if p in sample_photos() else "circle").path
             for p in [*sample_photos(), *photo_files(folder)]}
    books.update({f"size {size}": make_workbook(sample_photos()[1], folder / f"s{size}.xlsx", size=size).path
                  for size in SIZES})
    for n, (name, layers) in enumerate(ARCHITECTURES.items()):
        model = random_model(layers, image_size=20, seed=n)
        books[name] = build_workbook(model, make_photo(20, seed=n), folder / f"{name}.xlsx", label="triangle").path
    model = random_model(seed=0)
    model.params[4]["weight"] *= 4000           # logits in the thousands
    model.params[4]["bias"][:] = [3000.0, -3000.0, 0.0]
    books["huge"] = build_workbook(model, make_photo(28), folder / "huge.xlsx", label="square").path
    model = random_model(class_names=("0", "1", "2.50"), seed=4)
    books["digits"] = build_workbook(model, make_photo(28, seed=5), folder / "digits.xlsx", label="2.50").path
    books["plain"] = plain
    books["edited"] = _edited(plain, folder / "edited.xlsx", _paint_and_change_a_weight)
    books["tampered"] = _edited(plain, folder / "tampered.xlsx", _set("3 Conv", "F20", lambda formula: formula + "+0.001"))
    books["pasted"] = _edited(plain, folder / "pasted.xlsx", _set("4 ReLU", "C12", 0.5))
    books["error"] = _edited(plain, folder / "error.xlsx", _set("4 ReLU", "B11", "=1/0"))
    circle = shared_book(tmp_path_factory, label="circle")
    books["relabelled"] = _edited(circle, folder / "relabelled.xlsx", _set("9 Loss", "B10", "triangle"))
    paths = list(dict.fromkeys(books.values()))
    reports = dict(zip(paths, verify_workbooks(paths)))
    return {name: reports[path] for name, path in books.items()}


@pytest.mark.parametrize("size", SIZES)
def test_sizes_verify(verified, size):
    assert_passes(verified[f"size {size}"])


def test_other_architectures_verify(verified):
    for name in ARCHITECTURES:
        assert_passes(verified[name])


def test_softmax_and_loss_stay_finite_for_huge_logits(verified):
    report = verified["huge"]
    assert_passes(report)
    assert 1000 < report.loss < 1e7


def test_edited_pixel_still_verifies_and_moves_the_loss(verified):
    before, after = verified["plain"], verified["edited"]
    assert_passes(before)
    assert_passes(after)
    assert abs(after.loss - before.loss) > 1e-6


def test_tampered_formula_is_caught(verified):
    report = verified["tampered"]
    assert not report.ok
    conv = next(c for c in report.checks if c.stage == "3 Conv")
    assert not conv.ok and conv.worst_cell == "'3 Conv'!F20" and conv.max_error == pytest.approx(0.001)


def test_value_pasted_over_a_formula_is_caught(verified):
    report = verified["pasted"]
    assert not report.ok
    assert any("should be formulas" in p and "'4 ReLU'!C12" in p for p in report.problems)


def test_error_values_are_caught(verified):
    report = verified["error"]
    assert not report.ok
    assert any("#DIV/0!" in p for p in report.problems)


def test_label_chosen_in_the_workbook_is_used(verified):
    report = verified["relabelled"]
    assert_passes(report)
    one_hot = next(c for c in report.checks if c.stage == "one-hot")
    assert one_hot.ok


def test_class_names_that_look_like_numbers_verify(verified):
    """The recalculated values come back as CSV, where the text "1" and the number 1 look alike."""
    report = verified["digits"]
    assert_passes(report)
    assert report.prediction in ("0", "1", "2.50")


def _set_cached_value(path, sheet_index, cell, value):
    """Rewrite the stored value of one formula cell inside the .xlsx, leaving its formula."""
    member = f"xl/worksheets/sheet{sheet_index}.xml"
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    xml = parts[member].decode()
    pattern = re.compile(rf'(<c r="{cell}"[^>]*>(?:(?!</c>).)*?<v>)([^<]*)(</v>)', re.S)
    xml, n = pattern.subn(rf"\g<1>{value}\g<3>", xml)
    assert n == 1, f"no stored value for {cell}"
    parts[member] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_wrong_stored_values_are_recalculated_and_reported(tmp_path, tmp_path_factory, libreoffice):
    """LibreOffice must really recalculate: stored values that lie are replaced and flagged."""
    saved = recalculate([shared_book(tmp_path_factory)], tmp_path / "saved")[0]   # a copy with stored values, as Calc saves it
    stale = shutil.copy(saved, tmp_path / "stale-copy.xlsx")
    names = openpyxl.load_workbook(stale, read_only=True).sheetnames    # sheetN.xml follows the tab order
    _set_cached_value(stale, names.index("3 Conv") + 1, "F20", "123.456")
    _set_cached_value(stale, names.index("9 Loss") + 1, "B16", "0")    # the loss
    honest, report = verify_workbooks([saved, stale])
    assert_passes(honest)
    assert all(c.ok for c in report.checks), report.table()   # the recalculated numbers are right...
    assert not report.ok                                        # ...but the stale stored ones are reported
    assert any("stored value" in p for p in report.problems)
    assert report.loss > 0


def test_not_an_xlcnn_workbook(tmp_path):
    path = tmp_path / "other.xlsx"
    openpyxl.Workbook().save(path)
    with pytest.raises(WorkbookError, match="not a workbook written by xlcnn"):
        verify_workbook(path)
    broken = tmp_path / "broken.xlsx"
    broken.write_text("not a zip")
    with pytest.raises(WorkbookError, match="not a readable"):
        verify_workbook(broken)


def test_older_libreoffice_without_csv_per_sheet_falls_back_to_xlsx(tmp_path_factory, libreoffice, monkeypatch):
    from dataclasses import replace
    from xlcnn import libreoffice, verify as verify_module
    monkeypatch.setitem(verify_module.ENGINES, "libreoffice",
                        replace(libreoffice.ENGINE, to_csv=lambda paths, out_dir, timeout: None))
    assert_passes(verify_workbook(shared_book(tmp_path_factory)))


def test_csv_values_are_read_as_numbers_text_and_blanks():
    from xlcnn.cells import Block
    from xlcnn.verify import _check_prediction, _number, _same_value
    assert _number("") is None and _number(None) is None
    assert _number("-0.33153987820377") == -0.33153987820377
    assert _number("240") == 240.0 and _number(240) == 240.0
    assert _number("87.5%") == pytest.approx(0.875)
    assert _number("circle") is None and _number("#DIV/0!") is None and _number("Err:502") is None
    assert _number("nan") is None and _number("inf") is None and _number("1e400") is None
    assert _number(" 7 ") is None and _number("1_000") is None
    assert _same_value(0.5, "0.5", 1e-9) and _same_value("circle", "circle", 1e-9) and _same_value("1", "1", 1e-9)
    assert not _same_value(1.0, "1.1", 1e-9) and not _same_value("circle", "square", 1e-9)
    assert not _same_value("01", "1", 1e-9)
    assert _same_value(True, "TRUE", 0) and _same_value(False, False, 0) and not _same_value(True, "FALSE", 0)
    assert _same_value(1e-7, "1.000001e-7", 1e-12) and not _same_value(1e-7, "1.0001e-7", 1e-12)
    cell = Block("8 Softmax", 0, 0, 1, 1)
    assert _check_prediction(cell, "1", {"8 Softmax": [["1"]]}).ok
    assert not _check_prediction(cell, "1", {"8 Softmax": [["01"]]}).ok    # a wrong class must not pass as equal
    assert _check_prediction(cell, "nan", {"8 Softmax": [["nan"]]}).ok


def test_verify_under_a_decimal_comma_locale(tmp_path_factory, libreoffice, monkeypatch):
    """A German LibreOffice writes 0,5 in CSV; verify's profile asks for points."""
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    assert_passes(verify_workbook(shared_book(tmp_path_factory)))


def test_csv_files_are_matched_to_sheet_names_or_read_from_an_xlsx_copy(tmp_path_factory, libreoffice, monkeypatch):
    from xlcnn import verify as verify_module
    assert verify_module._by_sheet_name({"cAd": [["1"]], "x": []}, ["c%41d", "x"]) == {"c%41d": [["1"]], "x": []}
    assert verify_module._by_sheet_name({"x": []}, ["x", "missing"]) is None
    monkeypatch.setattr(verify_module, "_by_sheet_name", lambda values, sheets: None)
    assert_passes(verify_workbook(shared_book(tmp_path_factory)))


def test_a_sheet_of_text_formulas_does_not_force_an_exact_copy():
    """A sheet whose only formula is a link back (text) is compared exactly, so it must not make the
    finest tolerance that of a stage of zeros: that sent every verify to a second, exact conversion."""
    book = SimpleNamespace(formulas={"links": [['=HYPERLINK("#x","back")']], "maps": [["=1+1", "=2*2"]]},
                           cached={"links": [["back"]], "maps": [[2.0, 4.0]]})
    problems, finest = _stale_values(book, {"links": [["back"]], "maps": [[2.0, 4.0]]})
    assert not problems and finest == pytest.approx(4e-9)
