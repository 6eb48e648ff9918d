"""A designer's session in a real browser: Chromium, a live server and a real Celery worker.

Each step saves a screenshot under test-artifacts/browser/<test>/.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from django.urls import reverse
from PIL import Image as PILImage

from gallery.models import Image
from providers.catalog import sync_catalog
from studio.models import Job, JobInput, JobStatus
from studio.services import credits
from tests.browser.conftest import pick_model, sign_in
from tests.images import make_pattern
from tests.worker import worker_log

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

JOB_TIMEOUT = 90_000  # ms: a worker start plus a 4-second demo render, with room to spare


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _png_file(name: str, width: int, height: int, variant: int) -> dict[str, Any]:
    return {"name": name, "mimeType": "image/png", "buffer": make_pattern(width, height, variant=variant)}


def _drop_file(page: Any, selector: str, name: str, data: bytes) -> None:
    """Drop a file on `selector` the way a desktop drag does (a DragEvent carrying a DataTransfer)."""
    page.evaluate(
        """([selector, name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type: "image/png"}));
            const target = document.querySelector(selector);
            for (const type of ["dragenter", "dragover", "drop"]) {
                target.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
            }
        }""",
        [selector, name, list(data)],
    )


def _first_card(page: Any) -> Any:
    return page.locator("#jobs article.job").first


def _wait_for_image(page: Any, selector: str) -> None:
    page.wait_for_function(
        """(selector) => { const img = document.querySelector(selector);
                            return img && img.complete && img.naturalWidth > 0; }""",
        arg=selector,
        timeout=JOB_TIMEOUT,
    )


def test_designer_session_end_to_end(page, worker, designer, shot, allow_live_host):
    expect = _expect()
    sync_catalog()

    # 1. Sign in.
    sign_in(page, designer)
    expect(page.get_by_role("heading", name="Create")).to_be_visible()
    expect(page.locator("#credit-badge")).to_contain_text("1,000")
    shot(page, "signed-in")

    # 2. Pick a premium model through the picker's search box.
    page.locator("#mp-button").click()
    page.get_by_label("Search models").fill("nano banana pro")
    premium = page.locator('.mp-opt[data-slug="gemini-3-pro-image"]')
    expect(premium).to_be_visible()
    expect(premium).to_contain_text("70 cr")
    expect(premium).to_contain_text("references ≤ 14")
    expect(page.locator('.mp-opt[data-slug="imagen-4-fast"]')).to_have_count(0)
    premium.click()
    options = page.locator("#composer-options")
    expect(options.locator(".model-info")).to_contain_text("Nano Banana Pro (Gemini 3 Pro) · Premium")
    expect(page.locator("#refs-max")).to_have_text("up to 14")
    expect(page.get_by_label("Resolution", exact=True)).to_be_visible()
    shot(page, "premium-model")

    # 3. Choose 16:9 at 1K: the exact output size is shown.
    ratio = page.get_by_label("Aspect ratio", exact=True)
    ratio.select_option("16:9")
    expect(ratio.locator("option:checked")).to_have_text("16:9 → 2752×1536")  # the model's default 2K
    page.get_by_label("Resolution", exact=True).select_option("1K")
    expect(ratio.locator("option:checked")).to_have_text("16:9 → 1376×768")
    shot(page, "ratio-16-9")

    # 4. Attach references: two picked, one dropped; remove one, reorder the others.
    page.locator("#id_references").set_input_files(
        [_png_file("first.png", 320, 200, 1), _png_file("second.png", 200, 320, 2)]
    )
    _drop_file(page, "#refs", "third.png", make_pattern(240, 240, variant=3))
    names = page.locator("#ref-list li .name")
    expect(names).to_have_text(["1. first.png", "2. second.png", "3. third.png"])
    page.get_by_role("button", name="Remove third.png").click()
    page.get_by_role("button", name="Move second.png earlier").click()
    expect(names).to_have_text(["1. second.png", "2. first.png"])
    expect(page.locator("#refs-status")).to_have_text("2 reference images attached, in this order.")
    shot(page, "two-references")

    # 5. Write the prompt, read the price, submit.
    page.get_by_label("Prompt", exact=True).fill("A lighthouse on a cliff at dusk, photorealistic, 85mm lens")
    price = page.locator("#price")
    expect(price).to_contain_text("1 × 70 = 70 credits")
    expect(price).to_contain_text("balance after: 930")
    page.get_by_role("button", name="Generate").click()
    expect(_first_card(page)).to_be_visible()
    expect(page.locator("#credit-badge")).to_contain_text("930")  # held at submit
    shot(page, "submitted")

    # 6. Watch progress: a running card with a moving bar and the elapsed time.
    page.wait_for_function(
        """() => { const card = document.querySelector('#jobs article.job');
                    return card && card.dataset.status === 'running' && card.querySelector('progress').value > 0; }""",
        timeout=JOB_TIMEOUT,
    )
    expect(_first_card(page)).to_contain_text("elapsed")
    expect(_first_card(page).get_by_role("button", name="Cancel")).to_be_visible()
    shot(page, "progress")

    # 7. See the image.
    expect(_first_card(page)).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT)
    _wait_for_image(page, "#jobs article.job .thumbs img")
    job = Job.objects.get()
    assert job.status == JobStatus.SUCCEEDED, (job.error_message, worker_log())
    refs = job.inputs.filter(kind=JobInput.Kind.REFERENCE).order_by("position")
    assert [r.original_name for r in refs] == ["second.png", "first.png"]
    assert [(r.width, r.height) for r in refs] == [(200, 320), (320, 200)]
    image = job.images.get()
    assert (image.width, image.height) == (1376, 768)
    shot(page, "image")

    # 8. Refine once: a follow-up turn in the thread (Gemini gets the conversation).
    _first_card(page).get_by_role("link", name="Refine…").click()
    page.wait_for_url(f"**/jobs/{job.public_id}/**")
    page.get_by_label("Follow-up instruction").fill("Make the lighting warmer")
    page.get_by_role("button", name="Continue from this turn").click()
    page.wait_for_url(lambda url: "/jobs/" in url and str(job.public_id) not in url)
    # Pretend the tab went to the background: the finished job must show in the title.
    page.evaluate("Object.defineProperty(document, 'hidden', {configurable: true, get: () => true})")
    expect(page.locator("li.turn")).to_have_count(2)
    current = page.locator("li.turn.current article.job")
    expect(current).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT)
    _wait_for_image(page, "li.turn.current .thumbs img")
    expect(page).to_have_title(re.compile(r"^● Done · "))
    child = Job.objects.get(parent=job)
    assert child.prompt == "Make the lighting warmer" and child.status == JobStatus.SUCCEEDED
    assert not child.inputs.exists()  # Gemini after Gemini: the history, not a reference
    assert child.params["aspect_ratio"] == "16:9"
    shot(page, "refined-thread")

    # 9. Compare two models side by side.
    page.goto(reverse("studio:compare"))
    page.get_by_label("Prompt").fill("A red fox in fresh snow")
    page.get_by_label("Model 1").select_option("gemini-2.5-flash-image")
    page.get_by_label("Model 2").select_option("imagen-4-fast")
    expect(page.locator("#compare-price")).to_contain_text("22 credits")
    expect(page.locator("#compare-price")).to_contain_text("balance after: 838")
    shot(page, "compare-form")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/batches/**")
    board = page.locator("#batch-board")
    expect(board).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT)
    cards = board.locator("article.job")
    expect(cards).to_have_count(2)
    expect(board).to_contain_text("2 done")
    first_box, second_box = cards.nth(0).bounding_box(), cards.nth(1).bounding_box()
    assert first_box["y"] == second_box["y"] and second_box["x"] > first_box["x"], "side by side"
    compared = list(Job.objects.exclude(batch_id=None))
    assert len(compared) == 2 and len({j.batch_id for j in compared}) == 1
    assert sorted(j.credits_charged for j in compared) == [2, 20]
    shot(page, "compare-results")

    # 10. Find every image in the gallery.
    page.goto(reverse("gallery:mine"))
    images = list(Image.objects.all())
    assert len(images) == 4
    for stored in images:
        expect(page.locator(f'a[href="{reverse("gallery:detail", args=[stored.pk])}"]').first).to_be_visible()
    shot(page, "gallery")

    # 11. Check the balance: 1000 - 70 - 70 - 20 - 2.
    expect(page.locator("#credit-badge")).to_contain_text("838")
    assert credits.member_balance(membership=designer) == 838
    assert credits.ledger_is_balanced()
    page.goto(reverse("studio:credits"))
    shot(page, "balance")


def test_layout_accessibility_and_page_weight(page, designer, shot, allow_live_host, live_server):
    """The studio page at 375 px and 1440 px: no sideways scroll, every control labelled, light."""
    expect = _expect()
    sync_catalog()
    sizes: dict[str, int] = {}
    page.on(
        "response",
        lambda r: sizes.__setitem__(r.url, len(r.body())) if r.request.resource_type in ("document", "stylesheet", "script") else None,
    )
    sign_in(page, designer)
    sizes.clear()
    page.goto("/")
    expect(page.get_by_role("heading", name="Create")).to_be_visible()
    weight = sum(sizes.values())
    assert {url.rsplit("/", 1)[-1] for url in sizes} >= {"", "app.css", "app.js", "htmx-2.min.js"}
    assert weight < 150 * 1024, sizes
    print(f"\nstudio page weight: {weight} bytes ({weight / 1024:.1f} KB): {json.dumps(sizes)}")

    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, canvas[tabindex]')]
              .filter(el => el.offsetParent !== null || el.type === 'radio')
              .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                            && !el.getAttribute('aria-labelledby') && !(el.textContent || '').trim())
              .map(el => el.outerHTML.slice(0, 120))"""
    )
    assert unlabelled == []
    # Keyboard: Tab reaches the model picker; arrows and Enter switch models.
    reached = []
    for _ in range(25):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.name || ''"))
        if reached[-1] == "mp-button":
            break
    assert reached[-1] == "mp-button", reached
    info = page.locator("#composer-options .model-info")
    before = info.inner_text()
    page.keyboard.press("Enter")
    # From the search box: Auto, the Standard heading, the current model (DALL-E 2), the next one.
    for key in ("ArrowDown", "ArrowDown", "ArrowDown", "ArrowDown", "Enter"):
        page.keyboard.press(key)
    expect(info).not_to_have_text(before)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#composer') !== null")
    shot(page, "studio-1440")

    for width in (375, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{width} px: the page scrolls sideways by {overflow} px"
        shot(page, f"studio-{width}")
    page.set_viewport_size({"width": 375, "height": 900})
    page.goto(reverse("studio:compare"))
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    shot(page, "compare-375")


def test_mask_painter_and_edit_this_from_a_result(page, worker, designer, shot, allow_live_host):
    """Paint a mask in the browser; it reaches the job as a white-on-black PNG at the reference's size."""
    expect = _expect()
    sync_catalog()
    sign_in(page, designer)
    pick_model(page, "gpt-image-1-mini-low", "GPT Image Mini Low")
    expect(page.locator("#composer-options .model-info")).to_contain_text("GPT Image Mini Low")
    expect(page.locator("#mask-box")).to_be_hidden()  # nothing to paint on yet
    page.locator("#id_references").set_input_files([_png_file("room.png", 400, 300, 4)])
    expect(page.locator("#mask-box")).to_be_visible()
    canvas = page.locator("#mask-canvas")
    expect(canvas).to_be_visible()
    canvas.scroll_into_view_if_needed()  # the settings column scrolls on its own at 1440 px
    box = canvas.bounding_box()
    # Paint a stroke across the middle, then erase nothing, and preview the mask.
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    page.wait_for_function("() => document.querySelector('#id_mask').files.length === 1")
    page.get_by_label("Preview mask", exact=True).check()
    shot(page, "mask-preview")
    page.get_by_label("Prompt", exact=True).fill("Replace the painted area with a window")
    page.get_by_role("button", name="Generate").click()
    expect(_first_card(page)).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT)
    job = Job.objects.get()
    mask = job.inputs.get(kind=JobInput.Kind.MASK)
    assert (mask.width, mask.height) == (400, 300)
    with mask.file.open("rb") as handle:
        pixels = PILImage.open(io.BytesIO(handle.read())).convert("L")
    assert pixels.getpixel((200, 150)) > 200 and pixels.getpixel((5, 5)) < 50  # white = repaint, black = keep
    _wait_for_image(page, "#jobs article.job .thumbs img")
    shot(page, "masked-result")

    # "Edit this" on the result: it comes back as a gallery reference, with the mask painter.
    image = job.images.get()
    _first_card(page).get_by_role("link", name="Edit this").click()
    page.wait_for_url(f"**/?edit={image.pk}")
    expect(page.locator("#ref-list li .name")).to_have_text([f"1. gallery image {image.pk}"])
    expect(page.locator("#mask-canvas")).to_be_visible()
    page.locator("#mask-canvas").focus()
    for key in ("ArrowLeft", "ArrowLeft", "Space", "Shift+ArrowUp", "Shift+ArrowUp"):
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#id_mask').files.length === 1")
    page.get_by_label("Prompt", exact=True).fill("Make the window round")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#jobs article.job")).to_have_count(2)  # the new card goes first
    expect(_first_card(page)).to_contain_text("Make the window round")
    expect(_first_card(page)).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT)
    edit = Job.objects.exclude(pk=job.pk).get()
    ref = edit.inputs.get(kind=JobInput.Kind.REFERENCE)
    assert ref.original_name == f"gallery-{image.pk}.png" and (ref.width, ref.height) == (image.width, image.height)
    assert edit.inputs.filter(kind=JobInput.Kind.MASK).exists()
    shot(page, "edit-this")
