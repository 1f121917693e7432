"""ONNX models in and out, against onnxruntime: every operator xlcnn reads, the workbook recalculated in
LibreOffice, the refusals, and the export of a model file and of an edited workbook.

The models are made here with ``onnx.helper`` (no PyTorch needed), with float32 weights as frameworks
write them; xlcnn computes in float64, so the agreement asked is 1e-5 of the largest logit.
"""

import importlib.util
import json
from dataclasses import replace

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner

from conftest import OnFirstUse
from named import named_values
from books import shared_book
from xlcnn.architecture import parse_network
from xlcnn.cli import main
from xlcnn.engine import forward
from xlcnn.errors import ModelError, UsageError
from xlcnn.libreoffice import recalculate
from xlcnn.network import load_model, random_model, save_model
from xlcnn.onnx_import import KINDS_BY_OP, load_onnx
from xlcnn.pipeline import make_workbook

# imported when a test first uses them (seconds to import; every xdist worker collects this file)
onnx, onnxruntime, helper, numpy_helper = (OnFirstUse(name) for name in ("onnx", "onnxruntime", "onnx.helper",
                                                                          "onnx.numpy_helper"))
TensorProto = OnFirstUse("onnx", "TensorProto")
RELATIVE = 1e-5
LATEST = "latest"    # the newest opset the installed onnx knows


class Graph:
    """A small ONNX graph written node by node: ``add`` returns the new tensor's name."""

    def __init__(self, shape, seed=0, opset=17):
        self.rng = np.random.default_rng(seed)
        self.shape, self.opset = shape, opset
        self.nodes, self.stored, self.last, self.count = [], [], "x", 0

    def weight(self, *shape, scale=0.5, dtype=np.float32):
        self.count += 1
        value = (self.rng.normal(size=shape) * scale).astype(dtype)
        self.stored.append(numpy_helper.from_array(value, f"w{self.count}"))
        return f"w{self.count}"

    def const(self, value):
        self.count += 1
        self.stored.append(numpy_helper.from_array(np.asarray(value), f"k{self.count}"))
        return f"k{self.count}"

    def add(self, op, *inputs, **attrs):
        self.count += 1
        out = f"t{self.count}"
        self.nodes.append(helper.make_node(op, list(inputs) or [self.last], [out], name=f"n{self.count}", **attrs))
        self.last = out
        return out

    def model(self, metadata=None, input_shape=None):
        graph = helper.make_graph(self.nodes, "test", [helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, input_shape or ["N", *self.shape])],
            [helper.make_tensor_value_info(self.last, TensorProto.FLOAT, None)], self.stored)
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        proto.ir_version = 8
        if metadata:
            helper.set_model_props(proto, metadata)
        return proto

    def save(self, path, **kwargs):
        onnx.save_model(self.model(**kwargs), str(path))
        return path


def conv(g, channels, filters, kernel=3, **attrs):
    return g.add("Conv", g.last, g.weight(filters, channels, kernel, kernel), g.weight(filters, scale=0.1),
                 kernel_shape=[kernel, kernel], **attrs)


def head(g, inputs, classes=3):
    """Flatten, then a Gemm to ``classes`` logits."""
    g.add("Flatten", axis=1)
    return g.add("Gemm", g.last, g.weight(classes, inputs), g.weight(classes, scale=0.1), transB=1)


