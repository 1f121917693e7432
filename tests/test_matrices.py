"""Matrices as input: a textbook's numbers in a text file, used as they are (scale 1).

The worked examples must give the articles' numbers after a LibreOffice recalculation,
read through the layer outputs' names; bad files get one line naming the line and column.
"""

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner

from named import named_values
from xlcnn import make_workbook, verify_workbooks
from xlcnn.cli import main
from xlcnn.matrices import load_matrix

# Andrew Ng's vertical-edge example: a bright left half, a dark right half
NG = "\n".join(["10,10,10,0,0,0"] * 6) + "\n"


def _write(folder, name, text):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    folder = tmp_path_factory.mktemp("matrices")
    rng = np.random.default_rng(3)
    wide = rng.normal(size=(5, 7)).round(2)
    three = (rng.normal(size=(3, 5, 5)) * 3).round(1)
    made = {
        "ng": make_workbook(_write(folder, "ng.csv", NG), folder / "ng.xlsx", filters="vertical", until="conv1"),
        "wide": make_workbook(_write(folder, "wide.txt", "\n".join(" ".join(f"{v:g}" for v in row) for row in wide)),
                              folder / "wide.xlsx", arch="conv3x3x2,relu,dense"),
        "three": make_workbook(_write(folder, "three.tsv", "\n\n".join(
            "\n".join("\t".join(f"{v:g}" for v in row) for row in channel) for channel in three)),
            folder / "three.xlsx", steps=1, label="circle", lang="zh", input_scale=0.5),
    }
    made["cs231n"] = _cs231n_demo(folder)
    for n, (item, matrix) in enumerate(_pooled_matrices().items()):     # the pooling test's, verified in the same start
        made["pooled", item] = make_workbook(_write(folder, f"m{n}.csv", _block_text(matrix)), folder / f"m{n}.xlsx",
                                             arch=item)
    return {name: result.path for name, result in made.items()}


@pytest.fixture(scope="module")
def verified(books, libreoffice):
    """{name: report} of every book above, verified with one LibreOffice start; each keeps the values it read."""
    return dict(zip(books, verify_workbooks(list(books.values()), keep_values=True)))


def test_ngs_vertical_edge_example(books, verified):
    # read-only workbooks below: named_values reads the defined names and, without values, one range of one sheet
    wb, values = openpyxl.load_workbook(books["ng"], read_only=True), verified["ng"].values
    np.testing.assert_array_equal(named_values(wb, "conv1_1", values), [[0, 30, 30, 0]] * 4)
    assert named_values(wb, "input_scale", values)[0, 0] == 1


def test_matrices_of_any_shape_and_sign_verify(books, verified):
    paths = books
    reports = [verified["wide"], verified["three"]]
    for report in reports:
        assert report.ok, report.table()
    wb = openpyxl.load_workbook(paths["wide"], read_only=True, data_only=True)
    assert named_values(wb, "conv1_1").shape == (3, 5)           # 5 x 7 through 3 x 3: 3 x 5
    three = openpyxl.load_workbook(paths["three"], read_only=True, data_only=True)
    assert named_values(three, "input_scale")[0, 0] == 0.5 and len(reports[1].losses) == 2


def test_loading_keeps_every_number(tmp_path):
    path = _write(tmp_path, "m.csv", "1, -2.5 ,3e-1\n4,5,6\n\n\n7,8,9\n10,11,12\n")
    np.testing.assert_array_equal(load_matrix(path), [[[1, -2.5, 0.3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]])


@pytest.mark.parametrize("text, words", [
    ("1,2,3\n4,5\n", "line 2 has 2 numbers"),
    ("1,2\n3,cat\n", "line 2, column 2: 'cat'"),
    ("\n \n", "no numbers"),
    ("1,2\n3,4\n\n1,2\n", "channel 2 has 1 rows"),
    ("1,nan\n", "line 1, column 2"),
    ("1,inf\n", "not a finite number"),
    ("\n\n".join(["1"] * 65), "at most 64"),
    ("\n".join([",".join(["1"] * 600)] * 2), "too large"),
])
def test_bad_matrices_get_one_line_and_exit_3(tmp_path, monkeypatch, text, words):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "bad.csv", text)
    run = CliRunner().invoke(main, ["build", "bad.csv"])
    assert run.exit_code == 3 and words in run.output, run.output
    assert len(run.output.strip().splitlines()) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_photo_options_are_refused_for_a_matrix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "m.csv", NG)
    run = CliRunner().invoke(main, ["build", "m.csv", "--size", "8"])
    assert run.exit_code == 2 and "--size" in run.output and not (tmp_path / "m.xlsx").exists()


def test_input_scale_applies_to_photos_too(tmp_path):
    book = make_workbook(output=tmp_path / "p.xlsx", input_scale=1.0, size=8).path
    assert named_values(openpyxl.load_workbook(book, read_only=True), "input_scale")[0, 0] == 1


# ---------------------------------------------------------------- exact filters, biases and classes


def _block_text(blocks):
    return "\n\n".join("\n".join(",".join(f"{v:g}" for v in row) for row in block) for block in blocks) + "\n"


def _cs231n_input():
    """CS231n's demo: a 5 x 5 x 3 input and two 3 x 3 x 3 filters of small integers."""
    rng = np.random.default_rng(7)
    return rng.integers(0, 3, size=(3, 5, 5)).astype(float), rng.integers(-1, 2, size=(2, 3, 3, 3)).astype(float)


