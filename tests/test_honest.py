"""An honest default: what the model knows is shown, the build says what it did, and a true label
nobody gave is left for the student to pick instead of being invented."""

import re
import shutil

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner

from books import shared_book
from some_sheets import load_sheets
from xlcnn.cli import main
from xlcnn.engine import forward
from xlcnn.errors import UsageError
from xlcnn.image import load_image
from xlcnn.network import load_model, random_model
from xlcnn.pipeline import guess_label, make_workbook
from xlcnn.resources import default_model_path, sample_photos, texts
from xlcnn.verify import verify_workbooks
from xlcnn.workbook import build_workbook


@pytest.fixture
def unnamed_photo(tmp_path):
    """A bundled sample under a name that names no class, as most students' photos are."""
    photo = tmp_path / "holiday.jpg"
    shutil.copy(sample_photos()[3], photo)      # square-1.jpg
    return photo


@pytest.fixture(scope="module")
def unnamed_build(tmp_path_factory):
    """``xlcnn build holiday.jpg -o x.xlsx``, once for the tests that only look: (its output, the workbook)."""
    folder = tmp_path_factory.mktemp("unnamed")
    photo = folder / "holiday.jpg"
    shutil.copy(sample_photos()[3], photo)      # square-1.jpg
    result = CliRunner().invoke(main, ["build", str(photo), "-o", str(folder / "x.xlsx")])
    assert result.exit_code == 0, result.output
    return result, folder / "x.xlsx"


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return lambda *args: CliRunner().invoke(main, [str(a) for a in args])


def loss_sheet(book, read_only=False):
    """The loss sheet of ``book``, read alone; ``read_only`` for a test that reads only values."""
    if read_only:
        return next(ws for ws in openpyxl.load_workbook(book, read_only=True).worksheets if ws.title.endswith("Loss"))
    [ws] = load_sheets(book, lambda _, title: title.endswith("Loss"))
    return ws


def all_texts(ws):
    return [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]


# ---------------------------------------------------------------- the label is not invented


def test_a_file_name_without_a_class_gives_no_label():
    model = load_model(default_model_path())
    assert guess_label(model, "holiday.jpg") is None
    assert guess_label(model, "My-Triangle.png") == "triangle"


def test_the_build_says_which_sample_it_used_and_what_it_predicts(run):
    result = run("build", "-o", "x.xlsx")
    assert result.exit_code == 0, result.output
    assert f"the bundled sample {sample_photos()[0].name}" in result.stdout
    assert re.search(r"^prediction: circle \(\d{2,3}\.\d%\)$", result.stdout, re.M), result.stdout


def test_the_build_says_the_label_is_not_chosen(unnamed_build):
    result, _ = unnamed_build
    assert "true label square" not in result.stdout and "true label circle" not in result.stdout
    assert "true label: not chosen" in result.stdout and "--label" in result.stdout
    assert re.search(r"^prediction: square \(\d+\.\d%\)$", result.stdout, re.M), result.stdout
    assert "bundled sample" not in result.stdout


def test_the_loss_sheet_asks_the_student_to_pick(unnamed_build):
    ws = loss_sheet(unnamed_build[1])
    row = next(r for r in range(1, 30) if ws.cell(r, 1).value == texts("en")["sheets"]["loss"]["true_label"])
    label = ws.cell(row, 2)
    assert label.value is None                 # blank, not a class picked for the student
    assert label.protection.locked is False
    rules = [dv for dv in ws.data_validations.dataValidation if label.coordinate in str(dv.sqref)]
    assert len(rules) == 1 and rules[0].type == "list" and rules[0].allow_blank
    anchored = f"$B${row}"
    assert any(v.startswith(f'=IF({anchored}="","<- Nobody told xlcnn') for v in all_texts(ws))
    loss = next(v for v in all_texts(ws) if "SUMPRODUCT" in v)
    assert loss.startswith(f'=IF({anchored}="","",-SUMPRODUCT(')


def test_a_viewer_that_never_recalculates_shows_no_loss_and_the_prompt(unnamed_build):
    import python_calamine
    book = unnamed_build[1]
    workbook = python_calamine.CalamineWorkbook.from_path(str(book))
    rows = workbook.get_sheet_by_name("9 Loss").to_python()
    loss_row = next(row for row in rows if row[0] == "loss")
    assert [cell for cell in loss_row[1:] if cell != ""] == []          # no number where the loss goes
    assert any(isinstance(c, str) and c.startswith("<- Nobody told xlcnn") for row in rows for c in row)
    overview = workbook.get_sheet_by_name("Overview").to_python()
    assert any("not chosen yet" in str(c) for row in overview for c in row)


