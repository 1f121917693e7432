"""Corners found by trying the README as a new user would: each is one line and its documented exit code."""

import json
import pickle
import shutil
import zipfile

import numpy as np
import pytest

from test_cli import one_line_error, run  # noqa: F401  (run is a fixture)
from xlcnn.handout import HANDOUT_KEYWORD, handout_written_by_xlcnn
from xlcnn.network import random_model, save_model
from xlcnn.resources import resource_dir, sample_photos

PDF = b"%PDF-1.4\n1 0 obj\n<</Title (notes)>>\nendobj\ntrailer\n<</Info 1 0 R>>\n%%EOF\n"


def small_book(run, name="b.xlsx"):
    result = run("build", "--size", 8, "-o", name)
    assert result.exit_code == 0, result.output
    return name


# ---------------------------------------------------------------- verify: files that are not workbooks


def _broken_sheet(tmp_path, run):
    """An xlcnn workbook whose conv sheet lost the end of its XML."""
    source = tmp_path / small_book(run)
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(tmp_path / "broken.xlsx", "w") as new:
        for name in old.namelist():
            data = old.read(name)
            new.writestr(name, data[: len(data) // 2] if name == "xl/worksheets/sheet4.xml" else data)
    return "broken.xlsx"


NOT_WORKBOOKS = {
    "notes.pdf": lambda tmp_path, run: (tmp_path / "notes.pdf").write_bytes(PDF) and "notes.pdf",
    "photo.jpg renamed .xlsx": lambda tmp_path, run: shutil.copy(sample_photos()[0], tmp_path / "photo.xlsx")
    and "photo.xlsx",
    "random bytes": lambda tmp_path, run: (tmp_path / "noise.xlsx").write_bytes(bytes(range(256)) * 8) and "noise.xlsx",
    "a zip that is not a workbook": lambda tmp_path, run: _zip(tmp_path / "files.xlsx", {"a.txt": "hello"}),
    "a Word-like zip": lambda tmp_path, run: _zip(tmp_path / "letter.docx", {"[Content_Types].xml": "<Types/>"}),
    "broken XML inside": _broken_sheet,
}


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)
    return path.name


@pytest.mark.parametrize("kind", NOT_WORKBOOKS)
def test_verify_a_file_that_is_not_a_workbook_is_one_line(run, tmp_path, kind):
    name = NOT_WORKBOOKS[kind](tmp_path, run)
    line = one_line_error(run("verify", name), 3)
    assert name in line and "workbook" in line


# ---------------------------------------------------------------- handout: never overwrite someone's PDF


def test_handout_refuses_to_overwrite_a_pdf_it_did_not_write(run, tmp_path):
    book = small_book(run)
    (tmp_path / "notes.pdf").write_bytes(PDF)
    line = one_line_error(run("handout", book, "-o", "notes.pdf"), 4)
    assert "notes.pdf" in line and "not a handout xlcnn wrote" in line
    assert (tmp_path / "notes.pdf").read_bytes() == PDF
    # build --pdf prints to b.pdf beside b.xlsx: the same refusal, the PDF untouched
    (tmp_path / "b.pdf").write_bytes(PDF)
    one_line_error(run("build", "--size", 8, "-o", book, "--pdf"), 4)
    assert (tmp_path / "b.pdf").read_bytes() == PDF
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.pdf", "b.xlsx", "notes.pdf"]


def test_a_handout_is_recognised_by_its_keyword_only(tmp_path):
    hex_keyword = "FEFF" + HANDOUT_KEYWORD.encode("utf-16-be").hex().upper()
    cases = {
        f"<</Keywords<{hex_keyword}>/Creator<FEFF00430061006C0063>>>": True,   # as LibreOffice writes it
        f"<</Keywords({HANDOUT_KEYWORD})>>": True,
        f"<</Keywords(maths, {HANDOUT_KEYWORD})>>": True,
        f"<</Title({HANDOUT_KEYWORD})>>": False,
        "<</Keywords(xlcnn)>>": False,
        "<</Keywords<FEFF00>>>": False,
    }
    for n, (info, ours) in enumerate(cases.items()):
        path = tmp_path / f"{n}.pdf"
        path.write_bytes(b"%PDF-1.4\n1 0 obj\n" + info.encode() + b"\nendobj\n%%EOF\n")
        assert handout_written_by_xlcnn(path) is ours, info
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "text.pdf").write_bytes(f"/Keywords({HANDOUT_KEYWORD})".encode())   # not a PDF at all
    assert not handout_written_by_xlcnn(tmp_path / "empty.pdf")
    assert not handout_written_by_xlcnn(tmp_path / "text.pdf")


