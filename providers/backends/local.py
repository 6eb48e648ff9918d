"""The local renderer: a real provider that draws demo images offline.

Everything is drawn with Pillow's C primitives (gradients, resizes, ImageDraw shapes,
LUT colourisation), never per-pixel Python, so a 4K render stays well under a second.
Over 400 lines because it is one renderer (request checks, then drawing, then encoding)
that no other module shares; the drawing helpers have no other caller.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
import re
import time
from collections.abc import Callable
from functools import lru_cache
from typing import ClassVar

from PIL import Image, ImageDraw, ImageFont, ImageOps

from providers.backends.base import ProviderAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    InputImage,
    Part,
    ProgressCallback,
)

RGB = tuple[int, int, int]
# Called with an index into PROGRESS_STEPS as each stage of one image completes.
StepReporter = Callable[[int], None]

DEMO_NOTE = "Demo render by the local renderer"
PROGRESS_STEPS = (10, 40, 70, 100)
# Far above the catalogue's largest size (6336x2688, 4096x4096): a guard, not a policy.
MAX_OUTPUT_PIXELS = 40_000_000
READABLE_FORMATS = ("PNG", "JPEG", "WEBP")
FAIL_PATTERN = re.compile(r"\[\[fail:([a-z_]+)\]\]")

_OUTPUT_FORMATS: dict[str, tuple[str, str]] = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "jpg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
}


class LocalRenderer(ProviderAdapter):
    """Draw deterministic demo images from the prompt and seed, with no network.

    Same (prompt, seed, model, index) gives byte-identical output. Image i of a batch
    uses seed + i; without a seed, one is derived from the prompt and reported.
    With references (or a model image earlier in `history`) it edits the first one,
    limited to the white area of `mask` when given.

    Failure paths for tests and demos: a prompt containing `[[fail:<code>]]`, where
    <code> is any `ErrorCode` value (`content_policy`, `timeout`, `unavailable`,
    `rate_limited`, ...), raises `ProviderError` with that code.

    `options["demo_delay"]` (seconds, default 0) is slept in total across the progress
    steps so that progress is visible in the UI.
    """

    family: ClassVar[str] = "local"
    settings_name: ClassVar[str] = ""
    is_async: ClassVar[bool] = False

    def generate(
        self, request: GenerationRequest, *, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        raise_requested_failure(request.prompt)
        fmt, mime = output_format(request.output_format)
        check_request(request)
        size = (request.width, request.height)
        source = edit_source(request)
        base = fitted(source, size) if source is not None else None
        mask = (
            fitted(request.mask, size).convert("L")
            if base is not None and request.mask
            else None
        )
        base_seed = (
            request.seed if request.seed is not None else prompt_seed(request.prompt)
        )
        delay = float(request.options.get("demo_delay", 0.0) or 0.0)
        step_delay = max(delay, 0.0) / (len(PROGRESS_STEPS) * request.count)

        images: list[GeneratedImage] = []
        for index in range(request.count):
            seed = base_seed + index
            report = _progress_reporter(on_progress, index, request.count, step_delay)
            report(0)
            if base is None:
                picture = render_picture(
                    request.prompt, seed, request.model, size, report
                )
            else:
                picture = render_edit(request, base, seed, report)
            draw_caption(picture, request.prompt, request.model, seed)
            if base is not None and mask is not None:
                # White repaints, black keeps: the caption too stays inside the white area.
                picture = Image.composite(picture, base, mask)
            report(2)
            data = encode(picture, fmt)
            report(3)
            images.append(GeneratedImage(data, mime, *size))

        parts = (Part(text=DEMO_NOTE),) + tuple(
            Part(image=InputImage(img.data, img.mime_type, img.width, img.height))
            for img in images
        )
        return GenerationResult(
            images=tuple(images),
            text=DEMO_NOTE,
            parts=parts,
            seed=base_seed,
            is_demo=True,
            metadata={"renderer": "local"},
        )


# -- request handling --------------------------------------------------------------
def raise_requested_failure(prompt: str) -> None:
    """Raise the ProviderError a `[[fail:<code>]]` phrase asks for."""
    codes = {code.value for code in ErrorCode}
    for match in FAIL_PATTERN.finditer(prompt):
        code = match.group(1)
        if code in codes:
            raise ProviderError(
                code,
                f"local: simulated {code.replace('_', ' ')} failure",
                retry_after=1.0 if code == ErrorCode.RATE_LIMITED else None,
                provider="local",
            )


def output_format(name: str) -> tuple[str, str]:
    try:
        return _OUTPUT_FORMATS[(name or "png").lower()]
    except KeyError:
        raise ProviderError(
            ErrorCode.INVALID_REQUEST,
            f"local: unsupported output format {name!r}",
            provider="local",
        ) from None


def check_request(request: GenerationRequest) -> None:
    if request.count < 1:
        raise ProviderError(
            ErrorCode.INVALID_REQUEST,
            "local: count must be at least 1",
            provider="local",
        )
    if (
        request.width < 1
        or request.height < 1
        or request.width * request.height > MAX_OUTPUT_PIXELS
    ):
        raise ProviderError(
            ErrorCode.INVALID_REQUEST,
            f"local: cannot render {request.width}x{request.height}",
            provider="local",
        )


def prompt_seed(prompt: str) -> int:
    """Derive a stable seed from the prompt, for requests that gave none."""
    return (
        int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "big") & 0x7FFFFFFF
    )


def edit_source(request: GenerationRequest) -> InputImage | None:
    """Pick the image to edit: the first reference, else the last model image in the thread."""
    if request.references:
        return request.references[0]
    for turn in reversed(request.history):
        if turn.role != "model":
            continue
        for part in reversed(turn.parts):
            if part.image is not None:
                return part.image
    return None


def _progress_reporter(
    on_progress: ProgressCallback | None, index: int, count: int, step_delay: float
) -> StepReporter:
    def report(step: int) -> None:
        if step_delay:
            time.sleep(step_delay)
        if on_progress is not None:
            percent = (index * 100 + PROGRESS_STEPS[step]) // count
            on_progress(percent, None)

    return report


# -- drawing -----------------------------------------------------------------------
def picture_rng(prompt: str, seed: int, model: str) -> random.Random:
    """Seed the choices for one picture from sha256(prompt, seed, model)."""
    digest = hashlib.sha256(f"{prompt}\x1f{seed}\x1f{model}".encode()).digest()
    return random.Random(digest)  # noqa: S311 - picks shapes, guards no secret


def make_palette(prompt: str, rng: random.Random) -> list[RGB]:
    """Five colours: the base hue follows the prompt alone, so a prompt keeps its look across seeds."""
    base_hue = (
        int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:2], "big") / 65536
    )
    scheme = rng.choice(
        ((0.0, 0.08, -0.08), (0.0, 0.5, 0.55), (0.0, 0.333, 0.667), (0.0, 0.42, 0.58))
    )
    colours: list[RGB] = []
    for i, (lightness, saturation) in enumerate(
        ((0.14, 0.55), (0.32, 0.7), (0.55, 0.8), (0.72, 0.75), (0.88, 0.6))
    ):
        hue = (base_hue + scheme[i % 3] + rng.uniform(-0.03, 0.03)) % 1.0
        r, g, b = colorsys.hls_to_rgb(
            hue, lightness + rng.uniform(-0.05, 0.05), saturation
        )
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return colours


def gradient_mask(size: tuple[int, int], angle: float) -> Image.Image:
    """A full-size L gradient at `angle` degrees, built at 256 px and scaled up."""
    rotated = Image.linear_gradient("L").rotate(
        angle, resample=Image.Resampling.BILINEAR, expand=True
    )
    # The central 1/sqrt(2) of the rotated square is fully covered by the gradient.
    side = int(256 / 1.42)
    left = (rotated.width - side) // 2
    top = (rotated.height - side) // 2
    crop = rotated.crop((left, top, left + side, top + side))
    return crop.resize(size, Image.Resampling.BILINEAR)


def add_glow(
    canvas: Image.Image,
    colour: RGB,
    centre: tuple[int, int],
    radius: int,
    strength: float,
) -> None:
    # radial_gradient reaches 181 at the inscribed circle; fade to 0 there so no square edge shows.
    falloff = [int(255 * strength * max(0.0, 1 - v / 181) ** 2) for v in range(256)]
    glow = Image.radial_gradient("L").point(falloff)
    radius = max(1, radius)
    glow = glow.resize((2 * radius, 2 * radius), Image.Resampling.BILINEAR)
    canvas.paste(colour, (centre[0] - radius, centre[1] - radius), glow)


def render_picture(
    prompt: str, seed: int, model: str, size: tuple[int, int], report: StepReporter
) -> Image.Image:
    """Draw an abstract composition whose palette, layout and shapes follow the prompt and seed."""
    rng = picture_rng(prompt, seed, model)
    palette = make_palette(prompt, rng)
    width, height = size
    short = min(width, height)

    canvas = ImageOps.colorize(
        gradient_mask(size, rng.uniform(0, 360)),
        black=palette[0],
        white=palette[3],
        mid=palette[1],
    )
    for _ in range(rng.randint(2, 4)):
        centre = (rng.randrange(width), rng.randrange(height))
        add_glow(
            canvas,
            rng.choice(palette[2:]),
            centre,
            int(short * rng.uniform(0.2, 0.6)),
            rng.uniform(0.4, 0.9),
        )
    report(1)

    draw = ImageDraw.Draw(canvas, "RGBA")
    for _ in range(rng.randint(4, 9)):
        draw_shape(draw, rng, palette, size)
    return canvas


def draw_shape(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    palette: list[RGB],
    size: tuple[int, int],
) -> None:
    width, height = size
    short = min(width, height)
    r = max(1, int(short * rng.uniform(0.05, 0.3)))
    cx, cy = rng.randrange(width), rng.randrange(height)
    fill = (*rng.choice(palette), rng.randint(90, 220))
    box = (cx - r, cy - r, cx + r, cy + r)
    kind = rng.choice(("disc", "ring", "square", "triangle", "band", "rounded"))
    if kind == "disc":
        draw.ellipse(box, fill=fill)
    elif kind == "ring":
        draw.ellipse(box, outline=fill, width=max(2, r // 5))
    elif kind == "square":
        draw.rectangle(box, fill=fill)
    elif kind == "rounded":
        draw.rounded_rectangle(box, radius=max(1, r // 3), fill=fill)
    elif kind == "triangle":
        draw.regular_polygon(
            (cx, cy, r), rng.choice((3, 5, 6)), rotation=rng.uniform(0, 360), fill=fill
        )
    else:
        draw.line(
            (0, cy, width, cy + rng.randint(-height // 3, height // 3)),
            fill=fill,
            width=max(2, r // 3),
        )


def open_reference(image: InputImage) -> Image.Image:
    try:
        with Image.open(io.BytesIO(image.data), formats=READABLE_FORMATS) as img:
            img.load()
            return img.convert("RGB") if img.mode != "RGB" else img.copy()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ProviderError(
            ErrorCode.INVALID_REQUEST,
            "local: a reference image could not be read",
            provider="local",
        ) from exc


def fitted(image: InputImage, size: tuple[int, int]) -> Image.Image:
    """Decode and centre-crop to `size`; a mask fitted the same way as its source stays aligned."""
    return ImageOps.fit(open_reference(image), size, Image.Resampling.BILINEAR)


def render_edit(
    request: GenerationRequest, base: Image.Image, seed: int, report: StepReporter
) -> Image.Image:
    """Grade the source with a duotone and glows from the prompt palette; inset the other references."""
    rng = picture_rng(request.prompt, seed, request.model)
    palette = make_palette(request.prompt, rng)
    size = base.size
    toned = ImageOps.colorize(
        ImageOps.grayscale(base), black=palette[0], white=palette[4], mid=palette[2]
    )
    if rng.random() < 0.5:
        toned = ImageOps.posterize(toned, rng.randint(3, 4))
    canvas = Image.blend(base, toned, rng.uniform(0.6, 0.8))
    short = min(size)
    for _ in range(rng.randint(1, 2)):
        centre = (rng.randrange(size[0]), rng.randrange(size[1]))
        add_glow(
            canvas,
            palette[3],
            centre,
            int(short * rng.uniform(0.3, 0.6)),
            rng.uniform(0.35, 0.6),
        )
    report(1)

    paste_insets(canvas, request.references[1:], palette)
    return canvas


def paste_insets(
    canvas: Image.Image, references: tuple[InputImage, ...], palette: list[RGB]
) -> None:
    """Place extra references as small framed thumbnails along the right edge."""
    if not references:
        return
    side = max(16, min(canvas.size) // 6)
    margin = max(4, side // 10)
    x = canvas.width - side - margin
    y = margin * 4
    for reference in references:
        if y + side > canvas.height * 0.85:
            break
        inset = ImageOps.fit(
            open_reference(reference), (side, side), Image.Resampling.BILINEAR
        )
        frame = (
            x - margin // 2,
            y - margin // 2,
            x + side + margin // 2,
            y + side + margin // 2,
        )
        ImageDraw.Draw(canvas).rectangle(frame, fill=palette[4])
        canvas.paste(inset, (x, y))
        y += side + margin


@lru_cache(maxsize=16)
def caption_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def fit_text(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    limit: float,
) -> str:
    """Drop trailing words until the text fits in `limit` pixels."""
    words = text.split()[:12]
    line = " ".join(words)
    while words and draw.textlength(line, font=font) > limit:
        words.pop()
        line = " ".join(words) + " …"
    return line


def draw_caption(canvas: Image.Image, prompt: str, model: str, seed: int) -> None:
    """Write the prompt's first words, the model and seed, and a discreet DEMO RENDER label."""
    width, height = canvas.size
    font_size = max(12, min(width, height) // 44)
    small_size = max(10, font_size * 3 // 4)
    font = caption_font(font_size)
    small = caption_font(small_size)
    pad = font_size // 2
    draw = ImageDraw.Draw(canvas, "RGBA")

    clean_prompt = FAIL_PATTERN.sub("", prompt).strip() or "(empty prompt)"
    first_line = fit_text(draw, clean_prompt, font, width - 2 * pad)
    second_line = fit_text(draw, f"{model} · seed {seed}", small, width - 2 * pad)
    bar_top = height - (font_size + small_size + 3 * pad)
    draw.rectangle((0, bar_top, width, height), fill=(0, 0, 0, 130))
    draw.text((pad, bar_top + pad), first_line, font=font, fill=(255, 255, 255, 235))
    draw.text(
        (pad, bar_top + 2 * pad + font_size),
        second_line,
        font=small,
        fill=(255, 255, 255, 180),
    )

    label = "DEMO RENDER"
    label_width = draw.textlength(label, font=small)
    draw.text(
        (width - label_width - pad, pad), label, font=small, fill=(255, 255, 255, 150)
    )


def encode(picture: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "PNG":
        picture.save(buffer, "PNG")
    elif fmt == "JPEG":
        picture.save(buffer, "JPEG", quality=90)
    else:
        # method=2 halves the 4K encode time of the default 4 at no visible cost here.
        picture.save(buffer, "WEBP", quality=85, method=2)
    return buffer.getvalue()
