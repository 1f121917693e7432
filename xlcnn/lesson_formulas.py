"""Formula text of the lesson around the network: worked examples, exercises, summary, overview.

``formulas.py`` holds the network's own formulas, each the twin of an engine function;
the builders here explain, check or describe those cells. They are pure like those: they
take blocks (and the cells a student picks a position in) and return formula text. The
worked example's window results reuse the forward builders, so the example computes its
cell exactly as the layer does.

Positions a student picks are 1-based (map, row, column as the sheet numbers them);
``picked_index`` is the one place that turns a picked number into an INDEX row or column.
"""

from . import formulas
from .cells import Block, quote_sheet
from .formulas import reference, text_literal

AGREEMENT = "1E-9"   # the worked example's result and the cell agree within this, relative to the cell


# ---------------------------------------------------------------- worked examples: the shared lines

# (a kind's own lines, and its exercise's answer, are builders in its module of ``kinds/``)


def picked_index(picked, step, offset):
    """The 1-based INDEX row (or column) of cell ``offset`` of the window at the position in cell ``picked``."""
    return f"({picked.ref(absolute=True)}-1)*{step}+{offset + 1}"


def example_group_channel(k, filters_per_group, per_group, c):
    """The 1-based input channel that slice c of picked filter k reads when filters are grouped: slice c of
    the filter's group, g = (k - 1) // (K / G), whose channels start at g x C/G (the layer's ``group_reads``,
    live)."""
    return f"INT(({k.ref(absolute=True)}-1)/{filters_per_group})*{per_group}+{c + 1}"


def example_grouped_conv_input(stack, channel, i, j, stride, row, col):
    """The input under a tap of the picked window when filters are grouped: the padded map is the picked
    filter's ``channel`` (a formula), found by INDEX over the whole stack of padded maps."""
    whole = Block.spanning(stack.maps[0], stack.maps[-1])
    band = stack.maps[1].row - stack.maps[0].row if len(stack.maps) > 1 else 0
    return (f"=INDEX({whole.range_ref(absolute=True)},({channel}-1)*{band}+{picked_index(i, stride, row)},"
            f"{picked_index(j, stride, col)})")


def example_channel_label(text, labels, channel):
    """``text`` with its "{c}" the name of input ``channel`` (a formula), picked from ``labels`` by CHOOSE."""
    prefix, _, suffix = text.partition("{c}")
    names = ",".join(text_literal(label) for label in labels)
    return f"={text_literal(prefix)}&CHOOSE({channel},{names})&{text_literal(suffix)}"


def example_product(x, weight):
    """One input times its weight."""
    return f"={x.ref()}*{weight.ref()}"


def example_channel_sum(products):
    """The sum of one channel's products."""
    return f"=SUM({products.range_ref()})"


def example_spelled_sum(prefix, inputs, weights, total):
    """The channel's sum spelled out as text, "red: 0.12×0.500 + ... = 0.31", live like the rest
    (``prefix`` a formula, as ``example_channel_label`` gives, when it starts with "=")."""
    terms = '&" + "&'.join(f'FIXED({x.ref()},2,TRUE)&"×"&FIXED({w.ref()},3,TRUE)' for x, w in zip(inputs, weights))
    quoted = prefix[1:] if prefix.startswith("=") else '"' + prefix.replace('"', "'") + '"'   # a " would end it
    return f'={quoted}&{terms}&" = "&FIXED({total.ref()},3,TRUE)'


def example_scale(scale):
    """The input scale the first layer multiplies by, shown as a number (``scale`` is its name)."""
    return f"={scale}"


# ---------------------------------------------------------------- worked example of a window


def example_window_value(stack, k, i, j, step, row, col, scale=None, padding=0, bounds=None):
    """Cell (row, col) of the window under picked output (i, j) of map k (a pooling window moves
    ``step`` cells per output; an activation's window is the one cell, step 1).

    A padded pool's window starts ``padding`` cells above and left of the maps; ``bounds`` (first
    row, last row, first column, last column, counted from 1 inside the maps) are the cells that
    count, and a window cell outside them shows "" (text: MAX and AVERAGE skip it).
    """
    down, across = picked_index(i, step, row - padding), picked_index(j, step, col - padding)
    fetch = _stacked_index(stack, k.ref(absolute=True), down, across)
    value = f"{fetch}*{scale}" if scale else fetch
    if bounds is None:
        return f"={value}"
    first, last, left, right = bounds
    return f'=IF(AND({down}>={first},{down}<={last},{across}>={left},{across}<={right}),{value},"")'


def example_channel_value(column, k):
    """The picked map's entry of a one-column block (a normalising layer's numbers, one row per map)."""
    return f"=INDEX({column.range_ref(absolute=True)},{k.ref(absolute=True)})"


# ---------------------------------------------------------------- the example's check


def example_map_cell(stack, k, i, j):
    """The layer's own cell at the picked map, row and column."""
    return "=" + _stacked_index(stack, *(cell.ref(absolute=True) for cell in (k, i, j)))


