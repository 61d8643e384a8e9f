"""latentlab.images: every fault the old readers had, made into a file and checked by value.

Each test names the fault it pins; each fails on the naive reader the CLI and image folders used,
``np.asarray(Image.open(f).convert("L").resize((28, 28)))`` (no alpha, depth, EXIF, polarity, crop or limits).
The digit is a real one: MNIST's first test image from the bundled sample, drawn larger on bigger canvases.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile

from latentlab import images
from latentlab.errors import ConfigError, ImageError, LatentlabError
from latentlab.images import Layout, read_image
from latentlab.images._layout import centre_of_mass
from latentlab.web.routes import image_status

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "latentlab" / "data" / "samples"


@pytest.fixture(scope="module")
def mnist() -> np.lib.npyio.NpzFile:
    return np.load(SAMPLES / "mnist-sample.npz", allow_pickle=False)


@pytest.fixture(scope="module")
def digit(mnist) -> np.ndarray:
    """uint8 (28, 28): a 0, light on black, as in the data."""
    return mnist["x_test"][0]


@pytest.fixture(scope="module")
def canvas(digit) -> np.ndarray:
    """uint8 (120, 100): the digit at twice its size in the top-left corner of a black 100x120 canvas."""
    c = np.zeros((120, 100), np.uint8)
    c[5:61, 5:61] = np.asarray(Image.fromarray(digit).resize((56, 56), Image.Resampling.BICUBIC))
    return c


@pytest.fixture(scope="module")
def reference(canvas) -> np.ndarray:
    """The model input of the plain canvas: what every other way of storing the same digit must give."""
    return read_image(encode(Image.fromarray(canvas))).pixels


def encode(im: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **options)
    return buf.getvalue()


def naive(data: bytes) -> np.ndarray:
    """The reader this module replaces; a test that passed on it would pin nothing."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("L").resize((28, 28), Image.Resampling.LANCZOS))


def diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def test_alpha_four_ways_give_the_same_input(canvas, reference):
    # Fault: convert("L") drops alpha, so the colour of transparent pixels (arbitrary) became the background.
    black = np.zeros((120, 100, 4), np.uint8)
    black[..., 3] = canvas  # a black digit; transparent pixels black
    white = black.copy()
    white[canvas == 0, :3] = 255  # the same, transparent pixels white
    la = np.stack([np.zeros_like(canvas), canvas], -1)
    palette = Image.new("P", (100, 120))
    palette.putdata(canvas.ravel().tolist())
    palette.putpalette([0, 0, 0] * 256)  # every entry black; entry i is i/255 opaque (tRNS)
    files = [encode(Image.fromarray(black)), encode(Image.fromarray(white)), encode(Image.fromarray(la, "LA")),
             encode(palette, transparency=bytes(range(256)))]
    assert Image.open(io.BytesIO(files[3])).mode == "P"
    for data in files:
        got = read_image(data)
        assert diff(got.pixels, reference) <= 1
        assert got.steps[:2] == ("alpha composited on white (dark ink)", "inverted: light background")
    assert diff(naive(files[0]), naive(files[1])) > 100


def test_light_background_is_inverted_and_reported(canvas, reference):
    # Fault: dark ink on white paper went in as it was (the CLI's --invert had to be remembered).
    data = encode(Image.fromarray(255 - canvas))
    got = read_image(data)
    assert "inverted: light background" in got.steps
    assert diff(got.pixels, reference) <= 1
    off = read_image(data, auto=False)
    assert not any("invert" in s for s in off.steps) and off.pixels.mean() > 200  # auto off: nothing inverted
    assert naive(data).mean() > 200


def test_28x28_like_the_data_is_kept_as_is(digit):
    # Fault: a 28x28 image on white paper was taken as it was; one that looks like the data must be left alone.
    kept = read_image(encode(Image.fromarray(digit)))
    assert np.array_equal(kept.pixels, digit) and kept.steps == () and kept.source_size == (28, 28)
    light = encode(Image.fromarray(255 - digit))
    inverted = read_image(light)
    assert np.array_equal(inverted.pixels, digit) and inverted.steps == ("inverted: light background",)
    assert np.array_equal(naive(light), 255 - digit)


