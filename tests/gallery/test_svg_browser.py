"""U10 in a real browser: every payload of the SVG corpus, after sanitising, is put inline
into a page in headless Chromium (the most permissive place an SVG can be: unlike <img>,
inline SVG runs scripts, handlers and animations), hovered, clicked and given time to
animate; nothing may run. The raw payloads are the control: they do run there.

Skips without Debian's Chromium or playwright, except under CI=true (as tests/browser).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gallery import svg
from tests.gallery.test_svg import PAYLOADS

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.browser

HARNESS = """<!doctype html><html><body>
<script>window.fired = []; window.alert = function (v) { window.fired.push(String(v)); };</script>
%s
</body></html>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = ""
    if not CHROMIUM.exists():
        reason = f"Chromium at {CHROMIUM}"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = reason or "the playwright package"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"this test needs {reason} (.ci/run installs it)", pytrace=False)
        pytest.skip(f"this test needs {reason}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def fired_in(browser: Any, markup: str) -> list[str]:
    context = browser.new_context()
    page = context.new_page()
    # Nothing in the page may reach the network; any attempt shows up as a request.
    requests: list[str] = []
    page.route("**/*", lambda route: (requests.append(route.request.url), route.abort()))
    page.set_content(HARNESS % markup, wait_until="load")
    for element in page.query_selector_all("svg *"):
        try:
            element.hover(timeout=200, force=True)
            element.click(timeout=200, force=True, no_wait_after=True)
        except Exception:  # noqa: S112 - invisible or zero-size elements cannot be hovered
            continue
    page.wait_for_timeout(300)  # let SMIL animations begin and end
    fired = list(page.evaluate("window.fired"))
    context.close()
    return fired + [f"request {url}" for url in requests if not url.startswith("data:")]


def test_sanitised_payloads_run_nothing_inline(browser):
    body = "\n".join(
        svg.sanitise_svg(data).data.decode().split("?>", 1)[1] for data in PAYLOADS.values()
    )
    assert fired_in(browser, body) == []


def test_the_raw_payloads_do_run_there(browser):
    # The control: the harness sees execution when there is some.
    raw = PAYLOADS["onload-root"].decode() + PAYLOADS["script"].decode()
    assert fired_in(browser, raw)
