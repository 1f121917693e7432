"""The options of a build: one frozen value checked once, before any work, and the one table of their spellings.

``BuildOptions`` holds what the user chose (the photo and the output are per call, not
options). ``BUILD_FLAGS`` is the one place that says how each option is spelled on the
command line: the CLI declares ``xlcnn build``'s options from it, and the manifest's
"command to rebuild" is rendered from it, so the two cannot drift apart.
"""

import math
import shlex
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .errors import UsageError
from .image import FITS, MAX_SIZE, MIN_SIZE, check_image_options
from .architecture import layer_names
from .layout import DEFAULT_MAX_FORMULAS
from .losses import LOSSES, REGRESSION
from .network import DEFAULT_ARCHITECTURE, EXAMPLE_ARCHITECTURE
from .resources import LANGUAGES

DEFAULT_RATE = 0.01   # lowers the loss of every bundled sample in one step; 0.05 already overshoots
MAX_STEPS = 20
MIN_CLASSES, MAX_CLASSES = 2, 1000


@dataclass(frozen=True)
class BuildOptions:
    """Every choice of ``xlcnn build``; a bad one raises UsageError when the value is made.

    ``size``, ``fit``: the picture's side in pixels and how it is made square (None: the
    model's). ``model_path`` (a .npz) fixes the network; otherwise ``preset``, ``arch``,
    ``filters``, ``true_convolution`` and ``grayscale`` shape it and ``seed`` seeds its random
    weights. ``label`` is the photo's true class (None: guessed from its file name). ``until``
    ends the workbook after that layer. ``steps`` > 0 adds backpropagation and that many
    gradient-descent steps at learning rate ``rate``. ``max_pixels`` refuses bigger photos;
    ``max_formulas`` refuses bigger workbooks. ``input_scale`` multiplies the input before the first layer.
    ``loss`` "mse" makes the network a regression (None: the preset's, else cross-entropy) whose
    ``target`` ("0.5,-0.25") holds one number per output.
    """

    size: int | None = None
    model_path: str | None = None
    label: str | None = None
    fit: str | None = None
    seed: int = 0
    preset: str | None = None
    arch: str | None = None
    filters: str | None = None
    true_convolution: bool = False
    grayscale: bool = False
    until: str | None = None
    lang: str = "en"
    exercise: bool = False
    steps: int = 0
    rate: float = DEFAULT_RATE
    max_pixels: int | None = None
    max_formulas: int = DEFAULT_MAX_FORMULAS
    input_scale: float | None = None    # what the pixels are multiplied by (None: 1/255 for a photo, 1 for a matrix)
    bias: str | None = None       # "1,0": the first convolution's biases, as typed
    classes: str | None = None    # "cat,dog": the class names of an untrained network, as typed
    im2col: bool = False          # the first convolution again, as a matrix product
    fold_bn: bool = False         # each bn folded into the conv or fully connected layer before it, on a sheet of its own
    mean: str | None = None       # "0.485,0.456,0.406": per channel, taken from the scaled input, as typed
    std: str | None = None        # "0.229,0.224,0.225": per channel, dividing it after the mean
    loss: str | None = None       # "cross-entropy" or "mse"; None: the preset's, else cross-entropy
    target: str | None = None     # "0.5,-0.25": a regression's targets, as typed

    def __post_init__(self):
        check_image_options(MIN_SIZE if self.size is None else self.size, self.fit or FITS[0], self.max_pixels)
        if self.lang not in LANGUAGES:
            raise UsageError(f"--lang must be one of {', '.join(LANGUAGES)}, got {self.lang!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 0 <= self.steps <= MAX_STEPS:
            raise UsageError(f"--steps {self.steps}: choose from 0 to {MAX_STEPS}")
        if not self.rate > 0:
            raise UsageError(f"--rate {self.rate}: the learning rate must be positive")
        if self.input_scale is not None and not (math.isfinite(self.input_scale) and self.input_scale != 0):
            raise UsageError(f"--input-scale {self.input_scale}: choose a finite number other than 0")
        if self.max_formulas is not None and not self.max_formulas >= 1:
            raise UsageError(f"--max-formulas {self.max_formulas}: the budget must be at least 1 formula")
        onnx = self.model_path is not None and str(self.model_path).lower().endswith(".onnx")
        if self.model_path is not None and (self.preset or self.arch or self.filters or self.true_convolution
                                            or self.grayscale or self.bias or (self.classes and not onnx)):
            raise UsageError("--model already fixes the network; leave out --preset, --arch, --filters, "
                             "--true-convolution, --grayscale, --bias and --classes (--classes names an "
                             "ONNX model's outputs)")
        if self.loss is not None and self.loss not in LOSSES:
            raise UsageError(f"--loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        if self.model_path is not None and (self.loss == REGRESSION or self.target is not None):
            raise UsageError("--loss mse and --target build a regression from --arch or a preset; a model file "
                             "is a classifier: leave them out")
        if self.target is not None and self.loss not in (None, REGRESSION):
            raise UsageError(f"--target sets the targets of --loss mse, not of --loss {self.loss}; leave it out")
        self.bias_values, self.class_names, self.normalisation, self.target_values   # checked now, not halfway

    @property
    def bias_values(self):
        """--bias as numbers, () when not given."""
        return () if self.bias is None else numbers_from_text(self.bias, "--bias", "1,0", "bias")

    @property
    def target_values(self):
        """--target as numbers, () when not given."""
        return () if self.target is None else numbers_from_text(self.target, "--target", "0.5,-0.25", "target")

    @property
    def normalisation(self):
        """(mean, std) per channel from --mean and --std, None when neither is given."""
        if self.mean is None and self.std is None:
            return None
        if self.mean is None or self.std is None:
            raise UsageError("--mean and --std go together: give one number per input channel to each")
        values = [numbers_from_text(text, option, "0.485,0.456,0.406", "value")
                  for option, text in (("--mean", self.mean), ("--std", self.std))]
        if len(values[0]) != len(values[1]) or not all(n > 0 for n in values[1]):
            raise UsageError(f"--mean {self.mean} --std {self.std}: one mean and one std above 0 per input channel")
        return tuple(values)

    @property
    def class_names(self):
        """--classes as names, () when not given."""
        if self.classes is None:
            return ()
        names = tuple(name.strip() for name in str(self.classes).split(","))
        if not MIN_CLASSES <= len(names) <= MAX_CLASSES or not all(names):
            raise UsageError(f"--classes: name {MIN_CLASSES} to {MAX_CLASSES:,} classes, separated by commas, "
                             "none of them empty")
        seen = set()
        for name in names:     # the label is matched without regard to case, so "Cat" and "cat" are one class
            if name.lower() in seen:
                raise UsageError(f"--classes: {name!r} is named twice; each class needs its own name")
            seen.add(name.lower())
        return names

    @classmethod
    def given(cls, options=None, **changes):
        """``options`` (default: every default) with ``changes`` (field names) applied, checked again."""
        return replace(options or cls(), **changes)

    def command(self, photo, output):
        """The command that rebuilds the same workbook from ``photo`` into ``output`` (both by file name)."""
        words = ["xlcnn", "build", shlex.quote(Path(photo).name), "-o", shlex.quote(Path(output).name)]
        for flag in BUILD_FLAGS:
            words += flag.spell(self)
        return " ".join(words)

    def unfit_options(self, size, shipped_size, hand, grayscale):
        """The options that changed the default network away from the shipped model's (made for pictures of
        ``shipped_size``), as the user typed them; ``size``, ``hand`` (hand-made filters) and ``grayscale`` as the
        options or the preset chose them."""
        given = [(size != shipped_size, f"{option_name('size')} {size}"), (bool(hand), option_name("filters")),
                 (self.true_convolution, option_name("true_convolution")), (grayscale, option_name("grayscale")),
                 (bool(self.class_names), option_name("classes")), (bool(self.bias_values), option_name("bias"))]
        return " ".join(option for changed, option in given if changed)


def numbers_from_text(text, option, example, each):
    """"1,0" -> (1.0, 0.0): finite numbers separated by commas, or UsageError quoting the text
    (``example`` shows the form, ``each`` names one item)."""
    items = [item.strip() for item in str(text).split(",")]
    try:
        values = tuple(float(item) for item in items)
    except ValueError:
        raise UsageError(f"{option} {text!r}: give numbers separated by commas, e.g. {example}") from None
    if not all(math.isfinite(value) for value in values):
        raise UsageError(f"{option} {text!r}: every {each} must be a finite number")
    return values


# ---------------------------------------------------------------- the command-line spellings


def _differs(flag, options):
    return getattr(options, flag.field) != _DEFAULTS[flag.field]


def _always(flag, options):
    return True


def _when_learning(flag, options):
    return options.steps > 0


@dataclass(frozen=True)
class Flag:
    """One option of ``xlcnn build``: its click declaration and how the rebuild command spells it.

    ``field`` is the BuildOptions field it sets (None: a flag of the command alone, such
    as --verify). The rebuild command names the option when ``shown(flag, options)``; a
    file path is named by its file name, as the photo is.
    """

    decls: tuple
    field: str | None = None
    type: object = None
    metavar: str | None = None
    is_flag: bool = False
    help: str = ""
    show_default: bool = False
    shown: object = _differs
    file_name: bool = False

    def click_option(self):
        """The keywords of ``click.option`` for this flag (the type is click's: it converts, BuildOptions checks)."""
        keywords = {"help": self.help, "is_flag": self.is_flag, "show_default": self.show_default}
        if self.type is not None:
            keywords["type"] = self.type
        if self.metavar is not None:
            keywords["metavar"] = self.metavar
        if self.field is not None and self.field in _DEFAULTS:
            keywords["default"] = _DEFAULTS[self.field]
        return keywords

    def spell(self, options):
        """The words of the rebuild command for this option: [], ["--grayscale"] or ["--seed", "4"]."""
        if self.field is None or not self.shown(self, options):
            return []
        value = getattr(options, self.field)
        if value is None or value is False:
            return []
        if value is True:
            return [self.name]
        return [self.name, shlex.quote(Path(value).name if self.file_name else str(value))]

    @property
    def name(self):
        """The long option, e.g. "--model" of ("--model", "model_path")."""
        return next(word for word in reversed(self.decls) if word.startswith("--"))


_DEFAULTS = {f.name: f.default for f in fields(BuildOptions)}

# In the order of ``xlcnn build --help`` and of the rebuild command. A declaration's last word,
# when it is not an option (``model_path``), is click's parameter name; click's type only turns
# text into a number: every check is BuildOptions'.
BUILD_FLAGS = (
    Flag(("-o", "--output"), type=str, metavar="PATH",
         help="Workbook to write (default: PHOTO's name with .xlsx); a folder when building several."),
    Flag(("--size",), "size", int, metavar=f"[{MIN_SIZE}-{MAX_SIZE}]",
         help="Picture side in pixels (default 28, or the model's)."),
    Flag(("--input-scale",), "input_scale", float, metavar="X",
         help="Multiply the input by X before the first layer (default 1/255 for a photo, 1 for a matrix)."),
    Flag(("--mean",), "mean", metavar="NUMBERS",
         help="Per channel, taken from the scaled input before the first layer, e.g. 0.485,0.456,0.406 (with --std)."),
    Flag(("--std",), "std", metavar="NUMBERS",
         help="Per channel, dividing the input after --mean, e.g. 0.229,0.224,0.225, as torchvision's Normalize."),
    Flag(("--model", "model_path"), "model_path", str, metavar="FILE", file_name=True,
         help="Model file: xlcnn's .npz or an ONNX model (.onnx)."),
    Flag(("--label",), "label", help="True class of the photo, used for the loss (default: guessed from the file name)."),
    Flag(("--fit",), "fit", metavar=f"[{'|'.join(FITS)}]", help="How to make the photo square: crop (default), pad or stretch."),
    Flag(("--seed",), "seed", int, show_default=True, help="Seed of the random weights when no --model is given."),
    Flag(("--preset",), "preset", help="A ready-made lesson (see `xlcnn presets`), e.g. edges or two-blocks."),
    Flag(("--arch",), "arch", help=f'Layers as text, e.g. "{EXAMPLE_ARCHITECTURE}".'),
    Flag(("--filters",), "filters",
         help="Hand-made first-layer filters: names (sobel-x,sobel-y,laplacian) or files of numbers (edge.csv)."),
    Flag(("--bias",), "bias", metavar="NUMBERS", help="Biases of the first convolution, one per filter, e.g. 1,0."),
    Flag(("--classes",), "classes", metavar="NAMES", help="Class names of an untrained network, e.g. cat,dog,bird."),
    Flag(("--true-convolution",), "true_convolution", is_flag=True,
         help="Turn every kernel 180 degrees (convolution, not correlation)."),
    Flag(("--grayscale",), "grayscale", is_flag=True, help="One gray input channel instead of red, green and blue."),
    Flag(("--until",), "until", help=f"Stop the workbook after this layer ({', '.join(layer_names(DEFAULT_ARCHITECTURE)[:3])}, "
                                     "... or a number)."),
    Flag(("--lang",), "lang", metavar=f"[{'|'.join(LANGUAGES)}]", show_default=True, shown=_always,
         help="Language of every text in the workbook."),
    Flag(("--loss",), "loss", metavar=f"[{'|'.join(LOSSES)}]",
         help="The loss: cross-entropy for a classifier (default), mse for a regression (its last layer's outputs are the predictions)."),
    Flag(("--target",), "target", metavar="NUMBERS",
         help="The targets of --loss mse, one per output, e.g. 0.5,-0.25 (default: the preset's, else 0)."),
    Flag(("--im2col",), "im2col", is_flag=True, help="Show the first convolution as a matrix product (im2col)."),
    Flag(("--fold-bn",), "fold_bn", is_flag=True,
         help="Fold each bn into the conv or fully connected layer before it, as formulas, and show both give the same maps."),
    Flag(("--exercise",), "exercise", is_flag=True, help="Blank a few cells of every stage for students, with checks."),
    Flag(("--backprop",), is_flag=True, help="Add gradient sheets and one step of gradient descent (--steps 1)."),
    Flag(("--steps",), "steps", int, metavar=f"[0-{MAX_STEPS}]",
         help="Gradient-descent steps to lay out (implies --backprop)."),
    Flag(("--rate",), "rate", float, show_default=True, shown=_when_learning,
         help="Learning rate of the descent steps."),
    Flag(("--verify", "check"), is_flag=True, help="Recalculate in LibreOffice and compare with NumPy afterwards."),
    Flag(("--pdf",), is_flag=True, help="Also print the workbook to a PDF handout beside it."),
    Flag(("--max-pixels",), "max_pixels", int, shown=lambda flag, options: False,   # refuses photos, changes no cell
         help="Refuse photos with more pixels than this (a lower cap)."),
    Flag(("--max-formulas",), "max_formulas", int, show_default=True,
         help="Refuse a network whose workbook would hold more formula cells than this."),
)


def option_name(field):
    """How the command line spells a BuildOptions field, e.g. "true_convolution" -> "--true-convolution"."""
    return next(flag.name for flag in BUILD_FLAGS if flag.field == field)


def from_cli(params):
    """BuildOptions from the parameters click parsed for ``xlcnn build`` (the command's own flags left out).

    --backprop is --steps 1 when no --steps is given.
    """
    given = {flag.field: params[_param_name(flag)] for flag in BUILD_FLAGS if flag.field is not None}
    if params.get("backprop") and not given["steps"]:
        given["steps"] = 1
    return BuildOptions(**given)


def _param_name(flag):
    """The name click gives a flag's parameter: an explicit last word, else the long option without dashes."""
    last = flag.decls[-1]
    return last if not last.startswith("-") else last.lstrip("-").replace("-", "_")
