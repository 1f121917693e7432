"""The overview tells the story: boxes with shapes, a square photo, live feature-map pictures, links."""

import re
import zipfile

import numpy as np
import openpyxl
import pytest

from books import shared_book
from some_sheets import load_sheets
from xlcnn.cells import a1
from xlcnn.layout import PAGE_COLUMNS, plan_layout
from xlcnn.libreoffice import recalculate
from xlcnn.network import DEFAULT_ARCHITECTURE, DEFAULT_CLASSES
from xlcnn.pipeline import make_workbook
from xlcnn.presets import load_preset
from xlcnn.workbook.overview import SQUARE_HEIGHT, SQUARE_WIDTH

HYPERLINK = re.compile(r'^=HYPERLINK\("#(.+)!A1","(.*)"\)$')


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return shared_book(tmp_path_factory)


@pytest.fixture(scope="module")
def written(book):
    """The default book's overview as written, read once (alone) for the tests that only look at it."""
    [overview] = load_sheets(book, lambda position, _: position == 0)
    return overview


@pytest.fixture(scope="module")
def layout():
    return plan_layout(DEFAULT_ARCHITECTURE, (3, 28, 28), DEFAULT_CLASSES)


def excel_pixels(width, digit=7):
    """A column's width on screen in Excel: ECMA-376's rule for the default font's 7-pixel digit."""
    return int(((256 * width + int(128 / digit)) / 256) * digit)


def column_width(ws, col):
    """The width of zero-based column ``col``, from the run of columns (min..max) that holds it."""
    [width] = [d.width for d in ws.column_dimensions.values() if d.min <= col + 1 <= d.max]
    return width


def test_square_cells_have_the_same_pixels_across_and_down():
    assert excel_pixels(SQUARE_WIDTH) == round(SQUARE_HEIGHT * 96 / 72)


def test_the_photo_and_the_pictures_are_drawn_in_square_cells(written, layout):
    ws = written
    overview = layout.sheets[0]
    view = overview.colour_view
    blocks = [view, *(block for pictures in overview.pictures for block in pictures.blocks)]
    for block in blocks:
        for row in range(block.row, block.last_row + 1):
            assert ws.row_dimensions[row + 1].height == SQUARE_HEIGHT, (block, row)
        for col in range(block.col, block.last_col + 1):
            assert column_width(ws, col) == SQUARE_WIDTH


def test_the_network_is_a_row_of_boxes_with_their_shapes(written, layout):
    ws = written
    boxes = [ws.cell(box.row + 1, box.col + 1).value for box in layout.sheets[0].boxes]
    assert boxes == ["photo\n28 x 28 x 3", "conv 3x3 x4\n26 x 26 x 4", "ReLU\n26 x 26 x 4",
                     "max pool 2x2\n13 x 13 x 4", "flatten\n676", "dense x3\n3", "softmax\n3"]
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert all(box.range() in merged for box in layout.sheets[0].boxes)


@pytest.mark.parametrize("lang, third", [
    ("en", ["conv1", "conv2: reads photo", "concat1: reads conv1, conv2", "relu1"]),
    ("zh", ["conv1", "conv2：读取 照片", "concat1：读取 conv1、conv2", "relu1"]),
])
def test_a_branched_networks_boxes_say_what_they_read(tmp_path, lang, third):
    """Boxes in layer order would make a parallel branch look like the next step: a box that does not read
    the box before it says what it reads, gets no arrow from it, and its row is tall enough for the words."""
    arch = "a=conv3x3x2-same, b=conv1x1x3(input), concat(a,b), relu, maxpool2, dense"
    path = make_workbook(output=tmp_path / "b.xlsx", arch=arch, size=8, lang=lang).path
    layers, inputs = _branched(arch)
    overview = plan_layout(layers, (3, 8, 8), DEFAULT_CLASSES, inputs=inputs).sheets[0]
    [ws] = load_sheets(path, lambda position, _: position == 0)
    boxes = [ws.cell(box.row + 1, box.col + 1).value for box in overview.boxes]
    assert [text.split("\n")[2] for text in boxes[1:5]] == third
    assert boxes[0].count("\n") == 1 and boxes[2].startswith(("conv 1x1 x3\n8 x 8 x 3", "卷积 1x1 x3\n8 x 8 x 3"))
    arrows = [(arrow.row, arrow.col) for arrow in overview.arrows]
    assert (overview.boxes[0].row, overview.boxes[0].last_col + 1) in arrows          # photo -> conv1
    for box in overview.boxes[1:3]:                                                   # conv1 / conv2 / concat
        assert (box.row, box.last_col + 1) not in arrows and ws.cell(box.row + 1, box.last_col + 2).value is None
    assert len(arrows) == len(overview.boxes) - 3
    assert ws.row_dimensions[overview.boxes[0].row + 1].height > 28    # three lines and a wrapped one


def _branched(arch):
    from xlcnn.architecture import parse_network
    layers, inputs = parse_network(arch, len(DEFAULT_CLASSES))
    return layers, inputs


