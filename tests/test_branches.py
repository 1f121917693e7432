"""Branched networks as workbooks: two convolutions on the photo whose maps an add sheet sums or a
concat sheet stacks.

The join sheet must read every branch, LibreOffice must recalculate the whole book to the
engine's numbers, and a tampered join cell must fail verification at the join's sheet.
"""

import re

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner

from books import Books
from some_sheets import load_sheets
from xlcnn import make_workbook, verify_workbooks
from xlcnn.architecture import parse_network
from xlcnn.cli import main
from xlcnn.engine import loss_and_gradients
from xlcnn.layout import SUMMARY_COLUMNS
from xlcnn.network import random_model

from test_gradients import batch_loss, numerical_gradient, rel_error

FIELD = SUMMARY_COLUMNS.index("receptive field")
TINY = "a=conv3x3x2-p1, b=conv1x1x2(input), add(a,b), relu, flatten, dense"
STACKED = "a=conv3x3x2-same, b=conv1x1x3(input), concat(a,b), relu, maxpool2, dense"
# three sources, one of them read twice; a conv after the join pads the stacked maps; a ReLU and a
# pool read maps that a conv on another branch pads (they must read the maps, not the border)
THREE = ("a=conv3x3x2-same, r=relu(a), b=conv3x3x1-p1(a), c=conv1x1x1(input), m=maxpool1(b), d=conv3x3x1-p1(b), "
         "concat(r,m,c,d,r), conv3x3x2-p1, flatten, dense")
SIZE = 8


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory):
    return make_workbook(output=tmp_path_factory.mktemp("branches") / "tiny.xlsx", arch=TINY, size=SIZE).path


def _sheet(book, kind_title):
    return next(ws for ws in book.worksheets if ws.title.endswith(kind_title))


def test_the_add_sheet_reads_both_branches(tiny_book):
    conv_b, add, relu, summary = load_sheets(tiny_book, lambda _, title: title in ("5 Conv 2", "6 Add", "7 ReLU",
                                                                                "12 Summary"))
    assert add.parent.sheetnames[:8] == ["Overview", "1 Input", "2 Filters 1", "3 Conv 1", "4 Filters 2", "5 Conv 2",
                                         "6 Add", "7 ReLU"]
    cells = [cell.value for row in add.iter_rows() for cell in row
             if isinstance(cell.value, str) and cell.value.startswith("=") and "HYPERLINK" not in cell.value]
    copies = [text for text in cells if "!" in text]
    sums = [text for text in cells if "!" not in text and text != "="]   # "=" alone: the sign before the sum
    # per map: a copy of branch a's map (B-I), "+", a copy of branch b's (K-R), "=", their sum (T-AA)
    assert len(copies) == 2 * 2 * SIZE * SIZE and len(sums) == 2 * SIZE * SIZE
    assert add["B11"].value == "='3 Conv 1'!B11" and add["K11"].value == "='5 Conv 2'!B11"
    assert add["R21"].value == "='5 Conv 2'!I21" and add["J11"].value == "+" and add["S11"].value == "="
    assert all(re.fullmatch(r"='[35] Conv [12]'![B-I]\d+", text) for text in copies)
    assert sums[0] == "=B11+K11" and add["T11"].value == "=B11+K11"
    assert all(re.fullmatch(r"=([B-I])(\d+)\+([K-R])\2", text) for text in sums)
    assert add["B10"].value == "map 1 of '3 Conv 1'" and add["K20"].value == "map 2 of '5 Conv 2'"
    assert add["T10"].value == "map 1 after adding"
    # branch b (1x1, no padding) reads the photo's interior, inside the border branch a's padding needs
    conv_b = conv_b["B11"].value
    assert "'1 Input'!C12," in conv_b and "'1 Input'!B11" not in conv_b
    # the layer after the join reads the add sheet
    assert relu["B11"].value == "=MAX(0,'6 Add'!T11)"
    assert "'3 Conv 1', '5 Conv 2'" in add["A2"].value
    row = next(r for r in summary.iter_rows(values_only=True) if str(r[0]).startswith("add1"))
    assert row[1:3] == ("2 x 8 x 8 + 2 x 8 x 8", "2 x 8 x 8") and row[FIELD] == 3   # the widest receptive field