def test_16bit_png_gives_the_8bit_input(canvas, reference):
    # Fault: convert("L") of I;16 clips, so every pixel above 255/65535 became white.
    data = encode(Image.fromarray(canvas.astype(np.uint16) * 257))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    got = read_image(data)
    assert got.steps[0] == "16-bit pixels scaled to [0, 1]"
    assert diff(got.pixels, reference) <= 1
    assert diff(naive(data), naive(encode(Image.fromarray(canvas)))) > 100


def test_32bit_and_float_pixels_are_scaled_by_their_depth(digit):
    # Fault: convert("L") clips I and F, so 16-bit values in I went white and [0, 1] floats black. Values that
    # fit in 8 bits (I) or lie in [0, 255] (F) must not be scaled down as if they were deeper.
    for array, naive_fails in ((digit.astype(np.int32) * 257, True), (digit.astype(np.float32) / 255, True),
                               (digit.astype(np.int32), False), (digit.astype(np.float32), False)):
        im = Image.fromarray(array)
        assert im.mode in ("I", "F")
        gray, _ = images.gray_pixels(im, "")
        assert np.abs(gray - digit / 255).max() <= 1 / 255 + 1e-6
        assert (diff(np.asarray(im.convert("L")), digit) > 100) == naive_fails


def test_exif_rotated_jpeg_equals_the_upright_one(canvas):
    # Fault: the EXIF Orientation tag was ignored, so a phone photo went in on its side.
    upright = Image.fromarray(255 - canvas)
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to view"
    stored = encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif.tobytes())
    plain = read_image(encode(upright, "JPEG", quality=95))
    got = read_image(stored)
    assert got.steps[0] == "turned upright (EXIF orientation 6)" and got.source_size == (120, 100)  # (height, width)
    assert diff(got.pixels, plain.pixels) <= 4  # JPEG blocks fall differently on the turned pixels
    assert diff(naive(stored), naive(encode(upright, "JPEG", quality=95))) > 100


@pytest.mark.parametrize(("fmt", "options"), [("GIF", {}), ("PNG", {}), ("WEBP", {"lossless": True})])
def test_animation_gives_its_first_frame(mnist, digit, fmt, options):
    # Pins: frame 0 of a GIF, APNG or animated WebP, said in the steps. The naive reader also read frame 0
    # (Pillow opens there) and fails here on polarity: the frames are dark ink on white.
    frames = [Image.fromarray(255 - digit), Image.fromarray(255 - mnist["x_test"][1])]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **options)
    got = read_image(data)
    assert got.steps == ("first frame of an animation", "inverted: light background")
    assert diff(got.pixels, digit) <= 1
    assert diff(naive(data), digit) > 100


def test_photo_like_jpeg_is_cropped_fitted_and_centred(mnist, canvas, reference):
    # Fault: a 100x120 photo was squashed to 28x28 with the digit left where it was (top left) and distorted.
    layout = Layout.of(mnist["x_train"])
    rng = np.random.default_rng(0)
    paper = 200 + np.linspace(-12, 12, 100)[None, :] + rng.normal(0, 3, (120, 100))  # shaded, noisy paper
    photo = np.clip(paper * (1 - 0.85 * canvas / 255), 0, 255).astype(np.uint8)
    data = encode(Image.fromarray(photo), "JPEG", quality=85)
    got = read_image(data, layout=layout)
    assert got.steps[0] == "inverted: light background"
    assert got.steps[-1].startswith("cropped and centred (120x100 -> 28x28, height x width)")
    pixels = got.pixels / 255
    assert np.hypot(*np.subtract(centre_of_mass(pixels), layout.centre)) <= 1
    rows, cols = np.nonzero(pixels > 0.5)
    assert abs(max(np.ptp(rows), np.ptp(cols)) + 1 - layout.frame) <= 1
    assert np.abs(pixels - reference / 255).mean() < 0.05  # the same digit as on clean black
    ink = (naive(data) < 100).astype(float)  # the naive reader leaves the digit in the top-left corner
    assert np.hypot(*np.subtract(centre_of_mass(ink), layout.centre)) > 3


