"""Hand-made filters for the first layer of filters: the classic named 3x3 kernels of the
edge-detection lesson, or a textbook's exact numbers from a file."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, UsageError, did_you_mean
from .matrices import is_matrix_file, load_matrix

NAMED_KERNELS = {
    "vertical": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
    "horizontal": [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
    "sobel-x": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
    "sobel-y": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],
    "scharr-x": [[3, 0, -3], [10, 0, -10], [3, 0, -3]],
    "scharr-y": [[3, 10, 3], [0, 0, 0], [-3, -10, -3]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "blur": [[1 / 9] * 3] * 3,
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
}


def parse_filter_names(text):
    """"sobel-x, sobel-y" -> ("sobel-x", "sobel-y"), refusing unknown names."""
    names = tuple(name.strip().lower() for name in str(text).split(",") if name.strip())
    unknown = [name for name in names if name not in NAMED_KERNELS]
    if unknown or not names:
        wrong = unknown[0] if unknown else text
        raise UsageError(f"--filters: unknown filter {wrong!r}{did_you_mean(wrong, NAMED_KERNELS)}; "
                         f"choose from {', '.join(NAMED_KERNELS)}")
    return names


@dataclass(frozen=True)
class HandFilter:
    """One filter the user chose: a named kernel or a file's numbers.

    ``kernel`` is (F, F), spread over the input channels (divided by C), or (C, F, F) with one
    slice per input channel, used as it is.
    """

    name: str
    kernel: np.ndarray

    @property
    def side(self):
        return self.kernel.shape[-1]

    def weights(self, channels):
        """(C, F, F) for an input of ``channels`` channels."""
        if self.kernel.ndim == 2:
            return np.repeat(self.kernel[None] / channels, channels, axis=0)
        if self.kernel.shape[0] != channels:
            raise UsageError(f"--filters {self.name}: {self.kernel.shape[0]} blocks of {self.side} x {self.side}, "
                             f"but the input has {channels} channel(s); give one block (spread over the channels) "
                             f"or {channels}")
        return self.kernel


def parse_filters(text):
    """--filters "vertical, my-filter.csv" -> (HandFilter, ...): each item a named kernel or the path of
    a matrix file (one F x F block, or one block per input channel). All of one size F x F."""
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise UsageError(f"--filters {text!r}: name at least one filter")
    filters = tuple(_hand_filter(item) for item in items)
    sides = sorted({f.side for f in filters})
    if len(sides) > 1:
        raise UsageError(f"--filters: the filters are of different sizes ({', '.join(f'{n}x{n}' for n in sides)}); "
                         "one layer slides filters of one size")
    return filters


def _hand_filter(item):
    if item.lower() in NAMED_KERNELS:
        return HandFilter(item.lower(), np.array(NAMED_KERNELS[item.lower()], dtype=float))
    if not is_matrix_file(item):
        raise UsageError(f"--filters: unknown filter {item!r}{did_you_mean(item.lower(), NAMED_KERNELS)}; choose "
                         f"from {', '.join(NAMED_KERNELS)}, or give a .csv, .tsv or .txt file of the filter's numbers")
    kernel = load_matrix(item)
    if kernel.shape[1] != kernel.shape[2]:
        raise InputError(f"{Path(item).name}: a filter is square, this one is {kernel.shape[1]} x {kernel.shape[2]}")
    return HandFilter(Path(item).stem, kernel[0] if kernel.shape[0] == 1 else kernel)


def filter_weights(filters, channels):
    """Weights (K, C, F, F) of the hand-made ``filters`` for an input of ``channels`` channels."""
    return np.stack([f.weights(channels) for f in filters])


def named_filters(names, channels):
    """Weights (K, C, 3, 3): each named kernel spread evenly over the C input channels.

    Dividing by C makes the filter respond to the average of the channels (the photo
    in grey), so a Sobel filter finds the same edges whatever the colours.
    """
    return filter_weights([_hand_filter(name) for name in names], channels)