# Each case: (name, input shape, builder). Together they use every operator the importer reads.
def _chain(g):
    conv(g, 3, 4, pads=[1, 1, 1, 1])
    g.add("Relu")
    g.add("MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    conv(g, 4, 5, kernel=2, strides=[2, 2], dilations=[1, 1])
    g.add("Relu")
    head(g, 5 * 2 * 2)


def _activations(g):
    conv(g, 1, 3, auto_pad="SAME_UPPER")
    g.add("LeakyRelu", alpha=0.2)
    g.add("Identity")
    conv(g, 3, 3, dilations=[2, 2])
    g.add("Sigmoid")
    g.add("Dropout")
    conv(g, 3, 2)
    g.add("Tanh")
    g.add("Abs")
    head(g, 2 * 3 * 3, classes=4)


def _pools(g):
    conv(g, 2, 3)
    g.add("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    g.add("AveragePool", kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1, ceil_mode=1)
    g.add("MaxPool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    g.add("Relu")
    head(g, 3 * 2 * 2)


def _global(g):
    conv(g, 3, 6)
    g.add("Relu")
    g.add("GlobalAveragePool")
    g.add("Flatten", axis=1)
    g.add("MatMul", g.last, g.weight(6, 3))
    g.add("Add", g.last, g.weight(3, scale=0.1))
    g.add("Softmax", axis=-1)


def _reshapes(g):
    """What PyTorch's x.view(x.size(0), -1) becomes in the legacy exporter, then a Gemm with alpha and beta."""
    conv(g, 1, 2)
    g.add("Relu")
    maps = g.last
    g.add("Shape", maps)
    g.add("Gather", g.last, g.const(np.array(0, dtype=np.int64)), axis=0)
    g.add("Unsqueeze", g.last, g.const(np.array([0], dtype=np.int64)))
    g.add("Concat", g.last, g.const(np.array([-1], dtype=np.int64)), axis=0)
    g.add("Reshape", maps, g.last)
    g.add("Gemm", g.last, g.weight(2 * 4 * 4, 3), g.weight(1, 3, scale=0.1), alpha=0.5, beta=2.0)
    g.add("Reshape", g.last, g.const(np.array([1, -1], dtype=np.int64)))


def _branches(g):
    """A residual add and a concatenation along channels."""
    stem = conv(g, 3, 4, pads=[1, 1, 1, 1])
    g.add("Relu")
    left = conv(g, 4, 4, pads=[1, 1, 1, 1])
    g.add("Add", stem, left)
    joined = g.add("Relu")
    joined = g.add("Sum", stem, left, joined)    # three terms: ONNX's Add takes two
    g.last = stem
    right = conv(g, 4, 2, kernel=1)
    g.add("Concat", joined, right, axis=1)
    g.add("MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    head(g, 6 * 3 * 3)


def _normalised(g):
    """torchvision's Normalize written into the graph: (x - mean) / std per channel, then a chain."""
    g.add("Sub", "x", g.const(np.array([0.4, 0.5, 0.6], dtype=np.float32).reshape(1, 3, 1, 1)))
    g.add("Div", g.last, g.const(np.array([0.2, 0.3, 0.25], dtype=np.float32).reshape(1, 3, 1, 1)))
    conv(g, 3, 4, pads=[1, 1, 1, 1])
    g.add("Relu")
    g.add("MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    head(g, 4 * 3 * 3)


def _batch_norm(g):
    """Batch norm after a convolution and after a dense layer (as a graph exported without folding keeps
    it), then the mean over height and width as PyTorch's exporter writes adaptive_avg_pool2d(x, 1)."""
    def norm(channels):
        g.add("BatchNormalization", g.last, g.weight(channels, scale=0.3), g.weight(channels, scale=0.2),
              g.weight(channels, scale=0.2), g.const(np.abs(g.rng.normal(size=channels)).astype(np.float32) + 0.5),
              epsilon=1e-3)
    conv(g, 2, 5, pads=[1, 1, 1, 1])
    norm(5)
    g.add("Relu")
    if g.opset >= 18:      # the axes became an input in opset 18
        g.add("ReduceMean", g.last, g.const(np.array([2, 3], dtype=np.int64)), keepdims=1)
    else:
        g.add("ReduceMean", axes=[2, 3], keepdims=1)
    g.add("Flatten", axis=1)
    g.add("Gemm", g.last, g.weight(4, 5), g.weight(4, scale=0.1), transB=1)
    norm(4)


CASES = {"chain": ((3, 8, 8), _chain), "batch-norm": ((2, 5, 5), _batch_norm), "normalised": ((3, 6, 6), _normalised), "activations": ((1, 9, 9), _activations), "pools": ((2, 9, 9), _pools),
         "global": ((3, 6, 6), _global), "reshapes": ((1, 6, 6), _reshapes), "branches": ((3, 6, 6), _branches)}


def make_case(name, folder, seed=0, opset=17):
    shape, build = CASES[name]
    g = Graph(shape, seed, opset)
    build(g)
    return g.save(folder / f"{name}.onnx"), shape


def runtime_output(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x[None].astype(np.float32)})[0][0]


def engine_logits(model, x):
    """The engine's logits for input ``x`` (already scaled, as the ONNX model reads it)."""
    passed = forward(model, x / model.input_scale)
    return passed.logits


def assert_close(ours, theirs):
    ours, theirs = np.ravel(ours), np.ravel(theirs)
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) <= RELATIVE * np.max(np.abs(theirs)), (ours, theirs)


# ---------------------------------------------------------------- every operator, engine vs onnxruntime


def test_the_cases_use_every_operator_xlcnn_reads(tmp_path):
    used = set()
    for name in CASES:
        path, _ = make_case(name, tmp_path)
        used |= {node.op_type for node in onnx.load(str(path)).graph.node}
    # the kinds the workbook has no sheets for yet travel through export: test_layers_without_sheets_...
    assert set(KINDS_BY_OP) - {"ConvTranspose"} | {"Identity", "Dropout", "Shape", "Gather", "Unsqueeze",
                                                   "Sub", "Div"} <= used


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("opset", [11, 13, LATEST])
def test_the_engine_gives_onnxruntime_s_outputs(name, opset, tmp_path):
    opset = onnx.defs.onnx_opset_version() if opset == LATEST else opset
    if opset < 13 and name == "reshapes":    # Unsqueeze's axes became an input in opset 13
        pytest.skip("written for opset 13 and later")
    path, shape = make_case(name, tmp_path, opset=opset)
    if opset > 21:     # onnxruntime lags the newest opset: the model is stamped newer, its nodes read the same
        proto = onnx.load(str(path))
        proto.opset_import[0].version = 21
        onnx.save_model(proto, str(path))
    x = np.random.default_rng(1).random(shape)
    model, notes = load_onnx(path)
    expected = runtime_output(path, x)
    probabilities = forward(model, x / model.input_scale).probabilities
    if name == "global":      # the graph ends in its own softmax
        assert_close(probabilities, expected)
        assert not notes
    else:
        assert_close(engine_logits(model, x), expected)
        assert "turns them into probabilities" in notes[-1]


def test_weights_become_float64_and_the_input_size_comes_from_the_graph(tmp_path):
    path, shape = make_case("chain", tmp_path)
    model, _ = load_onnx(path)
    assert model.input_shape == shape and model.image_size == 8
    assert all(value.dtype == np.float64 for params in model.params for value in params.values())
    assert model.class_names == ("class 1", "class 2", "class 3")


def test_a_normalisation_at_the_start_becomes_the_input_s_mean_and_std(tmp_path):
    model, _ = load_onnx(make_case("normalised", tmp_path)[0])
    np.testing.assert_allclose(model.input_mean, [0.4, 0.5, 0.6], rtol=1e-7)
    np.testing.assert_allclose(model.input_std, [0.2, 0.3, 0.25], rtol=1e-7)
    g = Graph((1, 6, 6))       # a Mul by 1 / std, as some exporters write the division
    g.add("Mul", "x", g.const(np.array([4.0], dtype=np.float32)))
    conv(g, 1, 2)
    head(g, 2 * 4 * 4)
    model, _ = load_onnx(g.save(tmp_path / "mul.onnx"))
    assert model.input_mean == (0.0,) and model.input_std == (0.25,)


def test_class_names_come_from_the_metadata_or_from_classes(tmp_path):
    g = Graph((3, 8, 8))
    _chain(g)
    path = g.save(tmp_path / "named.onnx", metadata={"class_names": json.dumps(["cat", "dog", "fish"])})
    assert load_onnx(path)[0].class_names == ("cat", "dog", "fish")
    assert load_onnx(path, class_names=("a", "b", "c"))[0].class_names == ("a", "b", "c")
    with pytest.raises(UsageError, match="3 outputs, but 2 class names"):
        load_onnx(path, class_names=("a", "b"))


def test_an_open_input_size_is_chosen_with_size(tmp_path):
    g = Graph((3, 8, 8))
    _chain(g)
    path = g.save(tmp_path / "open.onnx", input_shape=["N", 3, "h", "w"])
    with pytest.raises(UsageError, match="leaves its input's height open.*--size"):
        load_onnx(path)
    assert load_onnx(path, size=8)[0].image_size == 8
    with pytest.raises(ModelError, match="has weights for 20 inputs but reads 45"):
        load_onnx(path, size=12)     # the dense layer's weights fix the size: 12 does not fit them
    fixed, _ = make_case("chain", tmp_path)
    with pytest.raises(UsageError, match="--size 10 does not fit"):
        load_onnx(fixed, size=10)


# ---------------------------------------------------------------- refusals: one line, exit 3


def _cli(*args):
    result = CliRunner().invoke(main, list(map(str, args)))
    return result.exit_code, result.output.strip().splitlines()


def _refused(tmp_path, path, pattern):
    code, lines = _cli("build", "--model", path, "-o", tmp_path / "never.xlsx")
    assert code == 3 and len(lines) == 1 and lines[0].startswith("xlcnn: error: "), lines
    assert pattern in lines[0], lines[0]
    assert not (tmp_path / "never.xlsx").exists()


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    (tmp_path / "photo.onnx").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    _refused(tmp_path, tmp_path / "photo.onnx", "not an ONNX model")
    (tmp_path / "empty.onnx").write_bytes(b"")
    _refused(tmp_path, tmp_path / "empty.onnx", "not an ONNX model")


def test_a_truncated_file_is_refused(tmp_path):
    path, _ = make_case("chain", tmp_path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 7, 40):
        (tmp_path / "cut.onnx").write_bytes(data[:cut])
        _refused(tmp_path, tmp_path / "cut.onnx", "not an ONNX model")


def test_an_operator_xlcnn_cannot_show_is_named(tmp_path):
    g = Graph((1, 6, 6))
    conv(g, 1, 2)
    g.add("Erf")
    head(g, 2 * 4 * 4)
    _refused(tmp_path, g.save(tmp_path / "erf.onnx"), f"node 'n{4}' (Erf): has no xlcnn layer; xlcnn reads Abs, Add")


def test_weights_in_a_separate_file_are_refused(tmp_path):
    path, _ = make_case("chain", tmp_path)
    proto = onnx.load(str(path))
    onnx.save_model(proto, str(tmp_path / "external.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external.onnx.data", size_threshold=0)
    _refused(tmp_path, tmp_path / "external.onnx", "keeps its weights in a separate file")


@pytest.mark.parametrize("change, words", [
    (lambda g: conv(g, 1, 2, pads=[1, 0, 1, 0]), "pads [1, 0, 1, 0] differ between sides"),
    (lambda g: conv(g, 1, 2, strides=[1, 2]), "strides [1, 2] differs between height and width"),
    (lambda g: g.add("AveragePool", kernel_shape=[2, 2], pads=[1, 1, 1, 1]), "count_include_pad"),
    (lambda g: g.add("Conv", "x", g.weight(2, 1, 3, 3), kernel_shape=[3, 3], group=1, strides=[1, 1])
     and g.add("Mul", g.last, g.last), "(Mul): has no xlcnn layer"),
])
def test_what_does_not_fit_is_refused_with_the_node_and_the_fix(tmp_path, change, words):
    g = Graph((1, 6, 6))
    change(g)
    _refused(tmp_path, g.save(tmp_path / "bad.onnx"), words)


def test_a_normalisation_after_a_layer_read_the_raw_input_is_refused(tmp_path):
    g = Graph((1, 6, 6))
    conv(g, 1, 2)
    g.add("Sub", "x", g.const(np.array([0.5], dtype=np.float32)))
    _refused(tmp_path, g.save(tmp_path / "late.onnx"), "(Sub): changes the input in a way xlcnn cannot show")


def test_an_opset_older_than_11_is_refused(tmp_path):
    path, _ = make_case("chain", tmp_path, opset=9)
    _refused(tmp_path, path, "uses opset 9; xlcnn reads opsets 11 to")


# ---------------------------------------------------------------- the workbook, recalculated


def _matrix_file(path, x):
    path.write_text("\n\n".join("\n".join(",".join(repr(float(v)) for v in row) for row in channel) for channel in x))
    return path


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory, libreoffice):
    """The books whose LibreOffice copies the tests read, recalculated by one start: {"cases": [(case, fresh copy,
    onnxruntime's output)], "edited": (the book, the book with a filter weight changed, its fresh copy)}."""
    folder = tmp_path_factory.mktemp("onnx-recalculated")
    books, expected = [], []
    for seed, name in enumerate(CASES):
        path, shape = make_case(name, folder, seed=seed)
        x = np.random.default_rng(seed + 10).random(shape)
        matrix = _matrix_file(folder / f"{name}.csv", x)
        books.append(make_workbook(matrix, folder / f"{name}.xlsx", model_path=str(path)).path)
        expected.append(runtime_output(path, x))
    book = make_workbook(None, folder / "book.xlsx").path     # a student changes a filter weight
    wb = openpyxl.load_workbook(book)
    wb["2 Filters"]["B11"].value = 2.5
    wb.save(folder / "edited.xlsx")
    *fresh, edited = recalculate([*books, folder / "edited.xlsx"], folder / "out")
    return {"cases": list(zip(CASES, fresh, expected)), "edited": (book, folder / "edited.xlsx", edited)}


def test_workbooks_of_onnx_models_recalculate_to_onnxruntime_s_logits(recalculated):
    for name, fresh, want in recalculated["cases"]:
        wb = openpyxl.load_workbook(fresh, read_only=True, data_only=True)    # named_values reads one range
        got = named_values(wb, "probabilities" if name == "global" else "logits")
        assert_close(got, want)


@pytest.mark.libreoffice
def test_a_normalised_photo_verifies_forward_backward_and_im2col(tmp_path, libreoffice):
    """--mean/--std on a photo: the normalised maps, the first layer reading them, its gradients and im2col
    all recalculate to the engine; a student's changed std moves the prediction's inputs and still verifies."""
    from xlcnn.verify import verify_workbooks
    normal = {"mean": "0.5,0.4,0.3", "std": "0.2,0.25,0.3", "size": 12}
    books = [make_workbook(None, tmp_path / "steps.xlsx", steps=1, label="circle", **normal).path,
             make_workbook(None, tmp_path / "im2col.xlsx", arch="conv3x3x2-same,relu,maxpool2,dense", im2col=True,
                           exercise=True, **normal).path]
    wb = openpyxl.load_workbook(books[0])
    label = next(cell for row in wb["1 Input"].iter_rows() for cell in row if cell.value == "std =")
    wb["1 Input"].cell(label.row, label.column + 1).value = 0.5      # the first channel's std
    wb.save(tmp_path / "edited.xlsx")
    reports = verify_workbooks([*books, tmp_path / "edited.xlsx"])
    assert all(report.ok for report in reports), [r.table() for r in reports if not r.ok]
    assert any(check.stage == "1 Input (normalised)" for check in reports[0].checks)


# ---------------------------------------------------------------- export


# an add of three terms goes out as Sum (ONNX's Add takes two) and comes back as one add
@pytest.mark.parametrize("arch", [None, "a=conv3x3x2-same, b=conv1x1x2(input), c=conv3x3x2-same(a), add(a,b,c), dense"])
def test_an_exported_model_runs_in_onnxruntime_and_reads_back(tmp_path, arch):
    if arch is None:
        model = random_model(seed=3)
    else:
        layers, inputs = parse_network(arch, 3)
        model = random_model(layers, image_size=6, seed=3, inputs=inputs)
    save_model(model, tmp_path / "m.npz")
    code, lines = _cli("export", tmp_path / "m.npz", "-o", tmp_path / "m.onnx")
    assert code == 0, lines
    x = np.random.default_rng(0).random(model.input_shape) * 255
    assert_close(runtime_output(tmp_path / "m.onnx", x * model.input_scale), forward(model, x).logits)
    again, _ = load_onnx(tmp_path / "m.onnx")
    assert again.class_names == model.class_names and again.input_scale == model.input_scale
    assert again.layers == model.layers and again.inputs == model.inputs


def test_a_normalised_model_exports_its_mean_and_std(tmp_path):
    model = replace(random_model(seed=4), input_mean=(0.4, 0.5, 0.6), input_std=(0.2, 0.3, 0.25))
    save_model(model, tmp_path / "n.npz")
    assert load_model(tmp_path / "n.npz").input_std == (0.2, 0.3, 0.25)     # the model file keeps them
    assert _cli("export", tmp_path / "n.npz", "-o", tmp_path / "n.onnx")[0] == 0
    x = np.random.default_rng(2).random(model.input_shape) * 255
    assert_close(runtime_output(tmp_path / "n.onnx", x * model.input_scale), forward(model, x).logits)
    again, _ = load_onnx(tmp_path / "n.onnx")
    np.testing.assert_allclose(again.input_mean, model.input_mean, rtol=1e-7)


@pytest.mark.parametrize("args, words", [
    (["--mean", "0.5,0.5,0.5"], "--mean and --std go together"),
    (["--mean", "0.5,0.5", "--std", "0.2,0.2"], "2 mean values for 3 input channels"),
    (["--mean", "0.5,0.5,0.5", "--std", "0.2,0,0.2"], "one mean and one std above 0"),
    (["--mean", "a,b,c", "--std", "1,1,1"], "give numbers separated by commas"),
])
def test_bad_mean_and_std_are_refused(tmp_path, args, words):
    code, lines = _cli("build", "-o", tmp_path / "n.xlsx", *args)
    assert code == 2 and len(lines) == 1 and words in lines[0], lines


def test_export_refuses_a_wrong_suffix_and_leaves_nothing(tmp_path):
    save_model(random_model(), tmp_path / "m.npz")
    code, lines = _cli("export", tmp_path / "m.npz", "-o", tmp_path / "m.onx")
    assert code == 2 and len(lines) == 1 and "must end in .onnx" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_an_edited_workbook_exports_its_own_weights(tmp_path, recalculated):
    """A student changes a filter weight; the ONNX model gives the logits the recalculated workbook shows."""
    from xlcnn.verify import model_from_workbook
    book, edited, recalculated_copy = recalculated["edited"]
    code, lines = _cli("export", edited, "-o", tmp_path / "edited.onnx")
    assert code == 0, lines
    model, pixels = model_from_workbook(edited)
    assert model.params[0]["weight"][0, 0, 0, 0] == 2.5
    fresh = openpyxl.load_workbook(recalculated_copy, read_only=True, data_only=True)    # named_values reads one range
    logits = named_values(fresh, "logits")
    assert_close(runtime_output(tmp_path / "edited.onnx", pixels * model.input_scale), logits)
    original, _ = model_from_workbook(book)
    assert not np.allclose(forward(original, pixels).logits, np.ravel(logits))   # the edit moved the logits


# ---------------------------------------------------------------- from PyTorch (an optional oracle)


def _torch_residual(torch):
    """A stem and one residual block with batch norm (conv-BN-ReLU-conv-BN, the input added back, ReLU),
    global average pooling and a linear layer."""
    nn = torch.nn

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.bn0 = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
            self.conv1, self.bn1 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
            self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
            self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(4, 3)

        def forward(self, x):
            x = torch.relu(self.bn0(self.stem(x)))
            y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return self.fc(self.pool(torch.relu(x + y)).flatten(1))
    return Residual()


def _torch_lenet(torch):
    nn = torch.nn

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 6, 3)
            self.pool = nn.MaxPool2d(2)
            self.fc1, self.fc2 = nn.Linear(6 * 5 * 5, 16), nn.Linear(16, 3)

        def forward(self, x):
            x = self.pool(torch.relu(self.conv1(x)))
            x = torch.relu(self.conv2(x))
            x = x.view(x.size(0), -1)
            return self.fc2(torch.relu(self.fc1(x)))
    return LeNet()


def _train_a_few_steps(torch, net, shape, steps=20):
    torch.manual_seed(0)
    optimiser = torch.optim.SGD(net.parameters(), lr=0.05)
    x = torch.rand(16, *shape)
    y = (x.mean(dim=(1, 2, 3)) * 3).long().clamp(0, 2)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimiser.step()
    return net.eval()


@pytest.mark.libreoffice
def test_pytorch_trained_models_build_verify_and_match_onnxruntime(tmp_path, libreoffice):
    """A LeNet-style network and a small residual network with batch norm, trained a few steps in PyTorch and
    exported by both of its exporters (dynamo, the default, writes Reshape and ReduceMean; the legacy one
    Flatten and GlobalAveragePool): every book verifies, and its recalculated logits are onnxruntime's."""
    torch = pytest.importorskip("torch")
    from xlcnn.verify import verify_workbooks
    exporters = {"legacy": {"dynamo": False}}
    if importlib.util.find_spec("onnxscript"):      # the dynamo exporter's own dependency
        exporters["dynamo"] = {"dynamo": True, "external_data": False}
    books, wanted = [], []
    for net_name, make, shape in (("lenet", _torch_lenet, (1, 14, 14)), ("residual", _torch_residual, (3, 8, 8))):
        net = _train_a_few_steps(torch, make(torch), shape)
        x = np.random.default_rng(5).random(shape)
        with torch.no_grad():
            want = net(torch.tensor(x[None], dtype=torch.float32)).numpy()[0]
        matrix = _matrix_file(tmp_path / f"{net_name}.csv", x)
        for name, how in exporters.items():
            path = tmp_path / f"{net_name}-{name}.onnx"
            torch.onnx.export(net, (torch.rand(1, *shape),), str(path), **how)
            assert_close(runtime_output(path, x), want)
            books.append(make_workbook(matrix, tmp_path / f"{net_name}-{name}.xlsx", model_path=str(path)).path)
            wanted.append(runtime_output(path, x))
    reports = verify_workbooks(books, keep_values=True)     # one LibreOffice start: the logits are read from it too
    assert all(report.ok for report in reports), [r.table() for r in reports if not r.ok]
    for book, report, want in zip(books, reports, wanted):
        assert_close(named_values(openpyxl.load_workbook(book, read_only=True), "logits", report.values), want)  # its names


def test_summary_reads_an_onnx_model(tmp_path):
    path, _ = make_case("chain", tmp_path)
    code, lines = _cli("summary", "--model", path)
    assert code == 0, lines
    model, _ = load_onnx(path)
    total = sum(value.size for params in model.params for value in params.values())
    assert lines[-2].split()[0] == "total" and f"{total:,}" in lines[-2].split()


def test_without_the_onnx_package_one_line_names_the_extra(tmp_path, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    code, lines = _cli("build", "--model", tmp_path / "m.onnx", "-o", tmp_path / "m.xlsx")
    assert code == 6 and lines == ["xlcnn: error: ONNX models need the onnx package; install it with: "
                                   "pip install 'xlcnn[onnx]'"]


@pytest.mark.parametrize("arch", ["conv3x3x4-g2,relu,conv3x3x4-dw-nobias,bn,gap,flatten,dense",
                                  "conv3x3x4-s2-p1,tconv3x3x2-s2-p1,relu,flatten,dense"])
def test_layers_without_sheets_travel_through_onnx(tmp_path, arch):
    """Grouped, depthwise and bias-free convolutions, batch norm and transposed convolution: written by
    export, run by onnxruntime as the engine runs them, read back as the same layers for the tables."""
    from xlcnn.architecture import parse_network
    layers, _ = parse_network(arch, 3)
    model = random_model(layers, image_size=9, seed=2, channels=2)
    for params in model.params:      # a batch norm that does something: statistics away from 0 and 1
        if "running_var" in params:
            params.update(running_mean=np.full_like(params["running_mean"], 0.3),
                          running_var=np.full_like(params["running_var"], 2.0))
    save_model(model, tmp_path / "m.npz")
    assert _cli("export", tmp_path / "m.npz", "-o", tmp_path / "m.onnx")[0] == 0
    x = np.random.default_rng(3).random(model.input_shape) * 255
    assert_close(runtime_output(tmp_path / "m.onnx", x * model.input_scale), forward(model, x).logits)
    again, notes = load_onnx(tmp_path / "m.onnx")
    assert_close(forward(again, x).logits, forward(model, x).logits)
    code, lines = _cli("summary", "--model", tmp_path / "m.onnx")
    assert code == 0, lines


def test_the_shipped_model_exports_and_gives_its_workbook_s_logits(tmp_path, tmp_path_factory):
    """The trained model xlcnn ships, exported: onnxruntime gives the logits its default workbook shows."""
    from xlcnn.image import load_image
    from xlcnn.resources import default_model_path, default_sample
    shipped = default_model_path()
    code, lines = _cli("export", shipped, "-o", tmp_path / "shipped.onnx")
    assert code == 0, lines
    book = shared_book(tmp_path_factory)
    shown = named_values(openpyxl.load_workbook(book, read_only=True, data_only=True), "logits")   # the true values, stored
    model = load_model(shipped)
    pixels = load_image(default_sample(), size=model.image_size).transpose(2, 0, 1)
    assert_close(runtime_output(tmp_path / "shipped.onnx", pixels * model.input_scale), shown)
    again, _ = load_onnx(tmp_path / "shipped.onnx")
    assert again.class_names == model.class_names and again.layers == model.layers


# ---------------------------------------------------------------- what must never be read wrong (a review's findings)


def _graph_of(shape, build):
    g = Graph(shape)
    build(g)
    return g


def _late_reader_of_a_bias(g):
    """The conv's output is read again after a stored vector was added to it: that vector is no bias."""
    c = conv(g, 3, 4, pads=[1, 1, 1, 1])
    added = g.add("Add", c, g.const(np.full((4, 1, 1), 5.0, dtype=np.float32)))
    raw = g.add("Relu", c)
    g.add("Concat", raw, added, axis=1)
    head(g, 8 * 4 * 4)


def _late_reader_of_a_batch_norm(g):
    c = conv(g, 3, 4, pads=[1, 1, 1, 1])
    normed = g.add("BatchNormalization", c, *(g.weight(4) for _ in range(3)),
                   g.const(np.ones(4, dtype=np.float32)))
    raw = g.add("Relu", c)
    g.add("Concat", raw, normed, axis=1)
    head(g, 8 * 4 * 4)


def test_a_batch_norm_keeps_its_own_layer_even_where_its_conv_is_read_again(tmp_path):
    """A bn has a sheet of its own, so the importer keeps it as the model has it (no fold): a conv read by a
    bn and by another layer is read as the branches it is, and gives onnxruntime's numbers."""
    shape = (3, 4, 4)
    path = _graph_of(shape, _late_reader_of_a_batch_norm).save(tmp_path / "m.onnx", input_shape=[1, *shape])
    x = np.random.default_rng(0).random(shape)
    model, notes = load_onnx(path)
    assert [layer.kind for layer in model.layers][:4] == ["conv2d", "bn", "relu", "concat"]
    assert not any("folded" in note for note in notes)
    assert_close(engine_logits(model, x), runtime_output(path, x))


def _raw_input_read_beside_a_normalisation(g):
    normed = g.add("Sub", "x", g.const(np.full((1, 3, 1, 1), 0.5, dtype=np.float32)))
    first = g.add("Conv", normed, g.weight(2, 3, 3, 3), kernel_shape=[3, 3])
    second = g.add("Conv", "x", g.weight(2, 3, 3, 3), kernel_shape=[3, 3])
    g.add("Add", first, second)
    head(g, 2 * 2 * 2)


def _a_vector_of_c_numbers_broadcast_along_the_width(g):
    g.add("Sub", "x", g.const(np.array([0.1, 0.5, 0.9], dtype=np.float32)))
    conv(g, 3, 2)
    head(g, 2 * 1 * 1)


def _same_padding_that_differs_between_axes(g):
    g.add("Conv", "x", g.weight(2, 3, 3, 3), kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
    head(g, 2 * 5 * 4)


def _a_gemm_whose_bias_is_computed(g):
    g.add("Flatten", axis=1)
    flat = g.last
    computed = g.add("Gemm", flat, g.weight(3, 27), transB=1)
    g.add("Gemm", flat, g.weight(3, 27), computed, transB=1)


@pytest.mark.parametrize("shape, build, words", [
    ((3, 4, 4), _late_reader_of_a_bias, "which nothing else reads"),
    ((3, 4, 4), _raw_input_read_beside_a_normalisation, "alone reads the picture"),
    ((3, 3, 3), _a_vector_of_c_numbers_broadcast_along_the_width, "one number per channel here"),
    ((3, 9, 8), _same_padding_that_differs_between_axes, "not the same on every side"),
    ((3, 3, 3), _a_gemm_whose_bias_is_computed, "as weights, and the graph computes it"),
])
def test_what_onnx_computes_otherwise_is_refused_never_read_wrong(tmp_path, shape, build, words):
    """Each of these graphs runs in onnxruntime; read loosely, xlcnn would give other numbers than it."""
    path = _graph_of(shape, build).save(tmp_path / "m.onnx", input_shape=[1, *shape])
    runtime_output(path, np.random.default_rng(0).random(shape))      # a valid model
    _refused(tmp_path, path, words)


def _conv_with_constant_weights(g, value):
    """Conv weights given by a Constant node, as some exporters write them."""
    weights = numpy_helper.from_array(np.full((2, 1, 3, 3), value, dtype=np.float32))
    g.nodes.append(helper.make_node("Constant", [], ["k"], name="weights", value=weights))
    g.add("Conv", "x", "k", kernel_shape=[3, 3])


@pytest.mark.parametrize("build, words", [
    (lambda g: g.add("Gather", g.add("Shape", "x"), g.const(np.array(9, dtype=np.int64))), "cannot be read (IndexError"),
    (lambda g: g.add("Unsqueeze", g.const(np.array([1, 2], dtype=np.int64)), g.const(np.array([9], dtype=np.int64))),
     "cannot be read (AxisError"),
    (lambda g: g.add("Relu", "nowhere"), "reads 'nowhere', which no earlier node gives and no initializer holds"),
    (lambda g: _conv_with_constant_weights(g, np.nan), "(Constant): its value holds NaN or infinite values"),
    (lambda g: g.nodes.append(helper.make_node("Relu", [], ["y"], name="empty")), "node 'empty' (Relu): reads no input"),
])
def test_malformed_graphs_give_one_line(tmp_path, build, words):
    g = Graph((1, 6, 6))
    build(g)
    _refused(tmp_path, g.save(tmp_path / "bad.onnx"), words)


def test_a_constant_kept_in_another_file_is_refused_before_it_is_read(tmp_path):
    value = numpy_helper.from_array(np.ones(2, dtype=np.float32), "k")
    value.data_location = TensorProto.EXTERNAL
    value.external_data.add(key="location", value="secret.bin")
    g = Graph((1, 6, 6))
    g.nodes.append(helper.make_node("Constant", [], ["k"], value=value))
    conv(g, 1, 2)
    head(g, 2 * 4 * 4)
    (tmp_path / "secret.bin").write_bytes(b"\0" * 8)
    _refused(tmp_path, g.save(tmp_path / "m.onnx"), "keeps its weights in a separate file (k in secret.bin)")


@pytest.mark.parametrize("scale", ["0", "nan", "inf", "abc"])
def test_a_bad_input_scale_in_the_metadata_is_refused(tmp_path, scale):
    g = Graph((3, 8, 8))
    _chain(g)
    path = g.save(tmp_path / "m.onnx", metadata={"xlcnn_input_scale": scale})
    _refused(tmp_path, path, f"metadata xlcnn_input_scale must be a finite number other than 0, not {scale!r}")


def test_a_model_that_is_not_square_survives_its_model_file(tmp_path):
    from xlcnn.architecture import parse_network
    layers, _ = parse_network("conv3x3x2,relu,flatten,dense", 3)
    model = random_model(layers, image_size=6, seed=1, channels=1, image_width=9)
    save_model(model, tmp_path / "m.npz")
    assert load_model(tmp_path / "m.npz").input_shape == (1, 6, 9)


def test_an_edited_std_of_zero_is_not_exported(tmp_path):
    book = make_workbook(None, tmp_path / "n.xlsx", mean="0.5,0.4,0.3", std="0.2,0.25,0.3", size=8).path
    wb = openpyxl.load_workbook(book)
    label = next(cell for row in wb["1 Input"].iter_rows() for cell in row if cell.value == "std =")
    wb["1 Input"].cell(label.row, label.column + 1).value = 0
    wb.save(tmp_path / "zero.xlsx")
    code, lines = _cli("export", tmp_path / "zero.xlsx", "-o", tmp_path / "zero.onnx")
    assert code == 3 and len(lines) == 1 and "every std must be above 0" in lines[0], lines
    assert not (tmp_path / "zero.onnx").exists()


def test_a_batch_norm_s_epsilon_reads_as_the_number_written_not_its_float32_double(tmp_path):
    """ONNX stores epsilon as a float32, so 1e-5 comes back as 9.999999747378752e-06; the layer keeps the
    number the model's author wrote (PyTorch's default reads as plain ``bn``, 1e-3 as ``bn-eps0.001``)."""
    def norms(g):
        for eps in (1e-5, 1e-3):
            g.add("BatchNormalization", g.last, *(g.weight(3) for _ in range(3)),
                  g.const(np.ones(3, dtype=np.float32)), epsilon=eps)
        head(g, 3 * 4 * 4)
    model, _ = load_onnx(_graph_of((3, 4, 4), norms).save(tmp_path / "m.onnx"))
    assert [layer.spelling() for layer in model.layers[:2]] == ["bn", "bn-eps0.001"]
