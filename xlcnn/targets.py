"""Where xlcnn may write an output: never into a missing folder, and never over a file it did not write."""

from pathlib import Path

from .errors import OutputError


def check_target(path, shown, written_by_xlcnn, what):
    """Refuse ``path`` (named ``shown`` in messages) before any work; returns its folder.

    ``written_by_xlcnn(path)`` tells whether an existing file may be replaced; ``what``
    names the kind of file in the message ("a workbook", "a handout").
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{shown}: folder {folder} does not exist")
    if path.is_dir():
        raise OutputError(f"{shown}: is a folder, not a file")
    if path.exists() and not written_by_xlcnn(path):
        raise OutputError(f"{shown}: already exists and is not {what} xlcnn wrote; "
                          "choose another name or move that file away")
    return folder
