"""The build options: one value checked before any work, one table of spellings, a rebuild command that rebuilds."""

import shlex
import shutil
import zipfile
from dataclasses import fields

import pytest
from click.testing import CliRunner

from xlcnn import pipeline
from xlcnn.cells import a1
from xlcnn.cli import main
from xlcnn.errors import OutputError, UsageError
from xlcnn.options import BUILD_FLAGS, MAX_STEPS, BuildOptions, option_name
from xlcnn.pipeline import make_workbook
from xlcnn.resources import sample_photos
from xlcnn.xlsxread import read_workbook


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _manifest_command(cells):
    """The manifest's "command to rebuild" among a book's ``_cells`` (found by its value: the sheet's title is in
    the book's language)."""
    commands = [value for value in cells.values() if isinstance(value, str) and value.startswith("xlcnn build ")]
    assert len(commands) == 1, commands
    return commands[0]


def _cells(book):
    """{(sheet, cell): formula text or constant} of every filled cell of ``book``: weights and the rate too.

    Read with xlcnn's one-pass reader (under half of openpyxl's time), which gives every cell of a shared formula
    its first cell's text; ``_sheet_parts`` holds each cell's own formula as written.
    """
    return {(sheet, a1(r, c)): value for sheet, rows in read_workbook(book).formulas.items()
            for r, row in enumerate(rows) for c, value in enumerate(row) if value is not None}


def _sheet_parts(book):
    """{part name: bytes} of the worksheets of ``book``, as written: every cell's formula, shared ones included."""
    with zipfile.ZipFile(book) as package:
        return {name: package.read(name) for name in package.namelist() if name.startswith("xl/worksheets/")}


@pytest.mark.parametrize("args", [
    [],
    ["--backprop", "--steps", "2", "--seed", "3", "--size", "14"],   # 14 pixels: two steps at 28 cost 4x the time
    ["--exercise", "--size", "12", "--grayscale"],
    ["--preset", "two-blocks", "--lang", "zh", "--size", "16", "--label", "Square"],
    ["--arch", "conv3x3x2-same,leakyrelu,avgpool2,dense", "--backprop", "--rate", "0.05", "--size", "10",
     "--max-formulas", "100000", "--max-pixels", "100000000", "--fit", "pad"],
])
def test_the_manifest_command_rebuilds_the_same_formulas(args, tmp_path, monkeypatch):
    """Build, read the rebuild command off the manifest, run it elsewhere: every formula and constant is the same."""
    photo = sample_photos()[4]
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        shutil.copy(photo, folder / photo.name)
    monkeypatch.chdir(first)
    built = _cli("build", photo.name, "-o", "book.xlsx", *args)
    assert built.exit_code == 0, built.output
    original = _cells(first / "book.xlsx")
    command = _manifest_command(original)
    words = shlex.split(command)
    assert words[:2] == ["xlcnn", "build"] and "--lang" in words
    monkeypatch.chdir(second)
    rebuilt = _cli(*words[1:])
    assert rebuilt.exit_code == 0, (command, rebuilt.output)
    again = _cells(second / "book.xlsx")
    assert sum(isinstance(value, str) and value.startswith("=") for value in original.values()) > 50
    assert again == original
    assert _manifest_command(again) == command
    written, rewritten = _sheet_parts(first / "book.xlsx"), _sheet_parts(second / "book.xlsx")
    assert written.keys() == rewritten.keys()
    assert not [name for name in written if written[name] != rewritten[name]]


def test_the_rebuild_command_names_what_differs_from_the_defaults():
    photo, output = "cat photo.jpg", "out/cat.xlsx"
    assert BuildOptions().command(photo, output) == "xlcnn build 'cat photo.jpg' -o cat.xlsx --lang en"
    options = BuildOptions(model_path="/models/m.npz", steps=2, exercise=True, max_pixels=10, seed=0)
    assert options.command(photo, output) == ("xlcnn build 'cat photo.jpg' -o cat.xlsx --model m.npz --lang en "
                                              "--exercise --steps 2 --rate 0.01")
    assert "--rate" not in BuildOptions(rate=0.5).command(photo, output)   # no steps: the rate changes nothing


