"""Named choices and the small courtesies around them: labels without case, did-you-mean,
a warning when an option costs the shipped trained weights, broken training files named early."""

import openpyxl
import pytest
from click.testing import CliRunner

from xlcnn.cli import main
from xlcnn.datasets import write_shapes
from xlcnn.xlsxread import read_workbook


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return lambda *args: CliRunner().invoke(main, [str(a) for a in args])


def test_label_is_matched_without_regard_to_case(run, tmp_path):
    result = run("build", "--label", "Square", "-o", "x.xlsx")
    assert result.exit_code == 0, result.output
    assert "true label square" in result.stdout
    book = openpyxl.load_workbook(tmp_path / "x.xlsx", read_only=True)     # reads only the sheet asked for
    assert any(value == "square" for row in book.worksheets[9].iter_rows(values_only=True) for value in row)
    book.close()


@pytest.mark.parametrize("args, wrong, meant", [
    (("--preset", "edge"), "'edge'", "did you mean edges?"),
    (("--preset", "two-block"), "'two-block'", "did you mean two-blocks?"),
    (("--filters", "sobelx,laplacian"), "'sobelx'", "did you mean sobel-x?"),
    (("--label", "triangel"), "'triangel'", "did you mean triangle?"),
])
def test_a_mistyped_name_gets_a_suggestion(run, args, wrong, meant):
    result = run("build", *args, "-o", "x.xlsx")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith("xlcnn: error: ") and "\n" not in line
    assert wrong in line and meant in line


def test_no_suggestion_for_a_name_far_from_every_choice(run):
    result = run("build", "--preset", "zzzzqq", "-o", "x.xlsx")
    assert result.exit_code == 2 and "did you mean" not in result.stderr


@pytest.mark.parametrize("option", [("--true-convolution",), ("--grayscale",), ("--size", "20")])
def test_an_option_that_costs_the_shipped_weights_says_so(run, tmp_path, option):
    result = run("build", *option, "-o", "x.xlsx")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and option[0] in warnings[0] and "random weights" in warnings[0]
    # xlcnn's one-pass reader (a shared formula's every cell reads as its first: the same words)
    texts = [value for rows in read_workbook(tmp_path / "x.xlsx").formulas.values() for row in rows for value in row
             if isinstance(value, str)]
    assert any(option[0] in text and "trained model" in text for text in texts)


def test_the_shipped_model_itself_gets_no_warning(run):
    for args in ((), ("--preset", "two-blocks")):
        result = run("build", *args, "-o", "x.xlsx")
        assert result.exit_code == 0 and "warning" not in result.stderr, result.output


def test_train_names_a_broken_file_before_the_first_epoch(run, tmp_path):
    write_shapes(tmp_path / "d", per_class=4, size=16)
    (tmp_path / "d" / "circle" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n half a download")
    result = run("train", tmp_path / "d", "-o", "m.npz", "--epochs", "2", "--size", "12")
    assert result.exit_code == 0, result.output
    combined = result.output          # stdout and stderr in the order they were written
    assert "broken.png" in combined and "epoch 1/2" in combined
    assert combined.index("broken.png") < combined.index("epoch 1/2")
