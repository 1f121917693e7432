"""What every layer kind shares: the ``Layer`` interface, its families, and the array helpers.

A kind is one module of this package holding one frozen dataclass derived from ``Layer``
(or a family below). The class says, for its kind, everything the engine needs:

- ``kind``: the name in model files and stage lists (each module's own name);
- ``parse(item, classes, option)`` / ``spelling()``: its item in the ``--arch`` text, both ways;
  ``grammar`` and ``examples`` document that item (``architecture.GRAMMAR`` gathers them);
- ``describe()``: a short plain-text description ("conv 3x3, 4 filters, stride 1, padding 0");
- ``output_shape(in_shapes, where)`` and ``parameter_shapes(input_shape)``;
- ``forward(xs, params)`` and ``backward(dout, xs, params)``: the NumPy pair on batches;
- ``forward_formula`` / ``backward_formula`` (activations, pools, joins): their formula twins, pure
  builders on blocks (see ``cells.Block``) returning formula text;
- what the workbook asks of a kind instead of its name: ``title``, ``chooses``, ``keeps_sign``,
  ``never_negative``, ``example_by_hand``, ``text_values()``, ``example_reads(at)``,
  ``copied_cell(sheet, at)``, and ``drawn()``: whether it has sheets at all (the others are engine
  and tables only); which sheet the classifier's end gives it (``makes_column``, ``fully_connected``,
  ``gives_probabilities``); a kind with filters or fully connected also builds its worked example's and
  exercise's formulas (``example_*_formula``, ``exercise_part_formula``);
- what the build asks: ``with_build_options(options)``, the layer as the options of its kind change it,
  and ``noun``, what messages call the kind (also of a network that has no such layer, ``class_with``);
- what the verifier asks: ``parameters_from_book(reader, layout, index)``; of the layer that
  ``gives_probabilities`` the engine asks its loss (``log_probabilities``, ``loss``,
  ``loss_and_gradient``), the gradient sheets its loss's gradient formula (``loss_gradient_formula``)
  and the verifier its sheet's cells (``checked_cells``, ``formula_blocks``);
- what the summary and the model ask: ``parameter_count``, ``multiply_adds``, ``side_arithmetic``,
  ``buffers`` (parameters kept, not learned) and ``buffer_count``, ``initial_value`` and
  ``positive_parameters``.

Array order everywhere: tensors (..., C, H, W) with an optional leading batch axis, vectors
(..., N); weights with their outputs first, (K, C, F, F) for filters and (outputs, inputs) for a
matrix, as in PyTorch.
"""

import re
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ShapeError

# ---------------------------------------------------------------- the tie rule

# Where a layer chooses (a switch's gradient, the routing of a window's largest cell, the predicted
# class), two numbers equal on paper can differ in their last bits, and differently in
# every spreadsheet engine (and in NumPy). Choosing on exact comparisons would give each
# engine its own answer, so every choice counts numbers within a margin as equal. The
# margin scales with the whole tensor, not with a window: in a window of rounding
# leftovers near zero, a margin relative to the window would still be decided by them.
# The workbook's formulas apply the same rule.
TIE_MARGIN = 1e-12


def tie_margin(x):
    """TIE_MARGIN x the largest |value| of each picture's whole tensor; ``x`` is a batch (N, ...)."""
    return TIE_MARGIN * np.abs(x).max(axis=tuple(range(1, x.ndim)), keepdims=True)


# ---------------------------------------------------------------- windows


def pad_input(x, padding):
    """(..., C, H, W) -> (..., C, H + 2P, W + 2P) with a border of zeros."""
    if padding == 0:
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(padding, padding), (padding, padding)])


def windows(x, size, stride):
    """Every size x size window at the given stride: (..., C, H_out, W_out, size, size), a view."""
    return sliding_window_view(x, (size, size), axis=(-2, -1))[..., ::stride, ::stride, :, :]