def test_every_sheet_is_linked_from_the_overview_and_links_back(book):
    wb = openpyxl.load_workbook(book, read_only=True)     # the overview, and the first row of every other sheet
    overview = wb.worksheets[0]
    targets = [HYPERLINK.match(cell.value).group(1).strip("'") for row in overview.iter_rows() for cell in row
               if isinstance(cell.value, str) and cell.value.startswith("=HYPERLINK")]
    visible = [ws.title for ws in wb.worksheets[1:] if ws.sheet_state == "visible"]
    assert targets == visible
    for ws in wb.worksheets[1:]:
        if ws.sheet_state != "visible":
            continue
        links = [cell.value for cell in ws[1] if isinstance(cell.value, str) and cell.value.startswith("=HYPERLINK")]
        assert len(links) == 1 and HYPERLINK.match(links[0]).group(1).strip("'") == overview.title, ws.title
    wb.close()


def _edited(book, tmp_path):
    """The workbook with the top-left 6 x 6 pixels of every channel set to 255 (as a student would type them)."""
    edited = tmp_path / "edited.xlsx"
    layout = plan_layout(DEFAULT_ARCHITECTURE, (3, 28, 28), DEFAULT_CLASSES)
    pixels = layout.input
    cells = {a1(*pixels.interior(c).sub(i, j, 1, 1).cell(0, 0)) for c in range(3) for i in range(6) for j in range(6)}
    with zipfile.ZipFile(book) as source:
        names = re.findall(r'<sheet [^>]*name="([^"]+)"', source.read("xl/workbook.xml").decode())
        sheet_part = f"xl/worksheets/sheet{names.index(pixels.maps[0].sheet) + 1}.xml"   # openpyxl numbers them in order
        with zipfile.ZipFile(edited, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                data = source.read(info.filename)
                if info.filename == sheet_part:
                    data = re.sub(r'(<c r="([A-Z]+\d+)"[^>]*t="n"><v>)([^<]*)(</v>)',
                                  lambda m: m.group(1) + ("255" if m.group(2) in cells else m.group(3)) + m.group(4),
                                  data.decode()).encode()
                target.writestr(info, data)
    return edited


def _picture_values(ws, pictures):
    return [np.array([[ws.cell(r + 1, c + 1).value for c in range(b.col, b.last_col + 1)]
                      for r in range(b.row, b.last_row + 1)], dtype=float) for b in pictures.blocks]


def _patch_means(ws, stack, pictures):
    channels, height, width = stack.shape
    means = []
    for k in range(channels):
        inner = stack.interior(k)
        values = np.array([[ws.cell(r + 1, c + 1).value for c in range(inner.col, inner.last_col + 1)]
                           for r in range(inner.row, inner.last_row + 1)], dtype=float)
        block = pictures.blocks[k]
        means.append(np.array([[values[slice(t, t + h), slice(l, l + w)].mean()
                                for t, l, h, w in (pictures.region(i, j, height, width) for j in range(block.width))]
                               for i in range(block.height)]))
    return means


def test_the_feature_map_pictures_follow_an_edited_pixel(libreoffice, book, layout, tmp_path):
    """Recalculated by LibreOffice after an edit: every picture cell is the mean of its patch of the map."""
    [recalculated] = recalculate([_edited(book, tmp_path)], tmp_path / "out")
    before = openpyxl.load_workbook(book, data_only=True)
    after = openpyxl.load_workbook(recalculated, data_only=True)
    overview = layout.sheets[0]
    assert [p.layer for p in overview.pictures] == [0, 1, 2]   # conv, ReLU and pool maps
    changed = 0
    for pictures in overview.pictures:
        stage = layout.sheet_of(pictures.layer)
        shown = _picture_values(after[overview.name], pictures)
        expected = _patch_means(after[stage.name], stage.output, pictures)
        for got, want in zip(shown, expected):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        old = _picture_values(before[overview.name], pictures)
        changed += sum(int(np.sum(np.abs(new - was) > 1e-9)) for new, was in zip(shown, old))
    assert changed > 0


def test_a_long_branched_network_gets_a_compact_overview_with_a_tile_per_layer():
    """Each layer with maps keeps a picture (its first maps, as a tile); tiles never overlap; the default stays in bands."""
    preset = load_preset("inception-block")
    layers, inputs = preset.network()
    overview = plan_layout(layers, (3, 16, 16), preset.classes, inputs=inputs).sheets[0]
    mapped = [n for n in range(len(layers)) if len(overview.box_shapes[n + 1]) == 3]
    assert [pictures.layer for pictures in overview.pictures] == mapped
    assert all(pictures.tile and 1 <= len(pictures.blocks) <= overview.box_shapes[pictures.layer + 1][0]
               for pictures in overview.pictures)
    cells = [(r, c) for pictures in overview.pictures for block in (pictures.label, *pictures.blocks)
             for _, _, r, c in block.cells()]
    assert len(cells) == len(set(cells))                                       # no two tiles share a cell
    assert all(block.last_col <= PAGE_COLUMNS for pictures in overview.pictures for block in pictures.blocks)   # on the page
    assert overview.chart.row == overview.picture.row                          # the chart beside the photo's picture
    default = plan_layout(DEFAULT_ARCHITECTURE, (3, 28, 28), DEFAULT_CLASSES).sheets[0]
    assert not any(pictures.tile for pictures in default.pictures)
