"""Excel's limits, all checked on the plan before any weight or cell is made; the formula budget;
and cell formats below Excel's 64,000 however many colours a photo has."""

import re
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from xlcnn import pipeline
from xlcnn.architecture import parse_architecture
from xlcnn.cli import main
from xlcnn.errors import LimitError
from xlcnn.layout import DEFAULT_MAX_FORMULAS, plan_layout, plan_within_limits
from xlcnn.pipeline import make_workbook
from xlcnn.workbook import build as build_module
from xlcnn.image import load_image
from xlcnn.workbook import styles
from xlcnn.workbook.styles import PIXEL_COLOURS_AT_MOST, painted_colours

from conftest import make_photo

VGG = ",".join(["conv3x3x64-same,relu"] * 2 + ["maxpool2"] + ["conv3x3x128-same,relu"] * 2 + ["maxpool2"]
               + ["conv3x3x256-same,relu"] * 3 + ["maxpool2"] + ["conv3x3x512-same,relu"] * 3 + ["maxpool2"]
               + ["conv3x3x512-same,relu"] * 3 + ["maxpool2", "dense4096,relu,dense4096,relu,dense"])
CLASSES = ("circle", "square", "triangle")


def _build(tmp_path, *args):
    out = tmp_path / "x.xlsx"
    return CliRunner().invoke(main, ["build", "-o", str(out), *map(str, args)]), out


def _one_line(result):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xlcnn: error: ") and "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("size", [224, 512])
def test_a_vgg_like_network_is_refused_before_any_weight_is_made(tmp_path, monkeypatch, size):
    # its weights (a 25,088 x 4,096 dense layer alone) must never be made: the plan refuses first.
    # How fast that is is measured in benchmarks/ (a timed test fails on a busy machine, not a slow xlcnn)
    monkeypatch.setattr(pipeline, "random_model", lambda *a, **k: pytest.fail("weights made before the check"))
    result, out = _build(tmp_path, "--size", size, "--arch", VGG)
    line = _one_line(result)
    assert "8,192" in line and "no --size makes this network fit" in line
    assert not out.exists()


def test_the_formula_budget_names_the_largest_size_and_the_option_raises_it(tmp_path):
    arch = "conv3x3x8,relu,maxpool2,dense"
    result, out = _build(tmp_path, "--size", 512, "--arch", arch)
    line = _one_line(result)
    assert "--max-formulas" in line and f"{DEFAULT_MAX_FORMULAS:,}" in line and not out.exists()
    side = int(re.search(r"largest --size that fits this network is (\d+)", line).group(1))
    layers = parse_architecture(arch, 3)
    assert plan_within_limits(layers, (3, side, side), CLASSES).formulas <= DEFAULT_MAX_FORMULAS
    with pytest.raises(LimitError, match="formulas"):
        plan_within_limits(layers, (3, side + 1, side + 1), CLASSES)
    assert plan_within_limits(layers, (3, 512, 512), CLASSES, max_formulas=6_000_000).formulas > DEFAULT_MAX_FORMULAS


def test_excel_row_limit_is_still_refused_with_the_largest_size():
    layers = parse_architecture("conv3x3x200,relu,dense", 3)
    with pytest.raises(LimitError, match=r"rows; Excel allows 1,048,576: the largest --size that fits this network is"):
        plan_within_limits(layers, (3, 512, 512), CLASSES, max_formulas=None)


@pytest.mark.parametrize("options", [
    # at 16 pixels the presets with descent steps still run every writer; the count does not depend on the size
    dict(), dict(preset="two-blocks", steps=2, size=16), dict(preset="dilated", steps=1, size=16),
    dict(preset="lenet-like", size=16),
    dict(arch="conv3x3x2-flip,relu,maxpool2,dense", exercise=True), dict(until="pool1"), dict(preset="edges"),
    dict(arch="sigmoid,maxpool2,conv3x3x2-same,relu,avgpool2,dense", steps=1, grayscale=True),
])
def test_the_plan_counts_the_formulas_the_writers_write(tmp_path, monkeypatch, options):
    planned = []

    def spy(*args, **kwargs):
        planned.append(plan_within_limits(*args, **kwargs))
        return planned[-1]
    monkeypatch.setattr(build_module, "plan_within_limits", spy)
    # the writers count their formulas as they write them: the file itself is not needed (a third of the time)
    monkeypatch.setattr(build_module, "save_atomically", lambda wb, out_path: out_path)
    written = make_workbook(None, tmp_path / "x.xlsx", **options).formulas
    assert abs(planned[0].formulas - written) <= 20 + written // 1000, (planned[0].formulas, written)


