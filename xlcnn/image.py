"""Turn a photo file into a small square RGB array for the network.

The pipeline is: open (refusing missing, empty, non-image and oversized
files), take the first frame, let JPEG decode at reduced size, decode, honour
EXIF orientation, convert any Pillow mode to 8-bit RGB (transparency onto
white, 16/32-bit data rescaled), make the picture square, then resize with
LANCZOS.  Every failure becomes an ``ImageError`` or ``UsageError`` with a
one-line message that names the file, so the CLI never shows a traceback.
"""

from __future__ import annotations

import contextlib
import operator
import os
import struct
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageOps

from xlcnn.errors import ImageError, UsageError

FITS = ("crop", "pad", "stretch")
MIN_SIZE, MAX_SIZE = 4, 512

# What Pillow raises on files it cannot parse or decode.  OSError covers
# UnidentifiedImageError and "image file is truncated"; the rest come from
# individual plugins meeting malformed data (broken PNG chunks, short GIF or
# TIFF structures).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)

# Modes whose samples do not fit in a byte; converting them with Pillow's
# convert("L") clips (a 16-bit 32768 becomes 255), so they are rescaled here.
_HIGH_BIT_MODES = ("I", "F")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_WHITE = (255, 255, 255)
_FORMATS_HINT = "use a JPEG, PNG, GIF, WebP, BMP or TIFF"
_DAMAGED = "damaged or truncated image data"
_DAMAGED_HINT = "save or download the photo again"


def load_image(path, size: int = 28, fit: str = "crop", max_pixels: int | None = None) -> np.ndarray:
    """Read the photo at ``path`` and return a (size, size, 3) uint8 RGB array.

    ``fit`` is one of ``FITS``.  ``max_pixels`` optionally refuses photos with
    more than that many pixels (width * height) before anything is decoded; it
    can only tighten Pillow's own decompression-bomb limit, never loosen it.
    """
    check_image_options(size, fit, max_pixels)
    name = _display_name(path)
    _check_file(path, name)
    # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a warning
    # would let a hostile file be decoded, so it is made an error here.
    with warnings.catch_warnings():
        # damaged metadata makes Pillow warn and carry on; the user sees one line or none, never a warning dump
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with _open(path, name) as img, _translate_errors(name):
            _check_pixel_count(img, name, max_pixels)
            img.seek(0)
            _draft(img, size)
            img.load()
            return _prepare(img, size, fit, name)


def prepare_image(img: Image.Image, size: int = 28, fit: str = "crop") -> np.ndarray:
    """Turn an already opened Pillow image into a (size, size, 3) uint8 RGB array.

    An animated image is rewound to its first frame (this moves ``img``).
    """
    _check_options(size, fit)
    name = getattr(img, "filename", None) or "image"
    with _translate_errors(name):
        if img.tell() != 0:
            img.seek(0)
        return _prepare(img, size, fit, name)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert an image of any Pillow mode to 8-bit RGB.

    Transparent pixels are composited onto white, because the network sees a
    plain white page where the photo had nothing.  16- and 32-bit data is
    rescaled to 0..255 instead of clipped.
    """
    if img.mode.startswith(_HIGH_BIT_MODES):
        with np.errstate(all="ignore"):   # NaN and infinity are handled inside, quietly
            return _high_bit_to_gray(img).convert("RGB")
    if img.mode == "La":
        # Pillow cannot convert premultiplied La straight to RGBA; un-premultiply first.
        img = img.convert("LA")
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        # convert("RGBA") also turns a palette or single-colour transparency
        # key into a real alpha channel.
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, _WHITE + (255,))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


# --- checks --------------------------------------------------------------


def check_image_options(size: int = 28, fit: str = "crop", max_pixels: int | None = None) -> None:
    """Refuse a size, fit or pixel cap before any photo is opened (the build options check theirs here too)."""
    _check_options(size, fit)
    _check_max_pixels(max_pixels)


def _check_options(size, fit) -> None:
    """Refuse a size or fit that the rest of xlcnn cannot use."""
    allowed = f"a whole number from {MIN_SIZE} to {MAX_SIZE}"
    if isinstance(size, bool):
        raise UsageError(f"--size must be {allowed}, got {size!r}")
    try:
        number = operator.index(size)
    except TypeError:
        raise UsageError(f"--size must be {allowed}, got {size!r}") from None
    if not MIN_SIZE <= number <= MAX_SIZE:
        raise UsageError(f"--size must be {allowed}, got {number}")
    if fit not in FITS:
        raise UsageError(f"--fit must be one of {', '.join(FITS)}, got {fit!r}")


def _check_max_pixels(max_pixels) -> None:
    """Refuse a pixel cap that is not a positive whole number."""
    if max_pixels is None:
        return
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise UsageError(f"--max-pixels must be a positive whole number, got {max_pixels!r}")


def _check_file(path, name: str) -> None:
    """Give clear messages for the common mistakes before Pillow sees the path."""
    if not os.path.exists(path):
        raise ImageError(f"{name}: no such file; check the path and spelling")
    if os.path.isdir(path):
        raise ImageError(f"{name}: is a folder, not a photo; give the path of an image file")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{name}: file is empty (0 bytes); copy or download the photo again")


def _check_pixel_count(img: Image.Image, name: str, max_pixels: int | None) -> None:
    """Refuse empty images and images above the caller's pixel cap, before decoding."""
    _check_not_empty(img, name)
    width, height = img.size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(
            f"{name}: image is {width}x{height} = {width * height} pixels, more than the "
            f"limit of {max_pixels}; shrink the photo first"
        )


