"""Every page at 375 px and 1440 px, as a designer, a team admin, a viewer and a visitor.

Each visit saves a screenshot under var/screenshots/<who>-<page>-<width>.png (the path is
printed; CI keeps the folder as an artifact) and fails on any console error or warning, on
an axe-core finding rated serious or critical, on sideways scrolling, or on a page heavier
than 150 KB before images. Keyboard-only runs cover the model picker, the lightbox and
putting images on a board.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from gallery import services as gallery_services
from gallery.models import Board, BoardItem, Favourite, Image, Visibility
from providers.catalog import sync_catalog
from providers.models import CatalogModel
from studio.models import Job, Membership, Role
from studio.services import team as team_services
from studio.services.jobs.settle import image_origin
from tests.browser.conftest import sign_in
from tests.images import make_pattern

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "var" / "screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
AXE_URL = "/__test_assets__/axe.min.js"  # served by the test itself (page.route), never a CDN
WIDTHS = (375, 1440)
PAGE_BUDGET = 150 * 1024
RATIOS = [("1:1", 640, 640), ("16:9", 896, 504), ("9:16", 504, 896), ("4:3", 768, 576), ("3:4", 576, 768),
          ("21:9", 1008, 432), ("3:2", 720, 480), ("1:1", 600, 600), ("2:3", 480, 720), ("16:9", 960, 540)]


@dataclass
class Cast:
    designer: Membership
    admin: Membership
    viewer: Membership
    images: list[Image]
    board: Board
    thread: Job
    share_token: str


def _job(member: Membership, model: CatalogModel, prompt: str, ratio: str, *, parent: Job | None = None,
         when: datetime.datetime | None = None) -> Job:
    # Finished jobs as the job services leave them; the browser tests read, they do not run them.
    job = Job.objects.create(
        team=member.team, user=member.user, catalog_model=model, model_slug=model.slug, prompt=prompt,
        params={"aspect_ratio": ratio, "seed": 7, "resolution": "default"}, credits_per_image=model.credits_per_image,
        credits_held=model.credits_per_image, credits_charged=model.credits_per_image, hold_state="settled", provider_family=model.family,
        status="succeeded", parent=parent, progress=100,
    )
    if when is not None:
        Job.objects.filter(pk=job.pk).update(created_at=when)
        # _image dates the image from this instance: the gallery then spans several days.
        job.created_at = when
    return job


def _image(job: Job, width: int, height: int, variant: int) -> Image:
    stored = gallery_services.save_image_file(data=make_pattern(width, height, variant=variant), mime_type="image/png")
    image = gallery_services.create_image(origin=image_origin(job), index=0, stored=stored)
    Image.objects.filter(pk=image.pk).update(visibility=Visibility.TEAM, created_at=job.created_at)
    image.refresh_from_db()
    return image


@pytest.fixture
def cast(team: Any, make_member: Any, shared_media: Path) -> Cast:
    sync_catalog()
    owner = Membership.objects.get(team=team, role=Role.OWNER)
    designer = make_member("dana", balance=1000)
    admin = make_member("ada", role=Role.ADMIN, balance=0)
    viewer = make_member("vic", role=Role.VIEWER, balance=0)
    team_services.set_tier_access(actor=owner, tier="ultra", blocked=True)
    models = list(CatalogModel.objects.filter(enabled=True).exclude(tier="ultra").order_by("credits_per_image")[:6])
    prompts = ["A lighthouse on a cliff at dusk, 85mm", "Poster: a jazz night in Lisbon, bold type",
               "A red fox in fresh snow", "Isometric tiny office, soft light", "A glass of iced coffee, studio shot",
               "Botanical print of ferns", "Neon alley in the rain", "A ceramic teapot, product photo",
               "Mountain lake at sunrise", "Logo sketch: a paper crane"]
    now = timezone.now()
    images = []
    for i, (ratio, w, h) in enumerate(RATIOS):
        when = now - datetime.timedelta(days=i // 4, hours=i)
        job = _job(designer, models[i % len(models)], prompts[i], ratio, when=when)
        images.append(_image(job, w, h, i + 1))
    editing = CatalogModel.objects.get(slug="gemini-2.5-flash-image")
    root = _job(designer, editing, "A cosy reading corner with a green armchair", "4:3")
    images.append(_image(root, 768, 576, 20))
    turn = _job(designer, editing, "Make the lighting warmer", "4:3", parent=root)
    images.append(_image(turn, 768, 576, 21))
    board = gallery_services.create_board(user=designer.user, team_id=team.pk, name="Campaign ideas")
    gallery_services.add_images_to_board(board=board, user=designer.user, image_ids=[i.pk for i in images[:3]])
    gallery_services.create_board(user=designer.user, team_id=team.pk, name="Textures")
    gallery_services.set_favourite(image=images[1], user=designer.user, favourite=True)
    link = gallery_services.create_share_link(image=images[0], user=designer.user, expires_in_days=None)
    return Cast(designer, admin, viewer, images, board, turn, link.token)


def _pages(cast: Cast) -> dict[str, list[tuple[str, str]]]:
    image, thread = cast.images[0], cast.thread
    return {
        "designer": [
            ("create", "/"),
            ("create-blocked-link", "/?model=recraft-v4-pro"),
            ("compare", reverse("studio:compare")),
            ("batch", reverse("studio:batch")),
            ("templates", reverse("studio:templates")),
            ("thread", reverse("studio:job_detail", args=[thread.public_id])),
            ("gallery", reverse("gallery:team")),
            ("my-images", reverse("gallery:mine")),
            ("gallery-by-day", reverse("gallery:team") + "?group=day"),
            ("my-images-by-thread", reverse("gallery:mine") + "?group=thread"),
            ("boards", reverse("gallery:boards")),
            ("board", reverse("gallery:board", args=[cast.board.pk])),
            ("image", reverse("gallery:detail", args=[cast.images[-1].pk])),
            ("trash", reverse("gallery:trash")),
            ("credits", reverse("studio:credits")),
            ("team", reverse("team:overview")),
            ("ledger", reverse("team:ledger")),
            ("api-keys", reverse("api_ui:keys")),
        ],
        "admin": [
            ("members", reverse("team:members")),
            ("team-credits", reverse("team:credits")),
            ("access", reverse("team:access")),
            ("reports", reverse("team:reports")),
            ("audit", reverse("team:audit")),
            ("ledger", reverse("team:ledger")),
        ],
        "viewer": [
            ("home", "/"),
            ("gallery", reverse("gallery:team")),
            ("image", reverse("gallery:detail", args=[image.pk])),
            ("forbidden", reverse("team:members")),
        ],
        "visitor": [
            ("login", reverse("login")),
            ("signup", reverse("signup")),
            ("shared", reverse("gallery:shared", args=[cast.share_token])),
        ],
    }


class Visit:
    """One browser context per role: console, weight and axe checks around each page."""

    def __init__(self, chromium: Any, base_url: str, who: str) -> None:
        self.context = chromium.new_context(viewport={"width": 1440, "height": 1000}, base_url=base_url)
        self.context.set_default_timeout(15_000)
        self.context.route(f"**{AXE_URL}", lambda route: route.fulfill(path=str(AXE), content_type="text/javascript"))
        self.page = self.context.new_page()
        self.who = who
        self.problems: list[str] = []
        self.failures: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text} ({message.location.get('url', '')})")

    def check(self, name: str, url: str, width: int, *, status: int | None = None) -> Path:
        page = self.page
        page.set_viewport_size({"width": width, "height": 1000 if width > 800 else 800})
        self.problems.clear()
        response = page.goto(url, wait_until="networkidle")
        if status is not None:
            assert response.status == status, (url, response.status)
        else:
            assert response.ok, (url, response.status)
        where = f"{self.who} {name} at {width} px"
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            self.failures.append(f"{where}: scrolls sideways by {overflow} px")
        weight = page.evaluate(
            """() => {
                const nav = performance.getEntriesByType('navigation')[0];
                const parts = performance.getEntriesByType('resource').filter(r => r.initiatorType !== 'img' && !/\\/(thumbnail|original)\\/|\\.(png|webp|jpe?g|svg)(\\?|$)/.test(r.name));
                return (nav ? nav.decodedBodySize : 0) + parts.reduce((sum, r) => sum + r.decodedBodySize, 0);
            }"""
        )
        if weight > PAGE_BUDGET:
            self.failures.append(f"{where}: {weight} bytes before images")
        page.add_script_tag(url=AXE_URL)
        findings = page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ['violations']});
                return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
            }"""
        )
        SCREENS.mkdir(parents=True, exist_ok=True)
        path = SCREENS / f"{self.who}-{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path.relative_to(ROOT)} ({weight / 1024:.1f} KB before images)")
        # Collected, not raised: one run lists every page's findings.
        if findings:
            self.failures.append(f"{where}: axe found {findings}")
        # A page answered with the status asked for (the 403 page) logs that status once: expected.
        expected = f"status of {status} " if status else None
        problems = [p for p in self.problems if not (expected and expected in p and url in p)]
        if problems:
            self.failures.append(f"{where}: {problems}")
        return path

    def close(self) -> None:
        self.context.close()


