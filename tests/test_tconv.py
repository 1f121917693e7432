"""The transposed convolution's sheets: each output cell sums what the input cells stamp on it.

Geometry and formula builders against the NumPy pair (no workbook), the course's 3x3 -> 5x5
example planned and built, and whole books recalculated in LibreOffice and Gnumeric, where a
cell that leaves out one stamp must fail.
"""

import re

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner

from books import Books
from some_sheets import load_sheets
from xlcnn import make_workbook, verify_workbooks
from xlcnn.architecture import parse_network
from xlcnn.cli import main
from xlcnn.handout import Handout, make_handouts
from xlcnn.pdfmeasure import measure_pdf, smallest_type
from xlcnn.presets import load_preset
from xlcnn.resources import texts as load_texts
from xlcnn.layout import _scatter_kernels_sheet, _scatter_sheet, _stack, plan_layout
from xlcnn.errors import LimitError
from xlcnn.kinds.tconv import (TransposedConv, tconv_backward, tconv_forward, tconv_forward_naive, tconv_reach,
                               tconv_reaching)
from xlcnn.workbook.evaluate import Evaluator
from xlcnn.workbook.sheetdata import SheetCells

CASES = [(3, 3, 3, 2, 1), (4, 5, 2, 2, 0), (3, 4, 4, 3, 2), (4, 4, 3, 1, 0), (3, 3, 2, 3, 0), (5, 2, 1, 2, 0)]


@pytest.mark.parametrize("height, width, kernel, stride, padding", CASES)
def test_the_reach_counts_the_stamps_that_cover_each_cell(height, width, kernel, stride, padding):
    """tconv_reaching lists exactly the input rows whose stamp covers an output row; their counts are the
    reach map, which is the layer on ones (and the naive loop agrees)."""
    reach = tconv_reach(height, width, kernel, stride, padding)
    ones = np.ones((1, 1, kernel, kernel))
    naive = tconv_forward_naive(np.ones((1, height, width)), ones, np.zeros(1), stride, padding)[0]
    np.testing.assert_array_equal(reach, naive)
    for y in range(reach.shape[0]):
        rows = tconv_reaching(y, height, kernel, stride, padding)
        assert all(i * stride + u == y + padding and 0 <= u < kernel for i, u in rows)
        assert [i for i, _ in rows] == [i for i in range(height) if 0 <= y + padding - i * stride < kernel]
        for x in range(reach.shape[1]):
            assert reach[y, x] == len(rows) * len(tconv_reaching(x, width, kernel, stride, padding))


def _planned(channels, height, width, layer):
    """A source stack on sheet "X", the kernels sheet "K" and the layer's sheet "T", planned as the layout does."""
    source = _stack("X", 0, channels, height, width, 0)
    kernels = _scatter_kernels_sheet({"name": "K", "kind": "filters", "layer": 0}, layer, channels)
    shape = layer.output_shape([(channels, height, width)], "layer 1")
    return _scatter_sheet({"name": "T", "kind": layer.kind, "layer": 0}, shape, 0, layer, source, kernels, False)


def _inputs_and_kernels(plan, x, w):
    """{(sheet, row, col): number} of input x (C, H, W) on sheet "X" and kernels w (C, K, F, F) on sheet "K"."""
    values = {}
    for c in range(x.shape[0]):
        for i, j, row, col in plan.source.interior(c).cells():
            values["X", row, col] = x[c, i, j]
        for k in range(w.shape[1]):
            for u, v, row, col in plan.kernels[c][k].cells():
                values["K", row, col] = w[c, k, u, v]
    return values


def _cells(values):
    """{sheet: SheetCells} holding numbers at zero-based (sheet, row, col) keys."""
    sheets = {}
    for (sheet, row, col), value in values.items():
        cell = sheets.setdefault(sheet, SheetCells()).at(row, col)
        cell.value, cell.kind = float(value), "n"
    return sheets


