"""xl/styles.xml with its two long lists, the fills and the cell formats, written as text.

The photo's colour view paints each pixel colour as its own fill, so a workbook holds
one fill and one cell format (<xf>) per colour: hundreds for a small photo, tens of
thousands for a big one. openpyxl makes element objects for each, and compares each
colour with a freshly made default Color, which costs more than the whole rest of the
stylesheet. So openpyxl writes the stylesheet with a one-entry stand-in for each of the
two lists (every other list in it is short), and ``with_long_lists`` swaps the stand-ins
for the real lists, written here in openpyxl's exact bytes. tests/test_styles_xml.py
compares them with openpyxl's own output, so an openpyxl that writes them differently
is caught.
"""

from contextlib import contextmanager
from xml.sax.saxutils import escape

from openpyxl.styles.cell_style import CellStyle, StyleArray
from openpyxl.styles.colors import Color
from openpyxl.styles.fills import PatternFill
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.xml.constants import ARC_STYLE
from openpyxl.xml.functions import tostring

PART = ARC_STYLE   # the stylesheet's name in the package
# what the XML serialiser openpyxl uses turns into references inside an attribute value
ATTRIBUTE_ENTITIES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
DEFAULT_COLOUR = dict(Color())   # PatternFill.to_tree leaves out a colour equal to Color()
IDS_AT_ZERO = '<xf numFmtId="0" fontId="0" fillId="0" borderId="0"'


def _stand_ins():
    return IndexedList([PatternFill()]), IndexedList([StyleArray()])


@contextmanager
def long_lists_left_out(wb):
    """While openpyxl writes ``wb``, its fills and cell formats are one-entry stand-ins.

    Writing the package reads these two lists only for the stylesheet; if it ever added
    to them (a styled column, say), the id it gave would be wrong in the real list: refuse.
    """
    lists = wb._fills, wb._cell_styles
    wb._fills, wb._cell_styles = stand_ins = _stand_ins()
    try:
        yield
    finally:
        wb._fills, wb._cell_styles = lists
    if any(len(stand_in) != 1 for stand_in in stand_ins):
        raise RuntimeError("openpyxl added a fill or cell format while writing the package")


def with_long_lists(xml, wb):
    """The stylesheet openpyxl wrote (bytes) with ``wb``'s fills and cell formats in place of the stand-ins."""
    fills, formats = _stand_ins()
    for stand_in, text in ((fills_xml(fills), fills_xml(wb._fills)),
                           (cell_formats_xml(formats, wb), cell_formats_xml(wb._cell_styles, wb))):
        if xml.count(stand_in) != 1:
            raise RuntimeError(f"{PART}: openpyxl did not write the stand-in {stand_in!r} once")
        xml = xml.replace(stand_in, text)
    return xml


def fills_xml(fills):
    """<fills>, as openpyxl's Stylesheet.to_tree writes it."""
    return f'<fills count="{len(fills)}">{"".join(map(_fill_xml, fills))}</fills>'.encode()


def cell_formats_xml(formats, wb):
    """<cellXfs> of ``formats`` (StyleArrays), as openpyxl's write_stylesheet writes it.

    An <xf> is its four ids, then what follows from its other five entries (alignment,
    protection, ...); the few distinct followings are each made once by openpyxl itself.
    """
    endings = {}
    parts = [f'<cellXfs count="{len(formats)}">']
    for style in formats:
        key = tuple(style[4:])
        ending = endings.get(key)
        if ending is None:
            ending = endings[key] = _format_ending(style, wb)
        parts.append(f'<xf numFmtId="{style[3]}" fontId="{style[0]}" fillId="{style[1]}" borderId="{style[2]}"'
                     f'{ending}')
    parts.append("</cellXfs>")
    return "".join(parts).encode()


def _format_ending(style, wb):
    """openpyxl's <xf> for ``style`` with its four ids at 0, less the text of those ids."""
    xf = CellStyle.from_array(StyleArray([0, 0, 0, 0, *style[4:]]))
    if style.alignmentId:   # as write_stylesheet adds them
        xf.alignment = wb._alignments[style.alignmentId]
    if style.protectionId:
        xf.protection = wb._protections[style.protectionId]
    text = tostring(xf.to_tree()).decode()
    if not text.startswith(IDS_AT_ZERO):
        raise RuntimeError(f"openpyxl writes a cell format as {text}, not starting {IDS_AT_ZERO}")
    return text[len(IDS_AT_ZERO):]


def _fill_xml(fill):
    """One <fill>, as PatternFill.to_tree writes it; any other kind of fill through openpyxl itself."""
    if type(fill) is not PatternFill:
        return tostring(fill.to_tree()).decode()
    children = _colour_xml("fgColor", fill.fgColor) + _colour_xml("bgColor", fill.bgColor)
    pattern = "" if fill.patternType is None else f' patternType="{_attribute(fill.patternType)}"'
    if not children:
        return f"<fill><patternFill{pattern}/></fill>"
    return f"<fill><patternFill{pattern}>{children}</patternFill></fill>"


def _colour_xml(tag, colour):
    """A fill's colour as PatternFill.to_tree writes it, or "" for a colour equal to Color(), which it leaves out."""
    if type(colour) is Color and colour.type == "rgb" and colour.tint == 0:
        # nearly every colour (a pixel's): openpyxl writes only its rgb (Color.__iter__), and asking
        # openpyxl for that list costs more than the rest of the fill
        if colour.rgb == DEFAULT_COLOUR.get("rgb"):
            return ""
        return f'<{tag} rgb="{_attribute(colour.rgb)}"/>'
    if type(colour) is not Color:   # a subclass: openpyxl's equality and element, whatever they are
        return "" if colour == Color() else tostring(colour.to_tree(tag)).decode()
    # a Color has no child elements, so its attributes (openpyxl's own list of them) say all it is
    attributes = dict(colour)
    return "" if attributes == DEFAULT_COLOUR else _empty_element(tag, attributes)


def _empty_element(tag, attributes):
    return "<" + tag + "".join(f' {name}="{_attribute(value)}"' for name, value in attributes.items()) + "/>"


def _attribute(value):
    return escape(value, ATTRIBUTE_ENTITIES)
