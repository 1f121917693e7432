"""Per-layer facts for the summary sheet: shapes, size arithmetic, parameters, cost, receptive field.

Each number comes with the formula text that computes it from the hyperparameters,
so the workbook shows the arithmetic and the verifier can check the result.
"""

from dataclasses import dataclass
from fractions import Fraction

from . import lesson_formulas as lf
from .architecture import layer_names
from .graph import INPUT, sources
from .network import describe, infer_shapes, is_classifier
from .textwidth import display_width, ljust, rjust


NONE = (None, 0)   # a plain 0: nothing to compute


@dataclass
class SummaryRow:
    name: str
    input_shape: tuple
    output_shape: tuple
    arithmetic: str            # the size formula written out, or ""
    side: tuple                # (formula, value) of the output side, or None for vectors;
                               # a formula of None means the value is written as it is
    weights: tuple             # (formula, value)
    biases: tuple              # (formula, value)
    parameters: tuple          # (formula, value)
    activations: tuple         # (formula, value)
    multiply_adds: tuple       # (formula, value)
    receptive_field: tuple     # (formula, value), or None once the picture is a vector
    quotient: object = None    # (W - F + 2P) / S as an exact Fraction for a layer that slides a window
    joined: tuple = ()         # the shape of every input of a layer that joins several
    buffers: int = 0           # numbers kept but not learned (batch norm's running statistics): not parameters
    bottleneck: tuple | None = None   # fed by a 1x1 bottleneck: (the 1x1's row, (formula, value) of the
    #                                   multiply-adds this layer would cost reading the 1x1's input itself)
    standard: tuple = None     # (parameters, multiply-adds) of a standard conv of the same shape, beside a grouped one

    @property
    def whole(self):
        """False when (W - F + 2P) / S is not a whole number: the course calls the setting invalid,
        frameworks round down (and lose the last rows and columns)."""
        return self.quotient is None or self.quotient.denominator == 1

    def input_text(self):
        """The input column: "2 x 8 x 8", or every joined input's, "2 x 8 x 8 + 3 x 8 x 8"."""
        return " + ".join(shape_text(shape) for shape in self.joined) or shape_text(self.input_shape)

    def numbers(self):
        """The values the workbook's formulas must produce, by column name."""
        cells = {"weights": self.weights, "biases": self.biases, "parameters": self.parameters,
                 "activations": self.activations, "multiply-adds": self.multiply_adds, "output side": self.side,
                 "receptive field": self.receptive_field}
        numbers = {key: pair[1] for key, pair in cells.items() if pair is not None}
        numbers.update({key: numbers[source] * factor for key, (source, factor) in MEMORY.items()})
        return numbers


# memory in bytes, each from a column before it: 4-byte numbers; training keeps every
# activation for the backward pass (x 2), and an optimiser like Adam keeps two more
# numbers per parameter (x 3)
BYTES = 4
MEMORY = {"forward memory": ("activations", BYTES), "training memory": ("activations", 2 * BYTES),
          "parameter memory": ("parameters", BYTES), "with Adam": ("parameters", 3 * BYTES)}


def shape_text(shape):
    return " x ".join(str(n) for n in shape)