@pytest.mark.parametrize("height, width, kernel, stride, padding", CASES)
def test_the_cell_formulas_compute_the_numpy_layer(height, width, kernel, stride, padding):
    rng = np.random.default_rng(height * 7 + kernel)
    channels, filters = 2, 3
    layer = TransposedConv(filters, kernel, stride, padding)
    x, w, b = rng.normal(size=(channels, height, width)), rng.normal(size=(channels, filters, kernel, kernel)), \
        rng.normal(size=filters)
    plan = _planned(channels, height, width, layer)
    values = _inputs_and_kernels(plan, x, w)
    for k in range(filters):
        values["K", plan.biases[k].row, plan.biases[k].col] = b[k]
    evaluator = Evaluator(_cells(values), {})
    expected = tconv_forward(x, w, b, stride, padding)
    got = np.array([[[evaluator.formula_value("T", 0, 0, layer.cell_formula(plan.terms(k, y, z), plan.biases[k]))
                      for z in range(expected.shape[2])] for y in range(expected.shape[1])] for k in range(filters)])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    reach = [[evaluator.formula_value("T", 0, 0, layer.reach_formula(len(layer.reaching(y, height)),
                                                                       len(layer.reaching(z, width))))
              for z in range(expected.shape[2])] for y in range(expected.shape[1])]
    np.testing.assert_array_equal(reach, tconv_reach(height, width, kernel, stride, padding))


def test_the_course_example_is_planned_3x3_to_5x5_with_the_overlap_explained():
    """3 x 3 input, stride 2, kernel 3, padding 1: (3 - 1) x 2 - 2 x 1 + 3 = 5; cell (2, 2) gets four stamps."""
    layer = TransposedConv(1, 3, 2, 1)
    plan = _planned(1, 3, 3, layer)
    assert plan.output.shape == (1, 5, 5) and plan.reach.height == plan.reach.width == 5
    assert layer.side_arithmetic(3, 5) == ("(3 - 1) x 2 - 2x1 + 3 = 5", "=(3-1)*2-2*1+3")
    assert plan.example_at == (0, 1, 1)
    assert plan.contributions(1, 1) == [(0, 0, 0, 2, 2), (0, 0, 1, 2, 0), (0, 1, 0, 0, 2), (0, 1, 1, 0, 0)]
    assert plan.products.height == 4
    assert plan.terms(0, 0, 0) == [(plan.source.at(0, 0, 0), plan.kernels[0][0].sub(1, 1, 1, 1))]


def test_the_kernels_sheet_holds_the_stored_weight_in_its_order():
    """Band c, kernel k is the stored weight[c, k] (input channel first, as PyTorch stores it); verify reads it so."""
    layers, inputs = parse_network("tconv3x3x4-s2,dense", 3)
    layout = plan_layout(layers, (2, 4, 4), ("a", "b", "c"))
    kernels = layout.sheet("filters", 0)
    assert len(kernels.weight) == 2 and len(kernels.weight[0]) == 4 and len(kernels.bias) == 4
    assert [plan.name for plan in layout.sheets[1:4]] == ["1 Input", "2 Filters", "3 TConv"]


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tconv")
    (folder / "course.txt").write_text("1 2 3\n4 5 6\n7 8 9\n")
    built = Books(folder, {     # each built when a test first reads it
        "course": {"photo": folder / "course.txt", "arch": "tconv3x3x1-s2-p1,dense"},
        "grows": {"arch": "conv3x3x2,relu,tconv3x3x2-s2-p1,relu,maxpool2,dense", "size": 8},
        "gaps": {"arch": "tconv2x2x2-s3,relu,dense", "size": 4, "lang": "zh"},
        "backprop": {"arch": "conv3x3x2,relu,tconv3x3x2-s2-p1,relu,maxpool2,dense", "size": 8, "steps": 2,
                     "label": "circle"},
        "first": {"arch": "tconv3x3x2-s2-p1,relu,flatten,dense", "size": 5, "steps": 1, "label": "square"},
    })
    return folder, built


