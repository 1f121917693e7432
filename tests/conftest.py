"""Shared fixtures: LibreOffice and Gnumeric availability, tiny models and photos."""

import gc
import importlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from xlcnn import gnumeric as gnumeric_module, libreoffice as libreoffice_module
from xlcnn.collector import YOUNG_THRESHOLD
from xlcnn.gnumeric import find_ssconvert
from xlcnn.libreoffice import find_soffice
from xlcnn.network import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax, random_model

UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


ENGINE_FIXTURES = ("libreoffice", "gnumeric")   # each also names the marker of the tests that use it


def pytest_collection_finish(session):
    """Everything imported so far (numpy, openpyxl, the test modules) lives as long as the run: frozen out of
    the collector's way, so its passes walk only what the tests make, and they pass as seldom as in a build."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def pytest_itemcollected(item):
    """A test that uses an engine's fixture carries its marker: `pytest -m "not libreoffice"` is the fast subset."""
    for name in ENGINE_FIXTURES:
        if name in getattr(item, "fixturenames", ()):
            item.add_marker(getattr(pytest.mark, name))


# Seconds each file took on a 2-core machine (2026-12-01): its tests without an engine, and with one.
# pytest-xdist (--dist loadfile --no-loadscope-reorder) deals whole files to its workers in the order
# collected, so the longest of what is selected goes first: a long file dealt last leaves the other core
# idle (the whole suite lost minutes that way). Only the order depends on these numbers; a file not
# listed here goes after them, in its usual place. Session 25 measured them from `--durations=0` of a
# whole run and of a `-m "not libreoffice"` run on two workers, the fixtures each file set up included
# (a book shared by several files counts in the file that built it first).
FILE_SECONDS = {
    "test_engine_matrix.py": (0, 83), "test_verify.py": (0, 64), "test_learning.py": (1, 51), "test_onnx.py": (1, 46),
    "test_handout.py": (0, 42), "test_lessons.py": (0, 39), "test_grouped.py": (1, 25), "test_tconv.py": (2, 23),
    "test_cached_values.py": (7, 18), "test_sheet_identity.py": (0, 24), "test_corners.py": (2, 17),
    "test_branches.py": (3, 16), "test_engines.py": (0, 16), "test_cli.py": (3, 13), "test_resnet_block.py": (0, 15),
    "test_inception.py": (1, 13), "test_tolerance.py": (0, 13), "test_robustness.py": (4, 8),
    "test_regression.py": (0, 12), "test_honest.py": (2, 9), "test_classroom.py": (1, 10), "test_xlsxread.py": (2, 8),
    "test_bn_sheets.py": (1, 9), "test_interrupt.py": (3, 6), "test_new_kind.py": (0, 8), "test_exercises.py": (6, 2),
    "test_matrices.py": (0, 6), "test_functions.py": (6, 0), "test_workbook.py": (5, 0), "test_options.py": (3, 2),
    "test_limits.py": (4, 1), "test_cli_corners.py": (0, 5), "test_train.py": (3, 1),
    "test_summary_command.py": (0, 4), "test_im2col.py": (0, 4), "test_torch_oracle.py": (3, 0),
    "test_overview.py": (0, 3), "test_names.py": (0, 3), "test_schema.py": (2, 0), "test_choices.py": (2, 0),
    "test_sheetdata_differential.py": (1, 0), "test_sheetdata.py": (1, 0), "test_languages.py": (0, 1),
    "test_kinds.py": (1, 0), "test_graph.py": (1, 0), "test_gradients.py": (1, 0), "test_formulas.py": (1, 0),
    "test_colours.py": (1, 0), "test_architecture.py": (1, 0), "test_texts.py": (0, 0), "test_styles_xml.py": (0, 0),
    "test_plans.py": (0, 0), "test_network.py": (0, 0), "test_lesson_formulas.py": (0, 0), "test_layers.py": (0, 0),
    "test_image.py": (0, 0), "test_gradient_formulas.py": (0, 0), "test_constants.py": (0, 0),
    "test_code_shape.py": (0, 0), "test_cells.py": (0, 0)
}


@pytest.hookimpl(trylast=True)      # after `-m` has deselected what will not run
def pytest_collection_modifyitems(items):
    """The slowest files first, counting a file's engine tests only when they are selected."""
    engines = {item.path.name for item in items if any(item.get_closest_marker(name) for name in ENGINE_FIXTURES)}

    def seconds(item):
        alone, with_engines = FILE_SECONDS.get(item.path.name, (0, 0))
        return alone + (with_engines if item.path.name in engines else 0)
    items.sort(key=seconds, reverse=True)    # stable: each file's tests keep their order


