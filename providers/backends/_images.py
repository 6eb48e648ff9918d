"""Image handling for request bodies: a multipart file part, an input's size, and the
studio mask (white = repaint) in the shapes providers want.
"""

from __future__ import annotations

import io

from PIL import Image

from providers.types import InputImage

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


def form_file(name: str, image: InputImage, stem: str) -> tuple[str, tuple[str, bytes, str]]:
    extension = _EXTENSIONS.get(image.mime_type, "png")
    return name, (f"{stem}.{extension}", image.data, image.mime_type)


def image_size(image: InputImage) -> tuple[int, int]:
    if image.width and image.height:
        return image.width, image.height
    with Image.open(io.BytesIO(image.data)) as img:
        return img.size


def repaint_area(mask: InputImage, size: tuple[int, int]) -> Image.Image:
    """The studio mask (white = repaint) as a strict 0/255 "L" image at the source's size."""
    with Image.open(io.BytesIO(mask.data)) as img:
        gray = img.convert("L").resize(size, Image.Resampling.NEAREST)
    return gray.point(lambda value: 255 if value >= 128 else 0)


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
