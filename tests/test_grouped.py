"""Grouped, depthwise and bias-free convolutions in the workbook: each filter reads its group's channels only."""

import json

import openpyxl
import pytest

from named import recalculated_value
from some_sheets import load_sheets
from xlcnn import make_workbook, verify_workbooks
from xlcnn.errors import ShapeError
from xlcnn.layout import plan_layout
from xlcnn.network import layer_from_dict
from xlcnn.resources import sample_photos

DEPTHWISE = "conv3x3x4-same,relu,conv3x3x4-dw,relu,dense"
GROUPED = "conv3x3x4-same,relu,conv3x3x6-g2-nobias,relu,dense"


def _layout(result, steps=0):
    """The plan of a built book, from its hidden metadata sheet (read-only: openpyxl parses only that sheet)."""
    wb = openpyxl.load_workbook(result.path, read_only=True)
    meta = {row[0].value: json.loads(row[1].value) for row in wb["xlcnn"].iter_rows()}
    wb.close()
    layers = [layer_from_dict(d) for d in meta["architecture"]]
    return plan_layout(layers, tuple(meta["input_shape"]), meta["class_names"], steps=steps)


def _filters(wb, layout, index):
    plan = layout.sheet("filters", index)
    return plan, wb[plan.name]


def _value(ws, block, i=0, j=0):
    row, col = block.cell(i, j)
    return ws.cell(row + 1, col + 1).value


@pytest.mark.parametrize("arch, reads", [(DEPTHWISE, [[0], [1], [2], [3]]),
                                         (GROUPED, [[0, 1], [0, 1], [0, 1], [2, 3], [2, 3], [2, 3]])])
def test_the_filters_sheet_shows_which_channels_each_filter_reads(tmp_path, arch, reads):
    """Each slice is labelled with the channel it reads, and the grid has a 1 exactly where a filter reads."""
    result = make_workbook(sample_photos()[0], tmp_path / "g.xlsx", arch=arch, size=8)
    layout = _layout(result)
    wb = openpyxl.load_workbook(result.path, read_only=True)     # reads only the sheets asked for
    plan, ws = _filters(wb, layout, 2)
    for k, channels in enumerate(reads):
        assert list(plan.reads(k)) == channels
        assert [_value(ws, label) for label in plan.slice_labels[k]] == [f"channel {c + 1}" for c in channels]
        marks = [c for c in range(4) if _value(ws, plan.connections.cells, k, c) == 1]
        assert marks == channels
    assert "reads" in _value(ws, plan.connections.title)
    plain, _ = _filters(wb, layout, 0)
    assert plain.connections is None      # a standard convolution's filters read every channel: no grid
    wb.close()


def test_a_bias_free_conv_says_so_and_verifies(tmp_path):
    result = make_workbook(sample_photos()[0], tmp_path / "nb.xlsx", arch=GROUPED, size=8)
    layout = _layout(result)
    wb = openpyxl.load_workbook(result.path, read_only=True)     # reads only the sheet asked for
    plan, ws = _filters(wb, layout, 2)
    assert _value(ws, plan.bias_labels[0]) == "no bias (0)" and _value(ws, plan.bias[0]) == 0
    assert "F x F x C/G x K = 3 x 3 x 2 x 6 = 108" in ws.cell(4, 1).value
    assert "216" in ws.cell(4, 1).value      # a standard conv of the same shape: 3 x 3 x 4 x 6
    wb.close()


# filters, input gradients and two descent steps through depthwise, grouped and bias-free convs
BACKPROP = "conv3x3x4-same,relu,conv3x3x4-dw-p1,relu,conv1x1x6-nobias,relu,conv3x3x6-g2,relu,dense"


@pytest.fixture(scope="module")
def verified(tmp_path_factory, libreoffice):
    """The module's books verified with one LibreOffice start: {name: (path, layout, report)}, each report keeping
    the values LibreOffice recalculated. "dw" and "g2": the worked example moved to the last map (the last group)."""
    folder = tmp_path_factory.mktemp("grouped")
    books = {}
    for name, arch in (("dw", DEPTHWISE), ("g2", GROUPED)):
        result = make_workbook(sample_photos()[1], folder / f"{name}.xlsx", arch=arch, size=8)
        layout = _layout(result)
        conv = layout.sheet("conv2d", 2)
        wb = openpyxl.load_workbook(result.path)
        for n, value in enumerate((conv.output.shape[0], 2, 3)):
            row, col = conv.explain.choose.cell(n, 0)
            wb[conv.name].cell(row + 1, col + 1).value = value
        wb.save(result.path)
        books[name] = result.path, layout
    result = make_workbook(sample_photos()[2], folder / "bp.xlsx", arch=BACKPROP, size=8, steps=2)
    books["backprop"] = result.path, _layout(result, steps=2)
    reports = verify_workbooks([path for path, _ in books.values()], keep_values=True)
    return {name: (path, layout, report) for (name, (path, layout)), report in zip(books.items(), reports)}


