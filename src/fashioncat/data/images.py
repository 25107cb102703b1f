"""Opening, cropping and resizing one image, the same way for training and annotation.

Problems with one image (unreadable, truncated, a box outside it) raise
`ImageProblem`, which callers count and skip; they never stop a run.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps

from fashioncat.data import shards
from fashioncat.data.records import Box

MAX_PIXELS = 80_000_000  # far above any dataset photo; stops decompression bombs
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageProblem(Exception):
    """Why one image cannot be used; the message is the reason recorded."""


def open_rgb(path: str | Path | IO[bytes]) -> Image.Image:
    """The image fully decoded, upright (EXIF orientation applied) and in RGB.

    `path` is a file, a member of the crop stage's shards (`…/00003.tar/<name>.png`) or a binary file object.
    """
    try:
        if isinstance(path, (str, Path)) and shards.split_name(path) is not None:
            path = io.BytesIO(shards.read_bytes(path))
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                img = ImageOps.exif_transpose(img)
    except FileNotFoundError:
        raise ImageProblem("image file missing") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageProblem(f"unreadable image ({exc})") from None
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB from any mode; transparency is flattened onto white, as product photos are shown."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        pixels = np.asarray(img, dtype=np.float64)
        top = pixels.max() or 1.0
        img = Image.fromarray((pixels * (255.0 / top)).clip(0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def checked_box(box: Box, size: tuple[int, int], margin: float) -> Box:
    """`box` grown by `margin` (a fraction of its width and height) and clipped to the image."""
    width, height = size
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        raise ImageProblem(f"bounding box has zero area ({x1} {y1} {x2} {y2})")
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        raise ImageProblem(f"bounding box outside the image ({width}x{height}; box {x1} {y1} {x2} {y2})")
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    return (
        max(0, math.floor(x1 - dx)),
        max(0, math.floor(y1 - dy)),
        min(width, math.ceil(x2 + dx)),
        min(height, math.ceil(y2 + dy)),
    )


def fit(img: Image.Image, size: int, mode: str) -> Image.Image:
    """Scale to size x size: 'stretch' as the paper does, or 'pad' to keep the aspect ratio."""
    if mode == "pad":
        img = ImageOps.pad(img, (size, size), method=Image.BICUBIC, color=(255, 255, 255))
        return img
    return img.resize((size, size), Image.BICUBIC)


def pixel_digest(img: Image.Image) -> str:
    """Same digest for the same pixels, whatever the file they came from."""
    return hashlib.sha1(f"{img.size}".encode() + img.tobytes()).hexdigest()


def prepare(path: str | Path, box: Box | None, margin: float, size: int, mode: str) -> tuple[Image.Image, str]:
    """The model-ready image for one file and the digest of the original pixels."""
    img = open_rgb(path)
    original = pixel_digest(img)
    if box is not None:
        img = img.crop(checked_box(box, img.size, margin))
    return fit(img, size, mode), original


def png_bytes(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", compress_level=1)  # level 6 costs 30% more time for ~10% smaller files
    return buffer.getvalue()
