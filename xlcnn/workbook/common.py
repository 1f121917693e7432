"""Small helpers every sheet writer shares: cells, headers, widths, heatmaps."""

from dataclasses import dataclass, field
from functools import lru_cache

from .. import formulas
from ..cells import Block, a1, quote_sheet
from ..graph import INPUT
from ..layout import NOTICE_ROW
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Protection

from . import styles
from .sheetdata import cells_of

UNLOCKED = Protection(locked=False)


@dataclass
class Context:
    """What every sheet writer needs: the model, the plan, the texts and the photo."""

    model: object
    layout: object
    texts: dict
    pixels: object                 # (C, H, W): a photo's integers 0..255, or a matrix's numbers
    label: int
    seed: int | None = None
    model_name: str = "(unnamed)"
    description: str = ""          # a preset's paragraph, shown on the summary sheet
    source_name: str | None = None
    photo: bytes = None            # the overview's picture, encoded (see build.thumbnail)
    colours: object = None         # the painted photo's (H, W, 3) colours, made on first use (paint_pixels)
    manifest: dict = field(default_factory=dict)
    step: int = 0                  # 0: the first forward pass; n: the pass after n descent steps
    previous: object = None        # for a later pass: the Layout of the pass before it ...
    previous_gradients: dict = None   # ... and its gradient sheets, {layer: its gradient sheet}
    unfit_options: str = ""        # options that kept the shipped trained weights out (notice_text names them)
    class_pictures: list = None    # PNG bytes of one training picture per class (knows.class_pictures), or None
    options: object = None         # the BuildOptions: the language, the exercises, the steps and their rate
    matrix: bool = False           # the input is a matrix of any numbers (a text file), not a photo's 0..255
    targets: tuple = ()            # a regression's targets (--loss mse), one per output

    def new_weight(self, kind, layer, pick):
        """For a later pass, the formula "old - rate x gradient" of one parameter cell, else None.

        ``pick(sheet)`` selects the same cell from the old parameter sheet and the gradient's.
        """
        if self.previous is None:
            return None
        old = pick(self.previous.sheet(kind, layer))
        gradient = pick(self.previous_gradients[layer])
        return formulas.descent_step(old, gradient)
    formulas: int = 0              # counted as they are written
    notes: dict = field(default_factory=dict)

    def channel_labels(self, channels):
        """"red (R)", "green (G)", "blue (B)"; or the grey channel's name; a matrix's "channel 1", ..."""
        words = self.texts["sheets"]["input"]
        if self.matrix:
            return [words["matrix_channel"].format(c=c + 1) for c in range(channels)]
        return [words["gray_label"]] if channels == 1 else words["channel_labels"][:channels]

    def scale_for(self, index):
        """The input-scale name if layer ``index`` reads the photo's pixels, else None.

        The one place that says where the scale applies. The engine multiplies the pixels
        by it before the first layer, whatever that layer is; the workbook keeps the pixels
        as 0-255 numbers, so the first layer's formulas (and its gradients) multiply what
        they read by ``input_scale`` and every later layer reads numbers already scaled.
        A normalised input is scaled on the input sheet itself: the first layer reads it as it is.
        """
        return "input_scale" if INPUT in self.model.sources()[index] and not self.model.normalised else None

    def sheet_texts(self, kind):
        return self.texts["sheets"][kind]


def put_text(ws, row, col, text, font=None):
    """Text that is never read as a formula, whatever characters it starts with.

    Control characters that XML cannot hold (from a file or class name) become "?".
    """
    cell = cells_of(ws).at(row, col)
    cell.value = ILLEGAL_CHARACTERS_RE.sub("?", str(text))
    cell.kind = "s"
    if font is not None:
        cell.font = font
    return cell


def cell_at(ws, row, col):
    """The cell at zero-based (row, col), to restyle (a fill, a hidden formula)."""
    return cells_of(ws).at(row, col)


