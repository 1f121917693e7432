"""Training: reproducible optimisers, datasets, a teacher's photo folder, and the shipped model."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from xlcnn import load_image, load_model
from xlcnn.cli import main
from xlcnn.datasets import generate_shapes, load_image_folder, write_shapes
from xlcnn.engine import forward
from xlcnn.errors import UsageError
from xlcnn.kernels import named_filters
from xlcnn.network import lesson_architecture, random_model
from xlcnn.pipeline import guess_label
from xlcnn.resources import default_model_path, sample_photos
from xlcnn.shapes import SHAPES, draw_shape
from xlcnn.train import Adam, SGD, TrainConfig, augment, split, train_model


@pytest.fixture(scope="module")
def small_shapes():
    return generate_shapes(40, size=16, seed=3)


def fresh_model(names, size=16, seed=0):
    return random_model(lesson_architecture(len(names)), names, image_size=size, seed=seed)


def test_a_batch_of_one_picture_through_a_bn_on_a_vector_is_refused_not_learned_as_variance_0(small_shapes):
    """A bn after a dense layer takes each unit's mean and variance over the batch: one picture gives variance 0,
    x - mean = 0, and the running variance decays towards 0 (PyTorch refuses it too)."""
    from xlcnn.architecture import parse_network
    images, labels, names = small_shapes
    layers, inputs = parse_network("conv3x3x2,relu,flatten,dense4,bn,relu,dense", len(names))
    model = random_model(layers, names, image_size=16, seed=0, inputs=inputs)
    with pytest.raises(UsageError, match="--batch-size 2 or more") as caught:
        train_model(model, images[:6], labels[:6], TrainConfig(epochs=1, batch_size=1, seed=0))
    assert "\n" not in str(caught.value)


def test_one_picture_left_over_joins_the_last_batch_of_a_network_with_a_bn(small_shapes):
    """6 pictures in batches of 5 leave one over; alone it would give the bn on a vector variance 0."""
    from xlcnn.architecture import parse_network
    images, labels, names = small_shapes
    layers, inputs = parse_network("conv3x3x2,relu,flatten,dense4,bn,relu,dense", len(names))
    model = random_model(layers, names, image_size=16, seed=0, inputs=inputs)
    train_model(model, images[:6], labels[:6], TrainConfig(epochs=1, batch_size=5, val_split=0, seed=0))
    assert np.isfinite(model.params[4]["running_var"]).all()


def test_same_seed_gives_the_same_weights_bit_for_bit(small_shapes):
    images, labels, names = small_shapes
    runs = []
    for _ in range(2):
        model = fresh_model(names)
        train_model(model, images, labels, TrainConfig(epochs=2, seed=11))
        runs.append(model.params)
    for a, b in zip(*runs):
        for key in a:
            assert np.array_equal(a[key], b[key])
    other = fresh_model(names)
    train_model(other, images, labels, TrainConfig(epochs=2, seed=12))
    assert not np.array_equal(other.params[0]["weight"], runs[0][0]["weight"])


@pytest.fixture(scope="module")
def shapes_150():
    """150 pictures of side 20, drawn once for both optimisers; read-only, so neither run can change the other's."""
    images, labels, names = generate_shapes(150, size=20, seed=4)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels, names


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_both_optimisers_learn(shapes_150, optimizer):
    images, labels, names = shapes_150
    model = fresh_model(names, size=20)
    lr = 0.01 if optimizer == "adam" else 0.05
    result = train_model(model, images, labels, TrainConfig(epochs=8, lr=lr, optimizer=optimizer, seed=1))
    assert result.history[-1].loss < result.history[0].loss
    assert result.train_accuracy > 0.6
    assert result.confusion.sum() == result.val_count and model.trained


