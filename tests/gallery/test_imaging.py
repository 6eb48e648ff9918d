from __future__ import annotations

import io
import time
import tracemalloc

import pytest
from PIL import Image, ImageDraw

from gallery.imaging import (
    ALLOWED_FORMATS,
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    ImageError,
    average_colour,
    convert_image,
    image_size,
    inspect_image,
    make_thumbnail,
    normalise_upload,
    sha256_hex,
)
from tests.images import (
    make_image,
    make_jpeg,
    make_jpeg_with_exif,
    make_pattern,
    make_png,
    make_png_declaring,
    make_webp,
    open_image,
)


def test_limits_match_the_reliability_guide() -> None:
    assert ALLOWED_FORMATS == ("PNG", "JPEG", "WEBP")
    assert MAX_UPLOAD_BYTES == 20 * 1024 * 1024
    assert MAX_PIXELS == 50_000_000


@pytest.mark.parametrize(
    ("data", "fmt", "mime"),
    [
        (make_png(40, 30), "PNG", "image/png"),
        (make_png(40, 30, (0, 0, 255, 128), mode="RGBA"), "PNG", "image/png"),
        (make_jpeg(40, 30), "JPEG", "image/jpeg"),
        (make_webp(40, 30), "WEBP", "image/webp"),
    ],
)
def test_inspect_accepts_png_jpeg_webp(data: bytes, fmt: str, mime: str) -> None:
    info = inspect_image(data)

    assert (info.format, info.mime_type, info.width, info.height) == (fmt, mime, 40, 30)


@pytest.mark.parametrize(
    "data",
    [
        b"<!doctype html><html><script>alert(1)</script></html>",
        b"just some text, renamed to photo.jpg",
        b"",
        make_image("GIF"),
        make_image("BMP"),
        make_image("TIFF"),
        b"GIF89a/*" + make_image("GIF")[8:] + b"*/=alert(1)//",
    ],
    ids=["html", "text", "empty", "gif", "bmp", "tiff", "gif-js-polyglot"],
)
def test_inspect_rejects_other_formats(data: bytes) -> None:
    with pytest.raises(ImageError, match="not an image we can read"):
        inspect_image(data)


def test_image_error_is_a_value_error() -> None:
    assert issubclass(ImageError, ValueError)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_images_are_rejected(fmt: str) -> None:
    data = make_pattern(400, 300, fmt=fmt)

    with pytest.raises(ImageError, match="damaged or incomplete"):
        inspect_image(data[: len(data) * 2 // 3])


def test_declared_decompression_bomb_is_rejected_fast_without_allocating() -> None:
    bomb = make_png_declaring(20_000, 20_000)
    assert len(bomb) < 1024

    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(
        ImageError, match=r"too large \(400 megapixels; the limit is 50\)"
    ):
        inspect_image(bomb)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert elapsed < 0.2
    assert peak < 5 * 1024 * 1024


def test_image_over_our_cap_but_under_pillows_is_rejected() -> None:
    # 60 MP is below Pillow's own 89 MP warning threshold: only our cap catches it.
    with pytest.raises(
        ImageError, match=r"too large \(60 megapixels; the limit is 50\)"
    ):
        inspect_image(make_png_declaring(8_000, 7_500))


def test_pillow_bomb_warning_becomes_an_error() -> None:
    # 90 MP triggers Pillow's DecompressionBombWarning; it must not slip through as a warning.
    with pytest.raises(ImageError, match="too large"):
        inspect_image(make_png_declaring(9_500, 9_500), max_pixels=200_000_000)


def test_custom_pixel_cap() -> None:
    with pytest.raises(ImageError, match="too large"):
        inspect_image(make_png(100, 100), max_pixels=5_000)


def test_oversize_bytes_are_rejected_before_decoding() -> None:
    with pytest.raises(
        ImageError, match=r"file is too large \(1\.0 MB; the limit is 1 MB\)"
    ):
        inspect_image(b"\x00" * (1024 * 1024 + 1), max_bytes=1024 * 1024)
    with pytest.raises(ImageError, match="the limit is 20 MB"):
        inspect_image(b"\x00" * (MAX_UPLOAD_BYTES + 1))


def test_normalise_strips_exif_and_gps_and_applies_orientation() -> None:
    upload = make_jpeg_with_exif(80, 40, orientation=6, gps=True)
    assert open_image(upload).getexif()  # the fixture really carries EXIF

    result = normalise_upload(upload)

    stored = open_image(result.data)
    assert (result.width, result.height) == (40, 80)
    assert stored.size == (40, 80)
    assert (result.format, result.mime_type) == ("JPEG", "image/jpeg")
    assert len(stored.getexif()) == 0
    assert "exif" not in stored.info
    assert b"Exif" not in result.data
    assert b"TestCam" not in result.data


def test_normalise_drops_png_text_and_icc_chunks() -> None:
    from PIL import PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("Comment", "<script>alert(1)</script>")
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), "blue").save(
        buffer, "PNG", pnginfo=meta, icc_profile=b"fake-icc-profile"
    )

    result = normalise_upload(buffer.getvalue())

    stored = open_image(result.data)
    assert stored.info.get("Comment") is None
    assert "icc_profile" not in stored.info
    assert b"<script>" not in result.data
    assert stored.getpixel((5, 5)) == (0, 0, 255)


