"""The OpenAPI 3.1 description of /v1 and /v2, written by hand and kept next to the code.

Over 400 lines on purpose: it is one document (components, then paths) read top to bottom
against the handlers, and schemathesis checks the API against it; splitting it by section
would only scatter the `$ref`s it resolves.
"""

from __future__ import annotations

from functools import cache
from typing import Any

ERROR_CODES = {
    "400": "Invalid parameters (`validation_error`), or the provider refused the content (`content_policy`).",
    "401": "Missing, unknown or revoked API key.",
    "402": "Not enough credits for this request (`insufficient_credits`).",
    "403": "The model is not allowed for this key's team or role (`model_not_allowed`, `permission_denied`).",
    "404": "No such model, job or endpoint.",
    "405": "Method not allowed.",
    "409": "A request with this Idempotency-Key is still running, or the job has already finished.",
    "413": "The request body is larger than the limit (base64 images count).",
    "415": "The body is neither JSON nor multipart/form-data.",
    "422": "The Idempotency-Key was already used with a different body.",
    "429": "Too many requests for this key (see `Retry-After`), or the provider kept rate-limiting the job.",
    "500": "An unexpected server error.",
    "502": "The provider failed (`upstream_error`, `auth`).",
    "503": "The job queue or the provider is temporarily down (see `Retry-After`).",
    "504": "The job did not finish in time; follow it at /v2/jobs/{id}.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*codes: str) -> dict[str, Any]:
    # Any operation may answer 400: text with NUL or a lone surrogate in the query string
    # is refused before the handler runs (studio.input_guard).
    return {code: {"$ref": f"#/components/responses/E{code}"} for code in sorted({"400", *codes})}


IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes retries safe. The same key with the same body replays the first answer "
        "(with `Idempotent-Replayed: true`); while the first request runs, 409; the same key "
        "with another body, 422. Keys are scoped to the API key and kept 24 hours; after "
        "that the key is new again. Refusals that started no job (400, 402, 403, 429, 503) "
        "are not kept."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}

IMAGE_FIELDS: dict[str, Any] = {
    "model": {
        "type": "string",
        "examples": ["gpt-image-2"],
        "description": "A model id or alias from GET /v1/models, e.g. gpt-image-2, "
        "nano-banana-pro (= gemini-3-pro-image), nano-banana-2 (= gemini-3.1-flash-image). "
        "Omitted or `auto`: the cheapest model the key may use that does what the request asks "
        "(named with the reason in `model` and `auto_reason`).",
    },
    "prompt": {"type": "string", "minLength": 1, "maxLength": 2000, "examples": ["a lighthouse at dusk"]},
    "n": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1,
          "description": "Images to make; at most the model's `allowedParams.n.max`."},
    "size": {"type": "string", "description": "WIDTHxHEIGHT or auto. Mapped to the model's nearest "
             "aspect ratio (and resolution); the size applied is in the answer.", "default": "auto"},
    "quality": {"type": "string", "enum": ["low", "medium", "high", "auto", "standard", "hd"],
                "description": "(GPT) Picks the catalogue entry priced for that quality."},
    "background": {"type": "string", "enum": ["transparent", "opaque", "auto"],
                   "description": "(GPT) gpt-image-2 refuses transparent with 400."},
    "output_format": {"type": "string", "enum": ["png", "jpeg", "webp"],
                      "description": "Gemini answers png for webp."},
    "output_compression": {"type": "integer", "minimum": 0, "maximum": 100, "description": "(GPT) jpeg/webp only."},
    "moderation": {"type": "string", "enum": ["low", "auto"], "description": "(GPT)"},
    "response_format": {"type": "string", "enum": ["b64_json"], "description": "Only base64 answers are supported."},
    "stream": {"type": "boolean", "default": False,
               "description": "Server-sent events: partial images where the provider streams, then "
               "`image_generation.completed` (or `image_edit.*`) per image, or an `error` event."},
    "partial_images": {"type": "integer", "minimum": 0, "maximum": 3, "description": "(GPT) with stream=true."},
    "user": {"type": "string", "maxLength": 256},
    "thinking_effort": {"type": "string", "enum": ["minimal", "low", "medium", "high"],
                        "description": "(Gemini) Thinking before generating (alias `reasoning_effort`)."},
    "response_modalities": {"type": "array", "items": {"type": "string", "enum": ["text", "image"]},
                            "contains": {"const": "image"},
                            "description": "(Gemini) [\"text\",\"image\"] adds the model's text; must include image."},
    "input_image_resolution": {"type": "string", "enum": ["low", "medium", "high"],
                               "description": "(Gemini) Processing resolution of reference images."},
}