def test_batch_norm_learns_gamma_and_beta_and_keeps_running_statistics(small_shapes):
    """Training normalises each batch by its own statistics; the running mean and variance (buffers, not
    learned) follow the batches, and inference uses them."""
    from xlcnn.architecture import parse_network
    from xlcnn.engine import forward_batch, loss_and_gradients
    images, labels, names = small_shapes
    layers, inputs = parse_network("conv3x3x4-nobias,bn,relu,maxpool2,dense", len(names))
    model = random_model(layers, names, image_size=16, inputs=inputs)
    model.params[1]["running_mean"][:] = 0.25
    # one training batch moves the running statistics a tenth of the way to its own (the variance unbiased)
    pixels = np.moveaxis(images[:8].astype(float), -1, 1)
    conv = forward_batch(model, pixels)[1]
    count = conv.size // 4
    loss_and_gradients(model, pixels, labels[:8], training=True)
    bn = model.params[1]
    np.testing.assert_allclose(bn["running_mean"], 0.9 * 0.25 + 0.1 * conv.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(bn["running_var"], 0.9 + 0.1 * conv.var(axis=(0, 2, 3)) * count / (count - 1),
                               rtol=1e-12)
    train_model(model, images, labels, TrainConfig(epochs=1, seed=2))
    assert not (bn["weight"] == 1).all() and bn["bias"].any() and (bn["running_var"] > 0).all()


def test_training_gradients_through_batch_statistics_match_numerical_ones():
    """The training loss depends on every weight before a bn also through the batch's mean and variance."""
    from xlcnn.architecture import parse_network
    from xlcnn.engine import loss_and_gradients
    layers, inputs = parse_network("conv3x3x2,bn,relu,flatten,dense4,bn,dense", 3)
    model = random_model(layers, ("a", "b", "c"), image_size=6, inputs=inputs, seed=3)
    rng = np.random.default_rng(0)
    pixels, labels = rng.uniform(0, 255, size=(5, 3, 6, 6)), np.array([0, 1, 2, 1, 0])

    def run():
        kept = [{name: p[name] for name in layer.buffers} for layer, p in zip(model.layers, model.params)]
        result = loss_and_gradients(model, pixels, labels, training=True)
        for p, arrays in zip(model.params, kept):   # the running statistics moved (new arrays): put them back
            p.update(arrays)
        return result

    def loss():
        return run()[0]
    _, grads, _ = run()
    for index, name, at in [(0, "weight", (1, 2, 0, 1)), (0, "bias", (0,)), (1, "weight", (1,)), (4, "weight", (2, 5)),
                            (5, "bias", (3,)), (5, "weight", (0,))]:
        value, step = model.params[index][name], 1e-6
        value[at] += step
        up = loss()
        value[at] -= 2 * step
        down = loss()
        value[at] += step
        assert grads[index][name][at] == pytest.approx((up - down) / (2 * step), rel=1e-5, abs=1e-8), (index, name)


def test_optimiser_steps_by_hand():
    params, grads = [{"weight": np.array([1.0, -1.0])}], [{"weight": np.array([0.5, -2.0])}]
    SGD(lr=0.1, momentum=0.9).step(params, grads)
    np.testing.assert_allclose(params[0]["weight"], [0.95, -0.8])
    params = [{"weight": np.array([1.0, -1.0])}]
    Adam(lr=0.1).step(params, grads)              # the first Adam step moves every weight by lr
    np.testing.assert_allclose(params[0]["weight"], [0.9, -0.9], rtol=1e-6)


def test_split_holds_out_every_class():
    labels = np.repeat([0, 1, 2], 10)
    train, val = split(labels, 0.2, np.random.default_rng(0))
    assert sorted(np.concatenate([train, val])) == list(range(30))
    assert np.bincount(labels[val]).tolist() == [2, 2, 2]


def test_augment_keeps_shape_and_range():
    batch = np.random.default_rng(0).uniform(0, 255, (8, 3, 10, 10))
    out = augment(batch, np.random.default_rng(1))
    assert out.shape == batch.shape and out.min() >= 0 and out.max() <= 255
    assert not np.array_equal(out, batch)


def test_written_dataset_equals_the_generated_one(tmp_path):
    write_shapes(tmp_path, per_class=4, size=40, seed=5)
    images, labels, names, skipped = load_image_folder(tmp_path, size=16)
    expected, expected_labels, _ = generate_shapes(4, size=16, seed=5, draw_size=40)
    assert names == SHAPES and not skipped
    order = np.argsort(expected_labels, kind="stable")    # the folders are read class by class
    np.testing.assert_array_equal(images, expected[order])


def test_folder_errors(tmp_path):
    with pytest.raises(UsageError, match="not a folder"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(UsageError, match="no class sub-folders"):
        load_image_folder(tmp_path)
    (tmp_path / "cats").mkdir()
    draw_shape("circle", 32).save(tmp_path / "cats" / "a.png")
    with pytest.raises(UsageError, match="only one class"):
        load_image_folder(tmp_path)
    (tmp_path / "dogs").mkdir()
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(UsageError, match="'dogs' has no readable images"):
        load_image_folder(tmp_path)


def teacher_folder(root):
    """Three classes, a dozen JPEGs each at different sizes and EXIF orientations, one corrupt file."""
    rng = np.random.default_rng(9)
    for name in SHAPES:
        (root / name).mkdir(parents=True)
        for n in range(12):
            img = draw_shape(name, int(rng.integers(48, 200)), rng)
            if n % 3 == 1:
                img = img.resize((img.width, int(img.height * 1.5)))
            exif = Image.Exif()
            exif[0x0112] = [1, 6, 8][n % 3]
            if exif[0x0112] == 6:              # stored turned left, so the tag turns it back upright
                img = img.transpose(Image.Transpose.ROTATE_90)
            elif exif[0x0112] == 8:
                img = img.transpose(Image.Transpose.ROTATE_270)
            img.save(root / name / f"IMG_{n:04d}.JPG", quality=88, exif=exif)
    (root / "square" / "IMG_9999.JPG").write_bytes(b"\xff\xd8\xff\xe0 half a download")
    return root


def test_teacher_folder_trains_and_names_the_corrupt_file(tmp_path):
    data = teacher_folder(tmp_path / "photos")
    result = CliRunner().invoke(main, ["train", str(data), "-o", str(tmp_path / "m.npz"), "--epochs", "3",
                                       "--size", "16"])
    assert result.exit_code == 0, result.output
    assert "IMG_9999.JPG" in result.stderr
    assert "confusion matrix" in result.stdout and "validation accuracy" in result.stdout
    model = load_model(tmp_path / "m.npz")
    assert model.trained and model.class_names == SHAPES and model.image_size == 16


def test_train_refuses_bad_options_before_writing(tmp_path):
    write_shapes(tmp_path / "d", per_class=2, size=32)
    for args, code in ((["-o", str(tmp_path / "m.txt")], 2), (["-o", str(tmp_path / "m.npz"), "--lr", "-1"], 2),
                       (["-o", str(tmp_path / "m.npz"), "--val-split", "1.5"], 2)):
        result = CliRunner().invoke(main, ["train", str(tmp_path / "d"), *args])
        assert result.exit_code == code and result.stderr.startswith("xlcnn: error: "), result.output
    assert not (tmp_path / "m.npz").exists()


def test_shipped_model_gets_every_sample_right():
    model = load_model(default_model_path())
    assert model.trained and model.val_accuracy >= 0.97
    samples = sample_photos()
    assert len(samples) >= 9 and {p.suffix for p in samples} == {".jpg"}
    for photo in samples:
        assert Image.open(photo).size == (256, 256)
        result = forward(model, load_image(photo, model.image_size))
        assert model.class_names[result.prediction] == guess_label(model, photo), photo.name


SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
SHORT_SNAPSHOT, SHIPPED_RECORD = SNAPSHOTS / "recipe_short_model.npz", SNAPSHOTS / "shipped_model.json"


def _recipe():
    """scripts/train_default.py, read as a module (scripts/ is not a package)."""
    import runpy
    return runpy.run_path(str(Path(__file__).resolve().parent.parent / "scripts" / "train_default.py"))


def test_the_recipe_cut_short_gives_its_snapshot(tmp_path):
    """scripts/train_default.py with the xlcnn command, on 120 pictures for 3 epochs (the full 20 epochs take
    half a minute: benchmarks/train.py --reproduce): the same data, start and steps give the snapshot's weights."""
    recipe = _recipe()
    data, out = tmp_path / "data", tmp_path / "short.npz"
    made = CliRunner().invoke(main, ["demo-data", str(data), *recipe["cut_short"](recipe["DATA_ARGS"])])
    assert made.exit_code == 0, made.output
    trained = CliRunner().invoke(main, ["train", str(data), "-o", str(out), *recipe["cut_short"](recipe["TRAIN_ARGS"])])
    assert trained.exit_code == 0, trained.output
    if os.environ.get("XLCNN_UPDATE_SNAPSHOTS"):
        shutil.copyfile(out, SHORT_SNAPSHOT)
    assert recipe["differences"](out, SHORT_SNAPSHOT) == []


def test_the_shipped_model_is_the_one_its_recipe_was_recorded_to_give():
    """benchmarks/train.py --reproduce trained the recipe in full and cut short, found the shipped model and the
    snapshot, and recorded the three fingerprints: a changed recipe, model or snapshot since then shows here."""
    recipe, record = _recipe(), json.loads(SHIPPED_RECORD.read_text(encoding="utf-8"))
    assert record["recipe"] == recipe["recipe_fingerprint"](), "the recipe changed: train the shipped model again"
    assert record["shipped_model"] == recipe["model_fingerprint"](default_model_path()), "the shipped model changed"
    assert record["short_run"] == recipe["model_fingerprint"](SHORT_SNAPSHOT), "the short run's snapshot changed"


def _ordinary_photos():
    """Photo-like pictures that are not shapes: the robustness corpus's photo (a ramp of colours
    with a dark disc) at three seeds, and pixel noise."""
    from corpus import _photo
    rng = np.random.default_rng(5)
    noise = Image.fromarray(rng.integers(0, 256, (90, 120, 3)).astype(np.uint8))
    return {**{f"photo seed {seed}": _photo(seed=seed) for seed in range(3)}, "noise": noise}


def test_every_filter_of_the_shipped_model_fires_on_every_sample_and_ordinary_photos():
    """No ReLU map of all zeros: every filter has positive cells on every picture a student starts from."""
    from xlcnn.image import prepare_image
    model = load_model(default_model_path())
    pictures = {p.name: load_image(p, model.image_size) for p in sample_photos()}
    pictures.update({name: prepare_image(img, size=model.image_size) for name, img in _ordinary_photos().items()})
    relu = [i for i, layer in enumerate(model.layers) if layer.kind == "relu"]
    assert relu
    for name, pixels in pictures.items():
        stages = forward(model, pixels).stages
        for index in relu:
            maps = stages[index].output
            for k, feature_map in enumerate(maps):
                assert (feature_map > 0).any(), f"{name}: ReLU map {k + 1} is all zeros"


def test_shipped_filters_started_from_named_kernels_and_still_look_like_them():
    """Each learned filter (averaged over the colours) stays closest to the kernel it started from."""
    model = load_model(default_model_path())
    init = _recipe()["INIT_FILTERS"]
    start = named_filters(init, 1)[:, 0]
    learned = model.params[0]["weight"].mean(axis=1)
    for k, name in enumerate(init):
        similarity = [np.corrcoef(learned[k].ravel(), s.ravel())[0, 1] for s in start]
        assert int(np.argmax(similarity)) == k and similarity[k] > 0.6, (name, np.round(similarity, 2))


def test_init_filters_must_fit_the_first_convolution(tmp_path):
    write_shapes(tmp_path / "d", per_class=3, size=16)
    result = CliRunner().invoke(main, ["train", str(tmp_path / "d"), "-o", str(tmp_path / "m.npz"), "--size", "12",
                                       "--init-filters", "vertical,horizontal", "--epochs", "1"])
    assert result.exit_code == 2 and "--init-filters" in result.stderr and not (tmp_path / "m.npz").exists()
    result = CliRunner().invoke(main, ["train", str(tmp_path / "d"), "-o", str(tmp_path / "m.npz"), "--size", "12",
                                       "--filters", "2", "--init-filters", "vertical,horizontal", "--epochs", "1"])
    assert result.exit_code == 0, result.output