def test_the_cli_builds_a_branched_network(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["build", "--arch", TINY, "--size", str(SIZE), "-o", "b.xlsx", "--lang", "zh"])
    assert result.exit_code == 0, result.output
    assert "6 相加" in openpyxl.load_workbook(tmp_path / "b.xlsx", read_only=True).sheetnames


@pytest.mark.parametrize("extra, words", [
    (["--exercise"], "exercises are planned for chains of layers only"),
    (["--until", "relu1"], "a branched network cannot be cut short yet"),
])
def test_what_branched_workbooks_cannot_show_yet_is_refused_in_one_line(tmp_path, monkeypatch, extra, words):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["build", "--arch", TINY, "--size", str(SIZE), "-o", "b.xlsx", *extra])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xlcnn: error: ") and words in lines[0]
    assert not list(tmp_path.glob("*.xlsx"))


@pytest.fixture(scope="module")
def stacked_book(tmp_path_factory):
    return make_workbook(output=tmp_path_factory.mktemp("concat") / "stacked.xlsx", arch=STACKED, size=SIZE).path


def _formulas(ws):
    return [cell.value for row in ws.iter_rows() for cell in row
            if isinstance(cell.value, str) and cell.value.startswith("=") and "HYPERLINK" not in cell.value]


def test_the_concat_sheet_stacks_both_branches_maps(stacked_book):
    stacked, relu, summary = load_sheets(stacked_book, lambda _, title: title in ("6 Concat", "7 ReLU", "13 Summary"))
    assert stacked.parent.sheetnames[:9] == ["Overview", "1 Input", "2 Filters 1", "3 Conv 1", "4 Filters 2",
                                             "5 Conv 2", "6 Concat", "7 ReLU", "8 Pool"]
    copies = _formulas(stacked)
    assert len(copies) == 5 * SIZE * SIZE
    # maps 1-2 copy branch a's maps, maps 3-5 branch b's, cell by cell (maps sit 10 rows apart)
    assert copies[:SIZE] == [f"='3 Conv 1'!{col}11" for col in "BCDEFGHI"]
    assert stacked["B21"].value == "='3 Conv 1'!B21" and stacked["B31"].value == "='5 Conv 2'!B11"
    assert stacked["I58"].value == "='5 Conv 2'!I38"
    assert sum(text.startswith("='3 Conv 1'!") for text in copies) == 2 * SIZE * SIZE
    assert all(re.fullmatch(r"='[35] Conv [12]'![B-I]\d+", text) for text in copies)
    assert stacked["A10"].value is None and stacked["B30"].value == "map 3 = map 1 of '5 Conv 2'"
    assert "maps 1-2 from '3 Conv 1'; maps 3-5 from '5 Conv 2'" in stacked["A2"].value
    assert relu["B11"].value == "=MAX(0,'6 Concat'!B11)"   # the layer after the join reads it
    row = next(r for r in summary.iter_rows(values_only=True) if str(r[0]).startswith("concat1"))
    assert row[1:3] == ("2 x 8 x 8 + 3 x 8 x 8", "5 x 8 x 8")
    assert row[FIELD] == 3     # the widest receptive field of what it stacks (3 x 3 and 1 x 1)


def test_the_cli_builds_a_concat_network_in_chinese(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["build", "--arch", STACKED, "--size", str(SIZE), "-o", "c.xlsx", "--lang", "zh"])
    assert result.exit_code == 0, result.output
    sheets = load_sheets(tmp_path / "c.xlsx", lambda _, title: title == "6 拼接")
    assert [ws.title for ws in sheets] == ["6 拼接"]
    assert "第 1-2 张来自 '3 卷积 1'；第 3-5 张来自 '5 卷积 2'" in sheets[0]["A2"].value


