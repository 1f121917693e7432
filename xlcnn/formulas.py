"""The network's formulas: pure builders, each the twin of a function in ``layers.py`` or ``engine.py``.

Forward builders first, then the backward ones the gradient sheets use (each naming
the engine function it must equal), then the gradient-descent step. The
formulas around the network (worked examples, exercises, summary) are in ``lesson_formulas.py``.

Builders take blocks (see ``cells.Block``) and return formula text. They use only
functions that Excel 2010+, LibreOffice and Google Sheets all have, and never an
array formula: a sum of exponentials is a column of EXP cells and a SUM.
"""

from .cells import MAX_FORMULA_CHARS
from .layers import TIE_MARGIN

MARGIN = f"{TIE_MARGIN:.0E}"   # "1E-12", as spreadsheets write it


def _checked(formula):
    if len(formula) > MAX_FORMULA_CHARS:
        raise ValueError(f"formula of {len(formula)} characters exceeds Excel's {MAX_FORMULA_CHARS}")
    return formula


def conv_forward(windows, filter_slices, bias, scale=None, check=True):
    """One output cell: sum over channels of SUMPRODUCT(window, filter slice), plus bias.

    ``windows`` and ``filter_slices`` are equal-sized blocks, one per input channel.
    ``scale`` (a cell reference) multiplies the sum; the first layer uses it to turn
    0-255 pixels into the 0-1 range the weights expect.
    """
    products = "+".join(
        f"SUMPRODUCT({w.range_ref()},{f.range_ref(absolute=True)})"
        for w, f in zip(windows, filter_slices))
    if scale is not None:
        products = f"({products})*{scale}"
    formula = f"={products}+{bias.ref(absolute=True)}"
    return _checked(formula) if check else formula


def im2col_product(filter_row, window_column, bias, scale=None):
    """``conv_forward`` as im2col computes it: filter k unrolled into a row times the input window
    unrolled into a column (one matrix product, MMULT of 1 x N and N x 1), plus the bias."""
    product = f"MMULT({filter_row.range_ref(absolute=True)},{window_column.range_ref()})"
    if scale is not None:
        product = f"{product}*{scale}"
    return _checked(f"={product}+{bias.ref(absolute=True)}")


def scaled(source, scale=None):
    """The reference of one cell as the layer reads it: times ``scale`` for the first layer.

    The engine multiplies the pixels by the input scale before the first layer, whatever
    its kind; a first layer that is not a convolution multiplies each cell it reads.
    """
    return f"{source.ref()}*{scale}" if scale is not None else source.ref()


def relu_forward(source, scale=None):
    """max(0, x) of one cell."""
    return f"=MAX(0,{scaled(source, scale)})"


def leaky_relu_forward(source, alpha, scale=None):
    """x where x > 0, alpha * x elsewhere."""
    x = scaled(source, scale)
    return f"=IF({x}>0,{x},{alpha!r}*{x})"


def sigmoid_forward(source, scale=None):
    """1 / (1 + e^-x), with the branch that cannot overflow EXP for any x (IF evaluates only one)."""
    x = scaled(source, scale)
    return f"=IF({x}>=0,1/(1+EXP(-{x})),EXP({x})/(1+EXP({x})))"


def tanh_forward(source, scale=None):
    return f"=TANH({scaled(source, scale)})"


def avgpool_forward(window, scale=None):
    """The mean of one pooling window (times ``scale``: the mean is linear)."""
    mean = f"AVERAGE({window.range_ref()})"
    return f"={mean}*{scale}" if scale is not None else f"={mean}"


def maxpool_forward(window, scale=None):
    """The largest value in one pooling window.

    With ``scale`` (a first layer reading the pixels) the largest of the scaled window is
    the largest scaled MAX or MIN: a negative scale would turn the smallest pixel into the
    largest value, and no array formula may multiply the window cell by cell.
    """
    r = window.range_ref()
    if scale is None:
        return f"=MAX({r})"
    return f"=MAX(MAX({r})*{scale},MIN({r})*{scale})"


def add_forward(operands):
    """The element-wise sum of one cell of each operand (an add layer: where branches join); twin of
    ``layers.add_forward``. Each operand is a 1 x 1 block, e.g. ``='a'!B11+'b'!B11``."""
    return _checked("=" + "+".join(operand.ref() for operand in operands))


def flatten_forward(source, scale=None):
    """A plain reference: flattening moves values, it computes nothing (the first layer scales them)."""
    return f"={scaled(source, scale)}"


def dense_forward(inputs, weights, bias, scale=None):
    """One output: SUMPRODUCT of the input column and this output's weight column, plus bias.

    ``scale`` is as in ``conv_forward``, used only when no conv layer comes first.
    """
    products = f"SUMPRODUCT({inputs.range_ref(absolute=True)},{weights.range_ref(absolute=True)})"
    if scale is not None:
        products = f"{products}*{scale}"
    return _checked(f"={products}+{bias.ref()}")


# ---------------------------------------------------------------- softmax and loss


def max_of(block):
    return f"=MAX({block.range_ref(absolute=True)})"


