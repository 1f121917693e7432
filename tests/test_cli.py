"""The command line: thin commands, one-line errors, documented exit codes, nothing half-written."""

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from xlcnn.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def invoke(*args):
        return CliRunner().invoke(main, [str(a) for a in args])
    return invoke


def one_line_error(result, code):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xlcnn: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_build_without_a_photo_uses_a_bundled_sample(run, tmp_path):
    result = run("build")
    assert result.exit_code == 0, result.output
    assert "formulas" in result.stdout
    assert (tmp_path / "circle-1.xlsx").is_file()
    assert "true label circle" in result.stdout


def test_build_options(run, tmp_path):
    result = run("build", "-o", "x.xlsx", "--size", 12, "--label", "triangle", "--fit", "pad", "--seed", 3)
    assert result.exit_code == 0, result.output
    assert "true label triangle" in result.stdout


@pytest.mark.usefixtures("libreoffice")
def test_build_verify_prints_the_table(run):
    result = run("build", "--verify", "-o", "v.xlsx")
    assert result.exit_code == 0, result.output
    assert "3 Conv" in result.stdout and "PASS" in result.stdout    # `verify` alone: the folder test below


def test_bad_photo_is_one_line_and_leaves_no_file(run, tmp_path):
    (tmp_path / "fake.jpg").write_text("this is a word document")
    assert run("build", "-o", "out.xlsx", "--size", 8).exit_code == 0   # an earlier workbook xlcnn may replace
    previous = (tmp_path / "out.xlsx").read_bytes()
    line = one_line_error(run("build", "fake.jpg", "-o", "out.xlsx"), 3)
    assert "fake.jpg" in line
    assert (tmp_path / "out.xlsx").read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.jpg", "out.xlsx"]


def test_missing_photo(run):
    assert "nothere.png" in one_line_error(run("build", "nothere.png"), 3)


def test_unknown_label_names_the_choices(run, tmp_path):
    line = one_line_error(run("build", "--label", "dog", "-o", "x.xlsx"), 2)
    assert "'dog'" in line and "circle" in line
    assert not (tmp_path / "x.xlsx").exists()


def test_bad_size_is_a_usage_error(run):
    result = run("build", "--size", 0)
    assert result.exit_code == 2 and "--size" in result.stderr


def test_model_file_errors(run, tmp_path):
    (tmp_path / "m.npz").write_bytes(b"PK\x03\x04broken")
    assert "m.npz" in one_line_error(run("build", "--model", "m.npz"), 3)


def test_verify_refuses_a_foreign_workbook(run, tmp_path):
    import openpyxl
    openpyxl.Workbook().save(tmp_path / "other.xlsx")
    assert "not a workbook written by xlcnn" in one_line_error(run("verify", "other.xlsx"), 3)


def test_output_folder_missing(run):
    assert "does not exist" in one_line_error(run("build", "-o", "nope/x.xlsx"), 4)


def test_debug_shows_the_traceback(run, tmp_path):
    (tmp_path / "fake.png").write_text("nope")
    result = CliRunner().invoke(main, ["--debug", "build", "fake.png"])
    assert result.exit_code == 3 and "Traceback" in result.stderr


def test_every_command_is_documented_in_the_readme():
    text = README.read_text(encoding="utf-8")
    for name in main.commands:
        assert f"### `xlcnn {name}" in text, name
        assert main.commands[name].help and "Example:" in main.commands[name].help


def documented_exit_codes(text):
    """{code: meaning} from the README's sentence "Errors are ... a non-zero exit: 2 bad option, 3 ...".

    The sentence ends at the first full stop after the list; parentheses may hold commas.
    """
    match = re.search(r"non-zero exit:\s*(.*?)\.\s", text, re.S)
    assert match, "README.md: the sentence listing the exit codes is missing"
    items = re.split(r",\s*(?![^()]*\))", " ".join(match.group(1).split()))
    codes = {}
    for item in items:
        code, meaning = re.fullmatch(r"(\d+) (.+)", item.strip()).groups()
        assert int(code) not in codes, f"README.md: exit {code} is listed twice"
        codes[int(code)] = meaning
    return codes


