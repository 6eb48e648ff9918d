"""The input object most cog-style image models understand (Replicate, fal, DashScope).

Each model has its own input schema, and Replicate drops inputs a model does not declare
(replicate/cog#2943), so the common fields are sent as they are and the catalogue's
`options` name the model-specific ones.
"""

from __future__ import annotations

from typing import Any

from providers.backends._batches import seed_for
from providers.backends._http import data_uri
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest


def route_for(request: GenerationRequest) -> str:
    """Edits may go to another model/app (e.g. a Kontext or `/edit` route) named by the catalogue."""
    if request.references and request.options.get("edit_remote_model"):
        return str(request.options["edit_remote_model"])
    return request.remote_model


def size_inputs(request: GenerationRequest, default: str) -> dict[str, Any]:
    """The size in the field style the model uses: options["size_field"] or `default`.

    "aspect_ratio" -> "16:9"; "image_size" -> {"width", "height"} (fal); "width_height" -> two ints.
    """
    style = request.options.get("size_field", default)
    if style == "image_size":
        return {"image_size": {"width": request.width, "height": request.height}}
    if style == "width_height":
        return {"width": request.width, "height": request.height}
    return {"aspect_ratio": request.aspect_ratio}


def reference_inputs(request: GenerationRequest, *, single: str, multiple: str, family: str) -> dict[str, Any]:
    """References as data URIs, under the field the model reads.

    Defaults: one reference -> `single` (a string), several -> `multiple` (a list).
    options["reference_field"] names another field; options["reference_list"] says whether it is a list.
    """
    refs = request.references
    if not refs:
        return {}
    uris = [data_uri(ref) for ref in refs]
    field = request.options.get("reference_field")
    if field:
        as_list = bool(request.options.get("reference_list", len(uris) > 1))
    else:
        field, as_list = (single, False) if len(uris) == 1 else (multiple, True)
    if not as_list and len(uris) > 1:
        raise ProviderError(
            ErrorCode.INVALID_REQUEST, f"{family}: {request.model} takes one reference image", provider=family
        )
    return {field: uris if as_list else uris[0]}


def model_inputs(
    request: GenerationRequest,
    index: int,
    n: int,
    *,
    size_default: str,
    count_field: str,
    single_ref: str,
    multiple_refs: str,
    mask_field: str,
    family: str,
) -> dict[str, Any]:
    """The input object most image models on Replicate and fal understand."""
    inputs: dict[str, Any] = {"prompt": request.prompt, **size_inputs(request, size_default)}
    if n > 1:
        inputs[count_field] = n
    seed = seed_for(request.seed, index)
    if seed is not None:
        inputs["seed"] = seed
    if request.negative_prompt:
        inputs["negative_prompt"] = request.negative_prompt
    inputs.update(reference_inputs(request, single=single_ref, multiple=multiple_refs, family=family))
    if request.mask is not None:
        # Passed as painted (white = repaint): the FLUX Fill / SDXL inpaint convention.
        inputs[request.options.get("mask_field", mask_field)] = data_uri(request.mask)
    # Model-specific extras the catalogue fixes per model (guidance, safety level, …).
    inputs.update(request.options.get("input", {}))
    return inputs