def shifted_logit(logit, maximum):
    """z - max(z): the largest becomes 0, so e^(z - max) never overflows."""
    return f"={logit.ref()}-{maximum.ref(absolute=True)}"


def exp_of(cell):
    return f"=EXP({cell.ref()})"


def sum_of(block):
    return f"=SUM({block.range_ref(absolute=True)})"


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


# ---------------------------------------------------------------- backward


def tie_margin(maps):
    """The routing rule's margin: TIE_MARGIN x the largest |value| of a layer's whole input."""
    ranges = ",".join(block.range_ref() for block in maps)
    return f"={MARGIN}*MAX(MAX({ranges}),-MIN({ranges}))"


def relu_backward(x, margin, upstream, alpha=None):
    """The switch (``layers.relu_backward``): the gradient passes where x is above the tie margin.

    With ``alpha`` (leaky ReLU) the blocked side passes alpha times the gradient.
    """
    blocked = "0" if alpha is None else f"{alpha!r}*{upstream.ref()}"
    return f"=IF({x.ref()}>{margin.ref(absolute=True)},{upstream.ref()},{blocked})"


def maxpool_backward(x, window, earlier, margin, upstream):
    """The gradient one input cell of max pooling receives (``layers.maxpool_backward``).

    The window's gradient goes to the first cell, in reading order, within ``margin``
    of the window's maximum; ``earlier`` are the blocks of the window before ``x``.
    """
    threshold = f"MAX({window.range_ref()})-{margin.ref(absolute=True)}"
    condition = f"{x.ref()}>={threshold}"
    if earlier:
        condition = f"AND({condition},MAX({','.join(e.range_ref() for e in earlier)})<{threshold})"
    return f"=IF({condition},{upstream.ref()},0)"


def leaky_relu_backward(x, margin, upstream, alpha):
    """``layers.leaky_relu_backward``: the switch with slope ``alpha`` on the blocked side."""
    return relu_backward(x, margin, upstream, alpha)


def sigmoid_backward(output, upstream):
    """``layers.sigmoid_backward``, from the sigmoid's own output s: upstream x s x (1 - s)."""
    s = output.ref()
    return f"={upstream.ref()}*{s}*(1-{s})"


def tanh_backward(output, upstream):
    """``layers.tanh_backward``, from tanh's own output t: upstream x (1 - t^2)."""
    return f"={upstream.ref()}*(1-{output.ref()}^2)"


def avgpool_backward(upstream, size):
    """``layers.avgpool_backward``: each of a window's size x size cells takes an equal share."""
    return f"={upstream.ref()}/{size * size}"


def flatten_backward(upstream):
    """``layers.flatten_backward``: a map cell takes back the gradient of its place in the column."""
    return reference(upstream)


def conv_weight_gradient(window, upstream, scale=None):
    """One tap of ``layers.conv_backward``'s dw: SUMPRODUCT(the input the tap saw at every
    position, the upstream map); times ``scale`` for the first layer, which reads the pixels."""
    formula = f"=SUMPRODUCT({window.range_ref()},{upstream.range_ref()})"
    return f"{formula}*{scale}" if scale else formula


def conv_bias_gradient(upstream):
    """``layers.conv_backward``'s db of one filter: the sum of its upstream map."""
    return f"=SUM({upstream.range_ref()})"


def conv_input_gradient(upstream_windows, turned_kernels):
    """One cell of ``layers.conv_backward``'s dx: the zero-padded upstream maps slid under the
    kernels turned 180 degrees, summed over filters (one window and one turned kernel each)."""
    terms = "+".join(f"SUMPRODUCT({window.range_ref()},{kernel.range_ref(absolute=True)})"
                     for window, kernel in zip(upstream_windows, turned_kernels))
    return f"={terms}"


def turned_weight(weight):
    """One tap of a kernel turned 180 degrees: a plain reference to the weight it mirrors."""
    return reference(weight)


def softmax_cross_entropy_backward(probability, one_hot):
    """``layers.softmax_cross_entropy``'s gradient for one logit: p - y."""
    return f"={probability.ref()}-{one_hot.ref()}"


def dense_bias_gradient(upstream):
    """``layers.dense_backward``'s db of one output: its upstream gradient."""
    return reference(upstream)


def dense_weight_gradient(x, upstream):
    """``layers.dense_backward``'s dw of one weight: its input times its output's upstream gradient."""
    return f"={x.ref()}*{upstream.ref(absolute=True)}"


def dense_input_gradient(weights, upstream):
    """``layers.dense_backward``'s dx of one input: SUMPRODUCT(its weight to every output, the
    upstream row)."""
    return f"=SUMPRODUCT({weights.range_ref()},{upstream.range_ref(absolute=True)})"


# ---------------------------------------------------------------- gradient descent


RATE_NAME = "learning_rate"   # the workbook's name for the descent sheet's rate cell


def descent_step(old, gradient):
    """One step of gradient descent on one parameter (``engine.descent_step``): w - rate x dL/dw."""
    return f"={old.ref()}-{RATE_NAME}*{gradient.ref()}"


def loss_change(after, before):
    """How much the loss moved over the steps: after - before."""
    return f"={after.ref()}-{before.ref()}"