BASE64_IMAGE = {"type": "string", "description": "A data URL (data:image/png;base64,...) or raw base64 (PNG, JPEG or WebP)."}

# One server-sent event as clients parse it: `event:` names it, `data:` carries its JSON.
SSE_EVENT = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}},
}

GENERATION_REQUEST = {
    "type": "object",
    "required": ["prompt"],
    "properties": {
        **IMAGE_FIELDS,
        "image": {"oneOf": [BASE64_IMAGE, {"type": "array", "items": BASE64_IMAGE, "minItems": 1}],
                  "description": "Reference/source image(s): their presence makes this an edit."},
        "mask": {**BASE64_IMAGE, "description": "(GPT) PNG mask; transparent areas are repainted."},
    },
}

EDIT_REQUEST = {**GENERATION_REQUEST, "required": ["prompt", "image"]}

EDIT_MULTIPART = {
    "type": "object",
    "required": ["prompt", "image"],
    "properties": {
        **{name: {**schema, "description": schema.get("description", "")} for name, schema in IMAGE_FIELDS.items()
           if name not in ("response_modalities",)},
        "image": {"type": "string", "contentMediaType": "application/octet-stream",
                  "description": "One or more image files (repeat the field, or use `image[]`)."},
        "mask": {"type": "string", "contentMediaType": "application/octet-stream"},
    },
}

