"""ImageView: the reusable uint8 image canvas."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from diffusion_studio.gui.widgets.image_view import ImageView


@pytest.fixture
def view(qtbot):
    widget = ImageView("title", hover_readout=True)
    qtbot.addWidget(widget)
    widget.resize(300, 300)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_shows_rgb_and_gray_uint8_images_row_major(view):
    rgb = np.zeros((20, 40, 3), dtype=np.uint8)
    view.set_image(rgb)
    assert view.image() is rgb
    assert view.image_item.width() == 40 and view.image_item.height() == 20  # not transposed
    assert view.image_item.levels is None  # uint8 goes to the screen as is, no rescale per frame
    gray = np.zeros((30, 10, 1), dtype=np.uint8)
    view.set_image(gray)
    assert view.image_item.width() == 10 and view.image_item.height() == 30
    view.clear()
    assert view.image() is None


@pytest.mark.parametrize("channels", [None, 1, 3, 4])
def test_pixels_reach_the_screen_unchanged(view, channels):
    rng = np.random.default_rng(channels or 0)
    shape = (6, 9) if channels is None else (6, 9, channels)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    image[0, 0], image[0, 1] = 0, 255  # the ends of the range map to themselves
    view.set_image(image)
    view.image_item.render()
    qimage = view.image_item.qimage
    assert (qimage.width(), qimage.height()) == (9, 6)
    pixels = image.reshape(6, 9, -1)
    for y, x in ((0, 0), (0, 1), (3, 4), (5, 8)):
        color = qimage.pixelColor(x, y)
        expected = pixels[y, x]
        if pixels.shape[2] == 1:
            assert (color.red(), color.green(), color.blue()) == (expected[0],) * 3
        else:
            assert (color.red(), color.green(), color.blue()) == tuple(expected[:3])
        if pixels.shape[2] == 4:
            assert color.alpha() == expected[3]


def test_refuses_non_uint8(view):
    with pytest.raises(TypeError, match="uint8"):
        view.set_image(np.zeros((4, 4), dtype=np.float32))


def test_hover_readout_shows_the_pixel_in_both_ranges(qtbot, view):
    image = np.zeros((10, 12, 3), dtype=np.uint8)
    image[3, 2] = (255, 0, 128)
    view.set_image(image)
    hovered = []
    view.pixelHovered.connect(lambda x, y: hovered.append((x, y)))
    scene_pos = view.image_item.mapToScene(QPointF(2.5, 3.5))
    view.graphics.scene().sigMouseMoved.emit(scene_pos)
    assert hovered[-1] == (2, 3)
    text = view.readout_text()
    assert "x 2, y 3" in text and "255   0 128" in text and "+1.00 -1.00 +0.00" in text
    view.graphics.scene().sigMouseMoved.emit(view.image_item.mapToScene(QPointF(50, 50)))
    assert hovered[-1] == (-1, -1)


def test_title_can_change(view):
    view.set_title("x<sub>t</sub>")
    assert view.title() == "x<sub>t</sub>"