def test_the_course_book_shows_the_size_the_reach_and_the_worked_example(books):
    _, built = books
    [ws] = load_sheets(built["course"], lambda _, title: title == "3 TConv")
    texts = [cell.value for row in ws.iter_rows() for cell in row if isinstance(cell.value, str)]
    assert any("(3 - 1) x 2 - 2 x 1 + 3 = 5" in text for text in texts)
    formulas = {cell.coordinate: cell.value for row in ws.iter_rows() for cell in row}
    assert "=(3-1)*2-2*1+3" in formulas.values()
    reach = [[cell.value for cell in row if isinstance(cell.value, str) and re.fullmatch(r"=\d\*\d", cell.value)]
             for row in ws.iter_rows(min_row=11, max_row=15)]
    assert reach[1] == ["=2*1", "=2*2", "=2*1", "=2*2", "=2*1"] and reach[0] == ["=1*1", "=1*2", "=1*1", "=1*2", "=1*1"]
    # output row 2, column 2: four input cells, each times its own tap (the input scale, 1 for a matrix, after)
    assert formulas["C12"].count("'1 Input'!") == 4 and formulas["C12"].count("'2 Filters'!") == 5
    assert any("4 input cells reach it" in text for text in texts)


@pytest.fixture(scope="module")
def verified(books, upsample_books, tmp_path_factory, libreoffice, gnumeric):
    """One LibreOffice start for every book of the module, and Gnumeric for the first ones: {"books": the
    reports of ``books`` and a book with a stamp left out, each in both engines, book by book;
    "upsample": those of the upsample books and of the preset with backprop, in LibreOffice}."""
    folder, built = books
    bad = folder / "bad.xlsx"
    book = openpyxl.load_workbook(built["course"])
    cell = book["3 TConv"]["C12"]
    assert "+'1 Input'!C12*'2 Filters'!$B$11)" in cell.value
    cell.value = cell.value.replace("+'1 Input'!C12*'2 Filters'!$B$11)", ")")    # one stamp left out
    book.save(bad)
    checked = [*built.values(), bad]
    backprop = make_workbook(output=folder / "upsample-backprop.xlsx", preset="upsample", size=12, steps=1,
                             label="circle").path
    upsampled = [*upsample_books.values(), backprop]
    in_libreoffice = verify_workbooks([*checked, *upsampled])
    in_gnumeric = verify_workbooks(checked, engine="gnumeric")
    both = [report for pair in zip(in_libreoffice, in_gnumeric) for report in pair]
    return {"books": both, "upsample": in_libreoffice[len(checked):]}


def test_the_books_verify_in_libreoffice_and_gnumeric_and_a_missing_stamp_fails(books, verified):
    _, built = books
    reports = verified["books"]
    assert len(reports) == 2 * (len(built) + 1)      # each book in each engine, book by book
    for report in reports[:-2]:
        assert report.ok, report.table()
        stages = [check.stage for check in report.checks]
        assert any(stage.endswith(" (reach)") for stage in stages) and any(stage.endswith(" (example)")
                                                                         for stage in stages)
    for report in reports[6:10]:     # the backprop books: the layer's gradients, and the pass after a step
        stages = [check.stage for check in report.checks]
        assert any(stage.startswith("Grad") and stage.endswith("TConv") for stage in stages)
        assert any(stage.startswith("S1 ") and stage.endswith("TConv") for stage in stages)
    for report in reports[-2:]:
        assert not report.ok
        assert not next(check for check in report.checks if check.stage == "3 TConv").ok


@pytest.mark.parametrize("height, width, kernel, stride, padding", CASES)
def test_the_gradient_formulas_compute_the_numpy_backward_pass(height, width, kernel, stride, padding):
    """Each kernel tap, bias and input cell of the gradient sheet, from the plan's pairs, equals tconv_backward."""
    rng = np.random.default_rng(height * 11 + stride)
    channels, filters = 2, 3
    layer = TransposedConv(filters, kernel, stride, padding)
    plan = _planned(channels, height, width, layer)
    _, out_h, out_w = plan.output.shape
    upstream = _stack("G", 0, filters, out_h, out_w, 0)
    x, w = rng.normal(size=(channels, height, width)), rng.normal(size=(channels, filters, kernel, kernel))
    dout = rng.normal(size=(filters, out_h, out_w))
    values = _inputs_and_kernels(plan, x, w)
    for k in range(filters):
        for y, z, row, col in upstream.interior(k).cells():
            values["G", row, col] = dout[k, y, z]
    evaluator = Evaluator(_cells(values), {})

    def value(formula):
        return evaluator.formula_value("T", 0, 0, formula)
    dx, dw, db = tconv_backward(dout, x, w, stride, padding)
    got_dw = [[[[value(layer.weight_gradient_formula(plan.weight_pairs(c, k, u, v, upstream)))
                 for v in range(kernel)] for u in range(kernel)] for k in range(filters)] for c in range(channels)]
    got_dx = [[[value(layer.input_gradient_formula(plan.input_pairs(c, i, j, upstream))) for j in range(width)]
               for i in range(height)] for c in range(channels)]
    got_db = [value(layer.bias_gradient_formula(upstream.interior(k))) for k in range(filters)]
    np.testing.assert_allclose(got_dw, dw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_dx, dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_db, db, rtol=1e-12)