def test_the_options_that_change_the_default_network_are_named_as_typed_and_change_their_kind():
    """The warning beside an untrained default network lists what changed it, in the table's spellings;
    --true-convolution turns every layer with filters (the kind's own option) and leaves the others as they were."""
    options = BuildOptions(true_convolution=True, classes="cat,dog", bias="1,0")
    assert (options.unfit_options(12, 28, ("hand-made",), True)
            == "--size 12 --filters --true-convolution --grayscale --classes --bias")
    assert BuildOptions().unfit_options(28, 28, (), False) == ""
    layers = pipeline.choose_model(arch="conv3x3x2,relu,conv3x3x2,dense", true_convolution=True, size=12).model.layers
    assert [getattr(layer, "flip", None) for layer in layers] == [True, None, True, None, None, None]


def test_every_option_has_one_spelling_and_the_cli_declares_them_all():
    spelled = [flag.field for flag in BUILD_FLAGS if flag.field is not None]
    assert sorted(spelled) == sorted(f.name for f in fields(BuildOptions))
    declared = {opt for param in main.commands["build"].params for opt in param.opts if opt.startswith("-")}
    assert declared == {word for flag in BUILD_FLAGS for word in flag.decls if word.startswith("-")}
    assert option_name("true_convolution") == "--true-convolution" and option_name("model_path") == "--model"


@pytest.mark.parametrize("changes, words", [
    ({"steps": MAX_STEPS + 1}, f"--steps {MAX_STEPS + 1}: choose from 0 to {MAX_STEPS}"),
    ({"steps": -1}, "--steps -1"),
    ({"rate": 0.0}, "--rate 0.0"),
    ({"rate": float("nan")}, "--rate nan"),
    ({"lang": "fr"}, "--lang"),
    ({"fit": "zoom"}, "--fit"),
    ({"size": 3}, "--size"),
    ({"max_formulas": 0}, "--max-formulas 0"),
    ({"max_pixels": 0}, "--max-pixels"),
    ({"model_path": "m.npz", "preset": "edges"}, "--model already fixes the network"),
])
def test_a_bad_option_is_refused_when_the_options_are_made(changes, words):
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        BuildOptions(**changes)


def test_the_cli_refuses_a_bad_option_in_one_line_before_any_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipeline, "choose_model", _no_work)
    result = _cli("build", "--steps", MAX_STEPS + 1)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"xlcnn: error: --steps {MAX_STEPS + 1}: choose from 0 to {MAX_STEPS}"


def _no_work(*args, **kwargs):
    raise AssertionError("the build started before its options and output were checked")


@pytest.mark.parametrize("output, error, words", [
    ("book.csv", UsageError, "must be an .xlsx file"),
    ("missing/book.xlsx", OutputError, "does not exist"),
    (".", UsageError, "must be an .xlsx file"),
    ("mine.xlsx", OutputError, "not a workbook xlcnn wrote"),
])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(output, error, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.xlsx").write_text("a teacher's own file")
    monkeypatch.setattr(pipeline, "choose_model", _no_work)
    with pytest.raises(error, match=words):
        make_workbook(output=output)
    assert (tmp_path / "mine.xlsx").read_text() == "a teacher's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.xlsx"]


def test_a_label_is_checked_once_against_the_model(tmp_path):
    with pytest.raises(UsageError, match="--label 'dog' is not a class"):
        make_workbook(output=tmp_path / "x.xlsx", label="dog")
    with pytest.raises(UsageError, match="no classes"):
        make_workbook(output=tmp_path / "x.xlsx", arch="conv3x3x2,relu", label="cat", size=8)
    assert make_workbook(output=tmp_path / "x.xlsx", label="SQUARE", size=8).label == "square"