class OnFirstUse:
    """A module (or a name in one) imported when a test first reads from it, not when the file is collected.

    Every pytest-xdist worker collects every file; torch, onnx and scipy take up to seconds each
    to import, which only the worker that runs their tests should pay.
    """

    def __init__(self, module, name=None, load=importlib.import_module):
        self._where = module, name, load

    def __getattr__(self, attribute):
        if attribute.startswith("_"):     # pytest looks for fixture and test markers on every name of a module
            raise AttributeError(attribute)
        module, name, load = self._where
        found = load(module)
        return getattr(found if name is None else getattr(found, name), attribute)


_REAL_ENGINES = {Path(p).resolve() for p in (find_soffice(), find_ssconvert()) if p}


@pytest.fixture(autouse=True)
def _engines_only_where_marked(request, monkeypatch):
    """A test that starts the real LibreOffice or Gnumeric without its fixture fails, so the markers stay true.

    Stand-in programs (the hanging or crashing engines of the robustness tests) may run anywhere.
    """
    if any(request.node.get_closest_marker(name) for name in ENGINE_FIXTURES):
        return
    for module in (libreoffice_module, gnumeric_module):
        real = module.run

        def guarded(command, *args, real=real, **kwargs):
            if Path(command[0]).resolve() in _REAL_ENGINES:
                pytest.fail(f"{request.node.nodeid} starts {Path(command[0]).name} but does not use the "
                            f"libreoffice or gnumeric fixture (so `-m \"not libreoffice\"` would run it)")
            return real(command, *args, **kwargs)
        monkeypatch.setattr(module, "run", guarded)


def _engine(path, name, package):
    """An engine's program: skipped without it, except under CI where it must be installed."""
    if path is None:
        if UNDER_CI:
            pytest.fail(f"{name} is missing; CI must install {package}")
        pytest.skip(f"{name} is not installed (apt-get install {package})")
    return path


@pytest.fixture(scope="session")
def libreoffice():
    """Tests that recalculate in LibreOffice: skipped without it, except under CI where they fail."""
    return _engine(find_soffice(), "LibreOffice (soffice)", "libreoffice-calc-nogui")


@pytest.fixture(scope="session")
def poppler():
    """Tests that measure a printed PDF (pdftotext): skipped without poppler-utils, except under CI."""
    return _engine(shutil.which("pdftotext"), "poppler-utils (pdftotext)", "poppler-utils")


@pytest.fixture(scope="session")
def gnumeric():
    """Tests that recalculate in Gnumeric: skipped without it, except under CI where they fail."""
    return _engine(find_ssconvert(), "Gnumeric (ssconvert)", "gnumeric")


@pytest.fixture(scope="session")
def german_locale(tmp_path_factory):
    """Environment variables of a real de_DE.UTF-8 locale (decimal comma), built with localedef.

    Setting LANG to a locale that is not installed silently falls back to C, which
    would test nothing. Skipped where the locale cannot be built, except under CI.
    """
    folder = tmp_path_factory.mktemp("locales")
    try:
        made = subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8", str(folder / "de_DE.UTF-8")],
                              capture_output=True).returncode in (0, 1)   # 1: built, with warnings
    except OSError:
        made = False
    if not made or not (folder / "de_DE.UTF-8").exists():
        if UNDER_CI:
            pytest.fail("cannot build the de_DE.UTF-8 locale; CI must install the locales package")
        pytest.skip("cannot build the de_DE.UTF-8 locale (localedef and the locales package)")
    return {"LOCPATH": str(folder), "LANG": "de_DE.UTF-8", "LC_ALL": "de_DE.UTF-8"}


@pytest.fixture
def photo_array():
    """A deterministic 28x28 RGB picture with structure (a dark disc on a gradient)."""
    return make_photo(28)


def make_photo(size, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.zeros((size, size, 3))
    img[..., 0] = 255 * xx / max(size - 1, 1)
    img[..., 1] = 255 * yy / max(size - 1, 1)
    img[..., 2] = 128
    disc = (yy - size / 2) ** 2 + (xx - size / 2.5) ** 2 < (size / 4) ** 2
    img[disc] = (20, 30, 40)
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


TINY_LAYERS = (Conv2D(2, 3, stride=1, padding=1), ReLU(), MaxPool2D(2), Flatten(), Dense(2), Softmax())


@pytest.fixture
def tiny_model():
    """3x4x4 input -> conv 2 filters 3x3 pad 1 -> ReLU -> pool 2 -> 8 -> dense 2 -> softmax."""
    return random_model(TINY_LAYERS, ("cat", "dog"), image_size=4, seed=1)