def window_side(where, side, span, stride, padding, ceil=False):
    """floor((W - F + 2P) / S) + 1 window positions along a side of W cells; ShapeError if none fits.

    With ``ceil`` (PyTorch's ``ceil_mode``) the quotient is rounded up, keeping a last window that
    runs past the edge as long as it starts inside the input or its left padding.
    """
    room = side - span + 2 * padding
    if room < 0:
        raise ShapeError(f"{where}: window {span} does not fit in {side}: "
                         f"W - F + 2P = {side} - {span} + 2*{padding} = {room} < 0")
    if not ceil:
        return room // stride + 1
    count = -(-room // stride) + 1
    return count - 1 if (count - 1) * stride >= side + padding else count


def padded_windows(x, size, stride, padding, counts, fill):
    """The ``counts`` (rows, columns) windows of x (..., C, H, W) with ``padding`` cells of ``fill`` on
    every side and, for ceil mode's last windows, as many more at the bottom and right as they reach."""
    need = [(n - 1) * stride + size for n in counts]
    extra = [max(0, n - side - 2 * padding) for n, side in zip(need, x.shape[-2:])]
    widths = [(0, 0)] * (x.ndim - 2) + [(padding, padding + e) for e in extra]
    xp = np.pad(x, widths, constant_values=fill)[..., :need[0], :need[1]]
    return windows(xp, size, stride)


def channel_axis(x):
    """The axis of channels (or units): maps (..., C, H, W) have them at -3, vectors (N, D) or (D,) at -1.
    A (C, H, W) map has 3 dimensions and a batch of vectors 2, so the number of dimensions tells them apart."""
    return -3 if x.ndim >= 3 else -1


def per_channel(values, x):
    """A (C,) array shaped to broadcast over the channels of ``x``: (C, 1, 1) for maps, (C,) for vectors."""
    return values[:, None, None] if channel_axis(x) == -3 else values


def optional(default):
    """A dataclass field written in model files only when away from its ``default``: an option added
    after files were written, so every file and workbook written before stays as it was."""
    return field(default=default, metadata={"optional": True})


def cut_to_input(dx, shape, padding):
    """A padded pool's gradient for its padded maps (..., rows, cols) cut back to the input's (..., H, W):
    what landed in the padding is dropped (no input cell holds it), and input cells past the last
    window (windows moved by more than their size) take 0."""
    h, w = shape[-2:]
    grow = [(0, 0)] * (dx.ndim - 2) + [(0, max(0, h + padding - dx.shape[-2])), (0, max(0, w + padding - dx.shape[-1]))]
    return np.pad(dx, grow)[..., padding:padding + h, padding:padding + w]


def kernels_from_book(reader, layout, index):
    """The weights and biases a filters sheet shows for layer ``index``: weight[a][b] holds the stored
    weight[a, b] (filters by channels for a conv, channels by kernels for a transposed one)."""
    filters = layout.sheet("filters", index)
    weight = np.stack([np.stack([reader.array(s) for s in slices]) for slices in filters.weight])
    return {"weight": weight, "bias": np.array([reader.number(b) for b in filters.bias])}


def lesson_formulas():
    """The summary's formula builders, imported when first asked for: ``lesson_formulas`` reaches
    back to the layer kinds through ``formulas`` -> ``layers``, so importing it at the top of a
    kind's module would be a cycle."""
    from .. import lesson_formulas as lf
    return lf


def merge_kinds():
    """The kinds that join several inputs (every ``Merge``), in the registry's import order."""
    return [cls.kind for cls in _subclasses(Merge)]


def joining_kinds():
    """The kinds that join several inputs, as a message names them: "a and b"."""
    return " and ".join(merge_kinds())


def kind_with(flag):
    """The kind whose class sets ``flag`` (e.g. ``fully_connected``), as an example or a message names it."""
    return class_with(flag).kind


def class_with(flag):
    """The class that sets ``flag``: a message about a network that lacks such a layer asks it for its ``noun``."""
    return next(sub for sub in _subclasses(Layer) if getattr(sub, flag))


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def require_positive(where, **values):
    for name, value in values.items():
        if value < 1:
            raise ShapeError(f"{where}: {name} must be at least 1, not {value}")


# ---------------------------------------------------------------- the interface


@dataclass(frozen=True)
class Layer:
    """One layer that reads one tensor; subclasses set ``kind`` and override what differs.

    The defaults describe a layer without parameters that keeps its input's shape.
    """

    kind = ""
    joins = False           # reads two or more tensors (a ``Merge``)
    stacks = False          # a join that puts its inputs one after the other, not cell on cell
    fully_connected = False   # every output a weighted sum of every input; a classifier needs one (``units``)
    makes_column = False    # turns maps into one column of values, map by map: what a fully connected layer reads
    gives_probabilities = False   # ends a classifier: the last layer, and nowhere else
    has_backward = True     # False: the engine folds its gradient into the loss
    has_filters = False     # its weights are kernels slid over maps (hand-made --filters and flipping apply): a
    #                         filters sheet holds them, filter by filter, and its sheet, gradient sheet and worked
    #                         example are written from them
    noun = ""               # what a message calls a layer of this kind (set by the kinds that messages name)
    example_by_hand = False   # its worked example is the one students work by hand: a handout prints it whole
    scatters = False        # each input cell stamps weighted kernels onto a larger output: a filters sheet
    #                         holds them, input channel by input channel, and its sheet sums what lands where
    grammar = ""            # its --arch item in the grammar's notation (the kind's name when empty)
    examples = ()           # --arch items of this kind the messages and the grammar show
    title = ""              # the English stem of its sheets' names ("Conv" for "3 Conv")
    chooses = False         # its gradient picks cells (a switch, a window's largest): the tie margin applies
    keeps_sign = False      # its output is negative only where what it reads is (it moves, averages or sums)
    never_negative = False  # its output is never negative, whatever it reads
    gradient_sheet = ""     # which writer draws its gradient sheet (and, unless ``gradient_text`` says, its text key)
    onnx_ops = ()           # the ONNX operators read as this kind; the first is the one written out
    onnx_many = ""          # the operator written instead when the layer reads more than two tensors (some take two)
    folds = False           # a per-output scale and shift that can fold into the weights of the layer before
    normalises = False      # normalises each channel by numbers it keeps per channel, then scales and shifts it:
    #                         its sheet shows both steps (``normalised_one``, ``normalise_formula``, ``shift_formula``)
    output_axis = 0         # the axis of ``weight`` that counts the layer's outputs (channels or units)
    positive_parameters = ()   # parameters that must stay above zero (a variance)
    buffers = ()            # parameters kept but not learned (PyTorch's buffers): training leaves them as they are

    def with_build_options(self, options):
        """The layer as the build ``options`` (``options.BuildOptions``) change it; most kinds have none of their own."""
        return self

    # -- the --arch text

    @classmethod
    def parse(cls, item, classes, option):
        """The layer an ``--arch`` item spells (lower case, no spaces), or None when it is another kind's.

        ``classes`` is the number of outputs of a layer whose item leaves its count out (one per class).
        """
        return cls() if item == cls.kind else None

    def spelling(self):
        """The ``--arch`` item of this layer; ``parse`` reads it back."""
        return self.kind

    @property
    def stem(self):
        """The stem of the layer's ``--until`` name: conv for conv1, conv2, ..."""
        return self.kind.replace("2d", "")

    def describe(self):
        """Short plain text for the layer."""
        return self.kind

    # -- shapes

    def output_shape(self, in_shapes, where):
        """The output shape from the shapes of the tensors read; ShapeError (starting with ``where``) if impossible."""
        if len(in_shapes) != 1:
            raise ShapeError(f"{where} reads {len(in_shapes)} layers; only {joining_kinds()} join several")
        return self.output_shape_one(in_shapes[0], where)

    def output_shape_one(self, shape, where):
        return shape

    def parameter_shapes(self, input_shape):
        """{"weight": shape, "bias": shape} for a layer with parameters, {} otherwise."""
        return {}

    def initial_value(self, name, shape):
        """The starting value of parameter ``name`` when it is not drawn at random (a scale of 1), else None."""
        return None

    def window(self):
        """(span, stride, padding) of a layer that slides a window over maps, None for the others."""
        return None

    ceil = False    # a windowed layer whose output size rounds up (pooling's ceil mode), not down

    # -- the workbook

    def text_values(self):
        """The layer's own numbers its sheet's text lines quote ({alpha}, {size}, ...)."""
        return {}

    def text_extras(self):
        """Text keys (under "layers") of what the description adds for options away from the default."""
        return ()

    @property
    def gradient_text(self):
        """The text key (under "gradients") of its gradient sheet's explanation lines."""
        return self.gradient_sheet

    def size_lines(self):
        """Text keys (of its sheet's texts) that replace the sheet's output-size line, or () to keep it."""
        return ()

    def example_reads(self, at):
        """Whether this layer's worked example, at its first cell, reads cell ``at`` (k, i, j) of its input."""
        return False

    def copied_cell(self, sheet, at):
        """The output cell (planned on ``sheet``) that may show input cell ``at`` unchanged, or None."""
        return None

    def drawn(self):
        """Whether the workbook has sheets for this layer; the others are engine and tables only, for now."""
        return True

    def parameters_from_book(self, reader, layout, index):
        """{name: array} of the parameters the workbook shows for layer ``index`` (planned by ``layout``), as
        ``reader`` (``verify``'s, with ``array(block)`` and ``number(block)``) reads them back; {} without any."""
        return {}

    def as_in_book(self, reader, layout, index):
        """The layer as the workbook holds it: a number of its own that its sheet shows in an editable cell (an
        epsilon) read back by ``reader``; the layer itself for the others."""
        return self

    # -- the summary sheet: (formula text, value) pairs, None when there is nothing to count

    def parameter_count(self, input_shape):
        """How many weights and biases the layer learns."""
        return None

    def multiply_adds(self, input_shape, output_shape):
        """How many multiply-adds one picture costs: one per weight tap per output cell."""
        return None

    def buffer_count(self, input_shape):
        """How many numbers the layer keeps without learning them (its ``buffers``): not parameters."""
        shapes = self.parameter_shapes(input_shape)
        return sum(int(np.prod(shapes[name])) for name in self.buffers)

    def standard_twin(self, channels):
        """The plain layer of the same shape the summary compares this one with, reading ``channels``
        (every filter reading every channel, beside a grouped layer), or None when there is nothing to compare."""
        return None

    def side_arithmetic(self, side, out_side):
        """(text, formula) of the output side of a layer that computes it otherwise than a sliding
        window (``window``), from the input's ``side``; None for the others."""
        return None

    # -- ONNX files (onnx_import.py, onnx_export.py)

    @classmethod
    def from_onnx(cls, node, in_shape):
        """(layer, params) for one ONNX ``node`` of this kind reading a tensor of ``in_shape``; (None, {}) when
        the node changes nothing xlcnn keeps (a reshape of a vector to itself). ModelError when it cannot fit."""
        return cls(), {}

    def to_onnx(self, params, in_shape):
        """(operator, attributes, [weights after the node's first input]) of the ONNX node computing this layer,
        which reads a tensor of ``in_shape``."""
        return self.onnx_ops[0], {}, []

    # -- the NumPy pair, on batches

    def forward(self, xs, params):
        """The output from the tensors ``xs`` the layer reads and its ``params`` ({} when it has none)."""
        (x,) = xs
        return self.forward_one(x, params)

    def backward(self, dout, xs, params):
        """([the gradient of each tensor in ``xs``], {parameter name: gradient}) from that of the output."""
        dx, grads = self.backward_one(dout, xs[0], params)
        return [dx], grads

    def forward_one(self, x, params):
        raise NotImplementedError(f"no engine for layer {self!r}")

    # -- training (``engine.loss_and_gradients(..., training=True)``): most layers compute as they always do

    def train_forward(self, xs, params):
        """The output while training on a batch; a layer that normalises by its batch differs from ``forward``."""
        return self.forward(xs, params)

    def train_backward(self, dout, xs, params):
        """``backward`` of ``train_forward``."""
        return self.backward(dout, xs, params)

    def updated_buffers(self, xs, params):
        """{buffer: new value} after training on the batch ``xs`` (running statistics); {} for most layers."""
        return {}

    def backward_one(self, dout, x, params):
        raise NotImplementedError(f"no backward pass for layer {self!r}")


@dataclass(frozen=True)
class Activation(Layer):
    """A function applied cell by cell: any shape in, the same shape out."""

    example_words = ("activation_input", "activation_output")   # its worked example's labels (text keys)
    gradient_sheet = "activation"

    def example_reads(self, at):
        return at == (0, 0, 0)

    def forward_formula(self, source, scale=None):
        """The formula of one output cell from the 1 x 1 block ``source`` it reads (times ``scale``
        for a first layer; see ``formulas.scaled``)."""
        raise NotImplementedError

    def backward_formula(self, x, y, margin, upstream):
        """The gradient of one input cell: ``x`` the layer's input cell, ``y`` its output cell, ``margin``
        the tie margin's cell (None unless the layer ``chooses``), ``upstream`` the output's gradient."""
        raise NotImplementedError


@dataclass(frozen=True)
class Pool(Layer):
    """Windows of size x size, moved by stride (0 means "same as size"), one value each."""

    size: int = 2
    stride: int = 0
    padding: int = 0
    ceil: bool = False      # ceil mode: the last window may run past the edge (PyTorch's ceil_mode)
    word = ""       # the word before "pool" in the --arch text
    counts_padding = False   # padded cells count (a mean's zeros) or never count (a max)
    keeps_sign = True
    gradient_sheet = "pool"

    @property
    def step(self):
        return self.stride or self.size

    @property
    def stem(self):
        return "pool"

    @property
    def plain(self):
        """No padding and no ceil mode: every window lies inside the input."""
        return not self.padding and not self.ceil

    @property
    def overlaps(self):
        """Windows share cells (stride below size): a cell's gradient adds up from several windows."""
        return self.step < self.size

    @classmethod
    def parse(cls, item, classes, option):
        m = re.fullmatch(rf"{cls.word}pool(\d+)(?:-s(\d+))?(?:-p(\d+))?(-ceil)?", item)
        return cls(int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), bool(m.group(4))) if m else None

    def spelling(self):
        text = f"{self.word}pool{self.size}" + (f"-s{self.stride}" if self.stride and self.stride != self.size else "")
        return text + (f"-p{self.padding}" if self.padding else "") + ("-ceil" if self.ceil else "")

    @classmethod
    def from_onnx(cls, node, in_shape):
        """A pooling node with square windows (the kind's own operator); ONNX's stride is 1 unless given."""
        if len(in_shape) != 3:
            raise node.fail(f"pools a vector of {in_shape[0]}", "xlcnn pools maps")
        size, stride = node.one("kernel_shape", ()), node.one("strides", (1, 1))
        if node.one("dilations", (1, 1)) != 1:
            raise node.fail("spreads its window (dilations)", "xlcnn pools neighbouring cells")
        padding = node.padding(in_shape[1:], size, stride)
        if padding and cls.counts_padding != bool(node.attrs.get("count_include_pad", 0)):
            raise node.fail("averages the real cells of a padded window only (count_include_pad 0)",
                            "xlcnn counts the padding zeros, as PyTorch does by default (count_include_pad=True)")
        return cls(size, 0 if stride == size else stride, padding, bool(node.attrs.get("ceil_mode", 0))), {}

    def to_onnx(self, params, in_shape):
        attrs = {"kernel_shape": [self.size] * 2, "strides": [self.step] * 2, "pads": [self.padding] * 4,
                 "ceil_mode": int(self.ceil)}
        return self.onnx_ops[0], {**attrs, "count_include_pad": 1} if self.counts_padding else attrs, []

    def output_shape_one(self, shape, where):
        if len(shape) != 3:
            raise ShapeError(f"{where} needs a (channels, height, width) input, got a vector of {shape[0]}")
        require_positive(where, size=self.size, stride=self.step)
        if not 0 <= self.padding <= self.size // 2:     # PyTorch's rule: a window never lies all in the padding
            raise ShapeError(f"{where}: pooling padding {self.padding} must be from 0 to half the window "
                             f"({self.size // 2})")
        return (shape[0], *self.sides(shape[1:], where))

    def window_shape(self, shape):
        """(rows, columns) of one window over maps of ``shape`` (C, H, W)."""
        return self.size, self.size

    def sides(self, sides, where="pooling"):
        """How many windows fit down and across maps of ``sides`` (height, width)."""
        return tuple(window_side(where, side, self.size, self.step, self.padding, self.ceil) for side in sides)

    def pooled(self, x, fill):
        """Every window of x, padded with ``fill`` where padding or ceil mode reaches past the maps."""
        return padded_windows(x, self.size, self.step, self.padding, self.sides(x.shape[-2:]), fill)

    def describe_window(self):
        """", padding 1, ceil mode" for the descriptions; "" for a plain pool."""
        return (f", padding {self.padding}" if self.padding else "") + (", ceil mode" if self.ceil else "")

    def window(self):
        return self.size, self.step, self.padding

    def text_values(self):
        return {"size": self.size, "stride": self.step, "padding": self.padding}

    def size_lines(self):
        return () if self.plain else ("ceil_size_line" if self.ceil else "padded_size_line",)

    def text_extras(self):
        return (("pool_padding",) if self.padding else ()) + (("pool_ceil",) if self.ceil else ())

    @property
    def gradient_text(self):
        if self.overlaps:     # a cell's gradient adds up from several windows
            return "pool_overlapping"
        return "pool_reaching" if self.padding or self.ceil else "pool"     # windows reaching past the maps

    def example_reads(self, at):
        k, i, j = at
        return k == 0 and i < self.size and j < self.size

    def forward_formula(self, window, scale=None):
        """The formula of one output cell from its size x size ``window`` block (times ``scale`` for a first layer)."""
        raise NotImplementedError

    def backward_formula(self, x, window, earlier, margin, upstream):
        """The gradient input cell ``x`` receives from the ``window`` that pools it: ``earlier`` the blocks
        of the window before ``x`` in reading order, ``margin`` the tie margin's cell (None unless the
        layer ``chooses``), ``upstream`` the window's output gradient."""
        return "=" + self.backward_term(x, window, earlier, margin, upstream)

    def overlapping_backward_formula(self, x, holding, margin):
        """The gradient of input cell ``x`` where windows overlap: the sum over every window that holds it,
        ``holding`` = [(window, earlier, upstream)] as ``PoolSheet.holding`` gives them, of that window's share."""
        return "=" + "+".join(self.backward_term(x, window, earlier, margin, upstream)
                              for window, earlier, upstream in holding)

    def backward_term(self, x, window, earlier, margin, upstream):
        """``backward_formula`` without its "=": one window's share, a term of a sum."""
        raise NotImplementedError


@dataclass(frozen=True)
class Merge(Layer):
    """A layer that joins two or more tensors: where branches (or a shortcut) meet."""

    joins = True
    keeps_sign = True
    gradient_sheet = "join"
    branch_items = ""     # --arch items that join branches with this kind (``branch_example`` ends them)

    @classmethod
    def branch_example(cls):
        """A whole --arch text that joins branches with this kind, ended as the shortest classifier is."""
        return f"{cls.branch_items}, {kind_with('fully_connected')}"

    def output_shape(self, in_shapes, where):
        if len(in_shapes) < 2:
            raise ShapeError(f"{where} reads {len(in_shapes)} layer; it joins two or more")
        return self.merged_shape(in_shapes, where, " and ".join(str(shape) for shape in in_shapes))

    def merged_shape(self, in_shapes, where, listed):
        raise NotImplementedError

    def forward(self, xs, params):
        return self.forward_all(xs)

    def backward(self, dout, xs, params):
        return self.backward_all(dout, xs), {}
