"""The resnet-block preset: conv -> bn -> relu -> conv -> bn, the block's input added back, relu; the add
sheet shows the shortcut beside the branch, backprop hands the gradient to both, and its handout is readable."""

import openpyxl
import pytest

from books import Books
from xlcnn import verify_workbooks
from xlcnn.handout import Handout, make_handouts
from xlcnn.pdfmeasure import measure_pdf, smallest_type
from xlcnn.presets import load_preset

MIN_TYPE = 7.0       # the classroom handout's smallest type, as for the default lesson


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resnet")
    cases = {"en": {}, "zh": {"lang": "zh"}, "backprop": {"steps": 1}, "fold": {"fold_bn": True}}
    return Books(folder, {name: {"preset": "resnet-block", **options} for name, options in cases.items()})


def test_the_block_is_conv_bn_relu_conv_bn_with_its_input_added_back():
    layers, inputs = load_preset("resnet-block").network()
    assert [layer.kind for layer in layers[1:9]] == ["relu", "conv2d", "bn", "relu", "conv2d", "bn", "add", "relu"]
    assert sorted(inputs[7]) == [1, 6]     # the add reads the second bn and the block's input (the stem's relu)


def test_the_add_sheet_copies_the_shortcut_beside_the_branch(books):
    book = openpyxl.load_workbook(books["en"], read_only=True)     # parses only the sheet asked for
    add = book[next(name for name in book.sheetnames if name.endswith("Add"))]
    read = {cell.value.split("!")[0].lstrip("=").strip("'") for row in add.iter_rows() for cell in row
            if isinstance(cell.value, str) and cell.value.startswith("=") and "!" in cell.value}
    assert any(" BN" in name for name in read) and any(" ReLU" in name for name in read), read


@pytest.mark.libreoffice
def test_the_preset_verifies_learns_folds_and_prints(books, libreoffice, poppler, tmp_path):
    reports = verify_workbooks(list(books.values()))
    for report in reports:
        assert report.ok, report.table()
    stages = [check.stage for check in reports[2].checks]
    assert any("Grad" in stage and "Add" in stage for stage in stages), stages   # the add's gradient sheet
    assert any("Grad" in stage and "BN" in stage for stage in stages), stages
    pdfs = make_handouts([Handout(books[name], tmp_path / f"{name}.pdf", paper="a4") for name in ("en", "zh")])
    for pdf in pdfs:
        pages = measure_pdf(pdf)
        assert smallest_type(pages) >= MIN_TYPE
        assert not any("###" in page.text for page in pages)
