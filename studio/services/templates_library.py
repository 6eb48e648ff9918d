"""Prompt templates from Google's Gemini prompting guide (seed 003), as fill-in forms.

A template is data: its blanks and the sentence they complete. Filling one writes a
prompt into the composer; nothing here calls a provider or touches the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from studio.services.errors import ValidationFailed

FIELD_MAX = 300
RATIOS = ("1:1", "3:2", "2:3", "4:3", "3:4", "4:5", "5:4", "16:9", "9:16", "21:9")
_BLANK = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Blank:
    """One fill-in field. `choices` turns it into a select; `example` is the placeholder."""

    name: str
    label: str
    example: str = ""
    choices: tuple[str, ...] = ()
    required: bool = True


@dataclass(frozen=True)
class PromptTemplate:
    slug: str
    title: str
    summary: str
    text: str  # "{name}" marks a blank
    blanks: tuple[Blank, ...]
    needs_reference: bool = False
    # The blank whose value is also the composer's aspect ratio.
    ratio_blank: str = ""
    tips: tuple[str, ...] = field(default_factory=tuple)

    def render(self, values: Mapping[str, str]) -> str:
        """Fill the blanks; raise with a message beside each empty or overlong one."""
        errors: dict[str, str] = {}
        cleaned: dict[str, str] = {}
        for blank in self.blanks:
            value = " ".join(str(values.get(blank.name) or "").split())
            if blank.required and not value:
                errors[blank.name] = f"Fill in “{blank.label.lower()}”."
            elif len(value) > FIELD_MAX:
                errors[blank.name] = f"Keep this under {FIELD_MAX} characters ({len(value)} now)."
            elif blank.choices and value and value not in blank.choices:
                errors[blank.name] = f"Choose one of: {', '.join(blank.choices)}."
            cleaned[blank.name] = value
        if errors:
            raise ValidationFailed(errors)
        return _BLANK.sub(lambda m: cleaned[m.group(1)], self.text)


def _ratio(label: str = "Aspect ratio") -> Blank:
    return Blank("aspect_ratio", label, choices=RATIOS)


TEMPLATES: tuple[PromptTemplate, ...] = (
    PromptTemplate(
        slug="photorealistic",
        title="Photorealistic scene",
        summary="Photography terms — shot, lens, light — steer the model toward a realistic photo.",
        text=(
            "A photorealistic {shot_type} of {subject}, {action}, set in {environment}. "
            "The scene is illuminated by {lighting}, creating a {mood} atmosphere. "
            "Captured with a {camera}, emphasizing {details}. "
            "The image should be in a {aspect_ratio} format."
        ),
        blanks=(
            Blank("shot_type", "Shot type", "close-up portrait"),
            Blank("subject", "Subject", "an elderly Japanese ceramicist"),
            Blank("action", "Action or expression", "inspecting a freshly glazed tea bowl"),
            Blank("environment", "Environment", "his rustic, sun-drenched workshop"),
            Blank("lighting", "Lighting", "soft, golden-hour light streaming through a window"),
            Blank("mood", "Mood", "serene and masterful"),
            Blank("camera", "Camera and lens", "85mm portrait lens with a soft, blurred background"),
            Blank("details", "Key textures and details", "the fine texture of the clay and the fabric of his apron"),
            _ratio(),
        ),
        ratio_blank="aspect_ratio",
    ),
    PromptTemplate(
        slug="sticker",
        title="Sticker or icon",
        summary="Stylised assets: be explicit about the style and ask for a transparent background.",
        text=(
            "A {style} sticker of a {subject}, featuring {characteristics} and a {palette}. "
            "The design should have {line_style} and {shading}. The background must be transparent."
        ),
        blanks=(
            Blank("style", "Style", "kawaii-style"),
            Blank("subject", "Subject", "happy red panda"),
            Blank("characteristics", "Key characteristics", "a bamboo hat, munching on a green bamboo leaf"),
            Blank("palette", "Colour palette", "vibrant colour palette"),
            Blank("line_style", "Line style", "bold, clean outlines"),
            Blank("shading", "Shading style", "simple cel-shading"),
        ),
    ),
    PromptTemplate(
        slug="text-in-image",
        title="Text in an image",
        summary="Logos, posters, menus: give the exact text, describe the font and the design.",
        text=(
            'Create a {image_type} for {brand} with the text "{text}" in a {font}. '
            "The design should be {design}, with a {colours}."
        ),
        blanks=(
            Blank("image_type", "Kind of image", "modern, minimalist logo"),
            Blank("brand", "Brand or concept", "a coffee shop called 'The Daily Grind'"),
            Blank("text", "Text to render", "The Daily Grind"),
            Blank("font", "Font style (described)", "clean, bold, sans-serif font"),
            Blank("design", "Design style", "simple and elegant, with a coffee bean worked into the lettering"),
            Blank("colours", "Colour scheme", "black and white colour scheme"),
        ),
        tips=("Gemini 3 Pro Image and Ideogram render text best.",),
    ),
    PromptTemplate(
        slug="product-mockup",
        title="Product mock-up",
        summary="Clean, studio-lit product shots for e-commerce, advertising or branding.",
        text=(
            "A high-resolution, studio-lit product photograph of a {product} on a {surface}. "
            "The lighting is a {lighting} to {purpose}. The camera angle is a {angle} to showcase "
            "{feature}. Ultra-realistic, with sharp focus on {detail}. {aspect_ratio}."
        ),
        blanks=(
            Blank("product", "Product", "minimalist ceramic coffee mug in matte black"),
            Blank("surface", "Surface or background", "polished concrete surface"),
            Blank("lighting", "Lighting set-up", "three-point softbox setup"),
            Blank("purpose", "What the light should do", "create soft, diffused highlights and eliminate harsh shadows"),
            Blank("angle", "Camera angle", "slightly elevated 45-degree shot"),
            Blank("feature", "Feature to showcase", "its clean lines"),
            Blank("detail", "Key detail in focus", "the steam rising from the coffee"),
            _ratio(),
        ),
        ratio_blank="aspect_ratio",
    ),
    PromptTemplate(
        slug="minimalist",
        title="Minimalist, negative space",
        summary="Backgrounds for sites and slides where text will be overlaid.",
        text=(
            "A minimalist composition featuring a single {subject} positioned in the {position} "
            "of the frame. The background is a vast, empty {colour} canvas, creating significant "
            "negative space. Soft, subtle lighting. {aspect_ratio}."
        ),
        blanks=(
            Blank("subject", "Subject", "delicate red maple leaf"),
            Blank("position", "Position", choices=("bottom-right", "bottom-left", "top-right", "top-left", "centre")),
            Blank("colour", "Background colour", "off-white"),
            _ratio(),
        ),
        ratio_blank="aspect_ratio",
    ),
    PromptTemplate(
        slug="comic-panel",
        title="Comic panel or storyboard",
        summary="Sequential art; attach a character image for consistency across panels.",
        text="Make a {panels} panel comic in a {style}. Put the character in a {scene}.",
        blanks=(
            Blank("panels", "Panels", choices=("2", "3", "4", "6")),
            Blank("style", "Art style", "gritty, noir art style with stark black-and-white inks"),
            Blank("scene", "Kind of scene", "rain-soaked city street at night"),
        ),
        tips=("Works best with Gemini 3 Pro Image.",),
    ),
    PromptTemplate(
        slug="edit-elements",
        title="Edit: add or remove something",
        summary="Give an image and describe the change; the model keeps its style, light and perspective.",
        text=(
            "Using the provided image of {subject}, please {action} {element}. "
            "Ensure the change is {integration}."
        ),
        blanks=(
            Blank("subject", "What the image shows", "my cat"),
            Blank("action", "Change", choices=("add", "remove", "modify")),
            Blank("element", "Element", "a small, knitted wizard hat on its head"),
            Blank("integration", "How it should blend in", "seamless, matching the soft lighting of the photo"),
        ),
        needs_reference=True,
    ),
    PromptTemplate(
        slug="edit-inpaint",
        title="Edit: change only one part",
        summary="Semantic inpainting: change one element and keep everything else exactly the same.",
        text=(
            "Using the provided image, change only the {element} to {replacement}. Keep everything "
            "else in the image exactly the same, preserving the original style, lighting, and composition."
        ),
        blanks=(
            Blank("element", "Element to change", "blue sofa"),
            Blank("replacement", "What it becomes", "a vintage, brown leather chesterfield sofa"),
        ),
        needs_reference=True,
        tips=("With GPT Image, Ideogram or Recraft you can also paint a mask.",),
    ),
    PromptTemplate(
        slug="style-transfer",
        title="Style transfer",
        summary="Re-create a photo's content in another artistic style, keeping its composition.",
        text=(
            "Transform the provided photograph of {subject} into the artistic style of {style}. "
            "Preserve the original composition but render it with {elements}."
        ),
        blanks=(
            Blank("subject", "What the photo shows", "a modern city street at night"),
            Blank("style", "Artist or art style", "Vincent van Gogh's 'Starry Night'"),
            Blank("elements", "Stylistic elements", "swirling, impasto brushstrokes and a palette of deep blues and bright yellows"),
        ),
        needs_reference=True,
    ),
)

BY_SLUG = {template.slug: template for template in TEMPLATES}


def get_template(slug: str) -> PromptTemplate | None:
    return BY_SLUG.get(slug)
