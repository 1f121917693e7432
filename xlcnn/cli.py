"""The ``xlcnn`` command: a thin shell over the library, one library call per command."""

import sys
import traceback

import click

from . import __version__
from .errors import VerificationError, XlcnnError
from .image import FITS, MAX_SIZE, MIN_SIZE
from .pipeline import make_workbook
from .verify import verify_workbook


class _Group(click.Group):
    """Turns library errors into one line on stderr and the error's exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except XlcnnError as exc:
            if ctx.params.get("debug"):
                traceback.print_exc()
            click.echo(f"xlcnn: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.version_option(__version__, prog_name="xlcnn")
def main(debug):
    """xlcnn turns a photo into an Excel workbook in which every stage of a CNN is a live formula."""


@main.command()
@click.argument("photo", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Workbook to write (default: PHOTO's name with .xlsx).")
@click.option("--size", type=click.IntRange(MIN_SIZE, MAX_SIZE), help="Picture side in pixels (default 28, or the model's).")
@click.option("--model", "model_path", type=click.Path(dir_okay=False), help="Model file (.npz) with trained weights.")
@click.option("--label", help="True class of the photo, used for the loss (default: guessed from the file name).")
@click.option("--fit", type=click.Choice(FITS), help="How to make the photo square: crop (default), pad or stretch.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random weights when no --model is given.")
@click.option("--verify", "check", is_flag=True, help="Recalculate in LibreOffice and compare with NumPy afterwards.")
def build(photo, output, size, model_path, label, fit, seed, check):
    """Build a workbook from PHOTO (default: a bundled sample).

    Example: xlcnn build cat.jpg -o cat.xlsx --size 28 --verify
    """
    result = make_workbook(photo, output, size, model_path, label, fit, seed)
    click.echo(f"wrote {result.path} ({len(result.sheets)} sheets, {result.formulas:,} formulas, "
               f"true label {result.label})")
    if check:
        _report(verify_workbook(result.path))


@main.command()
@click.argument("book", type=click.Path(dir_okay=False))
def verify(book):
    """Recalculate BOOK in LibreOffice and compare every stage with NumPy.

    Pixels, weights and the true label are read from the workbook, so an edited
    workbook is checked against its own inputs. Exit 0 only when every stage is
    within 1e-9 and no cell holds an error.

    Example: xlcnn verify cat.xlsx
    """
    _report(verify_workbook(book))


def _report(report):
    click.echo(report.table())
    if not report.ok:
        raise VerificationError(f"{report.path}: the workbook does not match the NumPy engine")
