"""SVG outputs (Recraft's vector models): sanitise before storing, rasterise for thumbnails.

SVG is active XML (scripts, event handlers, external references), and HTML sanitisers do not
know SVG's own ways to run code (`<set>`/`<animate>` href swaps, `<use>`), so this
is an allowlist of our own over a defusedxml parse:
- DTDs and entities are refused outright (billion laughs fails at the first <!DOCTYPE>);
- only plain SVG drawing elements survive: no script, foreignObject, iframe, or any
  SMIL animation (`<set attributeName="href" to="javascript:…">` is how sanitisers
  have been bypassed, so animation goes entirely);
- only listed attributes survive, never `on*` handlers; `href` may only point inside
  the document (`#id`), or, on <image>, hold an inline raster `data:image/…;base64`;
- CSS (`style` attributes and <style> elements) loses @import and every url() that
  is not a local `#id`.
The result is re-serialised from the parsed tree, so nothing unparsed passes through.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from PIL import Image, ImageDraw

from gallery.imaging import ImageError, Thumbnail, encode

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
MAX_SVG_BYTES = 10 * 1024 * 1024
MAX_ELEMENTS = 200_000
DEFAULT_SIDE = 1024

ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)

ALLOWED_ELEMENTS = frozenset(
    """
    svg g defs symbol use switch title desc metadata
    path rect circle ellipse line polyline polygon
    text tspan textPath
    image marker pattern clipPath mask
    linearGradient radialGradient stop style
    filter feBlend feColorMatrix feComponentTransfer feComposite feConvolveMatrix
    feDiffuseLighting feDisplacementMap feDistantLight feDropShadow feFlood feFuncA
    feFuncB feFuncG feFuncR feGaussianBlur feMerge feMergeNode feMorphology feOffset
    fePointLight feSpecularLighting feSpotLight feTile feTurbulence
    """.split()  # noqa: SIM905 - a word list reads best as words
)
# Elements whose content is dropped with them; an <a> keeps its children as a <g>.
UNWRAP_AS_GROUP = frozenset({"a"})

ALLOWED_ATTRIBUTES = frozenset(
    """
    id class style transform lang xml:space tabindex
    x y x1 y1 x2 y2 cx cy r rx ry fx fy fr d points width height viewBox
    preserveAspectRatio version baseProfile
    fill fill-opacity fill-rule stroke stroke-width stroke-opacity stroke-linecap
    stroke-linejoin stroke-miterlimit stroke-dasharray stroke-dashoffset opacity
    color display visibility overflow clip-path clip-rule mask filter
    marker-start marker-mid marker-end markerWidth markerHeight markerUnits refX refY orient
    font-family font-size font-style font-weight font-variant font-stretch
    text-anchor dominant-baseline alignment-baseline baseline-shift letter-spacing
    word-spacing text-decoration writing-mode direction unicode-bidi dx dy rotate
    textLength lengthAdjust startOffset method spacing side path
    gradientUnits gradientTransform spreadMethod offset stop-color stop-opacity
    patternUnits patternContentUnits patternTransform clipPathUnits maskUnits
    maskContentUnits filterUnits primitiveUnits
    in in2 result mode type values tableValues slope intercept amplitude exponent
    k1 k2 k3 k4 operator radius stdDeviation edgeMode dx dy scale xChannelSelector
    yChannelSelector baseFrequency numOctaves seed stitchTiles order kernelMatrix
    divisor bias targetX targetY preserveAlpha surfaceScale diffuseConstant
    specularConstant specularExponent kernelUnitLength azimuth elevation z
    pointsAtX pointsAtY pointsAtZ limitingConeAngle flood-color flood-opacity
    lighting-color color-interpolation color-interpolation-filters
    shape-rendering text-rendering image-rendering vector-effect paint-order
    mix-blend-mode isolation pathLength
    href
    """.split()  # noqa: SIM905 - a word list reads best as words
)
RASTER_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp);base64,[A-Za-z0-9+/=\s]*$", re.I)
CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.I | re.S)
CSS_IMPORT = re.compile(r"@import[^;]*;?", re.I)
# Control characters and whitespace browsers ignore inside a scheme ("java\nscript:").
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20]+")
_LENGTH = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*(px)?\s*$", re.I)


class UnsafeSvg(ImageError):
    """An SVG we refuse to store (not an SVG, a DTD, entities, too large...)."""


@dataclass(frozen=True)
class SanitisedSvg:
    data: bytes
    width: int
    height: int


def sanitise_svg(data: bytes) -> SanitisedSvg:
    """Parse `data` safely and rebuild it from allowed elements and attributes only."""
    if len(data) > MAX_SVG_BYTES:
        raise UnsafeSvg(f"This SVG is too large ({len(data) / 1024 / 1024:.1f} MB).")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeSvg("This SVG declares a DTD or entities, which we do not accept.") from exc
    except ET.ParseError as exc:
        raise UnsafeSvg("This SVG is not well-formed XML.") from exc
    if _local(root.tag) != "svg" or _namespace(root.tag) not in ("", SVG_NS):
        raise UnsafeSvg("This file is not an SVG image.")
    count = sum(1 for _ in root.iter())
    if count > MAX_ELEMENTS:
        raise UnsafeSvg(f"This SVG has too many elements ({count}).")
    clean = _clean_element(root)
    if clean is None:  # cannot happen: the root is <svg>, which is allowed
        raise UnsafeSvg("This file is not an SVG image.")
    width, height = svg_dimensions(clean)
    # The prefix registry is process-wide: qrcode (the two-factor QR) registers "svg" for
    # this namespace, which turned every drawing stored after it into <svg:svg>.
    ET.register_namespace("", SVG_NS)
    body = ET.tostring(clean, encoding="unicode")
    return SanitisedSvg(('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode(), width, height)


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _local(tag: str) -> str:
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


def _clean_element(element: ET.Element) -> ET.Element | None:
    if not isinstance(element.tag, str):
        return None  # comments and processing instructions
    namespace, name = _namespace(element.tag), _local(element.tag)
    if namespace not in ("", SVG_NS):
        return None
    if name in UNWRAP_AS_GROUP:
        name = "g"
    elif name not in ALLOWED_ELEMENTS:
        return None
    clean = ET.Element(f"{{{SVG_NS}}}{name}")
    for key, value in element.attrib.items():
        kept = _clean_attribute(name, key, value)
        if kept is not None:
            clean.set(*kept)
    if name == "style":
        clean.text = clean_css(element.text or "")
        return clean
    clean.text = element.text
    for child in element:
        cleaned = _clean_element(child)
        if cleaned is not None:
            cleaned.tail = child.tail
            clean.append(cleaned)
        elif child.tail:
            # Keep the text that followed a dropped element (it belongs to the parent).
            if len(clean):
                clean[-1].tail = (clean[-1].tail or "") + child.tail
            else:
                clean.text = (clean.text or "") + child.tail
    return clean


def _clean_attribute(element: str, key: str, value: str) -> tuple[str, str] | None:
    namespace, name = _namespace(key), _local(key)
    if namespace == XLINK_NS and name == "href":
        name = "href"
    elif namespace == "http://www.w3.org/XML/1998/namespace" and name in ("space", "lang"):
        return (key, value)
    elif namespace:
        return None
    if name.lower().startswith("on") or name not in ALLOWED_ATTRIBUTES:
        return None
    if name == "href":
        href = value.strip()
        if href.startswith("#") and element != "image":
            return (f"{{{XLINK_NS}}}href" if namespace else "href", href)
        if element == "image" and RASTER_DATA_URL.match(href):
            return ("href", href)
        return None
    if name == "style":
        return (name, clean_css(value))
    if _scheme_of(value) in ("javascript", "vbscript", "data"):
        return None
    if "url(" in value.lower():
        return (name, _clean_urls(value))
    return (name, value)


def _scheme_of(value: str) -> str:
    squeezed = _IGNORED_IN_SCHEME.sub("", value).lower()
    return squeezed.split(":", 1)[0] if ":" in squeezed else ""


def _clean_urls(css: str) -> str:
    def replace(match: re.Match[str]) -> str:
        target = match.group(2).strip()
        return f"url({target})" if re.fullmatch(r"#[\w.:-]+", target) else "none"

    return CSS_URL.sub(replace, css)


def clean_css(css: str) -> str:
    """Drop @import and every url() that leaves the document; drop legacy script hooks."""
    css = CSS_IMPORT.sub("", css)
    css = _clean_urls(css)
    squeezed = _IGNORED_IN_SCHEME.sub("", css).lower()
    if "expression(" in squeezed or "javascript:" in squeezed or "behavior:" in squeezed:
        return ""
    return css


def svg_dimensions(root: ET.Element) -> tuple[int, int]:
    """Pixel size from width/height, else the viewBox, else a square default."""
    width = _length(root.get("width"))
    height = _length(root.get("height"))
    if width and height:
        return width, height
    parts = re.split(r"[\s,]+", (root.get("viewBox") or "").strip())
    if len(parts) == 4:
        try:
            vb_w, vb_h = float(parts[2]), float(parts[3])
        except ValueError:
            vb_w = vb_h = 0
        if vb_w > 0 and vb_h > 0:
            if width:
                return width, max(1, round(width * vb_h / vb_w))
            if height:
                return max(1, round(height * vb_w / vb_h)), height
            return max(1, round(vb_w)), max(1, round(vb_h))
    return DEFAULT_SIDE, DEFAULT_SIDE


def _length(value: str | None) -> int:
    match = _LENGTH.match(value or "")
    if not match:
        return 0
    number = float(match.group(1))
    return round(number) if 0 < number < 100_000 else 0


# -- rasterising ---------------------------------------------------------------------
def svg_thumbnail(data: bytes, *, width: int, height: int, max_side: int = 512) -> Thumbnail:
    """Rasterise a sanitised SVG to a WebP thumbnail.

    CairoSVG needs the system's libcairo; where it cannot load, draw a neutral tile of the
    right shape labelled "SVG" so the grid still has a thumbnail with the real proportions.
    """
    scale = min(1.0, max_side / max(width, height, 1))
    out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
    png = rasterise_svg(data, width=out_w, height=out_h)
    if png is None:
        tile = _labelled_tile(out_w, out_h)
    else:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as opened:
            opened.load()
            tile = opened.convert("RGBA")
    return Thumbnail(encode(tile, "WEBP", quality=80), tile.width, tile.height)


def rasterise_svg(data: bytes, *, width: int, height: int) -> bytes | None:
    """Return PNG bytes at `width` x `height`, or None when no rasteriser is available."""
    try:
        import cairosvg
    except (ImportError, OSError):  # cairocffi raises OSError when libcairo is missing
        return None
    try:
        return cairosvg.svg2png(
            bytestring=data,
            output_width=width,
            output_height=height,
            # unsafe=False: no entities, and only data: URLs are ever fetched.
            unsafe=False,
        )
    except Exception as exc:
        raise ImageError("This SVG could not be drawn.") from exc


def _labelled_tile(width: int, height: int) -> Image.Image:
    tile = Image.new("RGB", (width, height), (229, 231, 235))
    draw = ImageDraw.Draw(tile)
    draw.rectangle((0, 0, width - 1, height - 1), outline=(156, 163, 175), width=2)
    label = "SVG"
    box = draw.textbbox((0, 0), label)
    draw.text(((width - box[2]) / 2, (height - box[3]) / 2), label, fill=(75, 85, 99))
    return tile