def test_strip_keeps_its_aspect_and_is_centred():
    # Fault: a 300x40 strip squashed to 28x28 turned a 5:1 object into a 2:3 one.
    strip = np.full((40, 300), 230, np.uint8)
    strip[5:35, 75:225] = 20  # a dark 150x30 bar
    data = encode(Image.fromarray(strip))
    got = read_image(data)
    pixels = got.pixels / 255
    # Width and height from the mass along each axis: exact for a bar, whatever its sub-pixel position.
    width, height = pixels.sum(1).max(), pixels.sum(0).max()
    assert abs(width - 20) <= 1 and abs(height - 4) <= 0.5 and abs(width / height - 5) <= 0.6
    assert np.hypot(*np.subtract(centre_of_mass(pixels), (14.0, 14.0))) <= 1
    squashed = 1 - naive(data) / 255
    assert squashed.sum(1).max() / squashed.sum(0).max() < 1


def test_blank_image_gives_black_and_says_so():
    # Fault: a uniform grey image went in as uniform grey, which no data set holds.
    for value, size in ((128, (100, 120)), (255, (28, 28)), (0, (40, 40))):
        data = encode(Image.new("L", size, value))
        got = read_image(data)
        assert not got.pixels.any() and got.steps[-1] == "blank image: nothing stands out from the background"
    assert naive(encode(Image.new("L", (100, 120), 128))).any()


def test_unevenly_lit_paper_is_evened_out(mnist, canvas, reference):
    # Fault: a phone photo of a sheet, 35% darker on one side, kept part of the paper as ink after inverting with
    # one background level; the paper fitted to the border (a smooth surface) is taken out instead.
    layout = Layout.of(mnist["x_train"])
    x = np.linspace(0.0, 1.0, 100)[None, :]
    paper = 240 * (1 - 0.35 * x) - 20 * np.linspace(0.0, 1.0, 120)[:, None]
    photo = np.clip(paper * (1 - 0.9 * canvas / 255), 0, 255).astype(np.uint8)
    got = read_image(encode(Image.fromarray(photo), "JPEG", quality=90), layout=layout)
    assert any(step.startswith("levels stretched: uneven background") for step in got.steps)
    single_level = np.clip((np.median(photo) - photo.astype(float)) / (np.median(photo) - photo.min()), 0, 1)
    assert (single_level > 0.2).mean() > 0.1  # the old way: a tenth of the sheet counted as ink
    assert np.abs(got.pixels / 255 - reference / 255).mean() < 0.05


@pytest.mark.parametrize("which", [0, 1])
def test_photograph_is_not_framed_like_a_drawing(which):
    # Fault: scikit-learn's china.jpg, cropped and centred like a digit, became a grey smudge that the default
    # detector of an MNIST run accepted. A picture with no plain border is only resized, and says so.
    from sklearn.datasets import load_sample_images

    photo = load_sample_images().images[which]
    got = read_image(encode(Image.fromarray(photo), "JPEG"))
    assert len(got.steps) == 1 and got.steps[0].startswith("no plain background")
    assert np.array_equal(got.pixels, read_image(encode(Image.fromarray(photo), "JPEG"), auto=False).pixels)


