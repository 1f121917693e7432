"""Every number xlcnn writes as a constant is the model's or the photo's, exactly.

Verification rebuilds its NumPy reference from what the workbook holds, so a weight
written rounded would still verify; only a comparison with the model itself catches
it. No LibreOffice: the workbook is read as written, through the layout plan.
"""

import numpy as np
import pytest

from books import shared_book
from xlcnn.architecture import parse_architecture
from xlcnn.cells import a1
from xlcnn.image import load_image
from xlcnn.layout import plan_layout
from xlcnn.plans import example_of
from xlcnn.network import load_model, random_model
from xlcnn.resources import default_model_path, default_sample, texts
from xlcnn.workbook import build_workbook
from xlcnn.xlsxread import read_workbook

from conftest import TINY_LAYERS, make_photo


def expected_constants(layout, model, pixels, learning_rate):
    """[(what, Block, array)]: every block the plan fills with a model or input value, and that value."""
    source = layout.sheet("input")
    found = [("scale", source.scale, np.array([[model.input_scale]]))]
    stack = source.pixels
    for c, area in enumerate(stack.maps):
        padded = np.pad(pixels[c], stack.pad)          # the zero border is written too
        found.append((f"pixels {c}", area, padded))
    for plan in layout.pass_sheets(0):          # later passes compute their weights by formula
        params = model.params[plan.layer] if plan.layer is not None else {}
        if plan.kind == "filters":
            for f, (slices, bias) in enumerate(zip(plan.weight, plan.bias)):
                found += [(f"{plan.name} filter {f} channel {c}", area, params["weight"][f, c])
                          for c, area in enumerate(slices)]
                found.append((f"{plan.name} bias {f}", bias, params["bias"][f].reshape(1, 1)))
        elif plan.kind == "dense":
            weight = params["weight"].T if plan.rows_are_inputs else params["weight"]
            found.append((f"{plan.name} weight", plan.weight, weight))
            found.append((f"{plan.name} bias", plan.bias, params["bias"].reshape(plan.bias.height, plan.bias.width)))
    if layout.descent is not None:
        found.append(("learning rate", layout.descent.rate, np.array([[learning_rate]])))
        steps = layout.descent.steps
        found.append(("step numbers", steps, np.arange(steps.height).reshape(-1, 1)))
    return found


def assert_constants_exact(path, layout, model, pixels, learning_rate=0.01):
    # as written: a formula reads as its text, a constant as its number (xlcnn's one-pass reader, which reads
    # them as openpyxl does, test_xlsxread, in under half its time)
    grids = read_workbook(path).formulas

    def at(sheet, row, col):
        grid = grids[sheet]
        return grid[row][col] if row < len(grid) and col < len(grid[row]) else None

    constants = expected_constants(layout, model, pixels, learning_rate)
    assert any(what.endswith("weight") or "filter" in what for what, _, _ in constants)
    covered = set()
    for what, block, expected in constants:
        assert expected.shape == (block.height, block.width), what
        for i, j, row, col in block.cells():
            value = at(block.sheet, row, col)
            where = f"{what}: {block.sheet}!{a1(row, col)}"
            assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{where} holds {value!r}"
            assert value == expected[i, j], f"{where} holds {value!r}, the model has {expected[i, j]!r}"
            covered.add((block.sheet, row, col))
    # and the other way: on the sheets that hold inputs, no number is written that the plan does not place,
    # but for the cells that choose what a worked example explains, and a dilated kernel's holes (zeros)
    choosers = {(p.name, row, col) for p in layout.sheets if example_of(p) is not None
                for _, _, row, col in example_of(p).choose.cells()}
    for plan in layout.sheets:
        if plan.kind == "filters" and plan.effective is not None:
            d = plan.conv.dilation
            holes = [(block.sheet, row, col) for slices in plan.effective for block in slices
                     for i, j, row, col in block.cells() if i % d or j % d]
            assert all(at(sheet, row, col) == 0 for sheet, row, col in holes)
            covered.update(holes)
    for name in {block.sheet for _, block, _ in constants}:
        for row, line in enumerate(grids[name]):
            for col, value in enumerate(line):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    key = (name, row, col)
                    assert key in covered or key in choosers, f"{name}!{a1(row, col)}: {value!r} is not in the plan"


def _nonzero_biases(model, seed=1):
    rng = np.random.default_rng(seed)
    for p in model.params:
        if "bias" in p:
            p["bias"] = rng.normal(0, 0.3, p["bias"].shape)   # random init leaves them 0, which rounding cannot hurt
    return model


@pytest.mark.parametrize("steps", [0, 1])
def test_tiny_model_weights_pixels_and_rate_are_written_exactly(tmp_path, steps):
    model = _nonzero_biases(random_model(TINY_LAYERS, ("cat", "dog"), image_size=4, seed=1))
    photo = make_photo(4)
    path = build_workbook(model, photo, tmp_path / "tiny.xlsx", label="dog", steps=steps, rate=0.037).path
    layout = plan_layout(model.layers, (3, 4, 4), model.class_names, texts("en")["step_titles"], steps)
    assert_constants_exact(path, layout, model, photo.transpose(2, 0, 1), learning_rate=0.037)


def test_grayscale_turned_dilated_kernels_and_hidden_dense_layers_are_written_exactly(tmp_path):
    layers = parse_architecture("conv3x3x2-p2-d2-flip,sigmoid,maxpool2,conv1x1x3,tanh,flatten,dense5,leakyrelu0.1,dense",
                                3)
    model = _nonzero_biases(random_model(layers, ("a", "b", "c"), image_size=12, seed=4, channels=1), seed=2)
    photo = make_photo(12)[..., 0]
    path = build_workbook(model, photo, tmp_path / "gray.xlsx", lang="zh").path
    classes = tuple(texts("zh")["class_names"].get(n, n) for n in model.class_names)
    layout = plan_layout(model.layers, (1, 12, 12), classes, texts("zh")["step_titles"])
    assert_constants_exact(path, layout, model, photo[None])


def test_the_shipped_model_and_sample_photo_are_written_exactly(tmp_path_factory):
    model = load_model(default_model_path())
    image = load_image(default_sample(), size=model.image_size, fit=model.fit)
    path = shared_book(tmp_path_factory)
    classes = tuple(texts("en")["class_names"].get(n, n) for n in model.class_names)
    layout = plan_layout(model.layers, (3, model.image_size, model.image_size), classes, texts("en")["step_titles"])
    assert model.trained
    assert_constants_exact(path, layout, model, image.transpose(2, 0, 1))