def paint_pixels(ctx, ws, view):
    """Fill every cell of ``view`` with its pixel's colour: the photo itself, visible in cells.

    The colours come from ``styles.painted_colours`` (fewer shades when a big noisy photo
    would need more cell formats than Excel allows), the same for every painted view.
    """
    if ctx.colours is None:
        ctx.colours = styles.painted_colours(styles.as_grey_levels(ctx.pixels) if ctx.matrix else ctx.pixels)
    colours = ctx.colours.tolist()   # plain ints: indexing the array cell by cell costs more than painting
    for i, j, row, col in view.cells():
        cell_at(ws, row, col).fill = styles.pixel_fill(*colours[i][j])


def write_padding(ws, stack, c):
    """Zeros in the border cells of padded map c, shaded so the 'tape' is visible."""
    if not stack.pad:
        return
    inner = stack.interior(c)
    for _, _, row, col in stack.maps[c].cells():
        if not (inner.row <= row <= inner.last_row and inner.col <= col <= inner.last_col):
            put_value(ws, row, col, 0, fill=styles.PAD_FILL)


def put_parameter(ctx, ws, block, value, number_format, formula):
    """A weight: a constant the student may edit, or (in a later pass) its descent-step formula."""
    if formula is None:
        return put_value(ws, block.row, block.col, float(value), number_format, styles.PARAM_FILL)
    return put_formula(ctx, ws, block, formula, number_format)


def put_value(ws, row, col, value, number_format=None, fill=None):
    """A number (int or float) the student may read or edit."""
    cell = cells_of(ws).at(row, col)
    cell.value, cell.kind = value, "n"
    cell.number_format = number_format
    if fill is not None:
        cell.fill = fill
        if fill is styles.PARAM_FILL:   # what a student may edit stays editable on a protected sheet
            cell.protection = UNLOCKED
    return cell


def put_formula(ctx, ws, block, formula, number_format=None):
    """Write a live formula into a 1 x 1 block (or the top-left of a block).

    References to the sheet's own cells drop the sheet name, so students read
    ``=MAX(0,B11)`` rather than ``=MAX(0,'4 Sheet'!B11)``.
    """
    cell = cells_of(ws).at(block.row, block.col)
    cell.value, cell.kind = formula.replace(own_prefix(ws.title), ""), "f"
    cell.number_format = number_format
    ctx.formulas += 1
    return cell


def put_formulas(ctx, ws, block, formula_of, number_format=None):
    """``put_formula`` in every cell (i, j) of ``block``, row by row, with the formula ``formula_of(i, j)``.

    A map holds hundreds of formulas: the sheet's cells and own prefix are looked up once for
    them all, and no 1 x 1 block is made for each (the cells alone were a tenth of a map's cost).
    """
    at, prefix = cells_of(ws).at, own_prefix(ws.title)
    for i, j, row, col in block.cells():
        formula = formula_of(i, j)
        cell = at(row, col)
        cell.value, cell.kind = formula.replace(prefix, ""), "f"
        cell.number_format = number_format
    ctx.formulas += block.size


@lru_cache(maxsize=1024)   # asked once per formula written, of a few dozen sheets: each prefix made once
def own_prefix(sheet):
    """"'4 Sheet'!": what a reference to ``sheet``'s own cells drops on that sheet."""
    return quote_sheet(sheet) + "!"


def share_formulas(ws, block):
    """Every formula of ``block`` is its top-left one moved along: store the text once (see SheetCells.share)."""
    cells_of(ws).share(block)


def write_header(ws, title, lines, step_values):
    """Title in row 0, one explanation line per row below it."""
    put_text(ws, 0, 0, title.format(**step_values), styles.TITLE_FONT)
    for n, line in enumerate(lines, start=1):
        if line:
            put_text(ws, n, 0, line.format(**step_values), styles.TEXT_FONT)


def write_lines(ws, lines, then=None, gap=0):
    """Explanation lines, one per row from row 1 (blank ones too); ``then`` = (text, font): one more
    line below them after ``gap`` blank rows. All within the HEADER_ROWS the plan keeps for the header."""
    for n, line in enumerate(lines, start=1):
        put_text(ws, n, 0, line, styles.TEXT_FONT)
    if then is not None:
        put_text(ws, len(lines) + 1 + gap, 0, *then)


