"""Every error a user can cause, as one tree.

The CLI turns any ``XlcnnError`` into a single line on stderr and the exit code
stored on its class, so library code raises these and never prints.
"""


class XlcnnError(Exception):
    """Base of every error a user can cause (bad photo, option, model or workbook)."""

    exit_code = 1


class UsageError(XlcnnError):
    """An option or combination of options that cannot work."""

    exit_code = 2


class InputError(XlcnnError):
    """A file given to xlcnn that it cannot read or use."""

    exit_code = 3


class ImageError(InputError):
    """A photo that cannot be opened, decoded or converted."""


class ModelError(InputError):
    """A model file that is missing, malformed or inconsistent."""


class ShapeError(UsageError):
    """A network whose layer sizes do not fit together."""


class LimitError(ShapeError):
    """A network whose workbook would not fit in Excel's limits."""


class WorkbookError(InputError):
    """A workbook that xlcnn did not write or that has lost its layout."""


class OutputError(XlcnnError):
    """An output file or folder that cannot be written."""

    exit_code = 4


class VerificationError(XlcnnError):
    """The workbook's recalculated values differ from the NumPy engine."""

    exit_code = 5


class EngineMissingError(XlcnnError):
    """LibreOffice, needed to recalculate a workbook, is not installed or failed."""

    exit_code = 6


class ExtraMissingError(EngineMissingError):
    """An optional package a command needs (``onnx`` for ONNX models) is not installed."""


def did_you_mean(word, choices):
    """" (did you mean edges?)" when one of ``choices`` is close to the mistyped ``word``, else ""."""
    import difflib   # only when a name was mistyped
    close = difflib.get_close_matches(str(word).lower(), [str(c).lower() for c in choices], n=1, cutoff=0.6)
    if not close:
        return ""
    original = next(c for c in choices if str(c).lower() == close[0])
    return f" (did you mean {original}?)"
