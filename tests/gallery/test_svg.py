"""SVG sanitising: a corpus of payloads (scripts, handlers, href swaps, entities), none of which survives."""

from __future__ import annotations

import io
import re
import time

import pytest
from defusedxml.ElementTree import fromstring
from PIL import Image

from gallery import svg

HEAD = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="50">'
TAIL = '<rect id="r" width="10" height="10" fill="blue"/></svg>'


def wrap(body: str) -> bytes:
    return (HEAD + body + TAIL).encode()


PAYLOADS = {
    "script": wrap("<script>alert(1)</script>"),
    "script-cdata": wrap("<script><![CDATA[alert(1)]]></script>"),
    "onload-root": ('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">' + TAIL).encode(),
    "onclick": wrap('<rect width="5" height="5" onclick="alert(1)"/>'),
    "onmouseover-upper": wrap('<circle r="5" ONMOUSEOVER="alert(1)"/>'),
    "onbegin": wrap('<g onbegin="alert(1)"><rect width="1" height="1"/></g>'),
    "foreignObject": wrap('<foreignObject><body xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></body></foreignObject>'),
    "iframe-ns": wrap('<iframe xmlns="http://www.w3.org/1999/xhtml" src="javascript:alert(1)"/>'),
    "a-javascript": wrap('<a href="javascript:alert(1)"><text>click</text></a>'),
    "a-xlink-javascript": wrap('<a xlink:href="javascript:alert(1)"><text>click</text></a>'),
    "a-javascript-obfuscated": wrap('<a href="jav&#x09;ascript:alert(1)"><text>x</text></a>'),
    "a-javascript-entity-newline": wrap('<a href="java&#10;script:alert(1)"><text>x</text></a>'),
    "a-data-html": wrap('<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="><text>x</text></a>'),
    "image-data-svg": wrap('<image href="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+" width="5" height="5"/>'),
    "image-external": wrap('<image href="https://evil.example/x.png" width="5" height="5"/>'),
    "image-xlink-external": wrap('<image xlink:href="//evil.example/x.png" width="5" height="5"/>'),
    "use-external": wrap('<use href="https://evil.example/sprite.svg#icon"/>'),
    "use-xlink-external": wrap('<use xlink:href="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+#x"/>'),
    "set-href": wrap('<a><set attributeName="href" to="javascript:alert(1)"/><text>x</text></a>'),
    "animate-href": wrap('<a><animate attributeName="xlink:href" values="javascript:alert(1)"/><text>x</text></a>'),
    "animate-onbegin": wrap('<animate onbegin="alert(1)" attributeName="x" dur="1s"/>'),
    "animateMotion": wrap('<animateMotion path="M0 0" onend="alert(1)"/>'),
    "css-url-external": wrap('<rect width="5" height="5" style="fill:url(https://evil.example/track)"/>'),
    "css-url-fill-attr": wrap('<rect width="5" height="5" fill="url(https://evil.example/x#g)"/>'),
    "style-import": wrap("<style>@import url(https://evil.example/x.css); rect { fill: red }</style>"),
    "style-url": wrap('<style>rect { background: url("https://evil.example/x.png") }</style>'),
    "style-expression": wrap("<style>rect { width: expression(alert(1)) }</style>"),
    "feImage-external": wrap('<filter id="f"><feImage href="https://evil.example/x.png"/></filter>'),
    "handler-in-text-element": wrap('<text onfocus="alert(1)" tabindex="1">hi</text>'),
    "xml-stylesheet-pi": b'<?xml-stylesheet href="https://evil.example/x.css"?>' + wrap(""),
    "embed-object": wrap('<object xmlns="http://www.w3.org/1999/xhtml" data="javascript:alert(1)"/>'),
    "handler-on-gradient-stop": wrap('<linearGradient id="g"><stop offset="0" onload="alert(1)"/></linearGradient>'),
}
FORBIDDEN = re.compile(
    r"<script|onload|onclick|onmouseover|onbegin|onend|onfocus|foreignObject|iframe|javascript|"
    r"data:text|data:image/svg|evil\.example|<set|<animate|@import|expression\(|feImage|<object|xml-stylesheet",
    re.I,
)


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_payload_does_not_survive(name):
    clean = svg.sanitise_svg(PAYLOADS[name]).data.decode()
    assert not FORBIDDEN.search(clean), clean
    fromstring(clean.encode())  # still a well-formed document
    assert 'id="r"' in clean  # and the harmless drawing is kept


def test_corpus_is_large_enough():
    assert len(PAYLOADS) >= 25