def example_agrees(result, cell, yes, no):
    """``yes`` when the worked example's result equals the cell (within rounding), else ``no``."""
    r, c = result.ref(), cell.ref()
    return f"=IF(ABS({r}-{c})<={AGREEMENT}*MAX(1,ABS({c})),{text_literal(yes)},{text_literal(no)})"


# ---------------------------------------------------------------- highlights (conditional formats)


def colour_scale_size(ranges):
    """The end of a colour scale over ``ranges`` (A1 texts of the sheet's own cells): their largest
    size, never 0, so an all-zero map stays white instead of taking an end colour."""
    cells = ",".join(ranges)
    return f"MAX(MAX({cells}),-MIN({cells}),1E-9)"


def in_picked_group(rule, k, filters_per_group, per_group, c):
    """``rule`` (a conditional format's) while input channel c (0-based) is one the picked filter k reads:
    with grouped filters, those of its group, g = (k - 1) // (K / G), channels g x C/G on."""
    group = f"INT(({k.ref(absolute=True)}-1)/{filters_per_group})=INT({c}/{per_group})"
    return f"AND({rule},{group.replace(quote_sheet(k.sheet) + '!', '')})"


def picked_filter_rule(picked, number):
    """TRUE while filter ``number`` is the picked one (a conditional format on its own sheet)."""
    return f"{picked.a1(0, 0, absolute=True)}={number}"


# ---------------------------------------------------------------- exercises


def exercise_cell(cell):
    """The right answer of an exercise that hides a whole cell: the cell (text without "=")."""
    return cell.ref()


def exercise_check(answer, truth, tolerance, right, wrong):
    """Blank until an answer is typed, then ``right`` or ``wrong`` (within ``tolerance`` of ``truth``)."""
    a = answer.ref()
    return f'=IF({a}="","",IF(ABS({a}-({truth}))<={tolerance},{text_literal(right)},{text_literal(wrong)}))'


def exercise_mark_rule(check, word):
    """TRUE while the check cell shows ``word`` (a conditional format on its own sheet)."""
    return f"{check.a1(0, 0)}={text_literal(word)}"


# ---------------------------------------------------------------- a fold's check (--fold-bn)


def difference(cell, other):
    """One cell minus the same cell computed another way: 0 but for rounding when both agree."""
    return f"={cell.ref()}-{other.ref()}"


def largest_difference(blocks):
    """The largest |difference| over ``blocks`` (MAX and MIN, so no array formula is needed)."""
    ranges = ",".join(block.range_ref() for block in blocks)
    return f"=MAX(MAX({ranges}),-MIN({ranges}))"


# ---------------------------------------------------------------- summary and overview


def column_total(column):
    """The total of a summary column (on its own sheet)."""
    return f"=SUM({column.range()})"


def cell_sum(first, second):
    """Two cells of a row added: a layer's weights and biases make its parameters."""
    return f"={first.ref()}+{second.ref()}"


def ratio(numerator, denominator):
    """How many times one count is another (the cost without a bottleneck over the cost with it; a
    standard layer's count over a grouped one's)."""
    return f"={numerator.ref()}/{denominator.ref()}"


def times(cell, factor):
    """A cell times a whole number: bytes from a count of 4-byte numbers."""
    return f"={cell.ref()}*{factor}"


def output_side(side, span, padding, stride, ceil=False):
    """The output size formula of a sliding window (filters or pooling): floor((W - F + 2P) / S) + 1. In ceil mode
    the quotient rounds up (-INT(-x)), but the last window must start inside the input or its left
    padding: at most floor((W + P - 1) / S) + 1 windows."""
    if not ceil:
        return f"=INT(({side}-{span}+2*{padding})/{stride})+1"
    return f"=MIN(-INT(-({side}-{span}+2*{padding})/{stride}),INT(({side}+{padding}-1)/{stride}))+1"


def receptive_field(field, span, jump):
    """The receptive field after a window of ``span`` whose steps are ``jump`` input pixels apart."""
    return f"={field}+({span}-1)*{jump}"


def product(numbers):
    """The product of whole numbers written out (a shape's cell count, a count of multiply-adds)."""
    return "=" + "*".join(str(n) for n in numbers)


def patch_picture(patch):
    """One cell of a small feature-map picture: the patch's one cell, or the mean of the patch
    (``formulas.mean_of``: the picture averages the map, as a pooling layer would)."""
    return reference(patch) if patch.size == 1 else formulas.mean_of(patch)


def hyperlink(sheet, text):
    """=HYPERLINK("#'3 Conv'!A1","3 Conv"): a link to the top of ``sheet`` that every spreadsheet follows."""
    target = f"#{quote_sheet(sheet)}!A1".replace('"', '""')
    return f'=HYPERLINK("{target}","{text.replace(chr(34), chr(34) * 2)}")'


# ---------------------------------------------------------------- private


def _stacked_index(stack, k, row, col):
    """INDEX into every map of a stack at once: map k (1-based), row and column inside the map."""
    first = stack.maps[0]
    whole = Block.spanning(first, stack.maps[-1])
    band = stack.maps[1].row - first.row if len(stack.maps) > 1 else 0
    return f"INDEX({whole.range_ref(absolute=True)},({k}-1)*{band}+{stack.pad}+{row},{stack.pad}+{col})"