def test_a_concat_of_three_pads_its_maps_for_the_conv_after_it(tmp_path):
    path = make_workbook(output=tmp_path / "three.xlsx", arch=THREE, size=SIZE).path
    stacked = load_sheets(path, lambda _, title: title.endswith("Concat"))[0]
    copies = _formulas(stacked)
    assert len(copies) == 7 * SIZE * SIZE
    assert stacked["B11"].value == 0 and stacked["C12"].value.endswith(" ReLU'!B11")   # a border of zeros
    lines = stacked["A2"].value
    assert "maps 1-2 from" in lines and "map 3 from" in lines and "maps 6-7 from" in lines
    assert "Two branches" not in stacked["A3"].value    # it stacks five


def test_an_add_of_three_does_not_say_two_branches(tmp_path):
    arch = "a=conv3x3x2-same, b=conv1x1x2(input), c=conv3x3x2-same(input), add(a,b,c), flatten, dense"
    for lang, two in (("en", "Two branches"), ("zh", "两个分支")):
        path = make_workbook(output=tmp_path / f"{lang}.xlsx", arch=arch, size=SIZE, lang=lang).path
        sheet = load_sheets(path, lambda _, title: title.endswith(("Add", "相加")))[0]
        assert sheet["A3"].value and two not in sheet["A3"].value, sheet["A3"].value


# a flattened branch (a column) and a dense branch (outputs along a row) joined into one column
VECTORS = ("a=conv3x3x2-same, f=flatten, d=dense4, r=relu, b=conv1x1x1(input), maxpool2, g=flatten, e=dense3, "
           "concat(r,e), dense")


def test_concat_of_vectors_joins_them_into_one_column(tmp_path):
    path = make_workbook(output=tmp_path / "v.xlsx", arch=VECTORS, size=SIZE).path
    joined, dense = load_sheets(path, lambda _, title: title in ("12 Concat", "13 Dense 3"))
    assert [joined.cell(row, 2).value for row in range(10, 17)] == [
        "='6 ReLU'!B10", "='6 ReLU'!B11", "='6 ReLU'!B12", "='6 ReLU'!B13",
        "='11 Dense 2'!B12", "='11 Dense 2'!C12", "='11 Dense 2'!D12"]
    assert [joined.cell(row, 1).value for row in (10, 16)] == ["1", "7"] and joined["B9"].value == "joined vector"
    assert "elements 1-4 from '6 ReLU'; elements 5-7 from '11 Dense 2'" in joined["A2"].value
    assert "'12 Concat'!$B$10:$B$16" in dense["B12"].value     # the dense layer after it reads the column


