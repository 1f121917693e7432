"""PDF handouts: a workbook printed through LibreOffice, with its own page setup."""

import os
import shutil
import tempfile
from pathlib import Path

from .errors import OutputError, WorkbookError
from .libreoffice import DEFAULT_TIMEOUT, to_pdf


def make_handout(book, output=None, timeout=DEFAULT_TIMEOUT):
    """Recalculate ``book`` and print every visible sheet to ``output`` (default: book.pdf)."""
    book = Path(book)
    if not book.is_file():
        raise WorkbookError(f"{book}: workbook not found")
    output = Path(output) if output is not None else book.with_suffix(".pdf")
    if output.suffix.lower() != ".pdf":
        raise OutputError(f"-o {output}: a handout must end in .pdf")
    if not output.resolve().parent.is_dir():
        raise OutputError(f"{output}: folder {output.parent} does not exist")
    with tempfile.TemporaryDirectory(prefix="xlcnn-handout-") as tmp:
        copy = Path(tmp) / "in" / "handout.xlsx"
        copy.parent.mkdir()
        shutil.copyfile(book, copy)
        [pdf] = to_pdf([copy], Path(tmp) / "out", timeout)
        partial = output.with_name(f".{output.name}.part")
        shutil.copyfile(pdf, partial)
        os.replace(partial, output)   # only a complete PDF ever takes the name
    return output