def summarize(layers, input_shape, describe=describe, input_name="input", row_name="{id}: {description}",
              inputs=None):
    """One SummaryRow per layer, preceded by the input's row.

    ``describe`` words each layer and ``row_name`` puts its --until name ({id}) and number
    ({number}) around that description. ``inputs``: a graph's wiring; a layer's input shape
    is that of its first source (a join also lists every source's, ``joined``), and where
    branches join, the receptive field is the widest of theirs.
    """
    shapes = infer_shapes(layers, input_shape, is_classifier(layers), inputs)
    rows = [SummaryRow(input_name, (), tuple(input_shape), "", (None, input_shape[1]), NONE, NONE, NONE,
                       _product(input_shape), NONE, (None, 1))]
    reach = {INPUT: (1, 1)}      # layer -> (receptive field, jump) of its output
    wiring = sources(inputs, len(layers))
    for number, (name, layer, out_shape, reads) in enumerate(zip(layer_names(layers), layers, shapes, wiring), start=1):
        in_shape = tuple(input_shape) if reads[0] == INPUT else shapes[reads[0]]
        field, jump = max(reach[source] for source in reads)
        side = arithmetic = quotient = None
        own_side = layer.side_arithmetic(in_shape[-1], out_shape[-1])
        if layer.window() is not None:
            span, stride, padding = layer.window()
            w = in_shape[1]
            quotient = Fraction(w - span + 2 * padding, stride)
            rounding = "ceil" if layer.ceil else "floor"
            arithmetic = f"{rounding}(({w} - {span} + 2x{padding}) / {stride}) + 1 = {out_shape[1]}"
            if quotient.denominator != 1:   # the exact quotient too, so the reader sees what was rounded away
                arithmetic += f"; ({w} - {span} + 2x{padding}) / {stride} = {float(quotient):g}"
            side = (lf.output_side(w, span, padding, stride, layer.ceil), out_shape[1])
            receptive = (lf.receptive_field(field, span, jump), field + (span - 1) * jump)
            field, jump = receptive[1], jump * stride
        elif own_side is not None:     # an output side computed otherwise than by a sliding window
            arithmetic, formula = own_side
            side = (formula, out_shape[1])
            receptive = None      # an upsampled cell's field is not one window's: not shown
        else:
            receptive = (None, field) if len(out_shape) == 3 else None
        title = row_name.format(id=name, number=number, description=describe(layer))
        twin = layer.standard_twin(in_shape[0])
        standard = None if twin is None else (twin.parameter_count(in_shape), twin.multiply_adds(in_shape, out_shape))
        shapes_of = layer.parameter_shapes(in_shape)
        weights, biases = (_product(shapes_of[name]) if name in shapes_of else NONE for name in ("weight", "bias"))
        rows.append(SummaryRow(title, in_shape, out_shape, arithmetic or "", side, weights, biases,
                               layer.parameter_count(in_shape) or NONE, _product(out_shape),
                               layer.multiply_adds(in_shape, out_shape) or NONE, receptive, quotient,
                               _joined(reads, shapes, input_shape), layer.buffer_count(in_shape),
                               _bottleneck(layer, reads, layers, shapes, wiring, input_shape, out_shape), standard))
        reach[number - 1] = field, jump
    return rows


def _bottleneck(layer, reads, layers, shapes, wiring, input_shape, out_shape):
    """(row of the 1x1 layer, multiply-adds without it) for a layer with filters wider than 1 x 1 that reads
    one 1x1 layer with filters (stride 1) which has fewer outputs than inputs: the Inception bottleneck,
    which shrinks the channels before the wide filters slide over them. None for every other layer."""
    if len(reads) != 1 or reads[0] == INPUT or not layer.has_filters or (layer.window() or (1,))[0] == 1:
        return None
    before, (source,) = layers[reads[0]], wiring[reads[0]][:1]
    before_in = tuple(input_shape) if source == INPUT else shapes[source]
    if not before.has_filters or before.window() != (1, 1, 0) or shapes[reads[0]][0] >= before_in[0]:
        return None
    return reads[0] + 1, layer.multiply_adds(before_in, out_shape)


def _joined(reads, shapes, input_shape):
    """The shapes a layer that reads several inputs joins, in order; () for a layer that reads one."""
    if len(reads) < 2:
        return ()
    return tuple(tuple(input_shape) if source == INPUT else shapes[source] for source in reads)


def _product(shape):
    value = 1
    for n in shape:
        value *= n
    return (lf.product(shape) if len(shape) > 1 else None, value)

# the columns with a total under them
TOTAL_COLUMNS = ("weights", "biases", "parameters", "activations", "multiply-adds", *MEMORY)


def formula_count(rows):
    """How many formula cells the summary sheet of these rows holds: the plan's budget counts them."""
    computed = sum(pair is not None and pair[0] is not None
                   for row in rows for pair in (row.side, row.weights, row.biases, row.parameters, row.activations,
                                                row.multiply_adds, row.receptive_field))
    return (computed + len(MEMORY) * len(rows) + len(TOTAL_COLUMNS) + BOTTLENECK_FORMULAS * len(bottlenecks(rows))
            + 3 * len(COMPARED) * len(compared(rows)))


BOTTLENECK_FORMULAS = 3   # per layer fed by a bottleneck: multiply-adds with the 1x1, without it, and their ratio


