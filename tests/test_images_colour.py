"""latentlab.images beyond 28x28 grey: native reads keep size and colour, `conform` brings pixels to a model's
(channels, height, width), and `read_image(shape=...)` is exactly the two of them (the grey digit pipeline is
unchanged: tests/test_images.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from latentlab.errors import ImageError
from latentlab.images import Layout, conform, data_url, png, read_image, read_native
from latentlab.web.routes import image_status


def _encode(array: np.ndarray, fmt: str = "PNG", mode: str | None = None, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format=fmt, **save)
    return buf.getvalue()


def _photo(h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth colour picture: red grows left to right, green top to bottom, blue constant."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), np.full((h, w), 90)], -1).astype(np.uint8)


def test_native_read_keeps_size_and_colour():
    photo = _photo()
    got = read_native(_encode(photo))
    assert got.pixels.shape == (48, 64, 3) and got.pixels.dtype == np.uint8 and got.steps == ()
    np.testing.assert_array_equal(got.pixels, photo)
    assert got.source_size == (48, 64)  # (height, width)


def test_grey_saved_as_rgb_or_jpeg_reads_as_grey():
    grey = np.tile(np.linspace(0, 255, 40).astype(np.uint8), (30, 1))
    for data in (_encode(np.stack([grey] * 3, -1)), _encode(np.stack([grey] * 3, -1), "JPEG", quality=90)):
        assert read_native(data).pixels.shape == (30, 40)
    assert read_native(_encode(_photo(), "JPEG", quality=90)).pixels.shape == (48, 64, 3)


def test_alpha_is_composited_in_colour():
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 200  # red paint...
    rgba[8:24, 8:24, 3] = 255  # ...visible in the middle only
    got = read_native(_encode(rgba, mode="RGBA"))
    assert got.pixels.shape == (32, 32, 3) and got.pixels[16, 16].tolist() == [200, 0, 0]
    # Dark paint (luminance 0.23) stands out from white, as the grey reader decides it.
    assert got.pixels[0, 0].tolist() == [255, 255, 255] and "alpha composited on white (dark ink)" in got.steps


def test_exif_orientation_is_applied_to_colour():
    photo = _photo(20, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show upright
    got = read_native(_encode(photo, exif=exif))
    assert got.pixels.shape == (40, 20, 3) and any("EXIF orientation 6" in s for s in got.steps)


def test_sixteen_bit_grey_keeps_its_depth_natively():
    deep = (np.arange(30 * 40).reshape(30, 40) * 50).astype(np.uint16)
    got = read_native(_encode(deep))
    assert got.pixels.shape == (30, 40) and got.pixels.max() == round(59950 / 65535 * 255) and "16-bit" in got.steps[0]


@pytest.mark.parametrize("shape, steps", [
    ((3, 32, 32), ("resized 48x64 -> 32x32 (height x width, as --image-size)",)),
    ((3, 48, 64), ()),
    ((1, 48, 64), ("converted to grey (luminance)",)),
    ((1, 24, 40), ("converted to grey (luminance)", "resized 48x64 -> 24x40 (height x width, as --image-size)")),
])
def test_read_image_with_a_shape_is_native_then_conform(shape, steps):
    data = _encode(_photo())
    got = read_image(data, shape=shape)
    expected = (shape[1], shape[2], 3) if shape[0] == 3 else shape[1:]
    assert got.pixels.shape == expected
    if shape[0] == 3:  # colour reads are decode + conform, whatever auto says
        assert got.steps == steps
        ref, _ = conform(read_native(data).pixels, shape)
        np.testing.assert_array_equal(got.pixels, ref)
        np.testing.assert_array_equal(read_image(data, shape=shape, auto=False).pixels, got.pixels)


def test_grey_square_shape_is_the_digit_pipeline_and_28_is_the_default():
    digit = np.zeros((60, 60), np.uint8)
    digit[10:50, 25:35] = 255
    data = _encode(255 - digit)  # dark ink on paper: the automatic steps invert and centre it
    plain = read_image(data)
    same = read_image(data, shape=(1, 28, 28))
    assert same.steps == plain.steps and np.array_equal(same.pixels, plain.pixels)
    assert any("inverted" in s for s in plain.steps)
    bigger = read_image(data, shape=(1, 32, 32))
    assert bigger.pixels.shape == (32, 32) and "-> 32x32" in bigger.steps[-1]
    with pytest.raises(ImageError, match="layout.side=28 does not fit"):
        read_image(data, shape=(1, 32, 32), layout=Layout())


def test_grey_non_square_shape_is_only_resized():
    data = _encode(np.full((60, 50), 240, np.uint8))
    got = read_image(data, shape=(1, 48, 64))
    assert got.pixels.shape == (48, 64) and got.steps == ("resized 60x50 -> 48x64 (height x width, as --image-size)",)
    assert (got.pixels >= 238).all()  # light paper stays light: no inverting outside the digit pipeline


def test_grey_file_for_a_colour_model_gets_three_equal_channels():
    got = read_image(_encode(np.full((32, 32), 77, np.uint8)), shape=(3, 32, 32))
    assert got.pixels.shape == (32, 32, 3) and (got.pixels == 77).all()
    assert got.steps == ("grey copied to the 3 colour channels",)


def test_png_and_data_url_write_colour():
    photo = _photo()
    back = np.asarray(Image.open(io.BytesIO(png(photo))))
    np.testing.assert_array_equal(back, photo)
    assert data_url(photo / 255.0).startswith("data:image/png;base64,")


def test_native_read_refuses_like_the_digit_reader():
    with pytest.raises(ImageError, match="too small") as info:
        read_native(_encode(np.zeros((4, 40, 3), np.uint8)))
    assert image_status(info.value) == 400
    with pytest.raises(ImageError, match="not an image") as info:
        read_native(b"GIF? no")
    assert image_status(info.value) == 415