def _sign_in(visit: Visit, member: Membership) -> None:
    sign_in(visit.page, member)


def test_every_page_at_375_and_1440(chromium: Any, live_server: Any, cast: Cast, allow_live_host: None) -> None:
    members = {"designer": cast.designer, "admin": cast.admin, "viewer": cast.viewer}
    failures: list[str] = []
    for who, pages in _pages(cast).items():
        visit = Visit(chromium, live_server.url, who)
        try:
            if who in members:
                _sign_in(visit, members[who])
            for name, url in pages:
                for width in WIDTHS:
                    visit.check(name, url, width, status=403 if name == "forbidden" else None)
            failures += visit.failures
        finally:
            visit.close()
    assert failures == [], "\n".join(failures)


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _tab_to(page: Any, selector: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_model_picker_by_keyboard(chromium: Any, live_server: Any, cast: Cast, allow_live_host: None) -> None:
    expect = _expect()
    visit = Visit(chromium, live_server.url, "designer")
    page = visit.page
    try:
        _sign_in(visit, cast.designer)
        page.goto("/", wait_until="networkidle")
        _tab_to(page, "#mp-button")
        page.keyboard.press("Enter")
        expect(page.locator("#mp-pop")).to_be_visible()
        assert page.evaluate("document.activeElement.id") == "mp-search"
        page.keyboard.type("nano banana pro")
        row = page.locator('.mp-opt[data-slug="gemini-3-pro-image"]')
        expect(row).to_contain_text("70 cr")
        expect(row).to_contain_text("references ≤ 14")
        expect(page.locator('.mp-opt[data-slug="imagen-4-fast"]')).to_have_count(0)
        page.keyboard.press("ArrowDown")
        assert page.evaluate("document.activeElement.dataset.slug") == "gemini-3-pro-image"
        expect(page.locator("#mp-desc")).to_contain_text("Nano Banana Pro")
        page.keyboard.press("f")  # favourite it
        expect(page.locator('.mp-fav[data-fav="gemini-3-pro-image"]')).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("Enter")
        expect(page.locator("#mp-pop")).to_be_hidden()
        assert page.evaluate("document.activeElement.id") == "mp-button"
        expect(page.locator("#composer-options .model-info")).to_contain_text("Nano Banana Pro")
        expect(page.locator("#price")).to_contain_text("1 × 70 = 70 credits")
        # Reopened: favourites on top; tiers fold; blocked models say why; sort by price.
        page.keyboard.press("Enter")
        expect(page.locator(".mp-group").first).to_contain_text("Favourites")
        ultra = page.locator('.mp-gh[data-key="ultra"]')
        expect(ultra).to_be_visible()
        expect(page.locator('.mp-opt[data-slug="recraft-v4-pro"]')).to_have_attribute("aria-disabled", "true")
        expect(page.locator('.mp-opt[data-slug="recraft-v4-pro"]')).to_contain_text("Blocked by your team")
        page.locator("#mp-sort").select_option("asc")
        prices = page.eval_on_selector_all('.mp-rows[aria-label="Standard"] .mp-opt .p', "els => els.map(e => parseInt(e.textContent))")
        assert prices == sorted(prices) and prices
        page.keyboard.press("Escape")
        expect(page.locator("#mp-pop")).to_be_hidden()
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.keyboard.press("Enter")
        page.screenshot(path=str(SCREENS / "designer-picker-open-1440.png"))
        print(f"screenshot: {(SCREENS / 'designer-picker-open-1440.png').relative_to(ROOT)}")
        assert visit.problems == [], visit.problems
    finally:
        visit.close()


def test_lightbox_and_board_by_keyboard(chromium: Any, live_server: Any, cast: Cast, allow_live_host: None) -> None:
    expect = _expect()
    visit = Visit(chromium, live_server.url, "designer")
    page = visit.page
    try:
        _sign_in(visit, cast.designer)
        page.goto(reverse("gallery:mine"), wait_until="networkidle")
        _tab_to(page, "a[data-lightbox]")
        first_pk = int(page.evaluate("document.activeElement.dataset.pk"))
        page.keyboard.press("Enter")
        box = page.locator("#lightbox")
        expect(box).to_be_visible()
        count = page.locator("#lb-count")
        total = Image.objects.filter(owner=cast.designer.user).count()
        expect(count).to_have_text(f"1 / {total}")
        page.keyboard.press("ArrowRight")
        expect(count).to_have_text(f"2 / {total}")
        page.keyboard.press("ArrowLeft")
        expect(count).to_have_text(f"1 / {total}")
        page.keyboard.press("z")
        expect(page.locator("#lb-stage")).to_have_class("lb-stage zoomed")
        page.keyboard.press("z")
        page.keyboard.press("f")
        expect(page.locator("#lb-status")).to_have_text("Added to your favourites")
        assert Favourite.objects.filter(user=cast.designer.user, image_id=first_pk).exists()
        # B: choose a board, B again adds the image to it.
        page.keyboard.press("b")
        assert page.evaluate("document.activeElement.id") == "lb-board"
        page.keyboard.press("ArrowDown")  # "Campaign ideas" → "Textures"
        page.keyboard.press("b")
        expect(page.locator("#lb-status")).to_have_text("Added to “Textures”.")
        assert BoardItem.objects.filter(board__name="Textures", image_id=first_pk).exists()
        SCREENS.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 1000 if width > 800 else 800})
            path = SCREENS / f"designer-lightbox-{width}.png"
            page.screenshot(path=str(path))
            print(f"screenshot: {path.relative_to(ROOT)}")
        page.keyboard.press("Escape")
        expect(box).to_be_hidden()
        assert int(page.evaluate("document.activeElement.dataset.pk")) == first_pk
        assert visit.problems == [], visit.problems
    finally:
        visit.close()


