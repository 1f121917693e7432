"""Workbooks the tests share: built when a test first asks for one, never twice.

A build takes 0.3-3 s, so the same book built in several modules, or built for tests that
were deselected (``-m "not libreoffice"``), is most of what a fast run would waste.

- ``Books``: a module's books, each built the first time a test reads it.
- ``shared_books``: books every module and every pytest-xdist worker of a run shares, built
  once per run and left read-only (a test that changes one edits a copy, ``shared_copy``).
  A shared book's manifest names the shared file in its rebuild command, not the copy.
"""

import errno
import fcntl
import hashlib
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

from xlcnn.options import BuildOptions
from xlcnn.pipeline import make_workbook
from xlcnn.resources import default_sample


class Books(Mapping):
    """{name: path} of a module's workbooks, each built by ``make_workbook(**options)`` on first use.

    ``builds`` maps a name to make_workbook's keyword arguments (``output`` is given here),
    or to a function of the output path that writes the book and returns its path.
    A book that fails to build fails only the tests that read it.
    """

    def __init__(self, folder, builds):
        self._builds, self._paths = dict(builds), {}
        self._build = lambda name, how: _build_in(folder / f"{_file_name(name)}.xlsx", how)

    @classmethod
    def shared(cls, tmp_path_factory, builds):
        """Books of ``builds`` ({name: make_workbook's keyword arguments}) that are ``shared_book``s, each
        built the first time a test of the run reads it: read-only."""
        books = cls(None, builds)
        books._build = lambda name, options: shared_book(tmp_path_factory, **options)
        return books

    def __getitem__(self, name):
        if name not in self._paths:
            self._paths[name] = self._build(name, self._builds[name])
        return self._paths[name]

    def __iter__(self):
        return iter(self._builds)

    def __len__(self):
        return len(self._builds)


def shared_books(tmp_path_factory, builds):
    """{name: path} of ``builds`` ({name: make_workbook's keyword arguments}), built once per test run.

    The file is named after the options, so two modules asking for the same book get one
    build. Parallel workers share the run's folder: each builds the books no other worker is
    building (one lock per book), then waits for the rest. The books are read-only.
    """
    folder = _run_folder(tmp_path_factory) / "shared-books"
    folder.mkdir(exist_ok=True)
    paths = {name: folder / f"{_options_key(options)}.xlsx" for name, options in builds.items()}
    waiting = []
    for name, options in builds.items():
        if not _build_unless_busy(paths[name], options, blocking=False):
            waiting.append(name)
    for name in waiting:
        _build_unless_busy(paths[name], builds[name], blocking=True)
    for name, path in paths.items():
        _unchanged(path, name)
    return paths


def shared_book(tmp_path_factory, **options):
    """The path of ``make_workbook(**options)``'s book, built once per test run and read-only."""
    return shared_books(tmp_path_factory, {"book": options})["book"]


def shared_copy(tmp_path_factory, target, **options):
    """``target``: a copy of the shared book of ``options``, for a test to change (as a fresh build would be)."""
    shutil.copyfile(shared_book(tmp_path_factory, **options), target)
    return target


# ---------------------------------------------------------------- private


def _build_in(output, how):
    return how(output) if callable(how) else make_workbook(output=output, **how).path


def _run_folder(tmp_path_factory):
    """This run's temporary folder: pytest-N, which every pytest-xdist worker (pytest-N/popen-gwK) shares."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


def _options_key(options):
    """The build's options with every default filled in, as a file name: {} and {"lang": "en"} are one book."""
    options = dict(options)
    photo = Path(options.pop("photo", None) or default_sample()).resolve()
    text = repr((str(photo), BuildOptions.given(None, **options)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_name(name):
    return "-".join(map(str, name)) if isinstance(name, tuple) else str(name)


def _build_unless_busy(path, options, blocking):
    """Build ``path`` unless it exists; False when another worker holds its lock and ``blocking`` is off."""
    with open(path.with_suffix(".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        if not path.exists():
            partial = path.parent / f"building-{os.getpid()}" / path.name    # the book's own name, as it is kept
            partial.parent.mkdir(exist_ok=True)
            make_workbook(output=partial, **options)
            partial.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)     # read-only: a test edits a copy
            partial.rename(path)
            path.with_suffix(".stamp").write_text(_stamp(path))
        return True


def _stamp(path):
    found = path.stat()
    return f"{found.st_size} {found.st_mtime_ns}"


def _unchanged(path, name):
    """Fail the asking test when an earlier one wrote over a shared book (root ignores read-only files)."""
    if path.with_suffix(".stamp").read_text() != _stamp(path):
        raise AssertionError(f"the shared book {name!r} ({path.name}) was changed by a test; a test edits a copy "
                             "(shutil.copyfile), never the shared book")
