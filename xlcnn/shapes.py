"""Coloured shapes drawn from a seed: the bundled samples and the default training data."""

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ("circle", "square", "triangle")


def draw_shape(kind, size=96, rng=None):
    """A size x size RGB picture of one shape on a plain, slightly noisy background.

    Size, position (near the centre), rotation and colours vary with ``rng``.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    background = tuple(int(v) for v in rng.integers(150, 256, 3))
    colour = tuple(int(v) for v in rng.integers(0, 120, 3))
    img = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(img)
    radius = size * rng.uniform(0.22, 0.36)
    cx, cy = size / 2 + rng.uniform(-0.08, 0.08, 2) * size
    angle = rng.uniform(0, 2 * math.pi)
    if kind == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
    elif kind in ("square", "triangle"):
        corners = 4 if kind == "square" else 3
        points = [(cx + radius * math.cos(angle + 2 * math.pi * n / corners),
                   cy + radius * math.sin(angle + 2 * math.pi * n / corners)) for n in range(corners)]
        draw.polygon(points, fill=colour)
    else:
        raise ValueError(f"unknown shape {kind!r}; known: {', '.join(SHAPES)}")
    img = img.filter(ImageFilter.GaussianBlur(size / 200))
    noise = rng.normal(0, 6, (size, size, 3))
    return Image.fromarray(np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8))