def test_a_renamed_non_image_is_refused_at_once(chromium: Any, live_server: Any, cast: Cast, allow_live_host: None) -> None:
    expect = _expect()
    visit = Visit(chromium, live_server.url, "designer")
    page = visit.page
    try:
        _sign_in(visit, cast.designer)
        page.goto("/?model=gpt-image-1-mini-low", wait_until="networkidle")
        page.locator("#id_references").set_input_files(
            [{"name": "notes.png", "mimeType": "image/png", "buffer": b"these are meeting notes, not pixels"},
             {"name": "real.png", "mimeType": "image/png", "buffer": make_pattern(120, 80, variant=2)}]
        )
        expect(page.locator("#refs-error")).to_have_text(
            "notes.png: not a readable image (the file's content is not what its name says), so not added."
        )
        expect(page.locator("#ref-list li .name")).to_have_text(["1. real.png"])
        assert page.evaluate("document.querySelector('#id_references').files.length") == 1
        assert visit.problems == [], visit.problems
    finally:
        visit.close()


def test_image_page_is_the_image_not_a_5900_px_scroll(chromium: Any, live_server: Any, cast: Cast, allow_live_host: None) -> None:
    visit = Visit(chromium, live_server.url, "designer")
    page = visit.page
    try:
        _sign_in(visit, cast.designer)
        root = cast.images[-2]
        page.goto(reverse("gallery:detail", args=[root.pk]), wait_until="networkidle")
        height = page.evaluate("document.documentElement.scrollHeight")
        hero = page.locator(".hero img").bounding_box()
        strip = page.locator(".strip-item").first.bounding_box()
        assert height < 2200, height
        assert strip["height"] == 140
        assert hero["height"] <= 1000 - 100, hero  # fits the window, leaves room for the header
    finally:
        visit.close()