@pytest.mark.usefixtures("libreoffice")
def test_handout_runs_again_over_its_own_pdf(run, tmp_path):
    book = small_book(run)
    result = run("handout", book, "-o", "h.pdf")
    assert result.exit_code == 0, result.output
    assert handout_written_by_xlcnn(tmp_path / "h.pdf")
    first = (tmp_path / "h.pdf").stat().st_mtime_ns
    again = run("handout", book, "-o", "h.pdf")
    assert again.exit_code == 0, again.output
    assert (tmp_path / "h.pdf").stat().st_mtime_ns >= first and handout_written_by_xlcnn(tmp_path / "h.pdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.xlsx", "h.pdf"]   # no .part left behind


# ---------------------------------------------------------------- model files that are not models


def test_a_photo_given_as_model_is_one_clear_line(run, tmp_path):
    shutil.copy(sample_photos()[0], tmp_path / "photo.jpg")
    np.save(tmp_path / "weights.npy", np.zeros(3))
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"weights": [1, 2]}))
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object))
    for name in ("photo.jpg", "weights.npy", "model.pkl", "objects.npz"):
        line = one_line_error(run("build", "--model", name), 3)
        assert name in line and "allow_pickle" not in line, line
    assert "not an xlcnn model file" in one_line_error(run("build", "--model", "photo.jpg"), 3)
    assert "pickled" in one_line_error(run("build", "--model", "objects.npz"), 3)


def test_a_model_reading_neither_grey_nor_rgb_is_one_clear_line(run, tmp_path):
    """A photo becomes 1 or 3 channels: a 2-channel model once failed with a NumPy traceback."""
    save_model(random_model(channels=2, image_size=12), tmp_path / "two.npz")
    assert "2 input channels" in one_line_error(run("build", "--model", "two.npz", "-o", "two.xlsx"), 3)
    assert not (tmp_path / "two.xlsx").exists()


# ---------------------------------------------------------------- presets a teacher adds


@pytest.fixture
def own_presets(tmp_path, monkeypatch):
    """A templates/ folder with the shipped presets and room for a teacher's own."""
    templates = tmp_path / "templates"
    shutil.copytree(resource_dir("templates") / "presets", templates / "presets")
    monkeypatch.setattr("xlcnn.presets.resource_dir", lambda name: tmp_path / name)
    return templates / "presets"


def test_a_preset_without_a_description_is_listed_and_builds(run, own_presets):
    (own_presets / "mine.json").write_text(json.dumps({"architecture": "conv3x3x2,relu,maxpool2,dense",
                                                       "classes": ["a", "b"]}))
    result = run("presets")
    assert result.exit_code == 0, result.output
    assert "mine: conv3x3x2,relu,maxpool2,dense" in result.stdout
    built = run("build", "--preset", "mine", "--size", 8, "-o", "m.xlsx")
    assert built.exit_code == 0, built.output


@pytest.mark.parametrize("content, words", [("{not json", "not a readable preset"),
                                            ('{"description": "no network"}', '"architecture"')])
def test_a_broken_preset_is_one_line(run, own_presets, content, words):
    (own_presets / "bad.json").write_text(content)
    line = one_line_error(run("presets"), 3)
    assert "bad.json" in line and words in line


# ---------------------------------------------------------------- output that cannot be written: always 4


def test_a_missing_output_folder_is_exit_4_for_every_command(run, tmp_path):
    assert "does not exist" in one_line_error(run("train", tmp_path, "-o", "nope/m.npz"), 4)
    assert "does not exist" in one_line_error(run("build", "-o", "nope/x.xlsx"), 4)
    assert "does not exist" in one_line_error(run("handout", small_book(run), "-o", "nope/x.pdf"), 4)
    photos = [str(p) for p in sample_photos()[:2]]
    assert "does not exist" in one_line_error(run("build", *photos, "-o", "nope/books"), 4)
