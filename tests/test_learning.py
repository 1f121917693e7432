"""Backpropagation and gradient descent as formulas, proven equal to the engine in LibreOffice."""

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner

from books import shared_book
from xlcnn import make_workbook, verify_workbooks
from xlcnn.errors import ShapeError, UsageError
from xlcnn.layout import plan_layout
from xlcnn.network import random_model
from xlcnn.architecture import parse_architecture
from xlcnn.cli import main
from xlcnn.resources import sample_photos, texts
from xlcnn.workbook import build_workbook

from conftest import make_photo


PRESETS = ("terminator", "two-blocks", "average-pool")
EDITED_RATE = 0.5
# pools whose windows do not overlap but reach into padding or past the maps, and global pooling,
# each built from a matrix of odd sides with the command line: (--arch, options)
POOLED = {
    "maxpool2-s2-p1": ("conv2x2x2,maxpool2-s2-p1,dense", ["--backprop"]),     # no ReLU: negatives beside the padding
    "avgpool2-s2-p1": ("conv2x2x2,tanh,avgpool2-s2-p1,dense", ["--backprop"]),
    "maxpool2-ceil": ("conv3x3x2,relu,maxpool2-ceil,dense", ["--backprop"]),    # 5 x 7 maps: a last window more
    "maxpool2-s3-p1-ceil": ("conv2x2x2,maxpool2-s3-p1-ceil,dense", ["--backprop"]),   # cells between windows
    "gap": ("conv3x3x3,leakyrelu0.1,gap,dense", ["--steps", "1"]),
}


def _pooled_book(folder, item):
    """A 2 x 7 x 9 matrix through the network of ``POOLED[item]``, with its gradient sheets."""
    matrix = np.random.default_rng(len(item)).normal(size=(2, 7, 9)).round(3)
    path = folder / f"{item}.csv"
    path.write_text("\n\n".join("\n".join(",".join(f"{v:g}" for v in row) for row in channel) for channel in matrix))
    arch, options = POOLED[item]
    book = folder / f"{item}.xlsx"
    result = CliRunner().invoke(main, ["build", str(path), "--arch", arch, *options, "--label", "circle",
                                       "-o", str(book)])
    assert result.exit_code == 0, result.output
    return book


@pytest.fixture(scope="module")
def verified(tmp_path_factory, libreoffice):
    """Every workbook of this module, verified with one LibreOffice start: {name: (path, report)}."""
    folder = tmp_path_factory.mktemp("learning")
    books = {}
    for preset in PRESETS:
        for photo in sample_photos()[::4]:
            books[preset, photo.name] = make_workbook(photo, folder / f"{preset}-{photo.stem}.xlsx", preset=preset,
                                                      steps=1).path
    books["steps"] = make_workbook(sample_photos()[1], folder / "steps.xlsx", steps=3).path
    layers = parse_architecture("conv3x3x2-p1-d2-flip,leakyrelu0.1,avgpool2,conv3x3x3-p2,sigmoid,maxpool2,"
                                "conv1x1x2,tanh,dense", 3)
    model = random_model(layers, ("a", "b", "c"), image_size=14, seed=3)
    for p in model.params:
        if "bias" in p:
            p["bias"] = np.random.default_rng(1).normal(0, 0.3, p["bias"].shape)
    books["mixed"] = build_workbook(model, make_photo(14), folder / "mixed.xlsx", label="c", steps=2,
                                    rate=0.05).path
    books["rate"] = shared_book(tmp_path_factory, steps=1)
    wb = openpyxl.load_workbook(books["rate"])                 # a student types another rate into the book
    wb["Descent"]["C10"].value = EDITED_RATE
    books["edited rate"] = folder / "edited-rate.xlsx"
    wb.save(books["edited rate"])
    for item in POOLED:
        books["pooled", item] = _pooled_book(folder, item)
    return {name: (path, report) for (name, path), report in zip(books.items(), verify_workbooks(list(books.values())))}


def test_backprop_presets_verify_and_one_step_lowers_the_loss(verified):
    for preset in PRESETS:
        for photo in sample_photos()[::4]:
            _, report = verified[preset, photo.name]
            assert report.ok, report.table()
            grads = [c for c in report.checks if c.stage.startswith("Grad")]
            assert grads and all(c.max_error <= 1e-9 for c in grads)
            assert len(report.losses) == 2 and report.losses[1] < report.losses[0], (preset, photo.name, report.losses)


def test_several_steps_and_other_layers(verified):
    (steps, steps_report), (_, mixed_report) = verified["steps"], verified["mixed"]
    for report in (steps_report, mixed_report):
        assert report.ok, report.table()
    assert len(steps_report.losses) == 4 and steps_report.losses[-1] < steps_report.losses[0]
    wb = openpyxl.load_workbook(steps)
    assert "Descent" in wb.sheetnames and len(wb["Descent"]._charts) == 1
    assert wb["S1 2 Filters"]["B11"].value == "='2 Filters'!B11-learning_rate*'Grad 3 Conv'!B11"


