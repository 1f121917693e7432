"""Nothing a user feeds xlcnn crashes it, damages a file or runs code."""

import os
import stat
import time

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from xlcnn import build_workbook, verify_workbook
from xlcnn.cli import main
from xlcnn.errors import EngineMissingError, ModelError, XlcnnError
from xlcnn.image import load_image
from xlcnn.libreoffice import recalculate
from xlcnn.network import load_model, random_model, save_model
from xlcnn.resources import sample_photos

from conftest import make_photo
from corpus import OK, corpus, write_corpus

HOSTILE = ('=HYPERLINK("http://x","y")', "=cmd|'/C calc'!A0", "+1+1", "@SUM(1)", "-2+3")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_corpus_of_bad_and_odd_photos(tmp_path):
    """Each photo is read, or refused, before the build; the smallest picture side builds the rest in less time."""
    expected = write_corpus(tmp_path / "corpus")
    for name, outcome in expected.items():
        out = tmp_path / "out" / (name + ".xlsx")
        out.parent.mkdir(exist_ok=True)
        result = run("build", tmp_path / "corpus" / name, "-o", out, "--size", 8)
        if outcome == OK:
            assert result.exit_code == 0 and out.is_file(), (name, result.output)
        else:
            assert result.exit_code == outcome, (name, result.output)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and name in lines[0] and "Traceback" not in result.output, (name, result.stderr)
            assert not out.exists()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]   # no temporary leftovers


def test_lower_pixel_cap(tmp_path):
    photo = tmp_path / "big.png"
    from PIL import Image
    Image.new("RGB", (300, 200)).save(photo)
    result = run("build", photo, "-o", tmp_path / "x.xlsx", "--max-pixels", 10_000)
    assert result.exit_code == 3 and "big.png" in result.stderr


@pytest.mark.parametrize("args, words", [
    (["--size", 0], "--size"), (["--size", 10000], "--size"),
    (["--arch", "conv31x31x2,relu,maxpool2,dense"], "does not fit"),
    (["--arch", "conv3x3x0,relu,maxpool2,dense"], "filters must be at least 1"),
    (["--arch", "conv3x3x2,relu,maxpool40,dense"], "does not fit"),
    (["--arch", "conv3x3x2-s0,relu,maxpool2,dense"], "stride must be at least 1"),
    (["--label", "dog"], "choose one of"),
    (["--size", 512, "--arch", "conv3x3x32,relu,maxpool2,dense"], "largest --size that fits this network is"),
    (["--steps", 25], "--steps"),
])
def test_bad_options_are_refused_before_writing(tmp_path, args, words):
    out = tmp_path / "x.xlsx"
    result = run("build", "-o", out, *args)
    assert result.exit_code == 2 and words in result.stderr, result.output
    assert not out.exists()


def test_foreign_files_are_never_overwritten(tmp_path, photo_array):
    model = random_model(seed=0)
    for name, content in (("report.xlsx", None), ("notes.xlsx", b"my notes")):
        target = tmp_path / name
        if content is None:
            wb = openpyxl.Workbook()
            wb.active["A1"] = "a teacher's marks"
            wb.save(target)
        else:
            target.write_bytes(content)
        before = target.read_bytes()
        with pytest.raises(XlcnnError, match="not a workbook xlcnn wrote"):
            build_workbook(model, photo_array, target)
        assert target.read_bytes() == before
    ours = tmp_path / "ours.xlsx"
    build_workbook(model, photo_array, ours)
    build_workbook(model, photo_array, ours)          # replacing our own workbook is fine


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder(tmp_path, photo_array):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(XlcnnError, match="cannot write"):
            build_workbook(random_model(seed=0), photo_array, folder / "x.xlsx")
    finally:
        folder.chmod(stat.S_IRWXU)


def test_model_files_are_checked(tmp_path):
    model = random_model(seed=0)
    path = tmp_path / "m.npz"
    save_model(model, path)
    data = dict(np.load(path, allow_pickle=False))
    data["layer4.weight"] = np.zeros((3, 5))                 # the dense layer's shape is wrong
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(ModelError, match=r"layer 5 .*weight has shape \(3, 5\), expected \(3, 676\)"):
        load_model(tmp_path / "bad.npz")
    data = dict(np.load(path, allow_pickle=False))
    data["class_names"] = np.array(["ok", "bell\x07", ""])
    np.savez(tmp_path / "names.npz", **data)
    with pytest.raises(ModelError, match="class name"):
        load_model(tmp_path / "names.npz")