def _check_not_empty(img: Image.Image, name: str) -> None:
    """Refuse an image with no pixels, which cannot be made square."""
    if img.width == 0 or img.height == 0:
        raise ImageError(f"{name}: image is {img.width}x{img.height} pixels, which is empty; use a real photo")


# --- opening and decoding ------------------------------------------------


@contextlib.contextmanager
def _open(path, name: str) -> Iterator[Image.Image]:
    """Open ``path`` with Pillow, turning 'not an image' into an ImageError."""
    try:
        img = Image.open(path)
    except _BOMB_ERRORS as exc:
        raise ImageError(f"{name}: too many pixels to decode safely ({_detail(exc)}); shrink the photo first") from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageError(f"{name}: not an image Pillow can read ({_detail(exc)}); {_FORMATS_HINT}") from exc
    except OSError as exc:
        if exc.errno is None:
            # Pillow's own OSErrors carry no errno: the header is there but broken.
            raise ImageError(f"{name}: {_DAMAGED} ({_detail(exc)}); {_DAMAGED_HINT}") from exc
        raise ImageError(f"{name}: cannot open the file ({_detail(exc)}); check that you may read it") from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{name}: {_DAMAGED} ({_detail(exc)}); {_DAMAGED_HINT}") from exc
    # The with-block closes the file handle even when decoding fails.
    with img:
        yield img


@contextlib.contextmanager
def _translate_errors(name: str) -> Iterator[None]:
    """Re-raise anything Pillow throws while decoding as a one-line ImageError."""
    try:
        yield
    except ImageError:
        raise
    except _BOMB_ERRORS as exc:
        raise ImageError(f"{name}: too many pixels to decode safely ({_detail(exc)}); shrink the photo first") from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{name}: {_DAMAGED} ({_detail(exc)}); {_DAMAGED_HINT}") from exc


def _draft(img: Image.Image, size: int) -> None:
    """Let the JPEG decoder scale down by 1/2..1/8 while decoding.

    Asking for 4x the output size keeps enough detail for a good LANCZOS
    resize, while a 50-megapixel photo never fully lands in memory.
    """
    if img.format in ("JPEG", "MPO"):
        img.draft(img.mode, (size * 4, size * 4))


