"""Matrices as input: a textbook's numbers in a text file, used as they are (scale 1).

The worked examples must give the articles' numbers after a LibreOffice recalculation,
read through the layer outputs' names; bad files get one line naming the line and column.
"""

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner

from named import named_values
from xlcnn import make_workbook, verify_workbooks
from xlcnn.cli import main
from xlcnn.libreoffice import recalculate
from xlcnn.matrices import load_matrix

# Andrew Ng's vertical-edge example: a bright left half, a dark right half
NG = "\n".join(["10,10,10,0,0,0"] * 6) + "\n"


def _write(folder, name, text):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    folder = tmp_path_factory.mktemp("matrices")
    rng = np.random.default_rng(3)
    wide = rng.normal(size=(5, 7)).round(2)
    three = (rng.normal(size=(3, 5, 5)) * 3).round(1)
    made = {
        "ng": make_workbook(_write(folder, "ng.csv", NG), folder / "ng.xlsx", filters="vertical", until="conv1"),
        "wide": make_workbook(_write(folder, "wide.txt", "\n".join(" ".join(f"{v:g}" for v in row) for row in wide)),
                              folder / "wide.xlsx", arch="conv3x3x2,relu,dense"),
        "three": make_workbook(_write(folder, "three.tsv", "\n\n".join(
            "\n".join("\t".join(f"{v:g}" for v in row) for row in channel) for channel in three)),
            folder / "three.xlsx", steps=1, label="circle", lang="zh", input_scale=0.5),
    }
    return {name: result.path for name, result in made.items()}


def test_ngs_vertical_edge_example(books, libreoffice, tmp_path):
    paths = books
    wb = openpyxl.load_workbook(recalculate([paths["ng"]], tmp_path)[0], data_only=True)
    np.testing.assert_array_equal(named_values(wb, "conv1_1"), [[0, 30, 30, 0]] * 4)
    assert named_values(wb, "input_scale")[0, 0] == 1


def test_matrices_of_any_shape_and_sign_verify(books, libreoffice):
    paths = books
    reports = verify_workbooks([paths["wide"], paths["three"]])
    for report in reports:
        assert report.ok, report.table()
    wb = openpyxl.load_workbook(paths["wide"], data_only=True)
    assert named_values(wb, "conv1_1").shape == (3, 5)           # 5 x 7 through 3 x 3: 3 x 5
    three = openpyxl.load_workbook(paths["three"], data_only=True)
    assert named_values(three, "input_scale")[0, 0] == 0.5 and len(reports[1].losses) == 2


def test_loading_keeps_every_number(tmp_path):
    path = _write(tmp_path, "m.csv", "1, -2.5 ,3e-1\n4,5,6\n\n\n7,8,9\n10,11,12\n")
    np.testing.assert_array_equal(load_matrix(path), [[[1, -2.5, 0.3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]])


@pytest.mark.parametrize("text, words", [
    ("1,2,3\n4,5\n", "line 2 has 2 numbers"),
    ("1,2\n3,cat\n", "line 2, column 2: 'cat'"),
    ("\n \n", "no numbers"),
    ("1,2\n3,4\n\n1,2\n", "channel 2 has 1 rows"),
    ("1,nan\n", "line 1, column 2"),
    ("1,inf\n", "not a finite number"),
    ("\n\n".join(["1"] * 65), "at most 64"),
    ("\n".join([",".join(["1"] * 600)] * 2), "too large"),
])
def test_bad_matrices_get_one_line_and_exit_3(tmp_path, monkeypatch, text, words):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "bad.csv", text)
    run = CliRunner().invoke(main, ["build", "bad.csv"])
    assert run.exit_code == 3 and words in run.output, run.output
    assert len(run.output.strip().splitlines()) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_photo_options_are_refused_for_a_matrix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "m.csv", NG)
    run = CliRunner().invoke(main, ["build", "m.csv", "--size", "8"])
    assert run.exit_code == 2 and "--size" in run.output and not (tmp_path / "m.xlsx").exists()


def test_input_scale_applies_to_photos_too(tmp_path):
    book = make_workbook(output=tmp_path / "p.xlsx", input_scale=1.0, size=8).path
    assert named_values(openpyxl.load_workbook(book), "input_scale")[0, 0] == 1
