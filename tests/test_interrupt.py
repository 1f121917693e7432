"""Ctrl-C: every command stops within 3 s, leaving no process, temporary file or further output.

Each test runs the real command in a subprocess with a fresh TMPDIR and a marker in its
environment (every child inherits it, LibreOffice included), sends SIGINT once the work
is under way, then looks for any process still carrying the marker and any file left in
TMPDIR or beside the outputs.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from books import shared_book
from xlcnn.resources import default_sample

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(default_sample().parent.glob("*.jpg"))
STOP_WITHIN = 3.0


def _marked_processes(marker):
    """Pids of live processes whose environment carries ``marker`` (a scan of /proc, no psutil)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:   # gone meanwhile, or not ours
            continue
        if f"XLCNN_TEST_MARKER={marker}".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def _start(args, tmp_path):
    marker = uuid.uuid4().hex
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "XLCNN_TEST_MARKER": marker, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "xlcnn", *args], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    return process, marker, tmpdir


def _wait_for(condition, process, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"finished before it could be interrupted: {process.communicate()}"
        assert time.monotonic() < deadline, "the work never got under way"
        time.sleep(0.05)


def _interrupt(process, marker, tmpdir, twice=False):
    """Send SIGINT (twice: two presses 0.2 s apart); it must exit within 3 s and leave nothing behind."""
    start = time.monotonic()
    process.send_signal(signal.SIGINT)
    if twice:
        time.sleep(0.2)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"still running {STOP_WITHIN} s after Ctrl-C")
    elapsed = time.monotonic() - start
    assert elapsed < STOP_WITHIN
    assert process.returncode == 130, err.decode()
    assert _gone_within(0.3, marker), "processes left running"
    assert list(tmpdir.iterdir()) == [], "temporary files left"
    assert b"Traceback" not in err, err.decode()
    return out, err


def _gone_within(seconds, marker):
    """Whether every process carrying ``marker`` is gone within ``seconds``: the kernel takes a moment to tear
    down killed children. Once they are gone nothing of the command is left to write a file later."""
    deadline = time.monotonic() + seconds
    while _marked_processes(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _soffice_running(marker):
    def check():
        for pid in _marked_processes(marker):
            try:
                if b"soffice" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                pass
        return False
    return check


@pytest.mark.parametrize("twice", [False, True], ids=["once", "twice"])
def test_batch_build_stops_at_once(tmp_path, twice):
    out_dir = tmp_path / "books"
    process, marker, tmpdir = _start(["build", *map(str, SAMPLES * 2), "--size", "40", "-o", str(out_dir)], tmp_path)
    _wait_for(lambda: out_dir.is_dir() and any(out_dir.iterdir()), process)
    _interrupt(process, marker, tmpdir, twice)
    written = sorted(p.name for p in out_dir.iterdir())
    assert len([name for name in written if name.endswith(".xlsx")]) < 2 * len(SAMPLES)
    assert all(name.endswith(".xlsx") and not name.startswith(".") for name in written), written


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return shared_book(tmp_path_factory, photo=SAMPLES[0])


@pytest.mark.parametrize("twice", [False, True], ids=["once", "twice"])
def test_handout_stops_and_leaves_no_libreoffice(libreoffice, tmp_path, book, twice):
    process, marker, tmpdir = _start(["handout", str(book), "-o", str(tmp_path / "h.pdf")], tmp_path)
    _wait_for(_soffice_running(marker), process)
    time.sleep(0.5)
    out, _ = _interrupt(process, marker, tmpdir, twice)
    assert out == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmpdir"]


def test_verify_stops_and_leaves_no_libreoffice(libreoffice, tmp_path, book):
    process, marker, tmpdir = _start(["verify", str(book)], tmp_path)
    _wait_for(_soffice_running(marker), process)
    time.sleep(0.5)
    out, _ = _interrupt(process, marker, tmpdir)
    assert out == b""
