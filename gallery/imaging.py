"""Every image the studio stores goes through here: verify, normalise, thumbnail, convert.

Pure Pillow, no ORM and no Django, so it imports without settings and tests need no DB.
Only PNG, JPEG and WebP decoders are ever used (reliability.md §3: the allowlist is the
documented workaround for decoder CVEs such as the FITS bomb).
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageOps

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000

MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")

NOT_AN_IMAGE = "This file is not an image we can read (PNG, JPEG or WebP)."
DAMAGED = "This image is damaged or incomplete."


class ImageError(ValueError):
    """An image we refuse; the message is safe to show to the user as is."""


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "PNG", "JPEG" or "WEBP"
    mime_type: str
    width: int
    height: int


@dataclass(frozen=True)
class NormalisedImage:
    data: bytes
    mime_type: str
    width: int
    height: int
    format: str


@dataclass(frozen=True)
class Thumbnail:
    data: bytes  # WebP
    width: int
    height: int
    colour: str = ""  # the mean colour, "#rrggbb", of the same reduced copy

    mime_type = "image/webp"


def too_many_pixels(pixels: int, limit: int) -> ImageError:
    return ImageError(
        f"This image is too large ({pixels / 1_000_000:.0f} megapixels; "
        f"the limit is {limit / 1_000_000:.0f})."
    )


def too_many_bytes(size: int, limit: int) -> ImageError:
    return ImageError(
        f"This file is too large ({size / 1024 / 1024:.1f} MB; the limit is {limit / 1024 / 1024:.0f} MB)."
    )


@contextmanager
def opened(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Iterator[Image.Image]:
    """Open `data` with the decoder allowlist and the pixel cap, without decoding pixels yet.

    Pillow's own bomb check runs inside `Image.open` (warning above MAX_IMAGE_PIXELS,
    error above twice that); both become ImageError, and `max_pixels` is checked
    right after, from the header alone.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # Pillow's own limit is the outer bound, whatever `max_pixels` allows.
            limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
            raise too_many_pixels(_pixels_in_message(str(exc)), limit) from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            # UnidentifiedImageError is an OSError; SyntaxError is how PNG reports bad chunks.
            raise ImageError(
                DAMAGED if has_allowed_signature(data) else NOT_AN_IMAGE
            ) from exc
    with image:
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageError(DAMAGED)
        if width * height > max_pixels:
            raise too_many_pixels(width * height, max_pixels)
        yield image


