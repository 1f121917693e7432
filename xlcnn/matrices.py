"""Matrices as input: a textbook's numbers typed into a text file instead of a photo.

One row of the matrix per line, numbers separated by commas, tabs or spaces; several
channels (the 5 x 5 x 3 input of a worked example) are separated by a blank line. Any
height and width, negative and fractional numbers, 1 to MAX_CHANNELS channels.
Array order as everywhere in xlcnn: (channels, height, width).
"""

import math
import re
from pathlib import Path

import numpy as np

from .errors import InputError

MATRIX_SUFFIXES = (".csv", ".tsv", ".txt")
MAX_CHANNELS = 64
MAX_SIDE = 512            # as a photo's largest side
_SEPARATOR = re.compile(r"[,\t ;]+")


def is_matrix_file(path):
    return Path(path).suffix.lower() in MATRIX_SUFFIXES


def load_matrix(path):
    """The numbers of a matrix file as a (C, H, W) float64 array; InputError naming the line and column
    of anything that is not a finite number, and of rows or channels that do not line up."""
    name = Path(path).name
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise InputError(f"{name}: not a text file of numbers") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    return np.array(channels_of(text, name), dtype=np.float64)


def channels_of(text, name):
    """The channels of a matrix text: lists of rows of floats, all of one size."""
    channels, rows = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if rows:
                channels.append(rows)
                rows = []
            continue
        rows.append(_numbers(line, number, name))
        _check_row(rows, channels, number, name)
    if rows:
        channels.append(rows)
    if not channels:
        raise InputError(f"{name}: no numbers in it; write one row of the matrix per line")
    first = channels[0]
    for c, channel in enumerate(channels[1:], start=2):
        if len(channel) != len(first):
            raise InputError(f"{name}: channel {c} has {len(channel)} rows, channel 1 has {len(first)}; "
                             "every channel needs the same height and width")
    if len(channels) > MAX_CHANNELS:
        raise InputError(f"{name}: {len(channels)} channels (blank-line-separated blocks); at most {MAX_CHANNELS}")
    if len(first) > MAX_SIDE or len(first[0]) > MAX_SIDE:
        raise InputError(f"{name}: a {len(first)} x {len(first[0])} matrix is too large; at most {MAX_SIDE} "
                         f"x {MAX_SIDE}")
    return channels


def _numbers(line, number, name):
    items = [item for item in _SEPARATOR.split(line.strip()) if item]
    values = []
    for column, item in enumerate(items, start=1):
        try:
            value = float(item)
        except ValueError:
            raise InputError(f"{name}: line {number}, column {column}: {item!r} is not a number") from None
        if not math.isfinite(value):
            raise InputError(f"{name}: line {number}, column {column}: {item} is not a finite number")
        values.append(value)
    return values


def _check_row(rows, channels, number, name):
    """Every row as long as the first row of the first channel."""
    first = channels[0][0] if channels else rows[0]
    if len(rows[-1]) != len(first):
        raise InputError(f"{name}: line {number} has {len(rows[-1])} numbers, the first row has {len(first)}; "
                         "every row of a matrix needs the same length")
