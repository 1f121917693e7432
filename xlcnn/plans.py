"""The plan's types: one frozen class per kind of sheet, with a named block for each thing on it.

``layout.plan_layout`` decides every position; the classes here only hold them and
answer geometric questions about them (which input window an output cell reads, where
a map cell lands in the flattened vector, which stored weight a tap of a spread-out
kernel holds), so that writers, worked examples, gradients and the verifier ask the
plan instead of working positions out again. Beside each block a writer labels sits
its label block: a writer puts text there, it never steps a row up or a column left.
"""

from dataclasses import dataclass, field, fields

from .cells import Block


@dataclass(frozen=True)
class MapStack:
    """A (C, H, W) tensor on one sheet: one map below the other, each with a label row.

    ``maps[c]`` is the padded map (H + 2P) x (W + 2P); the real values sit inside a
    border of ``pad`` zeros, which convolution windows read like any other cell.
    """

    maps: tuple
    pad: int = 0

    @property
    def shape(self):
        first = self.maps[0]
        return (len(self.maps), first.height - 2 * self.pad, first.width - 2 * self.pad)

    def interior(self, c):
        """Channel c without its zero border."""
        _, h, w = self.shape
        return self.maps[c].sub(self.pad, self.pad, h, w)

    def label_cell(self, c):
        """(row, col) of the heading above map c."""
        return self.maps[c].row - 1, self.maps[c].col

    def window(self, c, top, left, height, width):
        """A window of channel c in padded coordinates (row 0 is the top of the border)."""
        return self.maps[c].sub(top, left, height, width)


@dataclass(frozen=True, kw_only=True)
class Sheet:
    """What every planned worksheet knows about itself; each kind of sheet adds its named blocks.

    ``step`` is the number its name starts with ("3 Conv" is step 3; 0 for the unnumbered
    overview, descent and manifest sheets), ``pass_index`` the forward pass it belongs to
    (0 before any descent step; a gradient sheet: the pass it differentiates). Both are
    planned, never read back out of a name, which a teacher may change.
    """

    name: str
    kind: str                        # "input", "filters", a layer kind, "loss", "grad", ...
    layer: int | None = None         # index into model.layers, when the sheet shows one layer
    step: int = 0
    pass_index: int = 0

    def on_legend_row(self):
        """The block on the row under the header, if any: the sheet's colour legend starts after it."""
        return None

    def parts(self):
        """The values of the sheet's own fields (blocks, map stacks, tuples of them, a worked example)."""
        return [getattr(self, item.name) for item in fields(self) if item.name not in _SHEET_FIELDS]

    def all_blocks(self):
        """Every Block the sheet plans, in field order (maps of a stack, nested tuples, an example)."""
        return all_blocks(self)


_SHEET_FIELDS = {item.name for item in fields(Sheet)}


@dataclass(frozen=True, kw_only=True)
class SheetPlan(Sheet):
    """A sheet whose blocks are still a dict (the kinds not yet given a class of their own)."""

    blocks: dict = field(default_factory=dict)

    def parts(self):
        return list(self.blocks.values())


def output_of(plan):
    """The block or map stack holding the output of the layer ``plan`` shows (the input sheet: the pixels), or None."""
    if isinstance(plan, SheetPlan):
        return plan.blocks.get("output", plan.blocks.get("pixels"))
    return getattr(plan, "output", None)


def example_of(plan):
    """The worked example beside a layer's output ("explain this cell"), or None."""
    if isinstance(plan, SheetPlan):
        return plan.blocks.get("explain")
    return getattr(plan, "explain", None)


@dataclass(frozen=True)
class MapPictures:
    """The small pictures of one layer's feature maps on the overview.

    Cell (i, j) of ``blocks[k]`` shows the mean of the ``factor`` x ``factor`` cells of
    map k from row i x factor and column j x factor (fewer at the bottom and right edges).
    """

    layer: int
    label: Block
    blocks: tuple
    factor: int

    def region(self, i, j, height, width):
        """(top, left, rows, columns) of the map cells that cell (i, j) summarises, in a map of height x width."""
        top, left = i * self.factor, j * self.factor
        return top, left, min(self.factor, height - top), min(self.factor, width - left)

    @property
    def formulas(self):
        return sum(block.size for block in self.blocks)


def all_blocks(value):
    """Every Block inside ``value``: a block, a map stack, a planned sheet or example, nested tuples and dicts."""
    if isinstance(value, Block):
        yield value
    elif isinstance(value, (Sheet, MapStack, MapPictures)):
        for item in fields(value):
            if not (isinstance(value, Sheet) and item.name in _SHEET_FIELDS):
                yield from all_blocks(getattr(value, item.name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from all_blocks(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from all_blocks(item)


# ---------------------------------------------------------------- the classifier's end, the summary, the descent


@dataclass(frozen=True, kw_only=True)
class SoftmaxSheet(Sheet):
    """One row per class: its name, logit, logit - max, e^(...), probability, ln p and "highest?"."""

    headers: Block              # the row of column headings above the table
    classes: Block
    logit: Block
    shifted: Block
    exp: Block
    probability: Block
    log_probability: Block
    top: Block
    max: Block
    max_label: Block
    sum: Block
    sum_label: Block
    prediction: Block
    prediction_label: Block
    confidence: Block
    confidence_label: Block
    knows: Block                # what the model can answer, and pictures of it

    def on_legend_row(self):
        return self.headers

    @property
    def output(self):
        return self.probability


@dataclass(frozen=True, kw_only=True)
class LossSheet(Sheet):
    """The true label (picked by the student), its one-hot row and the cross-entropy."""

    true_label: Block
    true_label_label: Block
    label_prompt: Block         # asks for the label while it is blank
    classes: Block
    classes_label: Block
    one_hot: Block
    one_hot_label: Block
    log_probability: Block
    log_probability_label: Block
    loss: Block
    loss_label: Block


@dataclass(frozen=True, kw_only=True)
class SummarySheet(Sheet):
    """One row per layer (and the input's), then the totals."""

    headers: Block
    table: Block
    totals: Block
    totals_label: Block


@dataclass(frozen=True, kw_only=True)
class ManifestSheet(Sheet):
    """What rebuilds the workbook: one entry a row, its name then its value."""

    names: Block
    values: Block


@dataclass(frozen=True, kw_only=True)
class DescentSheet(Sheet):
    """The learning rate, and the loss before any step (step 0) and after each one, with a chart."""

    rate: Block
    rate_label: Block
    change: Block               # the loss after the last step minus before
    change_label: Block
    steps: Block                # 0 (before any step) .. steps
    steps_label: Block
    losses: Block
    losses_label: Block
    chart: Block
