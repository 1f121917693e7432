"""PDF handouts: a workbook printed through LibreOffice, with its own page setup."""

import mmap
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from .errors import OutputError, WorkbookError
from .libreoffice import DEFAULT_TIMEOUT, to_pdf
from .targets import check_target

# The keyword every handout carries, so xlcnn knows its own PDFs: LibreOffice copies the
# workbook's keywords into the PDF's /Keywords (splitting them at spaces, hence one word).
# Any other existing PDF is left alone.
HANDOUT_KEYWORD = "xlcnn-handout"
CORE_PART = "docProps/core.xml"
CORE = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"


def make_handout(book, output=None, timeout=DEFAULT_TIMEOUT):
    """Recalculate ``book`` and print every visible sheet to ``output`` (default: book.pdf)."""
    book = Path(book)
    if not book.is_file():
        raise WorkbookError(f"{book}: workbook not found")
    output = Path(output) if output is not None else book.with_suffix(".pdf")
    check_handout_target(output)
    with tempfile.TemporaryDirectory(prefix="xlcnn-handout-") as tmp:
        copy = Path(tmp) / "in" / "handout.xlsx"
        copy.parent.mkdir()
        _copy_with_keyword(book, copy)
        [pdf] = to_pdf([copy], Path(tmp) / "out", timeout)
        partial = output.with_name(f".{output.name}.part")
        try:
            shutil.copyfile(pdf, partial)
            os.replace(partial, output)   # only a complete PDF ever takes the name
        except OSError as exc:
            raise OutputError(f"{output}: cannot write the handout ({exc.strerror or exc})") from None
        finally:
            if partial.exists():
                partial.unlink()
    return output


def check_handout_target(output):
    """Refuse, before any work, a handout path that cannot or must not be written."""
    output = Path(output)
    if output.suffix.lower() != ".pdf":
        raise OutputError(f"-o {output}: a handout must end in .pdf")
    check_target(output, output, handout_written_by_xlcnn, "a handout")


def handout_written_by_xlcnn(path):
    """Whether ``path`` is a PDF whose /Keywords hold xlcnn's keyword."""
    try:
        with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data[:5] != b"%PDF-":
                return False
            return any(HANDOUT_KEYWORD in _pdf_text(m.group(1)) for m in _KEYWORDS.finditer(data))
    except (OSError, ValueError):   # unreadable, or empty (mmap refuses 0 bytes)
        return False


_KEYWORDS = re.compile(rb"/Keywords\s*(\((?:[^()\\]|\\.)*\)|<[0-9A-Fa-f\s]*>)")


def _pdf_text(string):
    """A PDF string object, (literal) or <hex>, as text; LibreOffice writes UTF-16 hex with a byte-order mark."""
    raw = bytes.fromhex(string[1:-1].decode("ascii")) if string.startswith(b"<") else string[1:-1]
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be", errors="replace")
    return raw.decode("latin-1")


def _copy_with_keyword(book, copy):
    """Copy the workbook with HANDOUT_KEYWORD as its keywords, which LibreOffice passes on to the PDF."""
    try:
        with zipfile.ZipFile(book) as source, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as target:
            for name in source.namelist():
                data = source.read(name)
                target.writestr(name, _with_keyword(data) if name == CORE_PART else data)
    except (zipfile.BadZipFile, OSError, ElementTree.ParseError):
        shutil.copyfile(book, copy)   # not a zip xlcnn can read: LibreOffice says what it makes of it


def _with_keyword(core_xml):
    root = ElementTree.fromstring(core_xml)
    keywords = root.find(f"{{{CORE}}}keywords")
    if keywords is None:
        keywords = ElementTree.SubElement(root, f"{{{CORE}}}keywords")
    keywords.clear()
    keywords.text = HANDOUT_KEYWORD
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