def bottlenecks(rows):
    """The rows of layers fed by a 1x1 bottleneck (``SummaryRow.bottleneck``), in order."""
    return [row for row in rows if row.bottleneck is not None]


# ---------------------------------------------------------------- layers beside their standard twins (Layer.standard_twin)

# a compared layer takes a line for each count: the layer's own, the standard conv's, how many times more that is
COMPARISON_COLUMNS = ("layer", "count", "this layer", "standard conv", "ratio")
COMPARED = ("parameters", "multiply-adds")


def compared(rows):
    """The rows of layers shown beside a standard layer of the same shape (``Layer.standard_twin``: a grouped one)."""
    return [row for row in rows if row.standard is not None]


def comparison_numbers(row):
    """A compared row's lines, one per COMPARED count: [own count, the standard conv's, standard / own]."""
    own = {"parameters": row.parameters[1], "multiply-adds": row.multiply_adds[1]}
    return [[own[key], standard, standard / own[key]] for key, (_, standard) in zip(COMPARED, row.standard)]


# ---------------------------------------------------------------- the table as text (xlcnn summary)

TEXT_COLUMNS = ("output", "weights", "biases", "parameters", "activations", "multiply-adds", "receptive field")


def table_text(rows, texts):
    """The summary as aligned plain text, one line per layer and a totals line; a layer whose
    (W - F + 2P) / S is not whole is marked with "!" and its arithmetic printed under the table.
    ``texts`` is the summary sheet's texts (column names in the workbook's language)."""
    header = [texts["columns"]["layer"]] + [texts["columns"][key] for key in TEXT_COLUMNS]
    lines = [header]
    for row in rows:
        numbers = row.numbers()
        cells = [shape_text(row.output_shape)] + [
            f"{numbers[key]:,}" if key in numbers and (numbers[key] or key != "receptive field") else ""
            for key in TEXT_COLUMNS[1:]]
        lines.append([row.name + ("" if row.whole else " !")] + cells)
    totals = {key: sum(row.numbers().get(key, 0) for row in rows) for key in TEXT_COLUMNS[1:-1]}
    lines.append([texts["total"], ""] + [f"{totals[key]:,}" for key in TEXT_COLUMNS[1:-1]] + [""])
    widths = [max(display_width(line[n]) for line in lines) for n in range(len(header))]
    text = ["  ".join([ljust(line[0], widths[0])] + [rjust(cell, width) for cell, width in zip(line[1:], widths[1:])])
            .rstrip() for line in lines]
    memory = {key: sum(row.numbers()[key] for row in rows) for key in MEMORY}
    text.append("; ".join(f"{texts['columns'][key]} {value:,} ({value / 2 ** 20:,.1f} MiB)"
                          for key, value in memory.items()))
    text += [f"! {row.name}: {row.arithmetic} {texts['not_whole']}" for row in rows if not row.whole]
    for row in bottlenecks(rows):
        one_by_one = rows[row.bottleneck[0]]
        with_it = one_by_one.multiply_adds[1] + row.multiply_adds[1]
        without = row.bottleneck[1][1]
        text.append(texts["bottleneck_line"].format(layer=row.name, one=one_by_one.name, with_it=f"{with_it:,}",
                                                    without=f"{without:,}", ratio=f"{without / with_it:.1f}"))
    buffers = sum(row.buffers for row in rows)
    if buffers:
        text.append(texts["buffers"].format(count=f"{buffers:,}"))
    if compared(rows):
        text += ["", texts["comparison_title"], *_comparison_text(rows, texts)]
    return "\n".join(text)


def _comparison_text(rows, texts):
    """The compared layers beside their standard twins, aligned: a line per count, then the ratio "14.5x"."""
    lines = [[texts["comparison_columns"][key] for key in COMPARISON_COLUMNS]]
    for row in compared(rows):
        for n, (key, (own, standard, ratio)) in enumerate(zip(COMPARED, comparison_numbers(row))):
            lines.append(["" if n else row.name, texts["columns"][key], f"{own:,}", f"{standard:,}", f"{ratio:.1f}x"])
    widths = [max(display_width(line[n]) for line in lines) for n in range(len(COMPARISON_COLUMNS))]
    return ["  ".join([ljust(line[0], widths[0])] + [rjust(cell, width) for cell, width in zip(line[1:], widths[1:])])
            .rstrip() for line in lines]