@pytest.mark.parametrize("join", ["add", "concat"])
def test_a_join_that_reads_the_pixels_is_refused_in_one_line(tmp_path, monkeypatch, join):
    """The pixels on the input sheet are not yet scaled (the first layer's formulas scale them)."""
    monkeypatch.chdir(tmp_path)
    arch = f"a=conv1x1x3, {join}(a,input), flatten, dense"
    result = CliRunner().invoke(main, ["build", "--arch", arch, "--size", str(SIZE), "-o", "j.xlsx"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"({join}) reads the input pixels directly" in lines[0]
    assert not list(tmp_path.glob("*.xlsx"))


def test_the_engines_concat_gradient_matches_central_differences():
    layers, inputs = parse_network(STACKED, 3)
    model = random_model(layers, image_size=6, seed=3, channels=3, inputs=inputs)
    rng = np.random.default_rng(4)
    for p in model.params:
        if "bias" in p:   # zero biases would put cells on ReLU's kink
            p["bias"] = rng.normal(0, 0.5, p["bias"].shape)
    pixels, labels = rng.uniform(0, 255, size=(2, 3, 6, 6)), np.array([0, 2])

    def loss():
        return batch_loss(model, pixels, labels)
    first, grads, _ = loss_and_gradients(model, pixels, labels)
    assert loss() == first
    for p, g in zip(model.params, grads):
        for key, value in p.items():   # both branches' filters get their gradient back through the concat
            assert rel_error(g[key], numerical_gradient(lambda v: loss(), value, np.array(1.0))) < 1e-6, key


def _tampered(path, sheet, cell, formula, out):
    book = openpyxl.load_workbook(path)
    book[sheet][cell] = formula
    book.save(out)
    return out


@pytest.fixture(scope="module")
def verified(tiny_book, stacked_book, learning_books, tmp_path_factory, libreoffice):
    """One LibreOffice start for the module: {"joins": the reports of the tiny, stacked, three-way and vector
    books, then of an add and a concat tampered with; "learning": those of ``learning_books``, then of a fork
    whose sum forgets the add's share}."""
    folder = tmp_path_factory.mktemp("verified")
    three = make_workbook(output=folder / "three.xlsx", arch=THREE, size=SIZE).path
    vectors = make_workbook(output=folder / "vectors.xlsx", arch=VECTORS, size=SIZE).path
    # the add reads branch a twice, branch b never; the concat's map 3 copies branch a instead of branch b
    bad_add = _tampered(tiny_book, "6 Add", "U12", "=C12+C12", folder / "bad_add.xlsx")
    bad_concat = _tampered(stacked_book, "6 Concat", "C32", "='3 Conv 1'!C12", folder / "bad_concat.xlsx")
    joins = [tiny_book, stacked_book, three, vectors, bad_add, bad_concat]
    # a fork's sum that forgets the add's share must fail at that gradient sheet
    relu = openpyxl.load_workbook(learning_books[0])["Grad 4 ReLU"]
    forked = next(cell for row in relu.iter_rows() for cell in row
                  if isinstance(cell.value, str) and "+'Grad 9 Add'!" in cell.value)
    bad_fork = _tampered(learning_books[0], "Grad 4 ReLU", forked.coordinate, forked.value.split("+'Grad 9 Add'")[0],
                         folder / "bad_fork.xlsx")
    reports = verify_workbooks([*joins, *learning_books.values(), bad_fork])
    return {"joins": reports[:len(joins)], "learning": reports[len(joins):]}


def test_branched_workbooks_verify_and_a_tampered_join_cell_fails(verified):
    reports = verified["joins"]
    for report in reports[:4]:
        assert report.ok, report.table()
    assert {"3 Conv 1", "5 Conv 2", "6 Add", "7 ReLU"} <= {check.stage for check in reports[0].checks}
    assert {"6 Concat", "7 ReLU", "8 Pool"} <= {check.stage for check in reports[1].checks}
    assert any(check.stage.endswith("Concat") for check in reports[2].checks)
    assert "12 Concat" in {check.stage for check in reports[3].checks}
    for report, stage in zip(reports[4:], ("6 Add", "6 Concat")):
        assert not report.ok
        failed = [check for check in report.checks if not check.ok]
        assert failed and failed[0].stage == stage


# ---------------------------------------------------------------- backprop through joins and forks

# relu r is read by two convs and the add (a fork of three); the add sends its gradient back unchanged
ADD_FORKS = "a=conv3x3x2-same, r=relu(a), b=conv3x3x2-same(r), c=conv1x1x2(r), add(b,c,r), flatten, dense"
# pool m is stacked twice (its gradient: the sum of two slices of the concat's); relu r feeds two convs
STACK_FORKS = ("a=conv3x3x2-same, r=relu(a), b=conv3x3x2-same(r), c=conv1x1x2(r), m=maxpool2(b), n=maxpool2(c), "
               "concat(m,n,m), relu, flatten, dense")
# conv b is read by two activations: the sum of their gradients needs the border b's turned kernels slide over
CONV_FORK = "a=conv3x3x2-same, b=conv3x3x2-same(a), r=relu(b), s=sigmoid(b), add(r,s), conv3x3x1-p1, flatten, dense"


@pytest.fixture(scope="module")
def learning_books(tmp_path_factory):
    """{n: path}, each built when a test first reads it: the fast tests read only the first two."""
    folder = tmp_path_factory.mktemp("learning")
    return Books(folder, {n: dict(arch=arch, size=SIZE, steps=steps, label="circle")
                          for n, (arch, steps) in enumerate(((ADD_FORKS, 2), (STACK_FORKS, 2), (CONV_FORK, 1), (TINY, 1)))})


def test_a_fork_sums_what_its_readers_send_back(learning_books):
    book = openpyxl.load_workbook(learning_books[0], read_only=True)     # reads only the sheets asked for
    relu = book["Grad 4 ReLU"]
    heading = next(cell.value for row in relu.iter_rows(max_row=10) for cell in row
                   if isinstance(cell.value, str) and "(a fork)" in cell.value)
    assert "3 layers read it" in heading and "'Grad 6 Conv 2', 'Grad 8 Conv 3', 'Grad 9 Add'" in heading
    sums = [text for text in _formulas(relu) if "'Grad 6 Conv 2'!" in text]
    assert len(sums) == 2 * SIZE * SIZE
    assert all(re.fullmatch(r"='Grad 6 Conv 2'![A-Z]+\d+\+'Grad 8 Conv 3'![A-Z]+\d+\+'Grad 9 Add'![A-Z]+\d+", text)
               for text in sums)
    # the add's gradient is its reader's, once; every term reads it as it is
    add = book["Grad 9 Add"]
    assert add["B11"].value == 0 and add["D13"].value == "='Grad 10 Flatten'!B11" and add["B10"].value == "gradient, map 1: back to map 1 of every term"
    assert sums[0] == "='Grad 6 Conv 2'!B22+'Grad 8 Conv 3'!B18+'Grad 9 Add'!D13"   # the add's map sits in a border
    assert "S1 Grad 4 ReLU" in book.sheetnames and "S2 3 Conv 1" in book.sheetnames   # --steps 2: later passes
    book.close()


def test_a_stacking_join_splits_its_gradient_by_channel(learning_books):
    book = openpyxl.load_workbook(learning_books[1], read_only=True)     # reads only the sheets asked for
    stacked = book["Grad 11 Concat"]
    assert [stacked.cell(10 + 6 * k, 2).value for k in range(6)] == [
        "gradient, map 1: back to map 1 of '9 Pool 1'", "gradient, map 2: back to map 2 of '9 Pool 1'",
        "gradient, map 3: back to map 1 of '10 Pool 2'", "gradient, map 4: back to map 2 of '10 Pool 2'",
        "gradient, map 5: back to map 1 of '9 Pool 1'", "gradient, map 6: back to map 2 of '9 Pool 1'"]
    pool = _formulas(book["Grad 9 Pool 1"])
    # pool 1's output is stacked twice (4 x 4 maps, 6 rows apart): maps 1-2 and 5-6 of the concat's gradient, added
    assert "='Grad 11 Concat'!B11+'Grad 11 Concat'!B35" in pool
    pool2 = _formulas(book["Grad 10 Pool 2"])
    assert not any("+'Grad" in text for text in pool2) and any("'Grad 11 Concat'!B23" in text for text in pool2)
    book.close()


def test_later_passes_of_a_branched_network_read_its_wiring(learning_books):
    book = openpyxl.load_workbook(learning_books[0], read_only=True)     # reads only the sheets asked for
    assert book["S2 9 Add"]["B11"].value == "='S2 6 Conv 2'!B11"
    assert book["S1 9 Add"]["AD11"].value is not None
    book.close()


def test_branched_workbooks_learn_in_libreoffice_as_the_engine_does(verified):
    *reports, bad_report = verified["learning"]
    failed = [check for check in bad_report.checks if not check.ok]
    assert failed and failed[0].stage == "Grad 4 ReLU"
    for report in reports:
        assert report.ok, report.table()
    stages = [{check.stage for check in report.checks} for report in reports]
    assert {"Grad 9 Add", "Grad 4 ReLU", "S1 Grad 9 Add", "S1 Grad 4 ReLU"} <= stages[0]
    assert {"Grad 11 Concat", "Grad 9 Pool 1", "Grad 10 Pool 2", "S1 Grad 11 Concat"} <= stages[1]
    assert "Grad 5 Conv 2" in stages[2] and "Grad 6 Add" in stages[3]
    for report in reports[:2]:
        assert len(report.losses) == 3 and report.losses[2] < report.losses[0]


def test_backprop_refuses_branches_that_meet_after_flatten_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    arch = "a=conv3x3x2, b=conv3x3x2(input), f=flatten(a), g=flatten(b), concat(f,g), dense"
    result = CliRunner().invoke(main, ["build", "--arch", arch, "--size", str(SIZE), "-o", "g.xlsx", "--backprop"])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "end flatten -> dense -> softmax" in result.stderr