@pytest.mark.parametrize("name, last_channels", [("dw", ["map 4"]), ("g2", ["map 3", "map 4"])])
def test_the_worked_example_follows_the_picked_filter_into_its_group(verified, name, last_channels):
    _, layout, report = verified[name]
    assert report.ok, report.table()
    conv = layout.sheet("conv2d", 2)
    grid = report.values[conv.name]
    example = conv.explain
    assert recalculated_value(grid, *example.same.cell(0, 0)) == "yes"
    assert [recalculated_value(grid, *label.cell(0, 0)) for label in example.window_labels] == [
        f"window of {c}" for c in last_channels]
    source = layout.output_of(1)     # the ReLU maps the conv reads, with its zero border
    relu = report.values[source.maps[0].sheet]
    channel = int(last_channels[-1].split()[-1]) - 1
    for u, v, row, col in example.windows[-1].cells():    # picked row 2, column 3: the window from (1, 2)
        r, c = source.maps[channel].cell(1 + u, 2 + v)
        assert recalculated_value(grid, row, col) == pytest.approx(recalculated_value(relu, r, c) or 0, abs=1e-12)


def test_the_summary_sets_a_depthwise_conv_beside_a_standard_one(tmp_path):
    """3x3 depthwise on 8 channels of 6 x 6 (padding 1): 3*3*1*8 + 8 = 80 parameters against 3*3*8*8 + 8 = 584;
    6*6*8*9 = 2,592 multiply-adds against 6*6*8*72 = 20,736 (8.0x); the workbook's row is live formulas."""
    from click.testing import CliRunner
    from xlcnn.cli import main
    arch = "conv3x3x8-p1,relu,conv3x3x8-dw-p1,relu,conv1x1x8,dense"
    run = CliRunner().invoke(main, ["summary", "--arch", arch, "--size", "6", "--classes", "3",
                                    "-o", str(tmp_path / "s.xlsx")])
    assert run.exit_code == 0, run.output
    lines = run.output.splitlines()
    at = lines.index(next(line for line in lines if line.startswith("conv2 ") and line.endswith("x")))
    assert lines[at].split() == ["conv2", "parameters", "80", "584", "7.3x"]
    assert lines[at + 1].split() == ["multiply-adds", "2,592", "20,736", "8.0x"]
    assert not any(line.startswith("conv3 ") and line.endswith("x") for line in lines)   # a standard 1x1: not compared
    wb = openpyxl.load_workbook(tmp_path / "s.xlsx")
    ws = wb.worksheets[0]
    formulas = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    assert "=3*3*8*8+8" in formulas and any(f.startswith("=") and "/" in f for f in formulas)


def test_backprop_respects_the_groups_and_later_passes_learn_the_grouped_weights(verified):
    """Filter and input gradients of depthwise, grouped and bias-free convs, two descent steps, in LibreOffice;
    a filter's gradient slices sit as its weights do (its group's channels), and the turned kernels say which."""
    path, layout, report = verified["backprop"]
    assert report.ok, report.table()
    wb = openpyxl.load_workbook(path)
    grouped = layout.gradients[0][6]
    assert [len(slices) for slices in grouped.weight] == [3] * 6      # 6 channels in 2 groups
    ws = wb[grouped.name]
    assert [_value(ws, label) for label in grouped.back_kernel_labels[3]] == [f"kernel {c} turned 180" for c in (4, 5, 6)]
    bias_free = layout.gradients[0][4]
    assert _value(wb[bias_free.name], bias_free.bias[0]) is None      # nothing to learn: no bias gradient
    later = layout.passes[1].sheet("filters", 2)      # the depthwise filters after one step: old - rate x gradient
    assert str(_value(wb[later.name], later.weight[1][0])).startswith("=")