def test_drawing_whose_ink_touches_the_border_is_framed_like_one(mnist, digit, reference):
    # Fault: a digit cropped to its box, or a shape cut by the frame, left only 45-80% of the border as paper and
    # was taken for a photograph: not inverted, not cropped, so the paper became the object (a folder of them
    # trained a detector that accepted blanks). Every pixel off the paper is on the ink's side: still a drawing.
    layout = Layout.of(mnist["x_train"])
    rows, cols = np.nonzero(digit > 30)
    tight = 255 - digit[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    big = Image.fromarray(tight).resize((tight.shape[1] * 4, tight.shape[0] * 4), Image.Resampling.BICUBIC)
    got = read_image(encode(big), layout=layout)
    assert got.steps[0] == "inverted: light background" and got.steps[-1].startswith("cropped and centred")
    assert np.abs(got.pixels / 255 - reference / 255).mean() < 0.05  # the same digit as with margins
    cut = Image.new("L", (40, 40), 235)
    ImageDraw.Draw(cut).rectangle([-4, 6, 30, 44], outline=20, width=3)  # a square the frame cuts on two sides
    got = read_image(encode(cut))
    assert got.steps[0] == "inverted: light background" and got.steps[-1].startswith("cropped and centred")
    assert got.pixels[0].max() < 30 and got.pixels[:, 0].max() < 30  # the paper is black, the outline framed


def test_photograph_whose_border_departs_both_ways_is_not_a_drawing():
    # Pins the other side of the rule above: a crop of china.jpg with 61% of its border even, the rest both lighter
    # and darker than it, is a picture.
    from sklearn.datasets import load_sample_images

    crop = Image.fromarray(load_sample_images().images[0]).crop((159, 185, 223, 249))
    got = read_image(encode(crop))
    assert got.steps == ("no plain background (61% of the border is even and the rest departs both lighter and "
                         "darker): a picture, not a drawing on paper; only resized 64x64 -> 28x28 (height x width), "
                         "as with auto off",)


def test_auto_off_is_decode_and_plain_resize(canvas):
    # Pins: with auto off no inversion, crop or centring, only decoding (here 16-bit, which the naive reader
    # clipped) and a plain LANCZOS resize.
    data = encode(Image.fromarray((255 - canvas).astype(np.uint16) * 257))
    got = read_image(data, auto=False)
    assert got.steps == ("16-bit pixels scaled to [0, 1]", "resized 120x100 -> 28x28 (height x width; auto off)")
    expected = np.asarray(Image.fromarray(255 - canvas).resize((28, 28), Image.Resampling.LANCZOS))
    assert diff(got.pixels, expected) <= 1
    assert diff(naive(data), expected) > 100


@pytest.mark.parametrize("size", [(1, 1), (7, 30), (300, 7)])
def test_too_small_is_refused(size):
    # Fault: a 1x1 image was stretched into a uniform 28x28 input.
    data = encode(Image.new("L", size, 255))
    with pytest.raises(ImageError, match=r"too small to hold a digit or object.*send at least 8x8") as info:
        read_image(data)
    assert image_status(info.value) == 400 and f"{size[1]}x{size[0]} pixels (height x width)" in str(info.value)
    assert naive(data).shape == (28, 28)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A real 15000x15000 grayscale PNG, all black: ~218 KB that would decode to 225 MB."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer, row = zlib.compressobj(9), bytes(15001)  # filter byte + 15000 pixels
    idat = b"".join(packer.compress(row) for _ in range(15000)) + packer.flush()
    header = struct.pack(">IIBBBBB", 15000, 15000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("pillow_limit", ["default", None])
def test_bomb_is_refused_from_the_header(bomb, monkeypatch, pillow_limit):
    # Fault: Pillow's DecompressionBombError escaped as a traceback; with its limit off, 225 MB were decoded.
    def never(*_args, **_kwargs):
        raise AssertionError("pixels were decoded")

    files = (bomb, _jpeg_declaring(15000, 15000))
    monkeypatch.setattr(ImageFile.ImageFile, "load", never)
    monkeypatch.setattr(Image.Image, "load", never)
    if pillow_limit is None:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    for data in files:
        with pytest.raises(ImageError, match=r"15000x15000 pixels \(height x width\); the limit is 4096x4096") as info:
            read_image(data, max_bytes=1 << 20)
        assert image_status(info.value) == 413
    with pytest.raises((AssertionError, Image.DecompressionBombError)):
        naive(bomb)


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose header (SOF0) says it is width x height."""
    data = bytearray(encode(Image.new("L", (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_webp_bomb_is_refused_before_pillow_opens_it(monkeypatch):
    # Fault: WebP's decoder allocates its canvas when Pillow opens the file, before any size check.
    def never(*_args, **_kwargs):
        raise AssertionError("Pillow opened it")

    body = b"VP8X" + struct.pack("<I", 10) + bytes(4) + (15999).to_bytes(3, "little") * 2
    webp = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
    monkeypatch.setattr(Image, "open", never)
    with pytest.raises(ImageError, match="16000x16000 pixels") as info:
        read_image(webp)
    assert image_status(info.value) == 413
    with pytest.raises(AssertionError):
        naive(webp)


def test_text_named_png_is_refused_by_its_content(tmp_path):
    # Fault: Pillow's UnidentifiedImageError escaped (the web said 500); the name .png proves nothing.
    path = tmp_path / "digit.png"
    path.write_text("this is not an image\n" * 20)
    for source in (path, str(path), path.read_bytes()):
        with pytest.raises(ImageError, match="its content was checked, not its name") as info:
            read_image(source)
        assert image_status(info.value) == 415
    assert isinstance(info.value, LatentlabError) and isinstance(info.value, ValueError)
    with pytest.raises(OSError):
        naive(path.read_bytes())


def test_empty_truncated_and_missing_are_refused(canvas, tmp_path):
    # Fault: empty, cut-off and missing files escaped as Pillow or OS errors instead of saying what to do.
    whole = encode(Image.fromarray(canvas))
    for data, says in ((b"", "is empty"), (whole[: len(whole) // 2], "may be truncated")):
        with pytest.raises(ImageError, match=says) as info:
            read_image(data)
        assert image_status(info.value) == 400
    with pytest.raises(ImageError, match="nothing.png cannot be read") as info:
        read_image(tmp_path / "nothing.png")
    assert image_status(info.value) == 400
    with pytest.raises(OSError):
        naive(whole[: len(whole) // 2])


def test_byte_caps_differ_for_uploads_and_files(tmp_path):
    # Fault: no cap at all; an upload is capped at 2 MB, a local file (trusted more) at 64 MB.
    noise = np.random.default_rng(1).integers(0, 256, (1500, 1500), dtype=np.uint8)
    data = encode(Image.fromarray(noise))
    assert images.MAX_UPLOAD_BYTES < len(data) < images.MAX_FILE_BYTES
    with pytest.raises(ImageError, match="limit") as info:
        read_image(data)
    assert image_status(info.value) == 413
    path = tmp_path / "noise.png"
    path.write_bytes(data)
    assert read_image(path).pixels.shape == (28, 28)
    with pytest.raises(ImageError) as info:
        read_image(path, max_bytes=1000)
    assert image_status(info.value) == 413
    assert naive(data).shape == (28, 28)


def test_layout_is_measured_from_the_data(mnist):
    # Pins Layout.of, which the naive reader lacks: MNIST centres by mass on ~(14, 14) with a ~20 px frame,
    # Fashion-MNIST by box with a 28 px frame.
    layout = Layout.of(mnist["x_train"])
    assert layout.by == "mass" and abs(layout.frame - 20) <= 1 and layout.side == 28
    assert np.allclose(layout.centre, (14.0, 14.0), atol=0.5)
    fashion = Layout.of(np.load(SAMPLES / "fashion-mnist-sample.npz", allow_pickle=False)["x_train"])
    assert fashion.by == "box" and fashion.frame == 28
    # How bright the objects are: MNIST's strokes saturate, garments are greyer (measured 0.99 and 0.86).
    assert layout.ink == 0.99 and fashion.ink == 0.86
    with pytest.raises(ConfigError):
        Layout(by="middle")
    with pytest.raises(ConfigError):
        Layout.of(np.zeros((4, 28, 30), np.uint8))


def test_png_and_data_url_round_trip(digit):
    # Pins the writers the web uses; the naive reader has none.
    assert np.array_equal(read_image(images.png(digit)).pixels, digit)
    assert np.array_equal(images.decode(images.png(digit / 255.0)), digit / np.float32(255))
    assert images.data_url(digit).startswith("data:image/png;base64,")


def test_a_run_of_pictures_not_on_black_gets_no_digit_steps():
    # Fault: a run trained with --grayscale --image-size 28x28 on photo-tiles accepted 8 of 20 of its own test tiles
    # from files: the digit steps inverted light tiles or found them blank. Its images are not objects on black,
    # which the layout now says, so uploads are only resized.
    from latentlab.data import load_dataset

    tiles = load_dataset("photo-tiles", progress=False, grayscale=True, image_size=(28, 28))
    layout = Layout.of(tiles.x_train)
    assert not layout.on_black and Layout.of(np.load(SAMPLES / "mnist-sample.npz")["x_train"]).on_black
    assert not layout.drawn  # tiles of photographs, not drawings: a smooth sky tile is no blank page
    for tile in tiles.x_test[:20]:
        got = read_image(encode(Image.fromarray(tile)), layout=layout)
        assert np.array_equal(got.pixels, tile) and got.steps == ()
    big = read_image(encode(Image.fromarray(tiles.x_test[0]).resize((56, 56))), layout=layout)
    assert big.steps == ("resized 56x56 -> 28x28 (height x width; the run's images are not objects on black: no digit "
                         "steps)",)


@pytest.mark.parametrize("shape", [(28, 28), (1, 28), (1, 0, 28), (1, 28.0, 28)])
def test_read_image_refuses_a_shape_that_is_not_channels_height_width(tmp_path: Path, shape) -> None:
    path = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(path)
    with pytest.raises(ConfigError, match=r"give \(channels, height, width\), e\.g\. \(1, 28, 28\)") as caught:
        images.read_image(path, shape=shape)
    assert caught.value.field == "shape"
