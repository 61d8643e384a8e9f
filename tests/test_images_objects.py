"""Several separate objects in one upload (a row of digits, a digit with a caption, a screenshot) are said, with a
threshold taken from the training images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from latentlab.images import Layout, read_image
from latentlab.images._objects import count_objects, objects_allowed


def on_paper(ink: np.ndarray) -> bytes:
    """Dark ink on white paper, as a PNG: ink uint8 (H, W), 255 = full ink."""
    buf = io.BytesIO()
    Image.fromarray((255 - ink).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def big(digit: np.ndarray, scale: int = 4) -> np.ndarray:
    return np.kron(digit, np.ones((scale, scale), np.uint8))


@pytest.fixture(scope="module")
def layout(mnist_small) -> Layout:
    return Layout.of(mnist_small.x_train)


def test_mnist_training_digits_are_one_object_by_their_own_count(mnist_small, layout) -> None:
    counts = np.array([count_objects(x) for x in mnist_small.x_train])
    assert layout.objects == objects_allowed(mnist_small.x_train[:1000])
    assert layout.objects == Layout().objects  # the default is MNIST's count
    assert (counts <= layout.objects).mean() >= 0.99
    assert (counts == 1).mean() > 0.9


def test_one_digit_on_paper_is_one_object(mnist_small, layout) -> None:
    for digit in mnist_small.x_test[:20]:
        p = read_image(on_paper(np.pad(big(digit), 30)), layout=layout)
        assert not p.several, p.steps


def test_a_row_of_three_digits_is_said(mnist_small, layout) -> None:
    row = np.concatenate([np.pad(big(d), ((30, 30), (10, 10))) for d in mnist_small.x_test[:3]], axis=1)
    p = read_image(on_paper(row), layout=layout)
    assert p.several and p.objects == 3
    assert p.steps[-1].startswith("3 separate objects; crop to one")


def test_a_digit_with_a_caption_is_said(mnist_small, layout) -> None:
    page = np.zeros((200, 260), np.uint8)
    page[20:132, 74:186] = big(mnist_small.x_test[0])
    im = Image.fromarray(page)
    ImageDraw.Draw(im).text((20, 150), "figure 1: a seven, drawn", fill=255, font_size=22)
    p = read_image(on_paper(np.asarray(im)), layout=layout)
    assert p.several and p.objects > layout.objects


def test_a_screenshot_of_a_panel_is_said(layout) -> None:
    im = Image.new("L", (320, 220), 0)
    d = ImageDraw.Draw(im)
    for x in (20, 120, 220):  # three image boxes
        d.rectangle((x, 30, x + 80, 110), outline=255, width=3)
    d.rectangle((20, 150, 100, 180), fill=200)  # two buttons
    d.rectangle((130, 150, 210, 180), fill=200)
    d.text((20, 195), "Try an image", fill=255, font_size=16)
    p = read_image(on_paper(np.asarray(im)), layout=layout)
    assert p.several and p.objects >= 3  # boxes, buttons and caption, some merged at 28x28


def test_colour_and_auto_off_are_not_counted(mnist_small, layout) -> None:
    row = np.concatenate([np.pad(big(d), 10) for d in mnist_small.x_test[:3]], axis=1)
    p = read_image(on_paper(row), layout=layout, auto=False)
    assert not p.several and p.objects == 1


def _sheet(side: int, light_paper: bool, shapes: list[tuple[int, int, int]], seed: int = 0) -> np.ndarray:
    """uint8 (side, side): ring outlines (row, column, radius) drawn on paper with a little grain; dark ink on
    light paper, or light ink on dark paper."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    ink = np.zeros((side, side))
    for r, c, radius in shapes:
        ink = np.maximum(ink, np.clip(1.6 - np.abs(np.hypot(yy - r, xx - c) - radius), 0, 1))
    paper, stroke = (232, 40) if light_paper else (20, 220)
    return np.clip(paper + (stroke - paper) * ink + rng.normal(0, 2, ink.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("light_paper", [True, False])
def test_at_its_own_size_a_blank_page_is_blank_and_two_shapes_are_two_in_either_polarity(light_paper) -> None:
    side = 48
    training = np.stack([_sheet(side, light_paper, [(24 + d, 24 - d, 10 + d % 5)], seed=d + 4) for d in range(-4, 5)])
    layout = Layout.of(training)
    assert layout.objects == 1 and layout.side == side and layout.drawn
    assert layout.on_black is (not light_paper)  # light on dark is framed data; dark on light is kept as drawn
    blank = read_image(png_bytes(_sheet(side, light_paper, [], seed=11)), layout=layout, shape=(1, side, side))
    assert blank.blank and blank.objects == 0 and not blank.several
    assert "blank image: nothing stands out from the background" in blank.steps
    two = read_image(png_bytes(_sheet(side, light_paper, [(24, 12, 8), (24, 36, 8)], seed=12)), layout=layout,
                     shape=(1, side, side))
    assert (two.objects, two.several, two.blank) == (2, True, False)
    assert "2 separate objects; crop to one (an object of the training data shows at most 1 separate part)" in two.steps
    one = read_image(png_bytes(training[0]), layout=layout, shape=(1, side, side))
    assert (one.objects, one.several, one.blank) == (1, False, False)


def test_a_blank_sheet_with_grain_is_blank_for_an_mnist_run_too() -> None:
    page = _sheet(96, True, [], seed=3)
    prepared = read_image(png_bytes(page))  # 28x28 grey, MNIST's framing
    assert prepared.blank and not prepared.pixels.any()
    assert prepared.steps[-1] == "blank image: nothing stands out from the background"
    digit_like = read_image(png_bytes(_sheet(96, True, [(48, 48, 20)], seed=3)))
    assert not digit_like.blank and digit_like.objects == 1


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()
