"""Files that appear whole or not at all: written beside their target, then renamed over it."""

import os
from pathlib import Path

from .errors import OutputError


def write_whole(output, write, what):
    """Call ``write(partial_path)`` for a file beside ``output``, then rename it to ``output``: an interrupted or
    failed write leaves no half file and the old one as it was. ``what`` names the file in the error."""
    output = Path(output)
    partial = output.with_name(f".{output.name}.part")
    try:
        write(partial)
        os.replace(partial, output)   # only a complete file ever takes the name
    except OSError as exc:
        raise OutputError(f"{output}: cannot write {what} ({exc.strerror or exc})") from None
    finally:
        partial.unlink(missing_ok=True)
