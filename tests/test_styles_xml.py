"""styles_xml writes the stylesheet's fills and cell formats as text: byte for byte what openpyxl writes.

openpyxl's own ``write_stylesheet`` is the reference: a workbook styled through openpyxl's cells,
with every kind of colour and fill and every optional part of a cell format, must give the
same styles.xml either way. An openpyxl upgrade that changes how it writes them fails here.
"""

import random
import zipfile

import pytest
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, GradientFill, PatternFill, Protection, Side
from openpyxl.styles.colors import Color
from openpyxl.styles.stylesheet import write_stylesheet
from openpyxl.worksheet.dimensions import ColumnDimension
from openpyxl.xml.functions import Element, tostring

from xlcnn.workbook import sheetdata, styles_xml

COLOURS = ("FFF2CC", "00ff00AA", Color(theme=4, tint=-0.25), Color(indexed=5), Color(auto=True),
           Color(rgb="112233", tint=0.4), Color(theme=1), Color())
FILLS = (PatternFill("solid", fgColor="FFF2CC"), PatternFill(), PatternFill(patternType="gray125"),
         PatternFill("darkGrid", fgColor=COLOURS[2], bgColor="FF0000"), PatternFill(bgColor=COLOURS[3]),
         PatternFill("solid", fgColor=COLOURS[4], bgColor=COLOURS[5]), PatternFill("solid", fgColor=Color()),
         GradientFill(stop=("000000", "FFFFFF")), GradientFill("path", left=0.2, stop=(COLOURS[6], "FF0000")))
ALIGNMENTS = (None, Alignment(horizontal="center"), Alignment(wrap_text=True, vertical="top", indent=2))
PROTECTIONS = (None, Protection(locked=False), Protection(locked=True, hidden=True))


def styled_book(seed):
    """A workbook whose cells wear random fills, formats, alignments, protections and quote prefixes."""
    rng = random.Random(seed)
    wb = Workbook()
    ws = wb.active
    for n in range(300):
        cell = ws.cell(n // 20 + 1, n % 20 + 1, value=n)
        if rng.random() < 0.7:   # a photo's colours: one fill each
            cell.fill = PatternFill("solid", fgColor=f"{rng.randrange(1 << 24):06X}")
        else:
            cell.fill = rng.choice(FILLS)
        cell.number_format = rng.choice(("General", "0.00", "0.00E+0;-0.00E+0;0", '"?";"?"'))
        if rng.random() < 0.3:
            cell.font = Font(bold=True, color=rng.choice(COLOURS))
            cell.border = Border(left=Side("thin", color="5B9BD5"))
        alignment, protection = rng.choice(ALIGNMENTS), rng.choice(PROTECTIONS)
        if alignment is not None:
            cell.alignment = alignment
        if protection is not None:
            cell.protection = protection
        if rng.random() < 0.1:
            cell.quotePrefix = True
        if rng.random() < 0.05:
            cell.pivotButton = True
        assert cell.style_id >= 0   # adds the cell's format to the workbook's list, as writing the cell would
    assert len(wb._cell_styles) > 100 and len(wb._alignments) == len(wb._protections) == 3
    return wb


@pytest.mark.parametrize("seed", range(3))
def test_the_stylesheet_is_openpyxls_byte_for_byte(seed):
    wb = styled_book(seed)
    expected = tostring(write_stylesheet(wb))
    with styles_xml.long_lists_left_out(wb):
        with_stand_ins = tostring(write_stylesheet(wb))
    assert len(with_stand_ins) < len(expected) / 3   # the long lists were left to us
    assert styles_xml.with_long_lists(with_stand_ins, wb) == expected


def test_every_fill_and_colour_kind_is_written_as_openpyxl_writes_it():
    fills = list(FILLS) + [PatternFill("solid", fgColor=colour) for colour in COLOURS]
    expected = "".join(tostring(fill.to_tree()).decode() for fill in fills)
    assert styles_xml.fills_xml(fills) == f'<fills count="{len(fills)}">{expected}</fills>'.encode()


def test_attribute_text_is_escaped_as_openpyxls_serialiser_escapes_it():
    odd = 'a&b<c>d"e\'f\ng\th\ri é'
    assert styles_xml._empty_element("x", {"v": odd}) == tostring(Element("x", v=odd)).decode()


def test_a_cell_format_added_while_writing_is_refused():
    wb = Workbook()
    ws = wb.active
    ws.column_dimensions["B"] = ColumnDimension(ws, index="B", width=3)
    ws.column_dimensions["B"].font = Font(bold=True)   # openpyxl adds its format while writing the <cols>
    with pytest.raises(RuntimeError, match="added a fill or cell format"):
        with styles_xml.long_lists_left_out(wb):
            tostring(ws.column_dimensions.to_tree())
    assert len(wb._cell_styles) == 1   # the real list is back, untouched


def test_a_stylesheet_without_the_stand_ins_is_refused():
    wb = styled_book(0)
    with pytest.raises(RuntimeError, match="stand-in"):
        styles_xml.with_long_lists(tostring(write_stylesheet(wb)), wb)


def test_a_saved_book_holds_the_stylesheet_openpyxl_would_write(tmp_path):
    wb = Workbook()
    cells = sheetdata.cells_of(wb.active)
    rng = random.Random(5)
    for n in range(200):   # a photo's colours, and a few other styles, through sheetdata's own cells
        cell = cells.at(n // 20, n % 20)
        cell.value, cell.kind = n, "n"
        cell.fill = rng.choice(FILLS) if n % 7 == 0 else PatternFill("solid", fgColor=f"{rng.randrange(1 << 24):06X}")
        cell.alignment, cell.protection = rng.choice(ALIGNMENTS), rng.choice(PROTECTIONS)
    sheetdata.save(wb, tmp_path / "book.xlsx")
    with zipfile.ZipFile(tmp_path / "book.xlsx") as book:
        saved = book.read(styles_xml.PART)
    assert len(wb._fills) > 150 and len(wb._cell_styles) > 150   # the real lists are back in the workbook
    assert saved == tostring(write_stylesheet(wb))