def _cs231n_demo(folder):
    x, w = _cs231n_input()
    files = [_write(folder, f"w{k}.csv", _block_text(w[k])) for k in range(2)]
    return make_workbook(_write(folder, "x.csv", _block_text(x)), folder / "demo.xlsx",
                         arch="conv3x3x2-s2-p1", filters=",".join(map(str, files)), bias="1,0")


def test_cs231n_demo_with_exact_filters_and_biases(books, verified):
    """A 5 x 5 x 3 input, two 3 x 3 x 3 filters with stride 2 and padding 1, biases 1 and 0 (CS231n's demo)."""
    x, w = _cs231n_input()
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    want = np.array([[[np.sum(padded[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3] * w[k]) + (1, 0)[k] for j in range(3)]
                      for i in range(3)] for k in range(2)])
    wb = openpyxl.load_workbook(books["cs231n"], read_only=True)
    for k in range(2):
        np.testing.assert_array_equal(named_values(wb, f"conv1_{k + 1}", verified["cs231n"].values), want[k])


def test_one_block_is_spread_over_the_channels(tmp_path):
    """One 3 x 3 block for a 3-channel input is divided by 3, as the named kernels are."""
    kernel = _write(tmp_path, "edge.csv", "-1,0,1\n-1,0,1\n-1,0,1\n")
    book = make_workbook(output=tmp_path / "b.xlsx", size=8, filters=f"{kernel},vertical", classes="a,b,c,d,e").path
    wb = openpyxl.load_workbook(book, read_only=True)
    weights = [cell.value for row in wb["2 Filters"]["B11:L11"] for cell in row if isinstance(cell.value, float)]
    assert weights[:3] == [-1 / 3, 0, 1 / 3] and weights[3:6] == weights[:3]
    assert named_values(openpyxl.load_workbook(book, read_only=True, data_only=True), "probabilities").size == 5


@pytest.mark.parametrize("args, files, words, code", [
    (["--filters", "a.csv,b.csv"], {"a.csv": "1,0\n0,1\n", "b.csv": "1,0,0\n0,1,0\n0,0,1\n"}, "different sizes", 2),
    (["--filters", "a.csv"], {"a.csv": "1,0\n0,1\n\n1,1\n1,1\n"}, "2 blocks", 2),
    (["--filters", "a.csv"], {"a.csv": "1,0,1\n0,1\n"}, "line 2", 3),
    (["--filters", "a.csv"], {"a.csv": "1,0,1\n0,1,0\n"}, "square", 3),
    (["--filters", "missing.csv"], {}, "not found", 3),
    (["--filters", "vertical", "--bias", "1,2"], {}, "one bias per filter", 2),
    (["--bias", "1,two"], {}, "numbers separated by commas", 2),
    (["--classes", "cat"], {}, "2 to 1,000 classes", 2),
    (["--classes", "cat,Cat"], {}, "named twice", 2),
])
def test_bad_filters_biases_and_classes_get_one_line(tmp_path, monkeypatch, args, files, words, code):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        _write(tmp_path, name, text)
    run = CliRunner().invoke(main, ["build", "-o", "out.xlsx", *args])
    assert run.exit_code == code and words in run.output, run.output
    assert len(run.output.strip().splitlines()) == 1 and not (tmp_path / "out.xlsx").exists()


# ---------------------------------------------------------------- pooling as frameworks do it

POOLINGS = {   # --arch item: the PyTorch call it means
    "maxpool3-s2-p1": ("max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    "maxpool3-s2-ceil": ("max_pool2d", dict(kernel_size=3, stride=2, ceil_mode=True)),
    "avgpool3-s2-p1": ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    "avgpool3-s2-p1-ceil": ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
}


def _pooled_matrices():
    """{--arch item: its random matrix} of the pooling test."""
    rng = np.random.default_rng(11)
    return {item: rng.normal(size=(2, 7 + n % 2, 8)).round(3) - 0.5 for n, item in enumerate(POOLINGS)}


def test_padded_and_ceil_pooling_of_random_matrices(books, verified):
    """Negative numbers, so a padded cell would win a max if it counted; sides 7 and 8, so ceil mode
    adds a window; read back through pool1_1 after LibreOffice, against the engine and (when
    installed) PyTorch."""
    from xlcnn.engine import forward
    from xlcnn.options import BuildOptions
    from xlcnn.pipeline import choose_model
    expected = {}
    for item, matrix in _pooled_matrices().items():
        model = choose_model(BuildOptions(arch=item), input_shape=matrix.shape).model
        expected[item] = forward(model, matrix).stages[0].output
        try:
            import torch
            name, options = POOLINGS[item]
            oracle = getattr(torch.nn.functional, name)(torch.from_numpy(matrix)[None], **options)[0].numpy()
            np.testing.assert_allclose(expected[item], oracle, rtol=1e-12, atol=1e-12)
        except ImportError:
            pass
    # the module's one LibreOffice start: verify's recalculated values give the named pooled maps too
    for item in POOLINGS:
        book, report = books["pooled", item], verified["pooled", item]
        assert report.ok, report.table()     # the worked examples (their windows show padding as blank) too
        wb = openpyxl.load_workbook(book, read_only=True)     # only its defined names are read
        for c in range(2):
            np.testing.assert_allclose(named_values(wb, f"pool1_{c + 1}", report.values), expected[item][c],
                                       rtol=1e-12, atol=1e-12)
