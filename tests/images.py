"""Build test images in memory: no fixture files, no disk.

make_png(64, 32, "red")            -> PNG bytes of a solid image
make_image("WEBP", 64, 32, "blue") -> same for any Pillow format (JPEG, GIF, BMP, TIFF...)
make_pattern(256, 256)             -> PNG with structure (shapes), for "kept the composition" checks
make_jpeg_with_exif(orientation=6) -> JPEG carrying EXIF (camera, GPS, orientation)
make_png_declaring(20000, 20000)   -> tiny PNG whose header claims a huge size (decompression bomb)
open_image(data)                   -> a loaded PIL image, to assert on output
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw

Colour = str | tuple[int, ...]


def make_image(
    fmt: str,
    width: int = 64,
    height: int = 64,
    color: Colour = "red",
    *,
    mode: str = "RGB",
) -> bytes:
    """Encode a solid `mode` image of `color` in `fmt` ("PNG", "JPEG", "WEBP", "GIF", ...)."""
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color).save(buffer, fmt)
    return buffer.getvalue()


def make_png(
    width: int = 64, height: int = 64, color: Colour = "red", *, mode: str = "RGB"
) -> bytes:
    return make_image("PNG", width, height, color, mode=mode)


def make_jpeg(width: int = 64, height: int = 64, color: Colour = "red") -> bytes:
    return make_image("JPEG", width, height, color)


def make_webp(
    width: int = 64, height: int = 64, color: Colour = "red", *, mode: str = "RGB"
) -> bytes:
    return make_image("WEBP", width, height, color, mode=mode)


def make_pattern(
    width: int = 256, height: int = 256, *, fmt: str = "PNG", variant: int = 0
) -> bytes:
    """An image with strong structure: a light background, dark blocks and a disc.

    Different `variant`s move the shapes, giving unrelated compositions.
    """
    image = Image.new("RGB", (width, height), (235, 230, 220))
    draw = ImageDraw.Draw(image)
    if variant % 2 == 0:
        draw.rectangle((0, 0, width // 3, height), fill=(20, 20, 30))
        draw.ellipse(
            (width // 2, height // 4, width - 8, height * 3 // 4), fill=(200, 40, 40)
        )
    else:
        draw.rectangle((0, height * 2 // 3, width, height), fill=(20, 20, 30))
        draw.ellipse((8, 8, width // 3, height // 3), fill=(40, 40, 200))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def make_jpeg_with_exif(
    width: int = 80,
    height: int = 40,
    color: Colour = "green",
    *,
    orientation: int | None = 6,
    gps: bool = True,
) -> bytes:
    """A JPEG with camera EXIF, optional GPS coordinates and an Orientation tag.

    Orientation 6 means "rotate 90° clockwise to display", so a correct reader shows
    it as height x width.
    """
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model 1"  # Model
    if orientation is not None:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {
            1: "N",
            2: (48.0, 51.0, 24.0),
            3: "E",
            4: (2.0, 21.0, 3.0),
        }  # GPSInfo IFD
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body))
    )


def make_png_declaring(width: int, height: int) -> bytes:
    """A valid-looking, ~100-byte PNG whose IHDR declares `width` x `height` (1-bit grey).

    Its pixel data is one compressed empty row, so decoding it fully would be both a
    memory bomb and truncated: a reader must reject it from the header alone.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + (width + 7) // 8))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def open_image(data: bytes) -> Image.Image:
    """Decode `data` fully (any Pillow format) for assertions."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