def test_backprop_needs_a_label_and_says_so(run, unnamed_photo):
    result = run("build", unnamed_photo, "--backprop", "-o", "x.xlsx")
    assert result.exit_code == 2 and result.stderr.startswith("xlcnn: error: ") and "--label" in result.stderr
    assert not list(unnamed_photo.parent.glob("*.xlsx"))


def test_a_given_label_still_fills_the_loss(tmp_path, unnamed_photo):
    result = make_workbook(unnamed_photo, tmp_path / "x.xlsx", label="Triangle")
    assert result.label == "triangle"
    ws = loss_sheet(result.path, read_only=True)
    row = next(r for r in range(1, 30) if ws.cell(r, 1).value == "true label")
    assert ws.cell(row, 2).value == "triangle"


@pytest.mark.usefixtures("libreoffice", "gnumeric")
def test_verify_checks_all_but_the_loss_until_the_label_is_picked(tmp_path, unnamed_photo, unnamed_build):
    book = unnamed_build[1]      # only read: the typed and picked copies go to tmp_path
    # a number typed where the blank loss should be
    wb = openpyxl.load_workbook(book)
    loss_ws = wb["9 Loss"]
    formula_cell = next(c for row in loss_ws.iter_rows() for c in row if "SUMPRODUCT" in str(c.value))
    formula_cell.value = formula_cell.value.replace('"",-SUMPRODUCT', '0.5,-SUMPRODUCT')
    assert "0.5" in formula_cell.value
    wb.save(tmp_path / "typed.xlsx")
    # the student picks the label from the list
    wb = openpyxl.load_workbook(book)
    label_cell = next(c for row in wb["9 Loss"].iter_rows() for c in row if c.value == "true label")
    wb["9 Loss"].cell(label_cell.row, 2).value = "triangle"
    wb.save(tmp_path / "picked.xlsx")
    # one LibreOffice start for the three books, and the blank book in Gnumeric too
    in_libreoffice, typed, picked = verify_workbooks([book, tmp_path / "typed.xlsx", tmp_path / "picked.xlsx"])
    blank = [in_libreoffice, *verify_workbooks([book], engine="gnumeric")]
    assert len(blank) == 2
    for report in blank:
        assert report.ok, report.table()
        assert not report.label_chosen and "true label not chosen" in report.table()
        assert any(check.stage.startswith("loss (true label not chosen") for check in report.checks)
        assert not any(check.stage == "loss" for check in report.checks)
    assert not typed.ok                           # the typed number is caught
    report = picked                               # now the loss is there and checked
    assert report.ok and report.label_chosen, report.table()
    model = load_model(default_model_path())
    expected = forward(model, load_image(unnamed_photo, 28), label=2).loss
    assert report.loss == pytest.approx(expected, rel=1e-12) and expected > 0
    assert any(check.stage == "loss" and check.ok for check in report.checks)


def test_library_backprop_without_a_label_is_refused(tmp_path):
    model = random_model(seed=0)
    with pytest.raises(UsageError, match="--label"):
        build_workbook(model, np.zeros((28, 28, 3), np.uint8), tmp_path / "x.xlsx", steps=1)


# ---------------------------------------------------------------- what the model knows


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_overview_and_softmax_show_what_the_model_knows(tmp_path_factory, lang):
    book = shared_book(tmp_path_factory, lang=lang)
    first, softmax = load_sheets(book, lambda position, title: position == 0 or title.startswith("8 "))
    words = texts(lang)
    sentence = words["model_knows_drawn"].format(count=3)
    names = [words["class_names"].get(n, n) for n in ("circle", "square", "triangle")]
    for ws in (first, softmax):
        values = all_texts(ws)
        assert sentence in values, ws.title
        photo = 1 if ws is first else 0
        assert len(ws._images) == photo + 3, ws.title      # one picture of each class, as drawn in training
        assert all(name in values for name in names)


def test_a_model_of_other_classes_says_what_it_answers_without_pictures(tmp_path):
    model = random_model(class_names=("cat", "dog", "bird"), seed=0)
    model.trained = True
    book = build_workbook(model, np.zeros((28, 28, 3), np.uint8), tmp_path / "x.xlsx", label="dog").path
    [ws] = load_sheets(book, lambda position, _: position == 0)
    assert texts("en")["model_knows"].format(count=3, classes="cat, dog, bird") in all_texts(ws)
    assert len(ws._images) == 1      # the photo only: no pictures of classes nobody drew