@pytest.mark.parametrize("item", POOLED)
def test_padded_ceil_and_global_pools_are_backpropagated(verified, item):
    """The gradient sheet of each such pool equals the engine's (which PyTorch's matches) after LibreOffice."""
    book, report = verified["pooled", item]
    assert report.ok, report.table()
    pool = [c for c in report.checks if c.stage.startswith("Grad") and ("Pool" in c.stage or "GAP" in c.stage)]
    conv = next(c for c in report.checks if c.stage == "3 Conv")
    assert len(pool) == 1 and pool[0].cells == conv.cells      # a gradient for every cell of the maps it pools
    assert pool[0].max_error <= 1e-12, report.table()
    assert len(report.losses) == 2
    lines = texts("en")["gradients"]["pool" if item == "gap" else "pool_reaching"]   # says where the padding's share goes
    wb = openpyxl.load_workbook(book, read_only=True)     # reads only the sheet asked for
    assert wb[pool[0].stage]["A2"].value == lines[0]
    wb.close()


def test_changing_the_rate_in_the_workbook_is_verified(verified):
    """The rate is a cell the student may change: the new weights follow it and verify checks them at that rate."""
    (book, before), (_, after) = verified["rate"], verified["edited rate"]
    wb = openpyxl.load_workbook(book, read_only=True)
    assert wb.defined_names["learning_rate"].attr_text == "'Descent'!$C$10"
    assert wb["Descent"]["C10"].value == 0.01
    wb.close()
    assert before.ok, before.table()
    assert after.ok, after.table()
    new_weights = [c for c in after.checks if c.stage.startswith("S1 ") and "Filters" in c.stage]
    assert new_weights and all(c.cells > 0 for c in new_weights)
    assert after.losses[0] == pytest.approx(before.losses[0], rel=1e-12)     # the same forward pass...
    assert abs(after.losses[1] - before.losses[1]) > 1e-6                     # ...but a 50 times longer step


def test_backprop_refuses_what_it_cannot_write():
    for text, words in (("conv3x3x2-s2,relu,maxpool2,dense", "stride"),
                        ("conv3x3x2,relu,maxpool2,dense8,relu,dense", "one dense")):
        with pytest.raises(ShapeError, match=words):
            plan_layout(parse_architecture(text, 3), (3, 16, 16), ("a", "b", "c"), steps=1)
    for text in ("conv3x3x2,relu,maxpool2-s2-p1,dense", "conv3x3x2,avgpool2-ceil,dense", "conv3x3x2,maxpool2-s3,dense",
                 "conv3x3x2,relu,gap,dense",     # windows that do not overlap: written; and windows that overlap
                 "conv3x3x2,relu,maxpool3-s2,dense", "conv3x3x2,relu,maxpool3-s2-p1,dense",
                 "conv3x3x2,relu,avgpool3-s2-ceil,dense", "conv3x3x2,relu,maxpool3-s1-p1,dense"):
        assert plan_layout(parse_architecture(text, 3), (3, 15, 15), ("a", "b", "c"), steps=1).gradients
    with pytest.raises(UsageError, match="--steps"):
        make_workbook(sample_photos()[0], "x.xlsx", steps=99)


@pytest.mark.parametrize("steps, lang", [(1, "en"), (3, "en"), (3, "zh")])
def test_descent_sheet_matches_its_steps(tmp_path, steps, lang):
    """Title and text name the number of steps; the chart draws the table: x 0..N, straight, marked, y from 0."""
    import re
    import zipfile
    words = texts(lang)["gradients"]
    book = make_workbook(sample_photos()[0], tmp_path / "d.xlsx", steps=steps, lang=lang, size=12).path   # any size
    wb = openpyxl.load_workbook(book, read_only=True)     # reads only the sheet asked for
    ws = wb[texts(lang)["step_titles"]["descent"]]
    # one pass over the sheet: a read-only sheet's ws.cell(row, col) reads it again from the top each time
    rows = [(None,)] + [row + (None,) * 3 for row in ws.iter_rows(max_row=ws.max_row, values_only=True)]   # 1-based
    title = rows[1][0]
    expected = words["descent_title"] if steps == 1 else words["descent_title_steps"].format(steps=steps)
    assert title == expected and (steps == 1 or str(steps) in title)
    assert any(words["descent_table"].format(steps=steps) == rows[row][0] for row in range(2, 8))
    column = [rows[row][0] for row in range(1, ws.max_row + 1)]
    first = column.index(0) + 1                       # the table's step numbers: 0, 1, .. N
    assert column[first - 1:first + steps] == list(range(steps + 1))
    change = next(row for row in range(1, ws.max_row + 1) if rows[row][0] == words["change"])
    assert rows[change][2] == f"=B{first + steps}-B{first}"
    wb.close()
    with zipfile.ZipFile(book) as z:
        chart = next(z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/")
                     and "lineChart" in z.read(n).decode())
    series = re.search(r"<ser>.*</ser>", chart).group(0)
    assert f"<cat><numRef><f>'{ws.title}'!$A${first}:$A${first + steps}</f>" in series   # x: the step column
    assert f"<val><numRef><f>'{ws.title}'!$B${first}:$B${first + steps}</f>" in series
    assert '<smooth val="0"/>' in series and '<symbol val="circle"/>' in series
    assert re.search(r"<valAx>.*<min val=\"0\"/>.*</valAx>", chart)
