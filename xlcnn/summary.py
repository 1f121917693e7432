"""Per-layer facts for the summary sheet: shapes, size arithmetic, parameters, cost, receptive field.

Each number comes with the formula text that computes it from the hyperparameters,
so the workbook shows the arithmetic and the verifier can check the result.
"""

from dataclasses import dataclass

from . import lesson_formulas as lf
from .architecture import layer_names
from .graph import INPUT, sources
from .network import describe, infer_shapes, is_classifier


NONE = (None, 0)   # a plain 0: nothing to compute


@dataclass
class SummaryRow:
    name: str
    input_shape: tuple
    output_shape: tuple
    arithmetic: str            # the size formula written out, or ""
    side: tuple                # (formula, value) of the output side, or None for vectors;
                               # a formula of None means the value is written as it is
    parameters: tuple          # (formula, value)
    activations: tuple         # (formula, value)
    multiply_adds: tuple       # (formula, value)
    receptive_field: tuple     # (formula, value), or None once the picture is flattened
    joined: tuple = ()         # the shape of every input of a layer that joins several

    def input_text(self):
        """The input column: "2 x 8 x 8", or every joined input's, "2 x 8 x 8 + 3 x 8 x 8"."""
        return " + ".join(shape_text(shape) for shape in self.joined) or shape_text(self.input_shape)

    def numbers(self):
        """The values the workbook's formulas must produce, by column name."""
        cells = {"parameters": self.parameters, "activations": self.activations,
                 "multiply-adds": self.multiply_adds, "output side": self.side,
                 "receptive field": self.receptive_field}
        return {key: pair[1] for key, pair in cells.items() if pair is not None}


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
    rows = [SummaryRow(input_name, (), tuple(input_shape), "", (None, input_shape[1]), NONE,
                       _product(input_shape), NONE, (None, 1))]
    reach = {INPUT: (1, 1)}      # layer -> (receptive field, jump) of its output
    for number, (name, layer, out_shape, reads) in enumerate(
            zip(layer_names(layers), layers, shapes, sources(inputs, len(layers))), start=1):
        in_shape = tuple(input_shape) if reads[0] == INPUT else shapes[reads[0]]
        field, jump = max(reach[source] for source in reads)
        side = arithmetic = None
        if layer.window() is not None:
            span, stride, padding = layer.window()
            w = in_shape[1]
            arithmetic = f"floor(({w} - {span} + 2x{padding}) / {stride}) + 1 = {out_shape[1]}"
            side = (lf.output_side(w, span, padding, stride), out_shape[1])
            receptive = (lf.receptive_field(field, span, jump), field + (span - 1) * jump)
            field, jump = receptive[1], jump * stride
        else:
            receptive = (None, field) if len(out_shape) == 3 else None
        title = row_name.format(id=name, number=number, description=describe(layer))
        rows.append(SummaryRow(title, in_shape, out_shape, arithmetic or "",
                               side, layer.parameter_count(in_shape) or NONE, _product(out_shape),
                               layer.multiply_adds(in_shape, out_shape) or NONE, receptive,
                               _joined(reads, shapes, input_shape)))
        reach[number - 1] = field, jump
    return rows


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
