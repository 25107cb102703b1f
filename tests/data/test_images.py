"""Any image mode becomes RGB; EXIF orientation is applied; boxes are checked."""

import fixtures
import numpy as np
import pytest
from PIL import Image

from fashioncat.data.images import ImageProblem, checked_box, fit, open_rgb, pixel_digest, prepare


@pytest.mark.parametrize(
    "mode,fmt",
    [
        ("L", "PNG"),
        ("P", "PNG"),
        ("RGBA", "PNG"),
        ("LA", "PNG"),
        ("CMYK", "JPEG"),
        ("I;16", "PNG"),
        ("1", "PNG"),
        ("RGB", "JPEG"),
    ],
)
def test_every_mode_opens_as_rgb(tmp_path, mode, fmt):
    path = tmp_path / f"x.{fmt.lower()}"
    path.write_bytes(fixtures.save(fixtures.garment(1, mode=mode), fmt))
    img = open_rgb(path)
    assert img.mode == "RGB" and img.size == (60, 80)


def test_transparent_pixels_become_white(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    path = tmp_path / "t.png"
    rgba.save(path)
    assert open_rgb(path).getpixel((0, 0)) == (255, 255, 255)


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    path = tmp_path / "p.png"
    img.save(path, transparency=0)
    assert open_rgb(path).getpixel((1, 1)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    img = fixtures.garment(2, size=(60, 80))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: displayed rotated by 90 degrees
    path = tmp_path / "r.jpg"
    img.save(path, exif=exif.tobytes())
    assert open_rgb(path).size == (80, 60)


def test_truncated_and_garbage_files_are_problems_not_crashes(tmp_path):
    (tmp_path / "t.jpg").write_bytes(fixtures.jpeg(fixtures.garment(3))[:200])
    (tmp_path / "g.jpg").write_bytes(b"\x00" * 100)
    for name in ("t.jpg", "g.jpg"):
        with pytest.raises(ImageProblem, match="unreadable image"):
            open_rgb(tmp_path / name)
    with pytest.raises(ImageProblem, match="missing"):
        open_rgb(tmp_path / "absent.jpg")


@pytest.mark.parametrize(
    "box,expected",
    [((10, 10, 20, 20), (9, 9, 21, 21)), ((-5, -5, 20, 20), (0, 0, 23, 23)), ((50, 70, 200, 200), (35, 57, 60, 80))],
)
def test_box_margin_and_clipping(box, expected):
    assert checked_box(box, (60, 80), 0.1) == expected


@pytest.mark.parametrize(
    "box,reason", [((5, 5, 5, 9), "zero area"), ((70, 5, 90, 9), "outside"), ((0, 0, 0, 0), "zero")]
)
def test_bad_boxes(box, reason):
    with pytest.raises(ImageProblem, match=reason):
        checked_box(box, (60, 80), 0.0)


def test_fit_stretch_and_pad():
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    assert fit(img, 16, "stretch").size == (16, 16)
    padded = np.asarray(fit(img, 16, "pad"))
    assert (
        padded.shape == (16, 16, 3) and padded[0, 0].tolist() == [255, 255, 255] and padded[8, 8].tolist() == [0, 0, 0]
    )


def test_same_pixels_same_digest_across_formats(tmp_path):
    img = fixtures.garment(4)
    img.save(tmp_path / "a.png")
    img.save(tmp_path / "b.bmp")
    _, a = prepare(tmp_path / "a.png", None, 0, 8, "stretch")
    _, b = prepare(tmp_path / "b.bmp", (1, 1, 5, 5), 0, 8, "stretch")
    assert a == b == pixel_digest(img)
    assert pixel_digest(fixtures.garment(5)) != a