COST = {
    "type": "object",
    "required": ["held", "charged", "returned"],
    "properties": {
        "held": {"type": "integer", "description": "Credits reserved at submit."},
        "charged": {"type": "integer", "description": "Credits spent for the images delivered."},
        "returned": {"type": "integer", "description": "Credits given back (failure, cancel, refusals)."},
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "param"],
                "properties": {
                    "code": {"type": "string", "examples": ["validation_error", "insufficient_credits"]},
                    "message": {"type": "string"},
                    "param": {"type": ["string", "null"], "description": "The request field at fault, if one is."},
                },
            }
        },
    },
    "Model": {
        "type": "object",
        "required": ["id", "object", "tier", "credits_per_image", "provider", "capabilities", "allowedParams"],
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "model"},
            "created": {"type": "integer"},
            "owned_by": {"type": "string"},
            "name": {"type": "string"},
            "modality": {"const": "image"},
            "aliases": {"type": "array", "items": {"type": "string"}},
            "tier": {"type": "string", "enum": ["standard", "advanced", "premium", "ultra"]},
            "credits_per_image": {"type": "integer", "minimum": 1},
            "provider": {"type": "string", "description": "The provider family."},
            "description": {"type": "string"},
            "available": {"type": "boolean", "description": "Whether this key may use the model now."},
            "unavailable_reason": {"type": ["string", "null"]},
            "lifecycle": {
                "type": ["object", "null"],
                "description": "When the upstream model retires; after that date `served_by` names the successor "
                "route that serves this model string.",
            },
            "capabilities": {"type": "object", "additionalProperties": {"type": ["boolean", "integer"]}},
            "allowedParams": {
                "type": "object",
                "required": ["supported_sizes"],
                "properties": {
                    "supported_sizes": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]+x[0-9]+$"}},
                    "aspect_ratios": {"type": "array", "items": {"type": "string"}},
                    "resolutions": {"type": "array", "items": {"type": "string"}},
                    "qualities": {"type": "array", "items": {"type": "string"}},
                    "output_formats": {"type": "array", "items": {"type": "string"}},
                    "styles": {"type": "array", "items": {"type": "string"}},
                    "n": {"type": "object", "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}}},
                },
            },
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref("Model")}},
    },
    "ImagesResponse": {
        "type": "object",
        "required": ["created", "data", "usage"],
        "properties": {
            "id": {"type": "string", "description": "The job id (also valid at /v2/jobs/{id})."},
            "created": {"type": "integer"},
            "model": {"type": "string", "description": "The model an Auto request ran on."},
            "auto_reason": {"type": "string", "description": "Why Auto picked that model."},
            "is_demo": {"type": "boolean", "description": "Present (true) when the studio's demo renderer drew "
                        "the images instead of the model's provider."},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["b64_json"],
                    "properties": {"b64_json": {"type": "string"}, "revised_prompt": {"type": "string"}},
                },
            },
            "usage": {
                "type": "object",
                "properties": {
                    "input_tokens": {"type": "integer"},
                    "output_tokens": {"type": "integer"},
                    "total_tokens": {"type": "integer"},
                    "images": {"type": "integer"},
                    "credits": {"type": "integer", "description": "Credits charged."},
                },
            },
            "background": {"type": ["string", "null"], "enum": ["transparent", "opaque", None]},
            "output_format": {"type": ["string", "null"], "enum": ["png", "jpeg", "webp", None]},
            "quality": {"type": ["string", "null"]},
            "size": {"type": ["string", "null"]},
            "text": {"type": ["string", "null"], "description": "(Gemini) The model's text."},
            "parts": {
                "type": "array",
                "description": "(Gemini) Text and images in the model's order; images point into `data`.",
                "items": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {
                        "type": {"type": "string", "enum": ["text", "image"]},
                        "text": {"type": "string"},
                        "index": {"type": "integer"},
                    },
                },
            },
        },
    },
    "GenerateRequest": {
        "type": "object",
        "required": ["prompt"],
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "maxLength": 2000, "examples": ["a koi pond in autumn"]},
            "model": {"type": "string", "examples": ["gpt-image-2", "auto"],
                      "description": "Omitted or `auto`: the cheapest model that does what is asked "
                      "(the 202 answer names it, with `autoReason`)."},
            "priority": {"type": "string", "enum": ["normal", "low"], "default": "normal",
                         "description": "`low`: runs behind interactive jobs (batch work)."},
            "webhookUrl": {"type": "string", "format": "uri", "description": "Public http(s) URL; "
                           "private, loopback and link-local addresses are refused."},
            "webhookEvents": {"type": "array", "items": {"type": "string", "enum": ["progress", "completed", "failed"]},
                              "minItems": 1, "description": "Default: completed and failed."},
            "params": {
                "type": "object",
                "description": "The model's own parameters (also accepted at the top level).",
                "properties": {
                    "aspectRatio": {"type": "string", "examples": ["1:1", "16:9"]},
                    "resolution": {"type": "string", "examples": ["1K", "2K", "4K"]},
                    "quality": {"type": "string"},
                    "count": {"type": "integer", "minimum": 1},
                    "seed": {"type": "integer", "minimum": 0},
                    "negativePrompt": {"type": "string"},
                    "style": {"type": "string"},
                    "outputFormat": {"type": "string", "enum": ["png", "jpeg", "webp"]},
                    "images": {"type": "array", "items": BASE64_IMAGE},
                    "mask": BASE64_IMAGE,
                },
            },
        },
    },
    "JobAccepted": {
        "type": "object",
        "required": ["jobId", "status"],
        "properties": {"jobId": {"type": "string", "format": "uuid"}, "status": {"const": "QUEUED"},
                       "model": {"type": "string", "description": "The model an Auto request runs on."},
                       "autoReason": {"type": "string"}},
    },
    "Job": {
        "type": "object",
        "required": ["jobId", "status", "progress", "images", "error", "cost"],
        "properties": {
            "jobId": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED"]},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "model": {"type": "string"},
            "prompt": {"type": "string"},
            "count": {"type": "integer"},
            "source": {"type": "string"},
            "isDemo": {"type": "boolean"},
            "queuePosition": {
                "type": ["integer", "null"], "minimum": 1,
                "description": "While QUEUED: 1 for the next job to start (fair between members; batch rows after interactive jobs).",
            },
            "waitingFor": {
                "type": ["string", "null"],
                "description": "While QUEUED behind a provider's limit, e.g. \"Waiting for OpenAI capacity\".",
            },
            "createdAt": {"type": "string", "format": "date-time"},
            "startedAt": {"type": ["string", "null"]},
            "finishedAt": {"type": ["string", "null"]},
            "images": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["url", "expiresAt", "width", "height", "mimeType"],
                    "properties": {
                        "url": {"type": "string", "description": "Signed link, valid 7 days."},
                        "expiresAt": {"type": "string"},
                        "width": {"type": "integer"},
                        "height": {"type": "integer"},
                        "mimeType": {"type": "string"},
                    },
                },
            },
            "text": {"type": ["string", "null"]},
            "error": {
                "oneOf": [
                    {"type": "null"},
                    {"type": "object", "required": ["code", "message"],
                     "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
                ]
            },
            "cost": COST,
        },
    },
    "JobList": {
        "type": "object",
        "required": ["data", "hasMore", "nextCursor"],
        "properties": {
            "data": {"type": "array", "items": _ref("Job")},
            "hasMore": {"type": "boolean"},
            "nextCursor": {"type": ["string", "null"]},
        },
    },
}