def test_a_formula_too_long_for_excel_is_refused_in_one_line():
    layers, _ = parse_network("conv3x3x64,tconv3x3x2,dense", 3)
    with pytest.raises(LimitError, match="one output formula is too long.*64 input maps"):
        plan_layout(layers, (3, 8, 8), ("a", "b", "c"))


# ---------------------------------------------------------------- the upsample preset


@pytest.fixture(scope="module")
def upsample_books(tmp_path_factory):
    """The preset at its own size and at 16, in English and Chinese."""
    folder = tmp_path_factory.mktemp("upsample")
    return Books(folder, {(lang, size): {"preset": "upsample", "lang": lang, **({"size": size} if size else {})}
                          for lang in ("en", "zh") for size in (None, 16)})


def test_the_upsample_preset_grows_the_map_back_to_the_photos_size(upsample_books):
    preset = load_preset("upsample")
    assert "transposed convolution" in preset.description and "转置卷积" in load_preset("upsample", "zh").description
    for (lang, size), path in upsample_books.items():
        side = size or preset.size
        book = openpyxl.load_workbook(path, read_only=True)
        shapes = [row[1:3] for row in book[book.sheetnames[-3]].iter_rows(values_only=True)
                  if str(row[0]).startswith(("tconv1", "第 4 层"))]
        assert shapes == [(f"4 x {side // 2} x {side // 2}", f"4 x {side} x {side}")], (lang, size)


def test_the_upsample_preset_verifies_in_both_languages_and_sizes_and_with_backprop(verified):
    reports = verified["upsample"]
    for report in reports:
        assert report.ok, report.table()
    assert any(check.stage == "Grad 7 TConv" for check in reports[-1].checks)


@pytest.mark.usefixtures("libreoffice", "poppler")
def test_the_upsample_handouts_are_readable(upsample_books, tmp_path):
    """Type of 7 pt or more, no ###, every step in order on at most two pages, the layer's explanation whole."""
    books = [upsample_books["en", None], upsample_books["zh", None]]
    pdfs = make_handouts([Handout(book, tmp_path / f"{n}.pdf", paper="a4") for n, book in enumerate(books)])
    for book, pdf, lang in zip(books, pdfs, ("en", "zh")):
        pages = measure_pdf(pdf)
        assert smallest_type(pages) >= 7.0 and not any("###" in page.text for page in pages)
        heads = [page.words[0][0] for page in pages]
        tabs = [ws.title.split()[0] for ws in openpyxl.load_workbook(book, read_only=True).worksheets
                if ws.sheet_state == "visible"][:-1]
        assert list(dict.fromkeys(heads)) == tabs and all(heads.count(tab) <= 2 for tab in tabs)
        printed = " ".join(page.text for page in pages).replace(" ", "")
        layer = next(ws for ws in openpyxl.load_workbook(book).worksheets if ws.title.startswith("7 "))
        lines = [layer.cell(row, 1).value for row in range(1, 8) if isinstance(layer.cell(row, 1).value, str)]
        assert len(lines) >= 6 and all(line.replace(" ", "") in printed for line in lines), lang
        words = load_texts(lang)["sheets"]["tconv"]   # the worked example and the reach map: a page of their own
        assert words["reach_label"].replace(" ", "") in printed and words["side_label"].replace(" ", "") in printed
        assert words["example_title"].split("{")[0].replace(" ", "") in printed