# the word each error's line in the README must hold
MEANINGS = {"UsageError": "option", "InputError": "input", "OutputError": "output",
            "VerificationError": "verification", "EngineMissingError": "LibreOffice"}


def test_readme_exit_codes_match_the_errors():
    """Every exit code an error class gives is documented with its meaning, and every documented code is given."""
    from xlcnn import errors
    documented = documented_exit_codes(README.read_text(encoding="utf-8"))
    classes, seen = [], [errors.XlcnnError]
    while seen:
        cls = seen.pop()
        classes.append(cls)
        seen += cls.__subclasses__()
    own = {cls.__name__: cls.exit_code for cls in classes if "exit_code" in vars(cls) and cls is not errors.XlcnnError}
    assert set(own) == set(MEANINGS), "a new exit code: add it to the README's list and to MEANINGS here"
    assert sorted(own.values()) == sorted(documented), (own, documented)     # both ways, no code twice
    for name, code in own.items():
        assert MEANINGS[name].lower() in documented[code].lower(), (name, code, documented[code])
    # the table of refused inputs gives only documented codes (0: a workbook after all)
    table_codes = {int(c) for c in re.findall(r"^\|.*\| (\d+) \|$", README.read_text(encoding="utf-8"), re.M)}
    assert table_codes and table_codes <= set(documented) | {0}, table_codes


def test_python_dash_m(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(README.parent)}
    result = subprocess.run([sys.executable, "-m", "xlcnn", "--help"], capture_output=True, text=True,
                            cwd=tmp_path, env=env)
    assert result.returncode == 0 and "build" in result.stdout and "verify" in result.stdout


def test_wheel_carries_templates_and_samples(tmp_path):
    """A plain `pip install .` must bring templates/ and samples/ along.

    The wheel is built by the hatchling the test extra installs (the build-system's own backend, same version
    range): pip's isolated build would first install hatchling into a fresh environment, three times the work.
    """
    root = README.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(root)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("xlcnn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "xlcnn/templates/texts/en.json" in names
    assert {"xlcnn/samples/circle-1.jpg", "xlcnn/samples/default_model.npz"} <= set(names)


def test_presets_command_lists_every_preset(run):
    from xlcnn.presets import preset_names
    result = run("presets")
    assert result.exit_code == 0
    for name in preset_names():
        assert f"{name}: " in result.stdout


def test_build_lesson_options(run, tmp_path):
    result = run("build", "--preset", "edges", "--true-convolution", "--until", "conv1", "-o", "e.xlsx")
    assert result.exit_code == 0, result.output
    assert "true label" not in result.stdout
    assert "'nope'" in one_line_error(run("build", "--preset", "nope"), 2)
    assert "item 2" in one_line_error(run("build", "--arch", "conv3x3x2,pool9"), 2)
    assert "sobel-x" in one_line_error(run("build", "--filters", "sobel"), 2)
    assert "conv1, relu1" in one_line_error(run("build", "--until", "conv7"), 2)
    line = one_line_error(run("build", "--arch", "conv3x3x2-s4,relu,maxpool5,dense", "--size", 8), 2)
    assert "layer 3" in line and "2 - 5" in line


@pytest.mark.usefixtures("libreoffice")
def test_build_a_folder_skips_bad_photos_and_verifies_once(run, tmp_path):
    from xlcnn.resources import sample_photos
    folder = tmp_path / "class"
    folder.mkdir()
    for photo in sample_photos()[:3]:
        (folder / photo.name).write_bytes(photo.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    result = run("build", folder, "-o", tmp_path / "books", "--verify")
    assert result.exit_code == 3, result.output
    assert "skipped" in result.stderr and "broken.jpg" in result.stderr
    assert sorted(p.name for p in (tmp_path / "books").iterdir()) == sorted(p.stem + ".xlsx" for p in sample_photos()[:3])
    assert result.stdout.count("PASS") == 3
    again = run("verify", *sorted((tmp_path / "books").iterdir()))
    assert again.exit_code == 0 and again.stdout.count("PASS") == 3 and "max abs error" in again.stdout