@cache
def build_document() -> dict[str, Any]:
    """The whole document; pure data, so it is built once per process."""
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Studio API",
            "version": "1.0.0",
            "description": (
                "Image generation over the same jobs, credits and gallery as the studio. "
                "Authenticate with `Authorization: Bearer <key>` (create keys under Settings → API keys). "
                "Every error has the shape `{\"error\": {\"code\", \"message\", \"param\"}}`. "
                "Webhooks are signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, "
                "`webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`) with the key's "
                "`whsec_` secret; `webhook-id` stays the same across retries. Retries follow "
                "5 s, 5 min, 30 min, 2 h, 5 h, 10 h (7 attempts); 3xx counts as failure and 410 stops them."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
            "responses": {
                f"E{code}": {
                    "description": text,
                    "content": _json(_ref("Error")),
                    **({"headers": {"Retry-After": {"schema": {"type": "string"}}}} if code in ("429", "503") else {}),
                }
                for code, text in ERROR_CODES.items()
            },
        },
        "paths": {
            "/v1/models": {
                "get": {
                    "operationId": "listModels",
                    "summary": "Every enabled catalogue model, with tier, price, capabilities and sizes",
                    "parameters": [
                        {"name": "modality", "in": "query", "required": False,
                         "schema": {"type": "string", "default": "image"},
                         "description": "Only `image` has models; anything else lists none."}
                    ],
                    "responses": {"200": {"description": "The models", "content": _json(_ref("ModelList"))},
                                  **_errors("401", "429", "500")},
                }
            },
            "/v1/models/{model_id}": {
                "get": {
                    "operationId": "getModel",
                    "summary": "One model by id or alias",
                    "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "The model", "content": _json(_ref("Model"))},
                                  **_errors("401", "403", "404", "429", "500")},
                }
            },
            "/v1/images/generations": {
                "post": {
                    "operationId": "createImage",
                    "summary": "OpenAI-compatible generation (an edit when `image` is given); waits for the images",
                    "parameters": [IDEMPOTENCY],
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": GENERATION_REQUEST},
                        "multipart/form-data": {"schema": EDIT_MULTIPART | {"required": ["prompt"]}},
                    }},
                    "responses": {
                        "200": {"description": "The images, base64-encoded (or an SSE stream with stream=true)",
                                "content": {**_json(_ref("ImagesResponse")),
                                            "text/event-stream": {"schema": SSE_EVENT}}},
                        **_errors("400", "401", "402", "403", "409", "413", "415", "422", "429", "500", "502",
                                  "503", "504"),
                    },
                }
            },
            "/v1/images/edits": {
                "post": {
                    "operationId": "createImageEdit",
                    "summary": "OpenAI-compatible edit: image files (multipart) or base64 images (JSON)",
                    "parameters": [IDEMPOTENCY],
                    "requestBody": {"required": True, "content": {
                        "multipart/form-data": {"schema": EDIT_MULTIPART},
                        "application/json": {"schema": EDIT_REQUEST},
                    }},
                    "responses": {
                        "200": {"description": "The edited images",
                                "content": {**_json(_ref("ImagesResponse")),
                                            "text/event-stream": {"schema": SSE_EVENT}}},
                        **_errors("400", "401", "402", "403", "409", "413", "415", "422", "429", "500", "502",
                                  "503", "504"),
                    },
                }
            },
            "/v2/images/generate": {
                "post": {
                    "operationId": "generateAsync",
                    "summary": "Submit a job; poll /v2/jobs/{id} or receive webhooks",
                    "parameters": [IDEMPOTENCY],
                    "requestBody": {"required": True, "content": _json(_ref("GenerateRequest"))},
                    "responses": {
                        "202": {"description": "Accepted", "content": _json(_ref("JobAccepted")),
                                "headers": {"Location": {"schema": {"type": "string"}}}},
                        **_errors("400", "401", "402", "403", "409", "413", "415", "422", "429", "500", "503"),
                    },
                }
            },
            "/v2/jobs": {
                "get": {
                    "operationId": "listJobs",
                    "summary": "This key's user's jobs in its team, newest first",
                    "parameters": [
                        {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
                        {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
                        {"name": "status", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": ["queued", "running", "succeeded", "failed",
                                                               "canceled", "QUEUED", "RUNNING", "SUCCEEDED",
                                                               "FAILED", "CANCELED"]}},
                    ],
                    "responses": {"200": {"description": "A page of jobs", "content": _json(_ref("JobList"))},
                                  **_errors("400", "401", "429", "500")},
                }
            },
            "/v2/jobs/{job_id}": {
                "get": {
                    "operationId": "getJob",
                    "summary": "A job: status, progress, signed image links, error and cost",
                    "parameters": [job_id],
                    "responses": {"200": {"description": "The job", "content": _json(_ref("Job"))},
                                  **_errors("401", "404", "429", "500")},
                }
            },
            "/v2/jobs/{job_id}/cancel": {
                "post": {
                    "operationId": "cancelJob",
                    "summary": "Cancel a job that has not finished; its credits come back",
                    "parameters": [job_id, IDEMPOTENCY],
                    "responses": {"200": {"description": "The canceled job", "content": _json(_ref("Job"))},
                                  **_errors("400", "401", "403", "404", "409", "413", "415", "422", "429", "500")},
                }
            },
            "/v2/files/{token}": {
                "get": {
                    "operationId": "getSignedImage",
                    "summary": "An image original by signed link (no key needed; links last 7 days)",
                    "security": [],
                    "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "The image bytes",
                                "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
                        **_errors("403", "404", "500"),
                    },
                }
            },
        },
    }