def test_before_after_slider_by_keyboard(chromium: Any, live_server: Any, cast: Cast, allow_live_host: None) -> None:
    # The thread's second turn continues the first (Gemini keeps the history): its source is the first image.
    turn = cast.images[-1]
    url = reverse("gallery:detail", args=[turn.pk])
    visit = Visit(chromium, live_server.url, "designer")
    page = visit.page
    try:
        _sign_in(visit, cast.designer)
        page.goto(url, wait_until="networkidle")
        expect = _expect()
        slider = page.get_by_label("Before ↔ after")
        expect(page.locator(".compare")).to_have_class("compare sliding")
        expect(slider).to_be_visible()
        _tab_to(page, "#compare-range", limit=120)
        pair = page.locator(".compare-pair")

        def position() -> tuple[str, str, str]:
            return (slider.input_value(), pair.evaluate("e => e.style.getPropertyValue('--pos')"),
                    page.locator(".compare-before").evaluate("e => getComputedStyle(e).clipPath"))

        assert position()[:2] == ("50", "50%")
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        value, pos, clip = position()
        assert (value, pos) == ("53", "53%") and "47%" in clip, clip
        for _ in range(5):
            page.keyboard.press("ArrowLeft")
        assert position()[:2] == ("48", "48%")
        assert slider.get_attribute("aria-valuetext") == "48% before"
        page.keyboard.press("End")
        assert position()[:2] == ("100", "100%")
        page.keyboard.press("Home")
        assert position()[:2] == ("0", "0%")
        for _ in range(40):
            page.keyboard.press("ArrowRight")
        assert position()[:2] == ("40", "40%")
        page.locator(".compare").scroll_into_view_if_needed()
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENS / "designer-before-after-1440.png"), full_page=True)
        assert visit.problems == [], visit.problems
    finally:
        visit.close()
    # Without JS: the source beside the result, each with its caption, and no slider.
    context = chromium.new_context(viewport={"width": 1440, "height": 1000}, base_url=live_server.url, java_script_enabled=False)
    try:
        plain = context.new_page()
        sign_in(plain, cast.designer)
        plain.goto(url)
        before, after = plain.locator(".compare-before"), plain.locator(".compare-after")
        assert "Before" in before.locator("figcaption").inner_text() and "After" in after.locator("figcaption").inner_text()
        b, a = before.bounding_box(), after.bounding_box()
        assert b["x"] + b["width"] <= a["x"] and abs(b["y"] - a["y"]) < 2, (b, a)
        assert not plain.locator("#compare-range").is_visible()
        plain.screenshot(path=str(SCREENS / "designer-before-after-nojs-1440.png"), full_page=True)
    finally:
        context.close()