def test_verify_replans_without_a_budget():
    layers = parse_architecture("conv3x3x8,relu,maxpool2,dense", 3)
    assert plan_layout(layers, (3, 512, 512), CLASSES).formulas > DEFAULT_MAX_FORMULAS


# ---------------------------------------------------------------- cell formats


def _cell_formats(path):
    with zipfile.ZipFile(path) as z:
        styles = z.read("xl/styles.xml").decode()
    return int(re.search(r'<cellXfs count="(\d+)"', styles).group(1))


def _formats_beside_the_colours(folder, pixels):
    """Cell formats of a workbook of ``pixels`` minus the colours the painter paints them in; and those colours."""
    side = len(pixels)
    Image.fromarray(pixels).save(folder / "photo.png")
    result = make_workbook(folder / "photo.png", folder / "photo.xlsx", size=side, arch="avgpool16,dense")
    colours = len(np.unique(painted_colours(load_image(folder / "photo.png", side).transpose(2, 0, 1)).reshape(-1, 3),
                            axis=0))
    return _cell_formats(result.path) - colours, colours


def test_each_painted_colour_costs_one_cell_format_so_no_photo_reaches_excels_limit(tmp_path, monkeypatch):
    """Only the photo's colours add cell formats, one each, whatever its size; the painter keeps at most
    PIXEL_COLOURS_AT_MOST (test_too_many_colours_...), so every workbook stays below Excel's 64,000.
    (Building the worst photo, about 245 x 245 px of noise, takes ten seconds; this proves it in two.)"""
    rng = np.random.default_rng(0)
    photos = {f"{kind} {side}": pixels for side in (32, 64) for kind, pixels in (
        ("flat", np.full((side, side, 3), 77, np.uint8)), ("noisy", rng.integers(0, 256, (side, side, 3), np.uint8)))}
    found = {name: _formats_beside_the_colours(tmp_path, pixels) for name, pixels in photos.items()}
    others = {beside for beside, _ in found.values()}
    assert len(others) == 1 and found["noisy 64"][1] == 64 * 64, found
    assert min(others) + PIXEL_COLOURS_AT_MOST < 64_000
    # the workbook paints with the painter's budget: a budget below the photo's 4,096 colours holds in the book too
    monkeypatch.setattr(styles, "PIXEL_COLOURS_AT_MOST", 4000)
    beside, colours = _formats_beside_the_colours(tmp_path, photos["noisy 64"])
    assert {beside} == {b for b, _ in found.values()} and colours <= 4000


def test_a_photo_with_few_colours_is_painted_exactly():
    pixels = make_photo(64).transpose(2, 0, 1)
    np.testing.assert_array_equal(painted_colours(pixels), pixels.transpose(1, 2, 0))
    gray = pixels[:1]
    np.testing.assert_array_equal(painted_colours(gray)[..., 2], gray[0])


def test_too_many_colours_drop_the_lowest_bits_to_the_middle_of_their_band():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (3, 400, 400)).astype(np.uint8)
    colours = painted_colours(pixels).astype(int)
    # one number per colour, counted by NumPy's own indexing (not the painter's bit shifts): np.unique of numbers
    # is ten times faster than of rows (axis=0); ravel_multi_index refuses a channel outside 0..255
    codes = np.unique(np.ravel_multi_index(colours.reshape(-1, 3).T, (256, 256, 256)))
    assert len(codes) <= 60_000
    assert np.abs(colours - pixels.transpose(1, 2, 0)).max() <= 4