def _detail(exc: BaseException) -> str:
    """Pillow's own reason, squeezed onto one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.rstrip(".")


def _display_name(path) -> str:
    """The path as the user wrote it, safe to put in a one-line message."""
    try:
        text = os.fsdecode(path)
    except TypeError:
        raise UsageError(f"the photo path must be a file path, got {path!r}") from None
    return text.replace("\n", "\\n").replace("\r", "\\r")


# --- conversion and resizing ---------------------------------------------


def _prepare(img: Image.Image, size: int, fit: str, name: str) -> np.ndarray:
    """Orient, convert to RGB, make square and resize an opened image."""
    _check_not_empty(img, name)
    # Phones store portrait photos landscape plus an Orientation tag; without
    # this the network would see the picture lying on its side.
    upright = ImageOps.exif_transpose(img)
    rgb = to_rgb(upright)
    square = _fit_square(rgb, size, fit)
    array = np.asarray(square, dtype=np.uint8)
    # Copy so the caller owns a writable array independent of Pillow's buffer.
    return array.reshape(size, size, 3).copy()


def _fit_square(img: Image.Image, size: int, fit: str) -> Image.Image:
    """Make an RGB image square according to ``fit`` and resize it to size x size."""
    width, height = img.size
    if fit == "crop":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        # Cropping through resize's box avoids copying the full-size crop.
        return _resize(img, (size, size), box=(left, top, left + side, top + side))
    if fit == "pad":
        return _pad(img, size)
    return _resize(img, (size, size))


def _pad(img: Image.Image, size: int) -> Image.Image:
    """Centre the whole image on a white square.

    The image is shrunk before it is pasted, which gives the same picture as
    padding first but never builds a huge white canvas for a long panorama.
    """
    width, height = img.size
    scale = size / max(width, height)
    inner = (max(1, round(width * scale)), max(1, round(height * scale)))
    canvas = Image.new("RGB", (size, size), _WHITE)
    canvas.paste(_resize(img, inner), ((size - inner[0]) // 2, (size - inner[1]) // 2))
    return canvas


def _resize(img: Image.Image, target: tuple[int, int], box=None) -> Image.Image:
    """LANCZOS resize; reducing_gap lets Pillow shrink big photos fast first."""
    return img.resize(target, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def _high_bit_to_gray(img: Image.Image) -> Image.Image:
    """Rescale a 16/32-bit integer or float image into an 8-bit grayscale image."""
    values = np.asarray(img).astype(np.float64)
    if img.mode.startswith("I;16"):
        scaled = values / 257.0  # 65535 / 257 == 255 exactly
    elif img.mode == "I":
        scaled = _rescale_int(values)
    else:
        scaled = _rescale_float(values)
    gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    key = img.info.get("transparency")
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        # A grayscale transparency key (PNG tRNS) marks fully see-through
        # pixels; on a white background those are simply white.
        gray[values == key] = 255
    return Image.fromarray(gray)


def _rescale_int(values: np.ndarray) -> np.ndarray:
    """32-bit integers: keep 8-bit ranges, treat 16-bit ranges as such, else stretch."""
    low, high = values.min(), values.max()
    if low >= 0 and high <= 255:
        return values
    if low >= 0 and high <= 65535:
        return values / 257.0
    return _min_max(values)


def _rescale_float(values: np.ndarray) -> np.ndarray:
    """Floats: 0..1 means fractions of white, 0..255 means bytes, else stretch."""
    finite = np.isfinite(values)
    if not finite.all():
        # NaN or infinity would poison min/max; show them as the darkest value.
        fill = values[finite].min() if finite.any() else 0.0
        values = np.where(finite, values, fill)
    low, high = values.min(), values.max()
    if low >= 0 and high <= 1:
        return values * 255.0
    if low >= 0 and high <= 255:
        return values
    return _min_max(values)


def _min_max(values: np.ndarray) -> np.ndarray:
    """Stretch values linearly onto 0..255; a flat image becomes black."""
    low, high = values.min(), values.max()
    if high == low:
        return np.zeros_like(values)
    return (values - low) * (255.0 / (high - low))


def to_gray(image):
    """An (H, W, 3) RGB array -> (H, W, 1) luminance, with Pillow's ITU-R 601 weights."""
    gray = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).convert("L")
    return np.asarray(gray)[..., None]