def test_control_characters_in_text_become_question_marks(tmp_path, photo_array):
    model = random_model(class_names=("a\x00b", "c", "d"), seed=0)
    book = build_workbook(model, photo_array, tmp_path / "x.xlsx").path
    assert openpyxl.load_workbook(book, read_only=True)["8 Softmax"]["A10"].value == "a?b"


@pytest.mark.usefixtures("libreoffice")
def test_hostile_class_names_stay_text_in_libreoffice(tmp_path, photo_array):
    from xlcnn.network import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax
    layers = (Conv2D(2, 3), ReLU(), MaxPool2D(2), Flatten(), Dense(len(HOSTILE)), Softmax())
    model = random_model(layers, HOSTILE, seed=0)
    save_model(model, tmp_path / "hostile.npz")
    book = tmp_path / "hostile.xlsx"
    result = run("build", sample_photos()[0], "-o", book, "--model", tmp_path / "hostile.npz", "--verify")
    assert result.exit_code == 0, result.output
    written = openpyxl.load_workbook(book)["8 Softmax"]
    assert [written.cell(10 + n, 1).value for n in range(5)] == list(HOSTILE)
    assert all(written.cell(10 + n, 1).data_type == "s" for n in range(5))
    values = openpyxl.load_workbook(recalculate([book], tmp_path / "out")[0], data_only=True)
    assert [values["8 Softmax"].cell(10 + n, 1).value for n in range(5)] == list(HOSTILE)
    assert [values["9 Loss"].cell(12, 2 + n).value for n in range(5)] == list(HOSTILE)


# ---------------------------------------------------------------- LibreOffice faults


@pytest.fixture(scope="module")
def random_book(tmp_path_factory):
    """A workbook of a random model, built once: the engine-fault tests below only hand it to verify."""
    return build_workbook(random_model(seed=0), make_photo(28), tmp_path_factory.mktemp("faults") / "x.xlsx").path


def fake_soffice(folder, body):
    folder.mkdir()
    script = folder / "soffice"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return folder


def test_hanging_libreoffice_is_stopped(tmp_path, monkeypatch, random_book):
    bin_dir = fake_soffice(tmp_path / "bin", "sleep 60")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    started = time.monotonic()
    with pytest.raises(EngineMissingError, match="longer than 1 s"):
        verify_workbook(random_book, timeout=1)
    assert time.monotonic() - started < 15


def test_crashing_libreoffice_gives_its_message(tmp_path, monkeypatch, random_book):
    bin_dir = fake_soffice(tmp_path / "bin", "echo 'segmentation fault in the filter' >&2; exit 139")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = run("verify", random_book)
    assert result.exit_code == 6 and "segmentation fault" in result.stderr and "Traceback" not in result.output


def test_missing_libreoffice_says_how_to_install(tmp_path, monkeypatch, random_book):
    monkeypatch.setattr("xlcnn.libreoffice.find_soffice", lambda: None)
    result = run("verify", random_book)
    assert result.exit_code == 6 and "apt-get install libreoffice-calc-nogui" in result.stderr


# ---------------------------------------------------------------- properties


def seeds():
    """The corpus' photos, made when the test runs: every pytest-xdist worker imports this file, one runs it."""
    return [data for data, _ in corpus().values() if data]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.binary(max_size=300),
                 st.tuples(st.integers(0, 999), st.integers(0, 10**6), st.integers(0, 255), st.integers(1, 10**5))),
       st.sampled_from([".jpg", ".png", ".gif", ".tif", ".bmp", ".webp"]))
def test_loader_only_ever_raises_xlcnn_errors(tmp_path_factory, data, suffix):
    if isinstance(data, tuple):               # a real image with one byte changed and its tail cut
        seed, position, value, keep = data
        photos = seeds()
        raw = bytearray(photos[seed % len(photos)][:keep])
        raw[position % len(raw)] = value
        data = bytes(raw)
    path = tmp_path_factory.mktemp("fuzz") / f"input{suffix}"
    path.write_bytes(data)
    try:
        image = load_image(path, size=8)
    except XlcnnError:
        return
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