def notice_text(ctx):
    """What the weights are: trained (with accuracy), hand-made, or random; and the font to show it in."""
    model = ctx.model
    if model.trained:
        accuracy = "?" if model.val_accuracy != model.val_accuracy else f"{model.val_accuracy:.1%}"
        architecture = ctx.texts["separator"].join(describe_layer(layer, ctx.texts) for layer in model.layers)
        return ctx.texts["trained"].format(name=ctx.model_name, architecture=architecture,
                                           accuracy=accuracy), styles.TEXT_FONT
    seed = ctx.seed if ctx.seed is not None else "?"
    if model.hand_made:
        text = ctx.texts["hand_made"].format(name=ctx.model_name, filters=model.description)
        if not random_beyond_filters(model):
            return text, styles.TEXT_FONT
        return f"{text} {ctx.texts['hand_made_rest_random'].format(seed=seed)}", styles.NOTICE_FONT
    if ctx.unfit_options:   # the default network, changed by an option: say which one cost the trained weights
        return ctx.texts["shipped_unfit"].format(options=ctx.unfit_options, seed=seed), styles.NOTICE_FONT
    if ctx.targets:   # a regression: xlcnn train teaches classifiers only, so no --model to point at
        return ctx.texts["untrained_regression"].format(seed=seed), styles.NOTICE_FONT
    return ctx.texts["untrained"].format(seed=seed), styles.NOTICE_FONT


def random_beyond_filters(model):
    """Whether layers after the hand-made first one hold weights, which are then seeded random numbers."""
    return any(model.params[1:])


def write_notice(ctx, ws, row=NOTICE_ROW):
    """The trained/untrained notice, so nobody mistakes random weights for a trained model."""
    text, font = notice_text(ctx)
    if ctx.step:
        text, font = ctx.texts["step_notice"].format(n=ctx.step), styles.NOTICE_FONT
    put_text(ws, row, 0, text, font)


def describe_layer(layer, texts):
    """One layer in the workbook's language, e.g. "conv 3x3, 4 filters, stride 1, padding 0"."""
    words = texts["layers"]
    fields = layer_fields(layer)
    return words[layer.kind].format(**fields) + "".join(words[key].format(**fields) for key in layer.text_extras())


def layer_fields(layer):
    """The numbers a layer's texts may name: {kernel}, {filters}, {stride}, {padding}, {size}, {units}, ..."""
    fields = {f: getattr(layer, f) for f in ("kernel", "filters", "stride", "padding", "dilation",
                                              "size", "units", "alpha", "groups", "eps") if hasattr(layer, f)}
    if hasattr(layer, "step"):   # a pool's stride
        fields["stride"] = layer.step
    return fields


def set_widths(ws, first_col, count, width):
    """Column widths, in characters; a later call wins where ranges overlap."""
    widths = cells_of(ws).widths
    for col in range(first_col, first_col + count):
        widths[col] = width


def add_scale(ws, blocks, rule):
    """One colour-scale rule over one or more blocks of the same sheet.

    ``rule`` is a ``styles.Scale`` (or any openpyxl rule). Cells hidden for an exercise
    (``cells_of(ws).hidden``) are left out of the ranges: a "?" must not be coloured.
    """
    if isinstance(blocks, Block):
        blocks = [blocks]
    hidden = cells_of(ws).hidden
    ranges = [piece.range(absolute=True) for block in blocks for piece in block.without(hidden)]
    if not ranges:
        return
    if isinstance(rule, styles.Scale):
        cells_of(ws).scale = cells_of(ws).scale or rule
        rule = rule.rule(ranges)
    ws.conditional_formatting.add(" ".join(r.replace("$", "") for r in ranges), rule)


def merge(ws, row, col, height, width):
    """Merge a rectangle of cells; the value stays in its top-left cell.

    Only the range is recorded: openpyxl's merge_cells would add cells of its own.
    """
    block = Block(ws.title, row, col, height, width)
    cells_of(ws).merges.append(block)
    ws.merged_cells.add(block.range())


def freeze_below(ws, row, col=0):
    """Keep rows above ``row`` and columns left of ``col`` in view while scrolling."""
    ws.freeze_panes = a1(row, col)
