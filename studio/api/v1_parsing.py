"""/v1 images requests parsed: types and enumerations checked before the catalogue sees them.

The endpoints (`studio.api.v1`) turn the parsed request into a job; the catalogue then
checks what this module cannot know (a model's sizes, options and limits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.api.bodies import Body, decode_image
from studio.api.errors import ApiError
from studio.services.auto_model import AUTO
from studio.services.jobs import Upload

QUALITIES = ("low", "medium", "high", "auto", "standard", "hd")
BACKGROUNDS = ("transparent", "opaque", "auto")
FORMATS = ("png", "jpeg", "webp")
MODERATIONS = ("low", "auto")
THINKING = ("minimal", "low", "medium", "high")
MODALITIES = ("text", "image")
INPUT_RESOLUTIONS = ("low", "medium", "high")

@dataclass
class ImageRequest:
    model: str
    prompt: str
    n: int = 1
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    moderation: str | None = None
    stream: bool = False
    partial_images: int | None = None
    user: str | None = None
    thinking: str | None = None
    response_modalities: list[str] | None = None
    input_image_resolution: str | None = None
    images: list[Upload] = field(default_factory=list)
    mask: Upload | None = None

    @property
    def is_edit(self) -> bool:
        return bool(self.images)


def bad(param: str, message: str) -> ApiError:
    return ApiError(400, "validation_error", message, param=param)


def _string(body: Body, name: str, *, choices: tuple[str, ...] | None = None, aliases: tuple[str, ...] = ()) -> str | None:
    value = None
    for key in (name, *aliases):
        if body.get(key) is not None:
            value = body.get(key)
            break
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad(name, f"`{name}` must be a string.")
    if choices is not None and value not in choices:
        raise bad(name, f"`{name}` must be one of {', '.join(choices)}.")
    return value


def _integer(body: Body, name: str, *, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise bad(name, f"`{name}` must be a whole number.")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise bad(name, f"`{name}` must be a whole number.") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise bad(name, f"`{name}` must be a whole number.")
    if not low <= value <= high:
        raise bad(name, f"`{name}` must be between {low} and {high}.")
    return value


def _boolean(body: Body, name: str) -> bool:
    value = body.get(name)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise bad(name, f"`{name}` must be true or false.")


def _images(body: Body) -> list[Upload]:
    uploads = list(body.files.get("image", [])) + list(body.files.get("image[]", []))
    raw = body.get("image", body.get("image[]"))
    if raw is not None and raw != "":
        values = raw if isinstance(raw, list) else [raw]
        uploads += [decode_image(value, param="image", position=i) for i, value in enumerate(values)]
    return uploads


def _mask(body: Body) -> Upload | None:
    if body.files.get("mask"):
        return body.files["mask"][0]
    raw = body.get("mask")
    if raw is None or raw == "":
        return None
    return decode_image(raw, param="mask")


def parse_image_request(body: Body, *, edit_endpoint: bool) -> ImageRequest:
    """Check the request's types and enumerations (the catalogue checks the rest)."""
    # No model (or "auto") lets the studio choose one (seed 000; studio/services/auto_model.py).
    model = _string(body, "model") or AUTO
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad("prompt", "Write a prompt.")
    response_format = _string(body, "response_format")
    if response_format not in (None, "b64_json"):
        raise bad("response_format", "Only response_format=b64_json is supported: images come back base64-encoded.")
    modalities = body.get("response_modalities", body.get("modalities"))
    if modalities is not None:
        if isinstance(modalities, str):
            modalities = [m.strip() for m in modalities.split(",") if m.strip()]
        if not isinstance(modalities, list) or not all(isinstance(m, str) and m.lower() in MODALITIES for m in modalities):
            raise bad("response_modalities", "`response_modalities` lists text and/or image.")
        modalities = [m.lower() for m in modalities]
        if "image" not in modalities:
            raise bad("response_modalities", "`response_modalities` must include image.")
    request = ImageRequest(
        model=model,
        prompt=prompt,
        n=_integer(body, "n", low=1, high=10) or 1,
        size=_string(body, "size"),
        quality=_string(body, "quality", choices=QUALITIES),
        background=_string(body, "background", choices=BACKGROUNDS),
        output_format=_string(body, "output_format", choices=FORMATS),
        output_compression=_integer(body, "output_compression", low=0, high=100),
        moderation=_string(body, "moderation", choices=MODERATIONS),
        stream=_boolean(body, "stream"),
        partial_images=_integer(body, "partial_images", low=0, high=3),
        user=_string(body, "user"),
        thinking=_string(body, "thinking_effort", choices=THINKING, aliases=("reasoning_effort", "thinking_level")),
        response_modalities=modalities,
        input_image_resolution=_string(
            body, "input_image_resolution", choices=INPUT_RESOLUTIONS, aliases=("media_resolution",)
        ),
        images=_images(body),
        mask=_mask(body),
    )
    if request.user is not None and len(request.user) > 256:
        raise bad("user", "`user` is at most 256 characters.")
    if edit_endpoint and not request.images:
        raise bad("image", "An edit needs at least one image.")
    if request.size is not None and request.size != "auto" and parse_size(request.size) is None:
        raise bad("size", "`size` is WIDTHxHEIGHT (e.g. 1024x1024) or auto.")
    return request


def parse_size(size: str) -> tuple[int, int] | None:
    width, sep, height = size.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        return None
    w, h = int(width), int(height)
    if not (1 <= w <= 16384 and 1 <= h <= 16384):
        return None
    return w, h