def test_safe_drawing_survives_intact():
    source = (
        HEAD
        + '<defs><linearGradient id="g"><stop offset="0" stop-color="#f00"/></linearGradient></defs>'
        + '<a href="#r"><text x="2" y="10" font-size="8">Hello <tspan fill="red">there</tspan>!</text></a>'
        + '<use href="#r" x="20"/><path d="M0 0 L10 10" stroke="url(#g)"/>'
        + '<image href="data:image/png;base64,iVBORw0KGgo=" width="1" height="1"/>'
        + TAIL
    ).encode()
    clean = svg.sanitise_svg(source).data.decode()
    for kept in ('stop-color="#f00"', "Hello <tspan", "there</tspan>!", 'href="#r"', 'stroke="url(#g)"', "data:image/png;base64"):
        assert kept in clean, kept


@pytest.mark.parametrize(
    "bomb",
    [
        # billion laughs
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(f'<!ENTITY lol{i} "{"&lol{};".format(i - 1 if i > 1 else "") * 10}">'.encode() for i in range(1, 10))
        + b']><svg xmlns="http://www.w3.org/2000/svg"><text>&lol9;</text></svg>',
        # external entity
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>',
        # a bare DTD
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'
        b'<svg xmlns="http://www.w3.org/2000/svg"/>',
    ],
)
def test_dtds_and_entities_are_refused_fast(bomb):
    started = time.perf_counter()
    with pytest.raises(svg.UnsafeSvg, match="DTD or entities"):
        svg.sanitise_svg(bomb)
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html><body>hi</body></html>", "not an SVG"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><rect></svg>", "not well-formed"),
        (b"\x89PNG\r\n\x1a\n", "not well-formed"),
        (b'<svg xmlns="http://example.com/not-svg"/>', "not an SVG"),
    ],
)
def test_non_svg_is_refused(data, message):
    with pytest.raises(svg.UnsafeSvg, match=message):
        svg.sanitise_svg(data)


@pytest.mark.parametrize(
    ("attrs", "size"),
    [
        ('width="300" height="150"', (300, 150)),
        ('width="300px" height="150px"', (300, 150)),
        ('viewBox="0 0 640 480"', (640, 480)),
        ('width="200" viewBox="0 0 100 50"', (200, 100)),
        ('width="100%" height="100%" viewBox="0,0,30,60"', (30, 60)),
        ("", (1024, 1024)),
    ],
)
def test_dimensions(attrs, size):
    data = f'<svg xmlns="http://www.w3.org/2000/svg" {attrs}><rect width="1" height="1"/></svg>'.encode()
    clean = svg.sanitise_svg(data)
    assert (clean.width, clean.height) == size


def test_thumbnail_is_a_raster_of_the_drawing():
    data = svg.sanitise_svg(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="800" height="400">'
        b'<rect width="800" height="400" fill="#00ff00"/></svg>'
    )
    thumb = svg.svg_thumbnail(data.data, width=data.width, height=data.height)
    assert (thumb.width, thumb.height) == (512, 256)
    picture = Image.open(io.BytesIO(thumb.data))
    assert picture.format == "WEBP"
    red, green, blue = picture.convert("RGB").getpixel((10, 10))
    assert green > 200 and red < 40 and blue < 40


def test_thumbnail_without_a_rasteriser_is_a_labelled_tile(monkeypatch):
    monkeypatch.setattr(svg, "rasterise_svg", lambda data, width, height: None)
    thumb = svg.svg_thumbnail(b"<svg/>", width=300, height=100)
    assert (thumb.width, thumb.height) == (300, 100)
    assert Image.open(io.BytesIO(thumb.data)).format == "WEBP"


def test_oversized_svg_is_refused():
    with pytest.raises(svg.UnsafeSvg, match="too large"):
        svg.sanitise_svg(b"<svg>" + b" " * (svg.MAX_SVG_BYTES + 1) + b"</svg>")


def test_a_prefix_registered_elsewhere_in_the_process_does_not_leak_into_stored_drawings():
    """qrcode's SVG factory (the two-factor QR) registers "svg" as the prefix of the SVG namespace."""
    import xml.etree.ElementTree as ET

    ET.register_namespace("svg", svg.SVG_NS)
    try:
        clean = svg.sanitise_svg((HEAD + '<a href="#r"><text x="2" y="10">Hello <tspan>there</tspan></text></a>' + TAIL).encode())
        text = clean.data.decode()
        assert "<svg:" not in text and "<svg " in text and "Hello <tspan>there</tspan>" in text
    finally:
        ET.register_namespace("", svg.SVG_NS)