def has_allowed_signature(data: bytes) -> bool:
    """Tell a broken PNG/JPEG/WebP (WebP decodes at open) from a file of another kind."""
    return (
        data.startswith(b"\x89PNG\r\n\x1a\n")
        or data.startswith(b"\xff\xd8\xff")
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


def _pixels_in_message(message: str) -> int:
    match = re.search(r"\((\d+) pixels\)", message)
    return int(match.group(1)) if match else 0


def load_pixels(image: Image.Image) -> None:
    """Decode every pixel, so truncated or corrupt data fails here and not later."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image.load()
        except (
            OSError,
            SyntaxError,
            ValueError,
            EOFError,
            Image.DecompressionBombWarning,
        ) as exc:
            raise ImageError(DAMAGED) from exc


def inspect_image(
    data: bytes, *, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_UPLOAD_BYTES
) -> ImageInfo:
    """Check that `data` is a complete PNG, JPEG or WebP within the byte and pixel limits."""
    if len(data) > max_bytes:
        raise too_many_bytes(len(data), max_bytes)
    with opened(data, max_pixels=max_pixels) as image:
        fmt = image.format or ""
        load_pixels(image)
        return ImageInfo(fmt, MIME_TYPES[fmt], image.width, image.height)


def normalise_upload(
    data: bytes, *, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_UPLOAD_BYTES
) -> NormalisedImage:
    """Verify an upload, apply its EXIF orientation and re-encode it without any metadata.

    Re-encoding destroys polyglot payloads and drops EXIF (GPS included), XMP, ICC
    and text chunks.
    """
    info = inspect_image(data, max_pixels=max_pixels, max_bytes=max_bytes)
    with opened(data, max_pixels=max_pixels) as image:
        load_pixels(image)
        upright = ImageOps.exif_transpose(image)
    encoded = encode(upright, info.format)
    return NormalisedImage(
        encoded, info.mime_type, upright.width, upright.height, info.format
    )


def make_thumbnail(data: bytes, *, max_side: int = 512) -> Thumbnail:
    """Shrink an image to fit in `max_side` x `max_side`, upright, as WebP."""
    with opened(data) as image:
        # JPEG can decode at 1/2..1/8 scale directly, which skips most of the work.
        image.draft("RGB", (max_side, max_side))
        load_pixels(image)
        small = display_mode(image)
        # reducing_gap=1: box-reduce by the largest whole factor first (PNG and WebP have no
        # draft mode), then LANCZOS the last step; a third of the CPU of LANCZOS all the way.
        small.thumbnail(
            (max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=1.0
        )
        small = ImageOps.exif_transpose(small)
    # method 0 of 0-6: a quarter of the encoder's CPU of its default 4 (the thumbnail is
    # the worker's largest cost per image), for some more bytes at the same quality.
    return Thumbnail(encode(small, "WEBP", quality=80, method=0), small.width, small.height, mean_colour(small))


def convert_image(data: bytes, *, fmt: str) -> tuple[bytes, str]:
    """Re-encode `data` as "png", "jpeg" or "webp"; JPEG flattens transparency onto white."""
    target = _FORMAT_NAMES.get(fmt.lower())
    if target is None:
        raise ImageError(f"We cannot convert to {fmt!r}: choose PNG, JPEG or WebP.")
    with opened(data) as image:
        load_pixels(image)
        upright = ImageOps.exif_transpose(image)
    return encode(upright, target), MIME_TYPES[target]


def average_colour(data: bytes) -> str:
    """Return the mean colour as "#rrggbb" (transparency counted as white), from a tiny copy."""
    with opened(data) as image:
        image.draft("RGB", (64, 64))
        load_pixels(image)
        small = display_mode(image)
        small.thumbnail((64, 64), Image.Resampling.BOX)
        return mean_colour(small)


def mean_colour(image: Image.Image) -> str:
    """The mean colour of an RGB or RGBA image as "#rrggbb", transparency counted as white."""
    # A BOX resize to one pixel is the exact mean.
    red, green, blue = flatten(image).resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # type: ignore[misc]
    return f"#{red:02x}{green:02x}{blue:02x}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_size(data: bytes) -> tuple[int, int]:
    """Read (width, height) from the header, without decoding pixels."""
    with opened(data) as image:
        return image.size


# -- encoding ------------------------------------------------------------------------
def display_mode(image: Image.Image) -> Image.Image:
    """Convert to RGB, or RGBA when the image has transparency (palettes, LA, 16-bit grey...)."""
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    if image.mode.startswith("I"):
        # 16/32-bit grey: scale to 8 bits rather than clip to white.
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if has_alpha:
        return image.convert("RGBA") if image.mode != "RGBA" else image
    return image.convert("RGB") if image.mode != "RGB" else image


def flatten(image: Image.Image) -> Image.Image:
    """Composite transparency onto white and return RGB."""
    if image.mode != "RGBA":
        return image.convert("RGB")
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A"))
    return background


def encode(image: Image.Image, fmt: str, *, quality: int = 92, method: int = 4) -> bytes:
    """Encode with no metadata at all: neither EXIF, XMP, ICC nor text chunks."""
    if fmt == "JPEG":
        clean = flatten(display_mode(image))
    elif fmt == "PNG" and image.mode in ("1", "L", "LA", "RGB", "RGBA", "I;16"):
        clean = image.copy()
    else:
        clean = display_mode(image).copy()
    # Some encoders (PNG's icc_profile) fall back to `info`; an empty dict leaves them nothing.
    clean.info = {}
    buffer = io.BytesIO()
    if fmt == "PNG":
        clean.save(buffer, "PNG")
    elif fmt == "JPEG":
        clean.save(buffer, "JPEG", quality=quality)
    else:
        clean.save(buffer, "WEBP", quality=quality, method=method)
    return buffer.getvalue()
