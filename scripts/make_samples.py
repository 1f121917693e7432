"""Regenerate the bundled sample photos in samples/ (deterministic).

Camera-like 256 px JPEGs, three per class, drawn with a seed that the training
data (scripts/train_default.py) never uses, so none of them was seen in training.
"""

from pathlib import Path

import numpy as np

from xlcnn.shapes import SHAPES, draw_shape

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SEED = 2026
PER_CLASS = 3

if __name__ == "__main__":
    rng = np.random.default_rng(SEED)
    for n in range(1, PER_CLASS + 1):
        for kind in SHAPES:
            path = SAMPLES / f"{kind}-{n}.jpg"
            draw_shape(kind, 256, rng).save(path, quality=90)
            print(path, path.stat().st_size)
