"""The ``xlcnn`` command: a thin shell over the library, one library call per command."""

import os
import signal
import sys
import threading
import traceback

import click

from . import __version__
from .errors import InputError, VerificationError, XlcnnError
from .image import MAX_SIZE, MIN_SIZE
from .datasets import write_shapes
from .handout import check_handout_target, make_handout
from .network import EXAMPLE_ARCHITECTURE
from .engines import DEFAULT_TIMEOUT
from .options import BUILD_FLAGS, from_cli
from .pipeline import DEFAULT_SIZE, make_summary, make_workbook, make_workbooks, photos_in, train_from_folder, workbook_path
from .resources import LANGUAGES, texts
from .summary import table_text
from .textwidth import display_width, ljust, rjust, wrap
from .presets import load_preset, preset_names
from .train import OPTIMISERS, TrainConfig
from .verify import ENGINE_CHOICES, ENGINES, verify_workbook, verify_workbooks


TIMEOUT = click.option("--timeout", type=click.IntRange(5, 86_400), default=DEFAULT_TIMEOUT, show_default=True,
                       help="Seconds LibreOffice may take before it is stopped.")


class _Group(click.Group):
    """Turns library errors into one line on stderr and the error's exit code."""

    def invoke(self, ctx):
        main_thread = threading.current_thread() is threading.main_thread()   # where signals can be handled
        previous = signal.signal(signal.SIGINT, _interrupted) if main_thread else None
        try:
            return super().invoke(ctx)
        except XlcnnError as exc:
            if ctx.params.get("debug"):
                traceback.print_exc()
            click.echo(f"xlcnn: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            sys.exit(INTERRUPTED)   # quietly: every half-done file and engine is gone by now
        finally:
            # after a Ctrl-C later presses stay ignored until the process has gone
            if main_thread and signal.getsignal(signal.SIGINT) is _interrupted:
                signal.signal(signal.SIGINT, previous)


INTERRUPTED = 130   # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


def _interrupted(signum, frame):
    """The first Ctrl-C stops the command; later ones are ignored so the clean-up it starts cannot be cut short.

    The clean-up (killing engines and workers, removing temporary files) takes a fraction of a second.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.version_option(__version__, prog_name="xlcnn")
def main(debug):
    """xlcnn turns a photo into an Excel workbook in which every stage of a CNN is a live formula."""


def _build_flags(command):
    """``xlcnn build``'s options, declared from the table that also spells the manifest's rebuild command."""
    for flag in reversed(BUILD_FLAGS):
        command = click.option(*flag.decls, **flag.click_option())(command)
    return command


@main.command()
@click.argument("photos", nargs=-1, type=click.Path())
@_build_flags
def build(photos, output, check, pdf, **params):
    """Build a workbook from each PHOTO, or from a bundled sample when none is given.

    Several photos or a folder give one workbook each, named after the photo, built on
    both cores; a photo that fails is reported and the rest are still built.

    Example: xlcnn build cat.jpg -o cat.xlsx --preset two-blocks --lang zh --verify --pdf
    """
    options = from_cli(params)
    if len(photos) > 1 or (photos and os.path.isdir(photos[0])):
        return _build_many(photos, output, check, pdf, options)
    _build_single(photos[0] if photos else None, output, check, pdf, options)


def _build_single(photo, output, check, pdf, options):
    if pdf:   # a PDF xlcnn may not replace is refused before the work, not after
        check_handout_target(workbook_path(photo, output).with_suffix(".pdf"))
    with _progress(100, "building") as bar:
        def advance(done, total):
            bar.update(int(100 * done / total) - bar.pos)
        result = make_workbook(photo, output, options, progress=advance)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    label = f", true label {result.label}" if result.label else ""
    click.echo(f"wrote {result.path} ({len(result.sheets)} sheets, {result.formulas:,} formulas{label})")
    for line in _what_it_did(result, photo):
        click.echo(line)
    if check:
        _say_verifying(1)
        _report(verify_workbook(result.path))
    if pdf:
        click.echo(f"wrote {make_handout(result.path)}")


@main.command()
@click.argument("book", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="PDF to write (default: BOOK's name with .pdf).")
@click.option("--full", is_flag=True, help="Print every sheet whole (many pages) instead of one page a step.")
@click.option("--sheets", help='Sheets to print, by step number or name, e.g. "3,4,Summary".')
@click.option("--paper", type=click.Choice(["a4", "letter"]), help="Paper size (default: from the locale, else A4).")
@TIMEOUT
def handout(book, output, full, sheets, paper, timeout):
    """Print BOOK to a PDF handout through LibreOffice, from a copy of its page setup.

    By default a classroom handout: each step on one page with its explanation, type
    no smaller than 7 pt, long stacks of maps and long vectors shortened (the footer
    says which rows are left out). --full prints every sheet whole.

    Example: xlcnn handout cat.xlsx -o cat.pdf --sheets 3,4,5 --paper letter
    """
    picked = [token for token in sheets.split(",") if token.strip()] if sheets else None
    click.echo(f"wrote {make_handout(book, output, timeout, full=full, sheets=picked, paper=paper)}")


def _what_it_did(result, photo):
    """Which picture went in, what the network answered and whether the true label is known."""
    if photo is None:
        yield f"photo: the bundled sample {result.source} (no photo given)"
    if result.prediction is not None:
        yield f"prediction: {result.prediction} ({result.probability:.1%})"
        if result.label is None:
            yield ("true label: not chosen (neither --label nor the file name names a class); pick it from the "
                   "list on the loss sheet, where the loss stays blank until then, or build with --label")
    if result.targets:
        yield (f"loss: {result.loss:.6g}, the mean squared error of {len(result.targets)} outputs against the "
               "targets " + ",".join(f"{t:g}" for t in result.targets) + " (edit them on the loss sheet)")


class _Quiet:
    """Stands in for a progress bar when stderr is not a terminal, so errors stay one line."""

    pos = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, steps):
        self.pos += steps


def _say_verifying(count, engine="libreoffice"):
    """What the wait is for (on a terminal only, so an error stays one line)."""
    if sys.stderr.isatty():
        books = "the workbook" if count == 1 else f"{count} workbooks"
        where = " and ".join(e.title for name, e in ENGINES.items() if engine in (name, "all"))
        click.echo(f"recalculating {books} in {where} and comparing with NumPy ...", err=True)


def _progress(length, label):
    if sys.stderr.isatty():
        return click.progressbar(length=length, label=label, file=sys.stderr)
    return _Quiet()


def _build_many(photos, output, check, pdf, options):
    with _progress(len(photos_in(photos)), "building") as bar:
        built, failed = make_workbooks(photos, output or ".", options, progress=lambda done, total: bar.update(1))
    for warning in built[0].warnings if built else ():   # the same for every photo: said once
        click.echo(f"warning: {warning}", err=True)
    for result in built:
        click.echo(f"wrote {result.path} ({result.formulas:,} formulas)")
    for photo, message in failed:
        click.echo(f"skipped {photo}: {message}", err=True)
    if check and built:
        _say_verifying(len(built))
        reports = verify_workbooks([result.path for result in built])
        for report in reports:
            click.echo(report.table().splitlines()[-1])
        if not all(report.ok for report in reports):
            raise VerificationError("some workbooks do not match the NumPy engine; run xlcnn verify on them")
    if pdf:
        for result in built:
            click.echo(f"wrote {make_handout(result.path)}")
    if failed:
        raise InputError(f"{len(failed)} of {len(failed) + len(built)} photos could not be built (listed above)")


@main.command()
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True,
              help="Language of the descriptions.")
def presets(lang):
    """List the ready-made lessons for --preset, with what each one shows.

    Example: xlcnn presets --lang zh && xlcnn build photo.jpg --preset edges --lang zh
    """
    for tables in (False, True):
        if tables:
            click.echo("\nReal networks, too big to build: tables only, with xlcnn summary --preset NAME")
        for name in preset_names(tables):
            recipe = load_preset(name, lang)
            click.echo(f"{name}: {recipe.architecture}")
            if recipe.description:
                click.echo("\n".join(wrap(recipe.description, 88, indent="    ")))


@main.command()
@click.option("--preset", help="A lesson preset or a real network: lenet5, alexnet, vgg16, resnet18 (see `xlcnn presets`).")
@click.option("--arch", help=f'The network as text, e.g. "{EXAMPLE_ARCHITECTURE}".')
@click.option("--size", type=click.IntRange(1, 100_000), help="Side of the square input (default: the preset's, else 28).")
@click.option("--channels", type=click.IntRange(1, 4096), help="Input channels (default: the preset's, else 3).")
@click.option("--classes", type=click.IntRange(2, 100_000),
              help="Number of classes, the outputs of the last fully connected layer.")
@click.option("--model", type=click.Path(dir_okay=False), help="A model file: xlcnn's .npz or an ONNX model (.onnx).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Also write the table as a workbook (.xlsx).")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def summary(preset, arch, size, channels, classes, model, output, lang):
    """Print the per-layer table of a network of any size: output shapes, weights and biases,
    activations, multiply-adds, memory and receptive field, with totals. With -o, also a
    workbook holding the table as live formulas (totals named total_parameters, ...).

    Example: xlcnn summary --preset vgg16 -o vgg16.xlsx
    """
    result = make_summary(preset, arch, size, channels, classes, output, lang, model)
    click.echo(table_text(result.rows, texts(lang)["sheets"]["summary"]))
    if result.path is not None:
        click.echo(f"wrote {result.path}")


@main.command()
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The ONNX file to write (.onnx).")
def export(source, output):
    """Write SOURCE, a model file (.npz) or a workbook xlcnn built (.xlsx), as an ONNX model.

    From a workbook the weights are read as they stand in its cells, a student's edits
    included. The ONNX model reads pixels already scaled and gives the logits; the class
    names and the input scale are in its metadata. Needs the onnx extra.

    Example: xlcnn export cat.xlsx -o edited.onnx
    """
    from .onnx_export import export_model     # the onnx package is an optional extra
    model = export_model(source, output)
    click.echo(f"wrote {output} ({len(model.layers)} layers, {len(model.class_names)} classes)")


@main.command()
@click.argument("books", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--engine", type=click.Choice(ENGINE_CHOICES), default="libreoffice", show_default=True,
              help="Spreadsheet engine that recalculates: libreoffice, gnumeric, or all (a report from each).")
@TIMEOUT
def verify(books, engine, timeout):
    """Recalculate each BOOK in a spreadsheet engine and compare every stage with NumPy.

    Pixels, weights and the true label are read from the workbook, so an edited
    workbook is checked against its own inputs. Exit 0 only when every stage is
    within 1e-9 x that stage's largest value and no cell holds an error.

    Several books share one LibreOffice start.

    Example: xlcnn verify cat.xlsx dog.xlsx --engine all
    """
    _say_verifying(len(books), engine)
    reports = verify_workbooks(books, timeout, engine)   # one start of each engine for all of them
    for report in reports[:-1]:
        click.echo(report.table() + "\n")
    _report(reports[-1], others=reports[:-1])


@main.command()
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Model file to write (.npz).")
@click.option("--size", type=click.IntRange(MIN_SIZE, MAX_SIZE), default=DEFAULT_SIZE, show_default=True,
              help="Picture side in pixels.")
@click.option("--filters", type=click.IntRange(1, 64), default=4, show_default=True, help="Number of conv filters.")
@click.option("--kernel", type=click.IntRange(1, 11), default=3, show_default=True, help="Filter size F (F x F).")
@click.option("--pool", type=click.IntRange(1, 8), default=2, show_default=True, help="Max-pool window and stride.")
@click.option("--epochs", type=click.IntRange(1, 1000), default=TrainConfig.epochs, show_default=True)
@click.option("--lr", type=float, default=TrainConfig.lr, show_default=True, help="Learning rate.")
@click.option("--optimizer", type=click.Choice(sorted(OPTIMISERS)), default=TrainConfig.optimizer, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=TrainConfig.batch_size, show_default=True)
@click.option("--val-split", type=float, default=TrainConfig.val_split, show_default=True,
              help="Share of each class held out to check the model.")
@click.option("--augment/--no-augment", default=TrainConfig.augment, show_default=True,
              help="Random flips, small shifts and brightness changes while learning.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same weights.")
@click.option("--preset", help="Train a preset's network (see `xlcnn presets`) instead of the lesson network "
                               "(--filters, --kernel, --pool).")
@click.option("--arch", help=f'Train this network, e.g. "{EXAMPLE_ARCHITECTURE}".')
@click.option("--init-filters", help="Start the first conv from these hand-made 3x3 kernels, e.g. vertical,horizontal.")
def train(data_dir, output, size, filters, kernel, pool, epochs, lr, optimizer, batch_size, val_split, augment, seed,
          preset, arch, init_filters):
    """Train a model on DATA_DIR, which holds one sub-folder of photos per class.

    Unreadable files are skipped and listed. Prints loss and accuracy per epoch, then
    the validation confusion matrix.

    Example: xlcnn train photos/ -o my_model.npz --epochs 20 && xlcnn build me.jpg --model my_model.npz
    """
    config = TrainConfig(epochs, lr, optimizer, batch_size, val_split, augment, seed)
    def name_skipped(skipped):   # before the first epoch, so a teacher can fix the folder without waiting
        for path, reason in skipped:
            click.echo(f"skipped {path}: {reason}", err=True)
    model, result, _ = train_from_folder(data_dir, output, size, filters, kernel, pool, config,
                                         progress=_EpochProgress(epochs), preset=preset, arch=arch,
                                         on_skipped=name_skipped, init_filters=init_filters)
    click.echo(f"train accuracy {result.train_accuracy:.1%} ({result.train_count} pictures), "
               f"validation accuracy {result.val_accuracy:.1%} ({result.val_count} pictures)")
    click.echo(_confusion_table(result.confusion, model.class_names))
    click.echo(f"wrote {output}")


@main.command(name="demo-data")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--per-class", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--size", type=click.IntRange(MIN_SIZE, 1024), default=64, show_default=True, help="Side of each picture.")
@click.option("--seed", type=int, default=0, show_default=True)
def demo_data(folder, per_class, size, seed):
    """Write the generated shapes dataset (circle, square, triangle) as image folders.

    Shows what the default model learned from, and is a template for a class's own photos.

    Example: xlcnn demo-data shapes/ --per-class 50 && xlcnn train shapes/ -o shapes.npz
    """
    count = write_shapes(folder, per_class, size, seed)
    click.echo(f"wrote {count} pictures to {folder}")


class _EpochProgress:
    """A progress bar per epoch, then one line with the epoch's loss and accuracy."""

    def __init__(self, epochs):
        self.epochs, self.epoch, self.bar, self.done = epochs, 1, None, 0

    def __call__(self, stats, done, total):
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=f"epoch {self.epoch}/{self.epochs}", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done
        if stats is not None:
            self.bar.__exit__(None, None, None)
            self.bar, self.done, self.epoch = None, 0, self.epoch + 1
            click.echo(f"epoch {stats.epoch}/{self.epochs}: loss {stats.loss:.4f}, train {stats.train_accuracy:.1%}, "
                       f"validation {stats.val_accuracy:.1%} ({stats.seconds:.1f} s)")


def _confusion_table(counts, names):
    """Columns aligned as a terminal draws them: a Chinese class name is twice as wide as its length."""
    width = max(display_width(n) for n in names) + 2
    lines = ["confusion matrix (rows: true class, columns: predicted), validation pictures:",
             " " * width + "".join(rjust(n, width) for n in names)]
    for name, row in zip(names, counts):
        lines.append(ljust(name, width) + "".join(rjust(str(v), width) for v in row))
    return "\n".join(lines)


def _report(report, others=()):
    click.echo(report.table())
    failed = [f"{r.path.name} ({r.engine})" for r in others if not r.ok]
    if failed:
        raise VerificationError(f"{', '.join(failed)}: do not match the NumPy engine")
    if not report.ok:
        raise VerificationError(f"{report.path}: the workbook does not match the NumPy engine in {report.engine}")
