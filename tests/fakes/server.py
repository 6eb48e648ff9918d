"""A fake image provider on 127.0.0.1: OpenAI Images, Gemini generateContent and BFL, over real HTTP.

End-to-end tests point `<NAME>_BASE_URL` at it (see `FakeProvider.env()`), so the whole path
(adapter, httpx, worker, storage, ledger) runs exactly as against the real APIs, with shapes
taken from each vendor's API reference:

- OpenAI: `POST /v1/images/generations` (JSON) and `POST /v1/images/edits` (multipart) answer
  `{"created", "data": [{"b64_json"}], ...}` with images at the requested `size`.
- Gemini: `POST /v1beta/models/<model>:generateContent` answers a candidate whose parts are a
  text part and an inline PNG carrying a `thoughtSignature`, sized by `imageConfig`.
- BFL: `POST /v1/<model>` answers `{id, polling_url}`; `GET /v1/get_result?id=` says `Pending`
  (with progress) until the task's time is up, then `Ready` with `result.sample` pointing at
  `GET /files/<id>.<ext>` on this same server.

Knobs: `latency` (seconds before every answer, per route with `route_latency`), `bfl_seconds`
(how long a BFL task takes), `force_size` (answer this size whatever was asked), scripted
faults (`fail`: 429 with Retry-After, 503, ...; `moderate`: each provider's own refusal shape)
and a record of every request (`requests`, `requests_to`) for assertions.

Standalone, for the benchmark or a manual run of the studio against it:

    python -m tests.fakes.server --port 9999 --latency 2 --bfl-seconds 30
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email.parser
import email.policy
import io
import itertools
import json
import math
import re
import struct
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image

# The keys the fake accepts; tests configure the studio with the same ones.
DEFAULT_KEYS = {"openai": "sk-fake-openai", "gemini": "fake-gemini-key", "bfl": "fake-bfl-key"}

# A few colours so a gallery of fake images is not one flat grey.
PALETTE = ((66, 135, 245), (245, 166, 35), (80, 200, 120), (220, 60, 90), (150, 100, 220), (40, 180, 190))

# Gemini's output sizes at 1K (Google's image-generation docs; the catalogue holds the same numbers).
GEMINI_2_SIZES = {
    "1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344), "4:3": (1184, 864),
    "3:4": (864, 1184), "3:2": (1248, 832), "2:3": (832, 1248), "5:4": (1152, 896),
    "4:5": (896, 1152), "21:9": (1536, 672),
}
GEMINI_3_SIZES = {
    "1:1": (1024, 1024), "16:9": (1376, 768), "9:16": (768, 1376), "4:3": (1200, 896),
    "3:4": (896, 1200), "3:2": (1264, 848), "2:3": (848, 1264), "5:4": (1152, 928),
    "4:5": (928, 1152), "21:9": (1584, 672),
}
GEMINI_SCALE = {"1K": 1, "2K": 2, "4K": 4}

OPENAI_MODERATION = {
    "message": "Your request was rejected as a result of our safety system.",
    "type": "image_generation_user_error",
    "param": None,
    "code": "moderation_blocked",
}
QUICK_ROUTES = {"bfl.poll": 0.0, "file": 0.0}
FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    route: str  # openai.generations, openai.edits, gemini, bfl.submit, bfl.poll, file, unknown
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic() on arrival

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def form(self) -> list[tuple[str, str | tuple[str, bytes, str]]]:
        """Multipart fields in order: text values as str, files as (filename, bytes, type)."""
        return parse_multipart(self.headers.get("content-type", ""), self.body)

    def field(self, name: str) -> str | None:
        return next((v for k, v in self.form if k == name and isinstance(v, str)), None)

    def files(self, name: str) -> list[tuple[str, bytes, str]]:
        return [v for k, v in self.form if k == name and not isinstance(v, str)]


@dataclass
class Fault:
    """A scripted answer for the next `times` requests whose route starts with `route`."""

    route: str
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


@dataclass
class BFLTask:
    id: str
    model: str
    created: float
    seconds: float
    width: int
    height: int
    fmt: str
    seed: int
    prompt: str
    moderated: bool = False
    polls: int = 0


class FakeProvider:
    """The fake server. Use as a context manager, or `start()` / `stop()`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        bfl_seconds: float = 1.5,
        keys: Mapping[str, str] | None = None,
        record: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        # Seconds before answering: the provider's "work". Status polls and result
        # downloads answer at once unless `route_latency` says otherwise.
        self.latency = latency
        self.route_latency: dict[str, float] = dict(QUICK_ROUTES)
        self.bfl_seconds = bfl_seconds
        self.keys = dict(DEFAULT_KEYS if keys is None else keys)
        self.force_size: tuple[int, int] | None = None
        self.record = record
        self.requests: list[RecordedRequest] = []
        # Exceptions raised inside the fake itself (tests assert this stays empty).
        self.crashes: list[str] = []
        self._faults: list[Fault] = []
        self._moderations: dict[str, int] = {}
        self._tasks: dict[str, BFLTask] = {}
        self._files: dict[str, tuple[bytes, str]] = {}
        self._png_cache: dict[tuple[int, int, int, str], bytes] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        # Calls open at once per family ("openai", "gemini", "bfl"), the most seen, and an
        # optional cap past which the fake answers 429 as a real provider would.
        self.in_flight: dict[str, int] = {}
        self.peak_in_flight: dict[str, int] = {}
        self.concurrency_limit: dict[str, int] = {}
        self.rejected_429: dict[str, int] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> FakeProvider:
        fake = self

        class Handler(ProviderHandler):
            provider = fake

        self._server = FakeHTTPServer((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-provider", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Settings (as environment variables) that route the three families here."""
        return {
            "OPENAI_API_KEY": self.keys["openai"],
            "OPENAI_BASE_URL": f"{self.url}/v1",
            "GEMINI_API_KEY": self.keys["gemini"],
            "GEMINI_BASE_URL": f"{self.url}/v1beta",
            "BFL_API_KEY": self.keys["bfl"],
            "BFL_BASE_URL": self.url,
        }

    def apply_to(self, settings: Any) -> None:
        """Route this process too (pytest-django's `settings` fixture), like `env()` routes a worker."""
        for name, value in self.env().items():
            setattr(settings, name, value)

    # -- scripting ------------------------------------------------------------------
    def fail(
        self,
        route: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` requests on `route` (a prefix: "openai", "bfl.poll") with an error."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        text = message or {429: "Rate limit reached", 503: "Service unavailable"}.get(status, f"HTTP {status}")
        with self._lock:
            self._faults.append(Fault(route, status, error_body(route, status, text), headers, times))

    def clear_faults(self) -> None:
        """End every scripted failure (an outage is over)."""
        with self._lock:
            self._faults.clear()

    def moderate(self, route: str, *, times: int = 1) -> None:
        """Refuse the next `times` requests on `route` the way that provider refuses content.

        openai: HTTP 400 `moderation_blocked`; gemini: HTTP 200 with finishReason IMAGE_SAFETY
        and no image; bfl: the task is accepted and its poll says `Request Moderated`.
        """
        with self._lock:
            self._moderations[route] = self._moderations.get(route, 0) + times

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.crashes.clear()
            self._faults.clear()
            self._moderations.clear()
            self.route_latency = dict(QUICK_ROUTES)
            self.force_size = None
            self.in_flight.clear()
            self.peak_in_flight.clear()
            self.concurrency_limit.clear()
            self.rejected_429.clear()

    # -- what was sent --------------------------------------------------------------
    def requests_to(self, route: str = "", method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r for r in self.requests if r.route.startswith(route) and (method is None or r.method == method)
            ]

    # -- used by the handler --------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        if self.record:
            with self._lock:
                self.requests.append(request)

    def _take_fault(self, route: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if route.startswith(fault.route) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _take_moderation(self, route: str) -> bool:
        with self._lock:
            for prefix, left in self._moderations.items():
                if route.startswith(prefix) and left > 0:
                    self._moderations[prefix] = left - 1
                    return True
        return False

    def _enter(self, family: str) -> bool:
        """Count a call in; False if it is over `concurrency_limit` (it is answered 429)."""
        with self._lock:
            self.in_flight[family] = self.in_flight.get(family, 0) + 1
            self.peak_in_flight[family] = max(self.peak_in_flight.get(family, 0), self.in_flight[family])
            limit = self.concurrency_limit.get(family)
            if limit is not None and self.in_flight[family] > limit:
                self.rejected_429[family] = self.rejected_429.get(family, 0) + 1
                return False
            return True

    def _leave(self, family: str) -> None:
        with self._lock:
            self.in_flight[family] -= 1

    def _delay(self, route: str) -> float:
        for prefix, seconds in self.route_latency.items():
            if route.startswith(prefix):
                return seconds
        return self.latency

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def image(self, width: int, height: int, fmt: str = "png") -> bytes:
        """An image of exactly width x height; every call returns different bytes.

        Encoding is cached per size and colour; a unique PNG text chunk (or a counter in
        the trailing bytes of other formats) keeps content-addressed storage from
        collapsing all results into one file.
        """
        serial = self.next_id()
        colour = serial % len(PALETTE)
        fmt = fmt if fmt in FORMATS else "png"
        key = (width, height, colour, fmt)
        with self._lock:
            encoded = self._png_cache.get(key)
        if encoded is None:
            buffer = io.BytesIO()
            pil_format = FORMATS[fmt][0]
            options: dict[str, Any] = {"compress_level": 1} if pil_format == "PNG" else {"quality": 80}
            Image.new("RGB", (width, height), PALETTE[colour]).save(buffer, pil_format, **options)
            encoded = buffer.getvalue()
            with self._lock:
                self._png_cache[key] = encoded
        marker = f"fake-{serial}".encode()
        if fmt == "png":
            return with_text_chunk(encoded, marker)
        # JPEG decoders ignore bytes after the end-of-image marker; WebP's RIFF header
        # states its length, so WebP results of one size and colour repeat.
        return encoded + marker if fmt == "jpeg" else encoded

    def bfl_task(self, task_id: str) -> BFLTask | None:
        with self._lock:
            return self._tasks.get(task_id)


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default backlog of 5 refuses connections when a worker opens 64 at once.
    request_queue_size = 512


class ProviderHandler(BaseHTTPRequestHandler):
    provider: FakeProvider
    # HTTP/1.0: one request per connection, so no thread waits on an idle keep-alive.
    protocol_version = "HTTP/1.0"
    server_version = "FakeProvider/1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests read `requests` instead

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    # -- plumbing -------------------------------------------------------------------
    def dispatch(self, method: str) -> None:
        arrived = time.monotonic()
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        route = route_of(method, split.path)
        recorded = RecordedRequest(
            route=route,
            method=method,
            path=split.path,
            query={k: v[0] for k, v in parse_qs(split.query).items()},
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            at=arrived,
        )
        fake = self.provider
        fake._record(recorded)
        if route in ("file", "unknown"):
            self.answer(recorded, split.path)
            return
        family = route.split(".")[0]
        allowed = fake._enter(family)
        try:
            if not allowed:
                time.sleep(fake._delay(route) / 10)
                self.send_json(429, error_body(route, 429, "Too many concurrent requests"), {"Retry-After": "1"})
                return
            self.answer(recorded, split.path)
        finally:
            fake._leave(family)

    def answer(self, recorded: RecordedRequest, path: str) -> None:
        fake = self.provider
        route = recorded.route
        method = recorded.method
        delay = fake._delay(route)
        if delay > 0:
            time.sleep(delay)
        if route == "unknown":
            self.send_json(404, {"error": {"message": f"no such route: {method} {path}"}})
            return
        if route != "file" and not self.authorised(route, recorded.headers):
            return
        fault = fake._take_fault(route)
        if fault is not None:
            self.send_json(fault.status, fault.body, fault.headers)
            return
        try:
            handler = getattr(self, "route_" + route.replace(".", "_"))
            handler(recorded, path)
        except BadRequest as exc:
            self.send_json(400, error_body(route, 400, str(exc)))
        except Exception as exc:
            fake.crashes.append(f"{method} {path}: {exc!r}")
            self.send_json(500, error_body(route, 500, f"fake provider crashed: {exc!r}"))

    def authorised(self, route: str, headers: Mapping[str, str]) -> bool:
        family = route.split(".")[0]
        expected = self.provider.keys.get(family, "")
        if family == "openai":
            ok = headers.get("authorization") == f"Bearer {expected}"
            status = 401
        elif family == "gemini":
            ok = headers.get("x-goog-api-key") == expected
            status = 400  # Google answers a bad key with 400 API_KEY_INVALID
        else:
            ok = headers.get("x-key") == expected
            status = 403
        if not ok:
            self.send_json(status, error_body(route, status, "invalid API key"))
        return ok

    def send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_bytes(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # -- OpenAI Images ---------------------------------------------------------------
    def route_openai_generations(self, request: RecordedRequest, path: str) -> None:
        body = request.json
        if not isinstance(body, dict) or not body.get("prompt"):
            raise BadRequest("prompt is required")
        self.answer_openai(request, body)

    def route_openai_edits(self, request: RecordedRequest, path: str) -> None:
        fields = {k: v for k, v in request.form if isinstance(v, str)}
        if not request.files("image") and not request.files("image[]"):
            raise BadRequest("image is required")
        if not fields.get("prompt"):
            raise BadRequest("prompt is required")
        self.answer_openai(request, fields)

    def answer_openai(self, request: RecordedRequest, body: Mapping[str, Any]) -> None:
        fake = self.provider
        if body.get("stream") in (True, "true"):
            raise BadRequest("the fake provider does not stream")
        if fake._take_moderation(request.route):
            self.send_json(400, {"error": OPENAI_MODERATION})
            return
        width, height = fake.force_size or parse_size(str(body.get("size") or "auto"))
        n = int(body.get("n") or 1)
        fmt = str(body.get("output_format") or "png")
        dalle = str(body.get("model") or "dall-e-2").startswith("dall-e")
        data = []
        for _ in range(n):
            item: dict[str, Any] = {"b64_json": base64.b64encode(fake.image(width, height, fmt)).decode()}
            if str(body.get("model")) == "dall-e-3":
                item["revised_prompt"] = f"A detailed rendering of {body['prompt']}"
            data.append(item)
        answer: dict[str, Any] = {"created": int(time.time()), "data": data}
        if not dalle:
            answer.update(
                {
                    "size": f"{width}x{height}",
                    "quality": body.get("quality") or "auto",
                    "output_format": fmt,
                    "usage": {"input_tokens": 50, "output_tokens": 272 * n, "total_tokens": 50 + 272 * n},
                }
            )
        self.send_json(200, answer)

    # -- Gemini generateContent -------------------------------------------------------
    def route_gemini(self, request: RecordedRequest, path: str) -> None:
        fake = self.provider
        model = path.rsplit("/", 1)[-1].split(":", 1)[0]
        body = request.json
        if not isinstance(body, dict) or not body.get("contents"):
            raise BadRequest("contents is required")
        serial = fake.next_id()
        if fake._take_moderation(request.route):
            self.send_json(
                200,
                {
                    "candidates": [
                        {
                            "finishReason": "IMAGE_SAFETY",
                            "finishMessage": "Unable to show the generated image: it may violate the policy.",
                            "index": 0,
                        }
                    ],
                    "modelVersion": model,
                    "responseId": f"resp-{serial}",
                },
            )
            return
        config = body.get("generationConfig") or {}
        if "IMAGE" not in (config.get("responseModalities") or []):
            self.send_json(
                200,
                {
                    "candidates": [
                        {"content": {"role": "model", "parts": [{"text": "Text only."}]}, "finishReason": "STOP"}
                    ]
                },
            )
            return
        image_config = config.get("imageConfig") or {}
        table = GEMINI_2_SIZES if model.startswith("gemini-2") else GEMINI_3_SIZES
        ratio = image_config.get("aspectRatio") or "1:1"
        if ratio not in table:
            raise BadRequest(f"unsupported aspectRatio {ratio}")
        size = image_config.get("imageSize") or "1K"
        if size not in GEMINI_SCALE:
            # Lower-case "1k" is rejected by the real API too (003 seed).
            raise BadRequest(f"unsupported imageSize {size}")
        width, height = fake.force_size or tuple(v * GEMINI_SCALE[size] for v in table[ratio])
        png = fake.image(width, height, "png")
        parts = [
            {"text": f"Here is your image ({width}x{height})."},
            {
                "inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()},
                # Opaque to clients; it must come back unchanged on the next turn.
                "thoughtSignature": base64.b64encode(f"sig-{serial}".encode()).decode(),
            },
        ]
        self.send_json(
            200,
            {
                "candidates": [
                    {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 1290, "totalTokenCount": 1302},
                "modelVersion": model,
                "responseId": f"resp-{serial}",
            },
        )

    # -- BFL ---------------------------------------------------------------------------
    def route_bfl_submit(self, request: RecordedRequest, path: str) -> None:
        fake = self.provider
        body = request.json
        if not isinstance(body, dict) or not body.get("prompt"):
            raise BadRequest("prompt is required")
        model = path.rsplit("/", 1)[-1]
        width, height = fake.force_size or bfl_size(body)
        task_id = f"task-{fake.next_id():06d}"
        fmt = "jpeg" if str(body.get("output_format") or "jpeg") == "jpeg" else "png"
        task = BFLTask(
            id=task_id,
            model=model,
            created=time.monotonic(),
            seconds=fake.bfl_seconds,
            width=width,
            height=height,
            fmt=fmt,
            seed=int(body.get("seed") or 42),
            prompt=str(body["prompt"]),
            moderated=fake._take_moderation(request.route),
        )
        with fake._lock:
            fake._tasks[task_id] = task
        self.send_json(
            200,
            {"id": task_id, "polling_url": f"{fake.url}/v1/get_result?id={task_id}", "cost": 4.0},
        )

    def route_bfl_poll(self, request: RecordedRequest, path: str) -> None:
        fake = self.provider
        task_id = request.query.get("id", "")
        task = fake.bfl_task(task_id)
        if task is None:
            self.send_json(200, {"id": task_id, "status": "Task not found"})
            return
        task.polls += 1
        elapsed = time.monotonic() - task.created
        if elapsed < task.seconds:
            progress = round(elapsed / task.seconds, 2) if task.seconds else 0
            self.send_json(200, {"id": task_id, "status": "Pending", "result": None, "progress": progress})
            return
        if task.moderated:
            self.send_json(
                200,
                {
                    "id": task_id,
                    "status": "Request Moderated",
                    "result": None,
                    "details": {"Moderation Reasons": ["Derivative Works Filter"]},
                },
            )
            return
        name = f"{task_id}.{'jpg' if task.fmt == 'jpeg' else 'png'}"
        with fake._lock:
            stored = name in fake._files
        if not stored:
            data = fake.image(task.width, task.height, task.fmt)
            with fake._lock:
                fake._files[name] = (data, FORMATS[task.fmt][1])
        self.send_json(
            200,
            {
                "id": task_id,
                "status": "Ready",
                "result": {
                    "sample": f"{fake.url}/files/{name}",
                    "prompt": task.prompt,
                    "seed": task.seed,
                    "duration": round(elapsed, 2),
                },
                "progress": 1.0,
            },
        )

    def route_file(self, request: RecordedRequest, path: str) -> None:
        name = path.rsplit("/", 1)[-1]
        with self.provider._lock:
            stored = self.provider._files.get(name)
        if stored is None:
            self.send_json(404, {"detail": "not found"})
            return
        self.send_bytes(*stored)


class BadRequest(ValueError):
    pass


def route_of(method: str, path: str) -> str:
    if method == "POST" and path == "/v1/images/generations":
        return "openai.generations"
    if method == "POST" and path == "/v1/images/edits":
        return "openai.edits"
    if method == "POST" and re.fullmatch(r"/v1beta/models/[\w.\-]+:generateContent", path):
        return "gemini"
    if method == "GET" and path == "/v1/get_result":
        return "bfl.poll"
    if method == "POST" and re.fullmatch(r"/v1/[\w.\-]+", path):
        return "bfl.submit"
    if method == "GET" and path.startswith("/files/"):
        return "file"
    return "unknown"


def error_body(route: str, status: int, message: str) -> Any:
    """Each provider's own error shape, as its API documents it."""
    family = route.split(".")[0]
    if family == "openai":
        code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    if family == "gemini":
        google_status = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(status, "UNKNOWN")
        error: dict[str, Any] = {"code": status, "message": message, "status": google_status}
        if message == "invalid API key":
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
        return {"error": error}
    return {"detail": message}


def parse_size(size: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", size)
    if match:
        return int(match.group(1)), int(match.group(2))
    if size == "auto":
        return 1024, 1024
    raise BadRequest(f"invalid size {size!r}")


def bfl_size(body: Mapping[str, Any]) -> tuple[int, int]:
    """FLUX answers the width/height it was given, or about one megapixel at the aspect ratio."""
    if body.get("width") and body.get("height"):
        return int(body["width"]), int(body["height"])
    ratio = str(body.get("aspect_ratio") or "1:1")
    try:
        w, h = (float(x) for x in ratio.split(":"))
    except ValueError:
        raise BadRequest(f"invalid aspect_ratio {ratio!r}") from None
    width = round(math.sqrt(1024 * 1024 * w / h) / 32) * 32
    height = round(math.sqrt(1024 * 1024 * h / w) / 32) * 32
    return width, height


def with_text_chunk(png: bytes, text: bytes) -> bytes:
    """Insert a tEXt chunk right after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    payload = b"Comment\x00" + text
    chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + payload) & 0xFFFFFFFF)
    return png[:33] + chunk + png[33:]


def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, str | tuple[str, bytes, str]]]:
    if not content_type.startswith("multipart/"):
        return []
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: list[tuple[str, str | tuple[str, bytes, str]]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            fields.append((str(name), (filename, payload, part.get_content_type())))
        else:
            fields.append((str(name), payload.decode("utf-8", "replace")))
    return fields


def decode_inline(part: Mapping[str, Any]) -> bytes:
    """The bytes of a Gemini inlineData part (for assertions on what the studio sent)."""
    try:
        return base64.b64decode(part["inlineData"]["data"])
    except (KeyError, binascii.Error) as exc:
        raise AssertionError(f"not an inline image part: {part!r}") from exc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every API answer")
    parser.add_argument("--bfl-seconds", type=float, default=1.5, help="how long a BFL task stays Pending")
    parser.add_argument("--force-size", default="", help="answer every request at WxH")
    parser.add_argument("--no-record", action="store_true", help="do not keep requests in memory")
    args = parser.parse_args(argv)
    fake = FakeProvider(
        host=args.host,
        port=args.port,
        latency=args.latency,
        bfl_seconds=args.bfl_seconds,
        record=not args.no_record,
    )
    if args.force_size:
        fake.force_size = parse_size(args.force_size)
    fake.start()
    print(f"fake provider on {fake.url} (latency {args.latency:g} s, BFL tasks {args.bfl_seconds:g} s)")
    print("point the studio at it with:")
    for name, value in fake.env().items():
        print(f"  export {name}={value}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
