"""The network's shared formulas: pure builders, each the twin of a function in ``kinds/`` or ``engine.py``.

A kind's own forward and backward formulas live in its module (``kinds/``) beside the NumPy
pair they must equal, and its layer class offers them (``forward_formula``,
``backward_formula``, ...). Here are the ones several kinds share (a scaled reference, a
switch, the tie margin, sums and means), the probabilities and the loss, and the
gradient-descent step. The formulas around the network (worked examples,
exercises, summary) are in ``lesson_formulas.py``.

Builders take blocks (see ``cells.Block``) and return formula text. They use only
functions that Excel 2010+, LibreOffice and Google Sheets all have, and never an
array formula: a sum of exponentials is a column of EXP cells and a SUM.
"""

from .cells import MAX_FORMULA_CHARS
from .kinds.base import TIE_MARGIN

MARGIN = f"{TIE_MARGIN:.0E}"   # "1E-12", as spreadsheets write it


def checked(formula):
    if len(formula) > MAX_FORMULA_CHARS:
        raise ValueError(f"formula of {len(formula)} characters exceeds Excel's {MAX_FORMULA_CHARS}")
    return formula


def scaled(source, scale=None):
    """The reference of one cell as the layer reads it: times ``scale`` for the first layer.

    The engine multiplies the pixels by the input scale before the first layer, whatever
    its kind; a first layer that does not scale its weighted sum multiplies each cell it reads.
    """
    return f"{source.ref()}*{scale}" if scale is not None else source.ref()


def normalised(pixel, scale, mean, std):
    """(pixel x scale - mean) / std: one channel of the input normalised (``Model.network_input``)."""
    return f"=({pixel.ref()}*{scale.ref(absolute=True)}-{mean.ref(absolute=True)})/{std.ref(absolute=True)}"


# ---------------------------------------------------------------- probabilities and loss


def max_of(block):
    return f"=MAX({block.range_ref(absolute=True)})"


def shifted_logit(logit, maximum):
    """z - max(z): the largest becomes 0, so e^(z - max) never overflows."""
    return f"={logit.ref()}-{maximum.ref(absolute=True)}"


def exp_of(cell):
    return f"=EXP({cell.ref()})"


def sum_of(block):
    return f"=SUM({block.range_ref(absolute=True)})"


def mean_of(block):
    """The mean of a block (relative references: a window's mean, moved cell by cell)."""
    return f"=AVERAGE({block.range_ref()})"


def probability(exp_cell, total):
    return f"={exp_cell.ref()}/{total.ref(absolute=True)}"


def log_probability(shifted, total):
    """ln p = (z - max) - ln(sum): finite even when p itself underflows to 0."""
    return f"={shifted.ref()}-LN({total.ref(absolute=True)})"


def near_max(cell, probabilities):
    """1 where a probability is within the tie margin of the largest (``layers.predicted_class``), else 0."""
    p = probabilities.range_ref(absolute=True)
    return f"=IF({cell.ref()}>=MAX({p})-{MARGIN}*MAX({p}),1,0)"


def predicted_class(names, near_max_column):
    """The first class marked as a near-maximum (``layers.predicted_class``)."""
    return f"=INDEX({names.range_ref(absolute=True)},MATCH(1,{near_max_column.range_ref(absolute=True)},0))"


def one_hot(class_cell, label):
    """1 under the true label, 0 elsewhere."""
    return f"=IF({class_cell.ref()}={label.ref(absolute=True)},1,0)"


def cross_entropy(one_hot_row, log_probabilities, label):
    """-sum(y * ln p), which picks out -ln p of the true class; blank ("") until a label is chosen."""
    return (f"=IF({label.ref(absolute=True)}=\"\",\"\","
            f"-SUMPRODUCT({one_hot_row.range_ref(absolute=True)},{log_probabilities.range_ref(absolute=True)}))")


def label_prompt(label, prompt):
    """``prompt`` while the true label is blank, then nothing: tells the student what the loss waits for."""
    return f"=IF({label.ref(absolute=True)}=\"\",{text_literal(prompt)},\"\")"


def label_or_prompt(label, prompt):
    """The chosen label, or ``prompt`` while it is blank (a plain reference would show a blank as 0)."""
    return f"=IF({label.ref(absolute=True)}=\"\",{text_literal(prompt)},{label.ref(absolute=True)})"


def text_literal(text):
    """A formula string literal: quotes doubled, as spreadsheets read them."""
    return '"' + str(text).replace('"', '""') + '"'


def reference(cell):
    return f"={cell.ref()}"


def total_of(cells):
    """Separate cells added one by one, ``=A1+'S'!B2+...``: where several tensors meet in one cell
    (maps added, or the gradients the layers reading one tensor send back)."""
    return checked("=" + "+".join(cell.ref() for cell in cells))


# ---------------------------------------------------------------- backward


def tie_margin(maps):
    """The routing rule's margin: TIE_MARGIN x the largest |value| of a layer's whole input."""
    ranges = ",".join(block.range_ref() for block in maps)
    return f"={MARGIN}*MAX(MAX({ranges}),-MIN({ranges}))"


def switch_gradient(x, margin, upstream, blocked="0"):
    """The gradient through a switch: ``upstream`` where x is above the tie margin, ``blocked`` (formula
    text) elsewhere. The layers that switch say what their blocked side passes."""
    return f"=IF({x.ref()}>{margin.ref(absolute=True)},{upstream.ref()},{blocked})"


# ---------------------------------------------------------------- gradient descent


RATE_NAME = "learning_rate"   # the workbook's name for the descent sheet's rate cell


def descent_step(old, gradient):
    """One step of gradient descent on one parameter (``engine.descent_step``): w - rate x dL/dw."""
    return f"={old.ref()}-{RATE_NAME}*{gradient.ref()}"


def loss_change(after, before):
    """How much the loss moved over the steps: after - before."""
    return f"={after.ref()}-{before.ref()}"
