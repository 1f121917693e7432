"""Regression (--loss mse): the loss and its gradient in NumPy, their formula twins, and workbooks
recalculated in LibreOffice with and without gradient sheets, the keypoints preset in both languages."""

import numpy as np
import pytest

from xlcnn import losses, make_workbook, verify_workbooks
from xlcnn.architecture import parse_architecture
from xlcnn.cells import Block
from xlcnn.engine import forward, loss_and_gradients
from xlcnn.errors import UsageError
from xlcnn.handout import Handout, make_handouts
from xlcnn.network import random_model
from xlcnn.pdfmeasure import measure_pdf, smallest_type
from xlcnn.pipeline import choose_model, make_summary
from xlcnn.presets import load_preset
from xlcnn.resources import texts as load_texts
from xlcnn.workbook.meta import META_SHEET
from xlcnn.xlsxread import read_workbook
from test_cli import one_line_error, run  # noqa: F401  (run is a fixture)
from test_gradient_formulas import Grid, assert_close, one
from test_kinds import numerical_gradient

ARCH = "conv3x3x2,relu,maxpool2,dense3"
TARGETS = (0.5, -0.25, 0.125)


def small_regression(seed=0, size=8):
    layers = parse_architecture(ARCH, len(TARGETS), probabilities=False)
    return random_model(layers, (), image_size=size, seed=seed, channels=1, input_scale=1.0)


# ---------------------------------------------------------------- the engine


def test_mse_and_its_gradient_by_hand():
    y, t = np.array([[1.0, 2.0, -1.0, 0.5]]), np.array([[0.0, 2.0, 1.0, 0.5]])
    loss, dy = losses.mse_loss(y, t)
    assert loss == pytest.approx((1 + 0 + 4 + 0) / 4)
    assert_close(dy, 2 * (y - t) / 4)          # dL/dy = 2 (y - t) / n


def test_mse_gradient_agrees_with_central_differences():
    rng = np.random.default_rng(3)
    y, t = rng.normal(size=(2, 5)), rng.normal(size=(2, 5))
    _, dy = losses.mse_loss(y, t)
    assert np.max(np.abs(dy - numerical_gradient(lambda: losses.mse_forward(y, t), y))) < 1e-8


def test_every_weight_of_a_regression_gets_its_numerical_gradient():
    model = small_regression()
    pixels = np.random.default_rng(1).uniform(size=(2, 1, 8, 8))
    targets = np.array([TARGETS, (0.0, 1.0, -1.0)])
    _, grads, _ = loss_and_gradients(model, pixels, targets)
    for index, p in enumerate(model.params):
        for name, value in p.items():
            numeric = numerical_gradient(lambda: loss_and_gradients(model, pixels, targets)[0], value)
            assert np.max(np.abs(grads[index][name] - numeric)) < 1e-7, (index, name)


def test_forward_gives_the_mse_of_the_last_layer_when_targets_are_given():
    model = small_regression()
    pixels = np.random.default_rng(2).uniform(size=(1, 8, 8))
    reference = forward(model, pixels, targets=TARGETS)
    assert reference.probabilities is None and reference.prediction is None
    assert reference.loss == pytest.approx(np.mean((reference.stages[-1].output - TARGETS) ** 2))
    assert np.isnan(forward(model, pixels).loss)     # no targets: no loss, as for a lesson that stops early


# ---------------------------------------------------------------- the formula twins


def test_formula_builders_equal_the_engine():
    rng = np.random.default_rng(4)
    y, t = rng.normal(size=4), rng.normal(size=4)
    grid = Grid()
    outputs, targets = grid.place(y[:, None]), grid.place(t[:, None])
    errors = grid.formulas((4, 1), lambda i, j: losses.squared_error_formula(one(outputs, i), one(targets, i)))
    assert_close(grid.values((4,), lambda i: losses.squared_error_formula(one(outputs, i), one(targets, i))),
                 (y - t) ** 2)
    assert_close(grid.value(losses.mse_formula(errors)), losses.mse_forward(y, t))
    gradient = grid.values((4,), lambda i: losses.mse_backward_formula(one(outputs, i), one(targets, i), 4))
    assert_close(gradient, losses.mse_backward(y, t))


