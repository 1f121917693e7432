"""Every preset and many random architectures, built and proven equal to NumPy in LibreOffice."""

import numpy as np
import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from xlcnn import make_workbook, verify_workbooks
from xlcnn.errors import ShapeError
from xlcnn.network import (AvgPool2D, Conv2D, Dense, Flatten, LeakyReLU, MaxPool2D, ReLU, Sigmoid, Softmax, Tanh,
                           infer_shapes, random_model)
from xlcnn.presets import preset_names
from xlcnn.resources import sample_photos
from xlcnn.workbook import build_workbook

from conftest import make_photo

def assert_all_pass(reports):
    for report in reports:
        assert report.ok, report.table()


SWITCHES = {
    "true-conv": dict(preset="edges", true_convolution=True, size=20),
    "gray": dict(preset="edges", grayscale=True, size=20),
    "until": dict(preset="two-blocks", until="pool1"),
    "filters": dict(arch="conv3x3x2,relu,maxpool2,dense", filters="sobel-x,blur,sharpen"),
    "dilated-flip": dict(arch="conv3x3x3-d2-flip-p1,leakyrelu0.05,avgpool3-s2,dense6,sigmoid,dense4,dense",
                         size=18),
}


@pytest.fixture(scope="module")
def verified(tmp_path_factory, libreoffice):
    """Every preset, the lesson switches and ten random networks, verified with one LibreOffice start."""
    folder = tmp_path_factory.mktemp("lessons")
    books = {("preset", name): make_workbook(sample_photos()[4], folder / f"{name}.xlsx", preset=name).path
             for name in preset_names()}
    books.update({("switch", name): make_workbook(sample_photos()[1], folder / f"{name}.xlsx", **options).path
                  for name, options in SWITCHES.items()})
    books.update({("random", n): path for n, path in enumerate(random_books(folder))})
    return {key: (path, report) for (key, path), report in zip(books.items(), verify_workbooks(list(books.values())))}


def reports_of(verified, kind):
    found = [report for (k, _), (_, report) in verified.items() if k == kind]
    assert found
    return found


def test_every_preset_verifies(verified):
    assert len(reports_of(verified, "preset")) == len(preset_names())
    assert_all_pass(reports_of(verified, "preset"))


def test_lesson_switches_verify(verified):
    assert_all_pass(reports_of(verified, "switch"))
    books = {name: verified["switch", name][0] for name in SWITCHES}
    wb = openpyxl.load_workbook(books["true-conv"], read_only=True)     # read-only: parses only the sheets asked for
    assert "turned 180" in str(wb["2 Filters"]["O10"].value)
    assert wb["2 Filters"]["O11"].value == "=D13"          # the turned copy's corner is the filter's far corner
    assert openpyxl.load_workbook(books["gray"], read_only=True)["1 Input"]["B10"].value.startswith("gray")
    assert openpyxl.load_workbook(books["until"], read_only=True).sheetnames[-4:] == ["5 Pool", "6 Summary", "Manifest", "xlcnn"]


def random_architecture(rng):
    """A random network the engine accepts: conv blocks with every option, then optional hidden dense layers."""
    activations = (ReLU, Sigmoid, Tanh, lambda: LeakyReLU(float(rng.choice([0.01, 0.2]))))
    layers = []
    for _ in range(rng.integers(1, 3)):
        layers.append(Conv2D(int(rng.integers(1, 4)), int(rng.integers(1, 4)), stride=int(rng.integers(1, 3)),
                             padding=int(rng.integers(0, 3)), dilation=int(rng.integers(1, 3)),
                             flip=bool(rng.integers(0, 2))))
        layers.append(activations[rng.integers(0, 4)]())
        if rng.random() < 0.7:
            pool = MaxPool2D if rng.random() < 0.5 else AvgPool2D
            layers.append(pool(int(rng.integers(2, 4)), int(rng.integers(0, 3))))
    layers.append(Flatten())
    for _ in range(rng.integers(0, 3)):
        layers += [Dense(int(rng.integers(2, 6))), activations[rng.integers(0, 4)]()]
    return (*layers, Dense(3), Softmax())


def random_books(folder):
    """Ten random networks the engine accepts, built with non-zero biases."""
    rng = np.random.default_rng(2026)
    books = []
    while len(books) < 10:
        layers, size, channels = random_architecture(rng), int(rng.integers(6, 17)), int(rng.choice([1, 3]))
        try:
            infer_shapes(layers, (channels, size, size))
        except ShapeError:
            continue
        model = random_model(layers, ("a", "b", "c"), image_size=size, seed=len(books), channels=channels)
        for p in model.params:          # non-zero biases exercise every bias cell
            if "bias" in p:
                p["bias"] = rng.normal(0, 0.3, p["bias"].shape)
        photo = make_photo(size, seed=len(books))
        image = photo[..., :1] if channels == 1 else photo
        books.append(build_workbook(model, image, folder / f"random{len(books)}.xlsx", label="b").path)
    return books


def test_random_architectures_verify(verified):
    assert len(reports_of(verified, "random")) == 10
    assert_all_pass(reports_of(verified, "random"))


def _accepted(drawn):
    """Whether the engine accepts the random network of a drawn (seed, size, channels)."""
    seed, size, channels = drawn
    try:
        infer_shapes(random_architecture(np.random.default_rng(seed)), (channels, size, size))
    except ShapeError:
        return False
    return True


NETWORKS = st.tuples(st.integers(0, 10**6), st.integers(6, 16), st.sampled_from([1, 3])).filter(_accepted)


@pytest.mark.usefixtures("libreoffice")
@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(NETWORKS, min_size=4, max_size=4))
def test_hypothesis_architectures_verify(tmp_path_factory, drawn):
    """Hypothesis draws four seeds, sizes and channels; every network verifies (one LibreOffice start for the four)."""
    folder = tmp_path_factory.mktemp("h")
    books = []
    for n, (seed, size, channels) in enumerate(drawn):
        layers = random_architecture(np.random.default_rng(seed))
        model = random_model(layers, ("a", "b", "c"), image_size=size, seed=seed, channels=channels)
        photo = make_photo(size, seed=seed)
        books.append(build_workbook(model, photo[..., :channels], folder / f"h{n}.xlsx", label="c").path)
    assert_all_pass(verify_workbooks(books))
