"""Regenerate the bundled sample photos in samples/ (deterministic)."""

from pathlib import Path

import numpy as np

from xlcnn.shapes import draw_shape

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

if __name__ == "__main__":
    rng = np.random.default_rng(2026)
    for kind, ext in (("circle", "png"), ("square", "jpg"), ("triangle", "png")):
        img = draw_shape(kind, 160, rng)
        path = SAMPLES / f"{kind}.{ext}"
        img.save(path, quality=92) if ext == "jpg" else img.save(path, optimize=True)
        print(path, path.stat().st_size)