def test_normalise_keeps_format_and_transparency() -> None:
    for data, fmt in (
        (make_png(30, 20, (255, 0, 0, 0), mode="RGBA"), "PNG"),
        (make_webp(30, 20, (0, 255, 0, 0), mode="RGBA"), "WEBP"),
    ):
        result = normalise_upload(data)

        stored = open_image(result.data)
        assert (result.format, stored.format, stored.size) == (fmt, fmt, (30, 20))
        assert stored.mode == "RGBA"
        assert stored.getpixel((3, 3))[3] == 0


def test_normalise_destroys_trailing_payloads() -> None:
    polyglot = make_png(20, 20) + b"<?php system($_GET['c']); ?>"

    result = normalise_upload(polyglot)

    assert b"<?php" not in result.data
    assert inspect_image(result.data).format == "PNG"


def test_normalise_rejects_what_inspect_rejects() -> None:
    with pytest.raises(ImageError):
        normalise_upload(make_image("GIF"))
    with pytest.raises(ImageError):
        normalise_upload(make_png_declaring(20_000, 20_000))


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(2000, 1000, (512, 256)), (600, 1200, (256, 512)), (100, 50, (100, 50))],
)
def test_thumbnail_is_webp_within_max_side_keeping_aspect(
    width: int, height: int, expected: tuple[int, int]
) -> None:
    thumb = make_thumbnail(make_jpeg(width, height))

    image = open_image(thumb.data)
    assert image.format == "WEBP"
    assert thumb.mime_type == "image/webp"
    assert (thumb.width, thumb.height) == image.size == expected


def test_thumbnail_handles_alpha_and_palette_modes() -> None:
    palette = io.BytesIO()
    Image.new("P", (300, 200), 0).save(palette, "PNG", transparency=0)
    for data in (
        make_png(300, 200, (255, 0, 0, 128), mode="RGBA"),
        make_png(300, 200, (128, 200), mode="LA"),
        make_png(300, 200, 3, mode="P"),
        palette.getvalue(),
        make_png(300, 200, 1, mode="1"),
    ):
        thumb = make_thumbnail(data, max_side=100)
        assert open_image(thumb.data).size == (100, 67)


def test_thumbnail_keeps_transparency() -> None:
    thumb = make_thumbnail(make_png(300, 200, (255, 0, 0, 0), mode="RGBA"), max_side=64)

    image = open_image(thumb.data)
    assert image.mode == "RGBA"
    assert image.getpixel((10, 10))[3] == 0