def test_formula_text():
    y, t = Block("9 Loss", 9, 1, 1, 1), Block("9 Loss", 9, 2, 1, 1)
    assert losses.squared_error_formula(y, t) == "=('9 Loss'!B10-'9 Loss'!C10)^2"
    assert losses.mse_formula(Block("9 Loss", 9, 3, 4, 1)) == "=AVERAGE('9 Loss'!D10:D13)"
    assert losses.mse_backward_formula(y, t, 4) == "=2*('9 Loss'!B10-'9 Loss'!C10)/4"


# ---------------------------------------------------------------- options and presets


def test_the_keypoints_preset_is_a_regression_with_targets_for_every_output():
    recipe = load_preset("keypoints")
    assert recipe.regression and recipe.channels == 1
    layers = recipe.layers()
    assert layers[-1].fully_connected and layers[-1].units == len(recipe.targets) == 8
    assert sum(layer.fully_connected for layer in layers) == 2
    assert not any(layer.gives_probabilities for layer in layers)
    assert all(-1 <= t <= 1 for t in recipe.targets)      # scaled like (y - 48) / 48
    assert load_preset("keypoints", "zh").description != recipe.description


def test_the_summary_of_the_keypoints_preset_ends_with_its_outputs():
    rows = make_summary(preset="keypoints").rows
    assert rows[-1].output_shape == (8,) and rows[-1].name.startswith("dense")
    assert sum(row.parameters[1] for row in rows) == 4 * 9 + 4 + 8 * 4 * 9 + 8 + 288 * 16 + 16 + 16 * 8 + 8


def test_targets_default_to_the_presets_then_to_zero():
    assert choose_model(preset="keypoints").targets == load_preset("keypoints").targets
    assert choose_model(arch="conv3x3x2,relu,dense2", loss="mse").targets == (0.0, 0.0)
    assert choose_model(arch="conv3x3x2,relu,dense", loss="mse", target="1,2,3").targets == (1.0, 2.0, 3.0)
    assert choose_model().targets == ()     # a classifier has a label instead


@pytest.mark.parametrize("args, words", [
    (["--arch", "conv3x3x2,relu,dense,softmax", "--loss", "mse", "--target", "1,2"], "leave softmax out"),
    (["--arch", "conv3x3x2,relu,dense4", "--loss", "mse", "--target", "1,2"], "2 number(s) for 4 output(s)"),
    (["--preset", "keypoints", "--target", "1,2"], "2 number(s) for 8 output(s)"),
    (["--loss", "mse", "--target", "1,x"], "give numbers separated by commas"),
    (["--loss", "mse", "--target", "1,inf"], "finite"),
    (["--loss", "huber"], "choose one of cross-entropy, mse"),
    (["--target", "1,2"], "add --loss mse"),
    (["--arch", "conv3x3x2,relu", "--loss", "mse"], "must end with a dense layer"),
    (["--arch", "conv3x3x2,relu,dense", "--loss", "mse"], "one output per target"),
    (["--preset", "keypoints", "--backprop"], "exactly one dense layer"),
])
def test_bad_regression_options_are_one_line_and_exit_2(run, tmp_path, args, words):
    line = one_line_error(run("build", *args, "-o", "out.xlsx"), 2)
    assert words in line
    assert not (tmp_path / "out.xlsx").exists()


def test_train_refuses_a_regression_preset_before_reading_the_folder(run, tmp_path):
    line = one_line_error(run("train", tmp_path / "nowhere", "-o", "m.npz", "--preset", "keypoints"), 2)
    assert "classifiers only" in line


def test_a_model_file_is_no_regression(tmp_path):
    with pytest.raises(UsageError, match="leave them out"):
        make_workbook(None, tmp_path / "x.xlsx", model_path="any.npz", loss="mse")


# ---------------------------------------------------------------- workbooks, recalculated


