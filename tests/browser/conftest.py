"""Browser tests: Playwright driving Debian's Chromium against a live server and a real worker.

Without /usr/bin/chromium (or the playwright package) these tests skip with a message,
except under CI=true, where a missing browser is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from studio.models import Membership
from tests.worker import running_worker

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
PASSWORD = "pw-123-secret"  # tests/conftest.py's make_member password


def _unavailable(reason: str) -> None:
    message = f"browser tests need {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: .ci/run installs Debian's chromium)", pytrace=False)
    pytest.skip(f"{message}; install it with `apt-get install -y chromium` to run them")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per module (Debian's build; playwright never downloads one)."""
    if not CHROMIUM.exists():
        _unavailable(f"Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package (requirements-dev.txt)")
    # Playwright's sync API keeps an asyncio loop on this thread, which trips Django's
    # async-safety check on every ORM call the test makes; the calls are synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def shared_media(settings: Any) -> Path:
    """Put the live server's media where the worker process writes (STUDIO_DATA_DIR/media)."""
    media = Path(settings.STUDIO_DATA_DIR) / "media"
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media), "base_url": None},
        },
    }
    return media


@pytest.fixture
def worker(shared_media: Path, transactional_db: None) -> Iterator[Any]:
    """A real Celery worker (threads pool) sharing the test database, broker and media."""
    with running_worker(DJANGO_SETTINGS_MODULE="tests.browser.worker_settings") as process:
        yield process


@pytest.fixture
def page(chromium: Any, live_server: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1440, "height": 1000}, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """Save a numbered full-page screenshot under test-artifacts/browser/<test name>/."""
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    counter = {"n": 0}

    def take(page: Any, name: str, *, full_page: bool = True) -> Path:
        counter["n"] += 1
        path = folder / f"{counter['n']:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


def sign_in(page: Any, membership: Membership) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(membership.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login" not in url)


@pytest.fixture
def allow_live_host(settings: Any) -> None:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost", "127.0.0.1"]


def pick_model(page: Any, slug: str, query: str) -> Any:
    """Choose a model through the Create page's picker: open it, search, click the row."""
    page.locator("#mp-button").click()
    page.locator("#mp-search").fill(query)
    row = page.locator(f'.mp-opt[data-slug="{slug}"]')
    row.click()
    return row