def test_thumbnail_applies_orientation() -> None:
    thumb = make_thumbnail(make_jpeg_with_exif(800, 400, orientation=6), max_side=200)

    assert (thumb.width, thumb.height) == (100, 200)


def test_thumbnail_of_a_4k_wide_image_is_fast() -> None:
    source = Image.new("RGB", (6336, 2688), "navy")
    ImageDraw.Draw(source).ellipse((1000, 500, 5000, 2500), fill="orange")
    for fmt in ("PNG", "JPEG"):
        buffer = io.BytesIO()
        source.save(buffer, fmt)

        started = time.perf_counter()
        thumb = make_thumbnail(buffer.getvalue())
        elapsed = time.perf_counter() - started

        assert (thumb.width, thumb.height) == (512, 217)
        assert elapsed < 2, f"{fmt} thumbnail took {elapsed:.2f}s"


@pytest.mark.parametrize(
    ("fmt", "mime", "pillow_format"),
    [
        ("png", "image/png", "PNG"),
        ("jpeg", "image/jpeg", "JPEG"),
        ("jpg", "image/jpeg", "JPEG"),
        ("webp", "image/webp", "WEBP"),
    ],
)
def test_convert_to_each_format(fmt: str, mime: str, pillow_format: str) -> None:
    for source in (
        make_png(50, 40, "red"),
        make_jpeg(50, 40, "red"),
        make_webp(50, 40, "red"),
    ):
        data, mime_type = convert_image(source, fmt=fmt)

        image = open_image(data)
        assert mime_type == mime
        assert image.format == pillow_format
        assert image.size == (50, 40)


def test_convert_to_jpeg_flattens_transparency_onto_white() -> None:
    data, _ = convert_image(make_png(20, 20, (0, 0, 255, 0), mode="RGBA"), fmt="jpeg")

    red, green, blue = open_image(data).convert("RGB").getpixel((10, 10))  # type: ignore[misc]
    assert min(red, green, blue) > 245


def test_convert_rejects_unknown_formats() -> None:
    with pytest.raises(ImageError):
        convert_image(make_png(), fmt="gif")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (make_png(100, 100, "red"), (255, 0, 0)),
        (make_jpeg(100, 100, "red"), (255, 0, 0)),
        (make_webp(100, 100, (0, 128, 255)), (0, 128, 255)),
        (make_png(100, 100, (0, 0, 0, 0), mode="RGBA"), (255, 255, 255)),
    ],
)
def test_average_colour(data: bytes, expected: tuple[int, int, int]) -> None:
    colour = average_colour(data)

    assert colour.startswith("#") and len(colour) == 7
    actual = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    assert all(abs(a - e) <= 3 for a, e in zip(actual, expected, strict=True)), colour


def test_average_colour_of_solid_red_png_is_exact() -> None:
    assert average_colour(make_png(64, 64, "red")) == "#ff0000"


def test_average_colour_mixes_halves() -> None:
    image = Image.new("RGB", (200, 100), "black")
    ImageDraw.Draw(image).rectangle((100, 0, 199, 99), fill="white")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")

    value = int(average_colour(buffer.getvalue())[1:3], 16)
    assert 120 <= value <= 135


def test_sha256_hex() -> None:
    assert (
        sha256_hex(b"abc")
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_image_size_reads_the_header_only() -> None:
    assert image_size(make_webp(33, 44)) == (33, 44)
    with pytest.raises(ImageError):
        image_size(make_png_declaring(20_000, 20_000))
    with pytest.raises(ImageError):
        image_size(b"not an image")


def test_a_thumbnail_carries_the_mean_colour_of_its_image() -> None:
    assert make_thumbnail(make_png(600, 300, "red")).colour == "#ff0000"
    assert make_thumbnail(make_jpeg(600, 300, (0, 0, 255))).colour in {"#0000fe", "#0000ff", "#0001fe"}
    # Transparency counts as white, as the placeholder shows it on the page.
    assert make_thumbnail(make_png(64, 64, (255, 0, 0, 0), mode="RGBA")).colour == "#ffffff"