def test_the_mobilenet_block_handout_is_readable(tmp_path, libreoffice, poppler):
    """The preset's handout: type no smaller than 7 pt, no ###, the depthwise filters' grid and the summary's
    comparison printed, in English and Chinese; with --backprop (Chinese) too."""
    from xlcnn.handout import Handout, make_handouts
    from xlcnn.pdfmeasure import measure_pdf, smallest_type
    books = {name: make_workbook(sample_photos()[0], tmp_path / f"{name}.xlsx", preset="mobilenet-block",
                                 lang=name[:2], steps=int(name.endswith("bp"))).path for name in ("en", "zh", "zh-bp")}
    pdfs = make_handouts([Handout(path, tmp_path / f"{lang}.pdf", paper="a4") for lang, path in books.items()])
    for lang, pdf in zip(books, pdfs):
        pages = measure_pdf(pdf)
        assert smallest_type(pages) >= 7.0 and not any("###" in page.text for page in pages)
        # 16 steps (the overview, two filters sheets and the pool of 16 maps take two or three pages); with
        # --backprop also 11 gradient sheets and the pass after the step
        assert len(pages) <= (64 if lang.endswith("bp") else 26)
        printed = " ".join(page.text for page in pages)
        grid, compared = (("Which input channels", "standard conv") if lang == "en" else ("每个滤波器读取哪些输入通道", "标准卷积"))
        assert grid in printed and compared in printed and "7.3x" in printed and "8.0x" in printed


def test_a_depthwise_conv_whose_filters_do_not_fit_its_channels_is_refused_as_depthwise(tmp_path):
    with pytest.raises(ShapeError) as caught:
        make_workbook(output=tmp_path / "dw.xlsx", arch="conv3x3x5-dw, dense", size=8)
    message = str(caught.value)
    assert "groups" not in message and "depthwise" in message and "multiple of the 3 input channels" in message


def test_im2col_refuses_a_grouped_first_convolution_in_one_line(tmp_path):
    from click.testing import CliRunner
    from xlcnn.cli import main
    run = CliRunner().invoke(main, ["build", "--arch", "conv3x3x6-dw,relu,dense", "--size", "8", "--im2col",
                                    "-o", str(tmp_path / "i.xlsx")])
    assert run.exit_code == 2 and "is grouped" in run.output and len(run.output.strip().splitlines()) == 1
    assert not (tmp_path / "i.xlsx").exists()


def test_an_exercise_part_of_a_grouped_sum_reads_a_channel_of_the_filter_s_group(tmp_path):
    """The part of a long sum an exercise names is one of the slices the filter really has."""
    arch = "conv3x3x8-same,relu,conv3x3x8-g2,relu,dense"
    result = make_workbook(sample_photos()[0], tmp_path / "ex.xlsx", arch=arch, size=10, exercise=True)
    layout = _layout(result)
    conv, filters = layout.sheet("conv2d", 2), layout.sheet("filters", 2)
    wb = openpyxl.load_workbook(result.path, read_only=True)     # reads only the sheet asked for
    named = [c.value for row in wb[conv.name].iter_rows() for c in row
             if isinstance(c.value, str) and "only the part from" in c.value]
    wb.close()
    assert named
    for text in named:     # "map 4, row 5, column 4: only the part from map 3 (...)"
        k, c = int(text.split(",")[0].split()[-1]) - 1, int(text.split("only the part from map ")[1].split()[0]) - 1
        assert c in filters.reads(k)


def test_the_first_grouped_conv_outlines_only_its_group_s_channels_and_its_grid_row(tmp_path):
    """The input sheet's outline of the explained cell's window holds on the picked filter's channels only, and
    the filters sheet outlines the picked filter's row of the grid with its slices."""
    result = make_workbook(sample_photos()[0], tmp_path / "h.xlsx", arch="conv3x3x6-dw,relu,maxpool2,dense", size=8)
    layout = _layout(result)
    filters = layout.sheet("filters", 0)
    pixels, weights = load_sheets(result.path, lambda _, title: title in (layout.sheet("input").name, filters.name))
    rules = [(str(cf.sqref), rule.formula[0]) for cf in pixels.conditional_formatting
             for rule in cf.rules if rule.formula]
    assert [formula.endswith(f"=INT({c}/1))") for c, (_, formula) in enumerate(rules)] == [True] * 3
    assert all("/2)=INT(" in formula for _, formula in rules)       # 2 filters a channel: (k - 1) // 2
    ranges = [str(cf.sqref) for cf in weights.conditional_formatting]
    assert any(filters.connections.cells.sub(5, 0, 1, 3).range() in sqref for sqref in ranges)
