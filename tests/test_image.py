"""Tests for xlcnn.image: every photo becomes a (size, size, 3) uint8 RGB array."""

import numpy as np
import pytest
from PIL import Image, ImageFile, JpegImagePlugin, features

from xlcnn.errors import ImageError, UsageError
from xlcnn.image import FITS, MAX_SIZE, MIN_SIZE, load_image, prepare_image, to_rgb

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _noise(width=64, height=48, seed=0):
    """A photo-like RGB image that compresses badly, so truncation cuts real data."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _save(img, tmp_path, name, **params):
    path = tmp_path / name
    img.save(path, **params)
    return path


def _assert_rgb(array, size=28):
    assert array.shape == (size, size, 3)
    assert array.dtype == np.uint8


def _assert_color(array, color, tol=3):
    diff = np.abs(array.astype(int) - np.array(color)).max()
    assert diff <= tol, f"expected {color}, got mean {array.reshape(-1, 3).mean(axis=0)}"


def _assert_one_line_naming(exc_info, path):
    message = str(exc_info.value)
    assert path.name in message
    assert "\n" not in message and "\r" not in message


# --- formats -------------------------------------------------------------

FORMATS = [
    ("photo.jpg", {}),
    ("photo.png", {}),
    ("photo.gif", {}),
    pytest.param(
        "photo.webp",
        {},
        marks=pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP"),
    ),
    ("photo.bmp", {}),
    ("photo.tif", {}),
]


@pytest.mark.parametrize(("name", "params"), FORMATS)
def test_every_format_gives_28x28_rgb(tmp_path, name, params):
    path = _save(_noise(), tmp_path, name, **params)
    _assert_rgb(load_image(path))


@pytest.mark.parametrize(("name", "params"), FORMATS)
def test_every_format_keeps_a_flat_colour(tmp_path, name, params):
    path = _save(Image.new("RGB", (40, 30), (200, 40, 90)), tmp_path, name, **params)
    # GIF quantises to a palette and JPEG/WebP are lossy, hence the tolerance.
    _assert_color(load_image(path), (200, 40, 90), tol=8)


def test_accepts_str_path(tmp_path):
    path = _save(_noise(), tmp_path, "photo.png")
    _assert_rgb(load_image(str(path)))


def test_size_option_applied(tmp_path):
    path = _save(_noise(100, 80), tmp_path, "photo.png")
    _assert_rgb(load_image(path, size=64), size=64)
    _assert_rgb(load_image(path, size=MIN_SIZE), size=MIN_SIZE)
    _assert_rgb(load_image(path, size=MAX_SIZE), size=MAX_SIZE)


# --- transparency --------------------------------------------------------


def test_fully_transparent_rgba_is_white(tmp_path):
    path = _save(Image.new("RGBA", (28, 28), (0, 0, 0, 0)), tmp_path, "clear.png")
    assert (load_image(path) == 255).all()


def test_half_transparent_red_over_white(tmp_path):
    path = _save(Image.new("RGBA", (28, 28), (255, 0, 0, 128)), tmp_path, "half.png")
    _assert_color(load_image(path), (255, 128, 128), tol=2)


def test_la_transparency(tmp_path):
    img = Image.new("LA", (28, 28), (0, 255))
    img.paste((0, 0), (0, 0, 14, 28))  # left half black but fully transparent
    array = load_image(_save(img, tmp_path, "la.png"), fit="stretch")
    _assert_color(array[:, :10], WHITE, tol=0)
    _assert_color(array[:, 18:], (0, 0, 0), tol=0)


def _palette_with_transparent_index():
    img = Image.new("P", (28, 28), 1)
    img.putpalette([0, 0, 0] + list(RED) + [0, 0, 0] * 254)
    img.paste(0, (0, 0, 14, 28))  # index 0 (black) is the transparent one
    return img


@pytest.mark.parametrize("name", ["palette.png", "palette.gif"])
def test_palette_transparency_index(tmp_path, name):
    path = _save(_palette_with_transparent_index(), tmp_path, name, transparency=0)
    array = load_image(path, fit="stretch")
    _assert_color(array[:, :10], WHITE, tol=0)
    _assert_color(array[:, 18:], RED, tol=0)


def test_pa_mode():
    img = _palette_with_transparent_index().convert("PA")
    img.putalpha(0)
    assert (prepare_image(img) == 255).all()


def test_premultiplied_modes():
    # Pillow cannot convert La straight to RGB(A); to_rgb goes through LA.
    la = Image.new("LA", (28, 28), (200, 128)).convert("La")
    _assert_color(prepare_image(la), (227, 227, 227), tol=2)
    rgba = Image.new("RGBA", (28, 28), (255, 0, 0, 128)).convert("RGBa")
    _assert_color(prepare_image(rgba), (255, 128, 128), tol=2)


def test_grayscale_transparency_key(tmp_path):
    img = Image.new("L", (28, 28), 100)
    img.paste(0, (0, 0, 14, 28))
    array = load_image(_save(img, tmp_path, "key.png", transparency=0), fit="stretch")
    _assert_color(array[:, :10], WHITE, tol=0)
    _assert_color(array[:, 18:], (100, 100, 100), tol=0)


def test_rgb_transparency_key():
    img = Image.new("RGB", (28, 28), RED)
    img.info["transparency"] = RED
    assert (prepare_image(img) == 255).all()


# --- colour modes --------------------------------------------------------


def test_grayscale():
    _assert_color(prepare_image(Image.new("L", (28, 28), 77)), (77, 77, 77), tol=0)


def test_cmyk_cyan():
    _assert_color(prepare_image(Image.new("CMYK", (28, 28), (255, 0, 0, 0))), (0, 255, 255), tol=2)


@pytest.mark.parametrize("name", ["cyan.tif", "cyan.jpg"])
def test_cmyk_files(tmp_path, name):
    path = _save(Image.new("CMYK", (28, 28), (255, 0, 0, 0)), tmp_path, name)
    _assert_color(load_image(path), (0, 255, 255), tol=6)


def test_one_bit(tmp_path):
    img = Image.new("1", (28, 28), 0)
    img.paste(1, (14, 0, 28, 28))
    array = load_image(_save(img, tmp_path, "bits.png"), fit="stretch")
    _assert_color(array[:, :10], (0, 0, 0), tol=0)
    _assert_color(array[:, 18:], WHITE, tol=0)


@pytest.mark.parametrize("mode", ["YCbCr", "LAB", "HSV"])
def test_other_colour_spaces(mode):
    # Pillow converts RGB <-> LAB through ImageCms, so the round trip is close, not exact.
    img = Image.new("RGB", (28, 28), RED).convert(mode)
    _assert_color(prepare_image(img), RED, tol=8)


def test_to_rgb_returns_rgb_for_every_mode():
    for mode in Image.MODES:
        img = Image.new(mode, (3, 2))
        out = to_rgb(img)
        assert out.mode == "RGB" and out.size == (3, 2), mode


# --- 16- and 32-bit data -------------------------------------------------


def test_16_bit_png_is_rescaled_not_clipped(tmp_path):
    array = np.zeros((28, 28), dtype=np.uint16)
    array[:, :14] = 65535
    array[:, 14:] = 32768
    path = _save(Image.fromarray(array), tmp_path, "deep.png")
    with Image.open(path) as reopened:
        assert reopened.mode == "I;16"  # the case Pillow's convert("L") clips to 255
    out = load_image(path, fit="stretch")
    _assert_color(out[:, :10], WHITE, tol=0)
    assert abs(int(out[5, 20, 0]) - 128) <= 1
    assert out[5, 20, 0] != 255


@pytest.mark.parametrize("mode", ["I;16", "I;16L", "I;16B", "I;16N"])
def test_16_bit_modes(mode):
    _assert_color(prepare_image(Image.new(mode, (28, 28), 32768)), (128, 128, 128), tol=1)
    _assert_color(prepare_image(Image.new(mode, (28, 28), 65535)), WHITE, tol=0)


def test_16_bit_transparency_key(tmp_path):
    array = np.full((28, 28), 1000, dtype=np.uint16)
    array[:, :14] = 0
    path = _save(Image.fromarray(array), tmp_path, "deepkey.png", transparency=0)
    out = load_image(path, fit="stretch")
    _assert_color(out[:, :10], WHITE, tol=0)
    _assert_color(out[:, 18:], (4, 4, 4), tol=0)  # 1000 / 257 = 3.9


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (200, 200),  # already 8-bit: kept
        (25700, 100),  # 16-bit range: divided by 257
    ],
)
def test_32_bit_int_flat(values, expected):
    img = Image.fromarray(np.full((28, 28), values, dtype=np.int32))
    assert img.mode == "I"
    _assert_color(prepare_image(img), (expected,) * 3, tol=0)


def test_32_bit_int_wide_range_is_stretched():
    array = np.zeros((28, 28), dtype=np.int32)
    array[:, 14:] = 1_000_000
    out = prepare_image(Image.fromarray(array), fit="stretch")
    assert out[0, 0, 0] == 0 and out[0, 27, 0] == 255


def test_32_bit_int_via_tiff(tmp_path):
    path = _save(Image.fromarray(np.full((28, 28), 51400, dtype=np.int32)), tmp_path, "int.tif")
    _assert_color(load_image(path), (200, 200, 200), tol=0)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (0.5, 128),  # fractions of white
        (1.0, 255),
        (200.0, 200),  # already bytes
    ],
)
def test_float_flat(values, expected):
    img = Image.fromarray(np.full((28, 28), values, dtype=np.float32))
    assert img.mode == "F"
    _assert_color(prepare_image(img), (expected,) * 3, tol=0)


def test_float_wide_range_is_stretched():
    array = np.full((28, 28), -3.0, dtype=np.float32)
    array[:, 14:] = 1000.0
    out = prepare_image(Image.fromarray(array), fit="stretch")
    assert out[0, 0, 0] == 0 and out[0, 27, 0] == 255


def test_float_nan_does_not_break():
    array = np.full((28, 28), 0.5, dtype=np.float32)
    array[0, 0] = np.nan
    _assert_rgb(prepare_image(Image.fromarray(array)))


def test_float_tiff(tmp_path):
    path = _save(Image.fromarray(np.full((28, 28), 0.25, dtype=np.float32)), tmp_path, "float.tif")
    _assert_color(load_image(path), (64, 64, 64), tol=0)


# --- orientation and frames ----------------------------------------------


def test_exif_orientation(tmp_path):
    # Stored 40 wide x 20 tall: left half red, right half blue.
    img = Image.new("RGB", (40, 20), BLUE)
    img.paste(RED, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation 6: display = stored rotated 90 degrees clockwise
    path = _save(img, tmp_path, "rotated.jpg", exif=exif, quality=95)
    # Rotating clockwise moves the left (red) side to the top: 20 wide x 40 tall.
    out = load_image(path, fit="stretch")
    _assert_color(out[:10], RED, tol=10)
    _assert_color(out[18:], BLUE, tol=10)
    with Image.open(path) as opened:
        assert opened.size == (40, 20)  # sanity: the pixels really are stored sideways


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (28, 28), RED), Image.new("RGB", (28, 28), BLUE)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as opened:
        assert opened.n_frames == 2
    _assert_color(load_image(path), RED, tol=0)


def test_prepare_rewinds_animation(tmp_path):
    frames = [Image.new("RGB", (28, 28), RED), Image.new("RGB", (28, 28), BLUE)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as opened:
        opened.seek(1)
        _assert_color(prepare_image(opened), RED, tol=0)


# --- fit -----------------------------------------------------------------


def _bands_60x20():
    """Left third red, middle third green, right third blue."""
    img = Image.new("RGB", (60, 20), GREEN)
    img.paste(RED, (0, 0, 20, 20))
    img.paste(BLUE, (40, 0, 60, 20))
    return img


def test_fit_crop_keeps_only_the_centre():
    out = prepare_image(_bands_60x20(), fit="crop")
    # The centre square is the green band; LANCZOS may tint the outer columns.
    _assert_color(out[:, 3:-3], GREEN, tol=2)
    assert out[..., 0].max() < 40 and out[..., 2].max() < 40


def test_fit_pad_adds_white_bands_top_and_bottom():
    out = prepare_image(_bands_60x20(), fit="pad")
    # 60x20 shrinks to 28x9 and sits in rows 9..17.
    _assert_color(out[:8], WHITE, tol=0)
    _assert_color(out[19:], WHITE, tol=0)
    _assert_color(out[13, :5], RED, tol=10)
    _assert_color(out[13, 12:16], GREEN, tol=10)
    _assert_color(out[13, -5:], BLUE, tol=10)


def test_fit_stretch_keeps_everything_full_height():
    out = prepare_image(_bands_60x20(), fit="stretch")
    _assert_color(out[:, :7], RED, tol=10)
    _assert_color(out[:, 12:16], GREEN, tol=10)
    _assert_color(out[:, -7:], BLUE, tol=10)


def test_fit_pad_on_tall_image_adds_side_bands():
    out = prepare_image(Image.new("RGB", (20, 60), RED), fit="pad")
    _assert_color(out[:, :8], WHITE, tol=0)
    _assert_color(out[:, 19:], WHITE, tol=0)
    _assert_color(out[:, 12:16], RED, tol=0)


def test_fits_constant():
    assert FITS == ("crop", "pad", "stretch")


# --- big photos ----------------------------------------------------------


def test_big_jpeg_is_drafted(tmp_path, monkeypatch):
    path = _save(Image.new("RGB", (2000, 1500), RED), tmp_path, "big.jpg")
    calls = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        calls.append((mode, size, self.size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    _assert_color(load_image(path), RED, tol=3)
    assert calls and calls[0][1] == (112, 112)
    assert calls[0][2][1] < 1500  # decoded at reduced scale, yet tall enough
    assert calls[0][2][1] >= 112


def test_loading_leaves_load_truncated_images_off(tmp_path):
    load_image(_save(_noise(), tmp_path, "photo.png"))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --- errors --------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nothere.jpg"
    with pytest.raises(ImageError) as exc_info:
        load_image(path)
    _assert_one_line_naming(exc_info, path)


def test_directory(tmp_path):
    path = tmp_path / "folder.jpg"
    path.mkdir()
    with pytest.raises(ImageError) as exc_info:
        load_image(path)
    _assert_one_line_naming(exc_info, path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError) as exc_info:
        load_image(path)
    _assert_one_line_naming(exc_info, path)
    assert "empty" in str(exc_info.value)


def test_text_file_renamed_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\nsecond line\n")
    with pytest.raises(ImageError) as exc_info:
        load_image(path)
    _assert_one_line_naming(exc_info, path)
    assert "not an image" in str(exc_info.value)


@pytest.mark.parametrize("name", ["cut.png", "cut.jpg", "cut.gif", "cut.webp", "cut.bmp", "cut.tif"])
def test_truncated_file(tmp_path, name):
    if name.endswith(".webp") and not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    whole = _save(_noise(200, 150), tmp_path, "whole" + name[3:])
    data = whole.read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as exc_info:
        load_image(path)
    _assert_one_line_naming(exc_info, path)
    assert "damaged or truncated" in str(exc_info.value)


def test_unreadable_file(tmp_path, monkeypatch):
    path = _save(_noise(), tmp_path, "locked.png")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(ImageError) as exc_info:
        load_image(path)
    _assert_one_line_naming(exc_info, path)
    assert "Permission denied" in str(exc_info.value)


def test_error_chains_pillow_cause(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(ImageError) as exc_info:
        load_image(path)
    assert isinstance(exc_info.value.__cause__, Image.UnidentifiedImageError)


@pytest.mark.parametrize("size", [0, 3, 513, 10000, -1, 2.5, "28", None, True])
def test_bad_size(tmp_path, size):
    path = _save(_noise(), tmp_path, "photo.png")
    with pytest.raises(UsageError) as exc_info:
        load_image(path, size=size)
    message = str(exc_info.value)
    assert "--size" in message and f"{MIN_SIZE} to {MAX_SIZE}" in message
    with pytest.raises(UsageError):
        prepare_image(_noise(), size=size)


def test_numpy_integer_size_is_fine(tmp_path):
    _assert_rgb(prepare_image(_noise(), size=np.int64(32)), size=32)


def test_bad_fit(tmp_path):
    path = _save(_noise(), tmp_path, "photo.png")
    with pytest.raises(UsageError) as exc_info:
        load_image(path, fit="zoom")
    message = str(exc_info.value)
    assert "--fit" in message and "crop, pad, stretch" in message and "zoom" in message


def test_bad_options_checked_before_the_file(tmp_path):
    with pytest.raises(UsageError):
        load_image(tmp_path / "nothere.jpg", size=0)


def test_max_pixels_bomb(tmp_path):
    path = _save(Image.new("RGB", (20, 20), RED), tmp_path, "bomb.png")
    with pytest.raises(ImageError) as exc_info:
        load_image(path, max_pixels=100)
    _assert_one_line_naming(exc_info, path)
    _assert_color(load_image(path, max_pixels=400), RED, tol=0)  # exactly at the cap is fine


@pytest.mark.parametrize("limit", [300, 100])  # 400 pixels: Pillow warns above 300, errors above 2*100
def test_pillow_decompression_bomb_limits(tmp_path, monkeypatch, limit):
    path = _save(Image.new("RGB", (20, 20), RED), tmp_path, "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(ImageError) as exc_info:
        load_image(path)
    _assert_one_line_naming(exc_info, path)


@pytest.mark.parametrize("max_pixels", [0, -5, 1.5, "100"])
def test_bad_max_pixels(tmp_path, max_pixels):
    path = _save(_noise(), tmp_path, "photo.png")
    with pytest.raises(UsageError):
        load_image(path, max_pixels=max_pixels)


def test_zero_size_image():
    with pytest.raises(ImageError) as exc_info:
        prepare_image(Image.new("RGB", (0, 5)))
    assert "0x5" in str(exc_info.value)
