"""Classic hand-made 3x3 filters for the edge-detection lesson."""

import numpy as np

from .errors import UsageError, did_you_mean

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


def named_filters(names, channels):
    """Weights (K, C, 3, 3): each named kernel spread evenly over the C input channels.

    Dividing by C makes the filter respond to the average of the channels (the photo
    in grey), so a Sobel filter finds the same edges whatever the colours.
    """
    kernels = np.array([NAMED_KERNELS[name] for name in names], dtype=float)
    return np.repeat(kernels[:, None] / channels, channels, axis=1)