# -- a readable summary for the docs page ---------------------------------------------------
def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        *_, kind, name = schema["$ref"].split("/")
        schema = document["components"][kind][name]
    return schema


def _type_label(document: dict[str, Any], schema: dict[str, Any]) -> str:
    schema = _resolve(document, schema)
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"] if v is not None)
    if "oneOf" in schema:
        return " or ".join(_type_label(document, s) for s in schema["oneOf"])
    kind = schema.get("type", "object")
    if kind == "array":
        return f"array of {_type_label(document, schema.get('items', {}))}"
    if isinstance(kind, list):
        return " | ".join(kind)
    bounds = [f"{k} {schema[k]}" for k in ("minimum", "maximum", "maxLength") if k in schema]
    return f"{kind} ({', '.join(bounds)})" if bounds else kind


def describe_operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten the document into what the docs page lists: fields, types, statuses."""
    operations = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            bodies = []
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                schema = _resolve(document, content["schema"])
                required = set(schema.get("required", []))
                fields = [
                    {
                        "name": name,
                        "type": _type_label(document, prop),
                        "required": name in required,
                        "description": _resolve(document, prop).get("description", ""),
                    }
                    for name, prop in schema.get("properties", {}).items()
                ]
                bodies.append({"media_type": media_type, "fields": fields})
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "anchor": operation.get("operationId", ""),
                    "public": operation.get("security") == [],
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": _type_label(document, p.get("schema", {})),
                            "description": p.get("description", ""),
                        }
                        for p in operation.get("parameters", [])
                    ],
                    "bodies": bodies,
                    "responses": [
                        {"status": status, "description": _resolve(document, response).get("description", "")}
                        for status, response in operation["responses"].items()
                    ],
                }
            )
    return operations