@pytest.fixture(scope="module")
def regression_books(tmp_path_factory, libreoffice):
    """Four books, verified with one LibreOffice start: a regression without and with three descent
    steps, and the keypoints preset in English and Chinese."""
    folder = tmp_path_factory.mktemp("regression")
    builds = {
        "forward": dict(arch="conv3x3x2,relu,maxpool2,dense", loss="mse", target="0.5,-0.25,0.1", size=12),
        "steps": dict(arch="conv3x3x2,relu,maxpool2,dense", loss="mse", target="0.5,-0.25,0.1", size=12, steps=3),
        "keypoints": dict(preset="keypoints"),
        "keypoints-zh": dict(preset="keypoints", lang="zh"),
    }
    results = {name: make_workbook(None, folder / f"{name}.xlsx", **options) for name, options in builds.items()}
    reports = verify_workbooks([result.path for result in results.values()])
    return results, dict(zip(builds, reports))


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", ["forward", "steps", "keypoints", "keypoints-zh"])
def test_regression_workbooks_verify(regression_books, name):
    results, reports = regression_books
    report = reports[name]
    assert report.ok, report.table()
    stages = {check.stage for check in report.checks}
    assert {"outputs", "squared errors", "loss", "overview"} <= stages
    assert report.loss == pytest.approx(results[name].loss)
    assert not report.prediction          # a regression predicts numbers, not a class


@pytest.mark.libreoffice
def test_gradient_sheets_start_from_the_mse_and_the_loss_falls(regression_books):
    results, reports = regression_books
    report = reports["steps"]
    assert any(check.stage.startswith("Grad") for check in report.checks)
    assert len(report.losses) == 4 and report.losses[-1] < report.losses[0]
    book = read_workbook(results["steps"].path)
    grad = next(name for name in book.formulas if name.startswith("Grad") and "Dense" in name)
    texts = [value for row in book.formulas[grad] for value in row if isinstance(value, str)]
    assert any(value.startswith("=2*(") and value.endswith("/3") for value in texts)    # dL/dy = 2 (y - t) / n


@pytest.mark.libreoffice
def test_the_loss_sheet_holds_editable_targets_and_named_results(regression_books):
    results, _ = regression_books
    book = read_workbook(results["keypoints"].path)
    assert {"loss", "targets", "outputs"} <= {name.lower() for name in book.names}
    loss_sheet = next(name for name in book.formulas if name.endswith("Loss"))
    numbers = [value for row in book.formulas[loss_sheet] for value in row
               if isinstance(value, (int, float)) and not isinstance(value, bool)]
    assert [round(n, 6) for n in numbers[:8]] == list(load_preset("keypoints").targets)   # typed numbers, not formulas
    meta = dict((row[0], row[1]) for row in book.formulas[META_SHEET] if row and row[0])
    assert meta["loss"] == '"mse"'


@pytest.fixture(scope="module")
def keypoint_handouts(regression_books, tmp_path_factory, poppler):
    """{name: A4 handout PDF} of the two keypoints books, printed by one LibreOffice start."""
    results, _ = regression_books
    folder = tmp_path_factory.mktemp("regression-handouts")
    names = ("keypoints", "keypoints-zh")
    return dict(zip(names, make_handouts([Handout(results[name].path, folder / f"{name}.pdf", paper="a4")
                                          for name in names])))


@pytest.mark.libreoffice
@pytest.mark.parametrize("name, lang", [("keypoints", "en"), ("keypoints-zh", "zh")])
def test_the_handout_prints_the_loss_sheet_whole(keypoint_handouts, name, lang):
    pages = measure_pdf(keypoint_handouts[name])
    assert not any("###" in page.text for page in pages)
    assert smallest_type(pages) >= 7.0
    printed = "".join(page.text for page in pages).replace(" ", "")
    texts = load_texts(lang)["sheets"]["mse"]
    for words in (texts["title"].format(step=14, count=8), *texts["lines"], texts["loss_label"]):
        assert words.replace(" ", "") in printed, words
