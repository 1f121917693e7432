"""A corpus of bad and odd photos, generated (never downloaded): what classroom users really send.

``write_corpus(folder)`` writes every file and returns {file name: expected outcome}, where
the outcome is "ok" (a workbook is built) or the exit code xlcnn must give.
"""

import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

OK = "ok"
BAD_INPUT = 3


def _photo(width=120, height=90, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    array = np.stack([255 * xx / width, 255 * yy / height, np.full_like(xx, 90.0)], axis=-1)
    array[(yy - height / 2) ** 2 + (xx - width / 2) ** 2 < (height / 3) ** 2] = (30, 20, 60)
    return Image.fromarray(np.clip(array + rng.normal(0, 6, array.shape), 0, 255).astype(np.uint8))


def _bytes(img, fmt, **params):
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png(side=20_000):
    """A tiny PNG whose header claims side x side pixels (400 megapixels): a decompression bomb."""
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
    body = _png_chunk(b"IDAT", zlib.compress(b"\x00" * (side + 1) * 4))
    return b"\x89PNG\r\n\x1a\n" + header + body + _png_chunk(b"IEND", b"")


@functools.cache
def corpus():
    """{name: (bytes, expected outcome)} for every case, made once per process (half a second); read-only."""
    photo = _photo()
    jpeg = _bytes(photo, "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    frames = [photo, _photo(seed=1).transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    animated = io.BytesIO()
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    deep = Image.fromarray((np.asarray(photo.convert("L"), dtype=np.uint16) * 257))
    palette = photo.convert("P")
    palette.info["transparency"] = 0
    return {
        "phone-exif-rotated.jpg": (_bytes(photo, "JPEG", exif=exif), OK),
        "scan-16bit.png": (_bytes(deep, "PNG"), OK),
        "print-shop-cmyk.jpg": (_bytes(photo.convert("CMYK"), "JPEG"), OK),
        "screenshot-transparent.png": (_bytes(rgba, "PNG"), OK),
        "animated.gif": (animated.getvalue(), OK),
        "palette-transparent.png": (_bytes(palette, "PNG", transparency=0), OK),
        "gray.tif": (_bytes(photo.convert("L"), "TIFF"), OK),
        "one-bit.bmp": (_bytes(photo.convert("1"), "BMP"), OK),
        "float-32.tif": (_bytes(Image.fromarray(np.asarray(photo.convert("L"), dtype=np.float32) / 255), "TIFF"), OK),
        "tiny-1x1.png": (_bytes(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), OK),
        "panorama-4000x300.jpg": (_bytes(_photo(4000, 300), "JPEG"), OK),
        "webp-photo.webp": (_bytes(photo, "WEBP"), OK),
        "half-downloaded.jpg": (jpeg[: len(jpeg) // 2], BAD_INPUT),
        "empty.png": (b"", BAD_INPUT),
        "word-document.jpg": (b"PK\x03\x04" + b"word/document.xml" * 20, BAD_INPUT),
        "text-file.png": (b"this is not a picture\n" * 10, BAD_INPUT),
        "html-page.jpg": (b"<!DOCTYPE html><html><body>404 not found</body></html>", BAD_INPUT),
        "bomb-400-megapixels.png": (_bomb_png(), BAD_INPUT),
        "png-header-only.png": (b"\x89PNG\r\n\x1a\n", BAD_INPUT),
    }


def write_corpus(folder):
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (data, outcome) in corpus().items():
        (folder / name).write_bytes(data)
        expected[name] = outcome
    return expected
