"""What people read on the pages is right: balances, names, prices, limits and links (issue 15)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from providers.catalog import CATALOG_PATH, sync_catalog
from providers.models import CatalogModel
from studio.models import Role, Transfer
from studio.services import credits
from studio.services import team as team_services
from studio.services.composer import composer_state
from tests.studio.test_studio_pages import HX, finished_job

ROOT = Path(__file__).resolve().parents[2]


def client_for(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


# 1. The image page: the lineage strip is a strip, and the hero does not stretch.
def test_image_page_lineage_is_a_strip_of_small_thumbnails(designer_client, designer, ai_model, django_capture_on_commit_callbacks):
    job = finished_job(designer_client, django_capture_on_commit_callbacks, count="3")
    first = job.images.order_by("index").first()
    html = designer_client.get(reverse("gallery:detail", args=[first.pk])).content.decode()
    same_request = html[html.index("<h2>Same request</h2>"):]
    assert '<div class="strip">' in same_request and 'class="strip-item"' in same_request
    assert 'class="thumb"' not in same_request
    css = (ROOT / "static/css/app.css").read_text() + (ROOT / "gallery/static/gallery/gallery.css").read_text()
    assert ".thumbs .thumb { width: 100%" not in css  # the rule that blew the strip up to full width
    assert re.search(r"\.detail \{[^}]*align-items: start", css), "the hero must not stretch to the sidebar's height"
    assert re.search(r"\.strip-item \{[^}]*height: 140px", css)


# 2. A balance of 0 is shown as 0.
def test_credit_badge_shows_a_zero_balance(make_member):
    broke = make_member("zero", balance=0)
    client = client_for(broke)
    page = client.get(reverse("studio:home")).content.decode()
    assert '<span data-balance="0">0</span> credits' in page
    badge = client.get(reverse("studio:credits"), **HX).content.decode()
    assert '<span data-balance="0">0</span> credits' in badge


# 3. A link to a blocked model falls back to an allowed one and says why.
def test_link_to_a_blocked_model_selects_an_allowed_one_and_says_so(team, designer, designer_client, make_model):
    make_model("cheap-one", credits_per_image=5)
    make_model("ultra-one", tier="ultra", credits_per_image=200, display_name="Ultra One")
    owner = team.memberships.get(role=Role.OWNER)
    team_services.set_tier_access(actor=owner, tier="ultra", blocked=True)
    html = designer_client.get(reverse("studio:home"), {"model": "ultra-one"}).content.decode()
    assert (
        "Ultra One is not available to you (blocked by your team: the ultra tier is not allowed), "
        "so Cheap One is selected instead."
    ) in html
    checked = re.search(r'<input type="radio" name="model" value="([^"]+)" checked( disabled)?>', html)
    assert checked and checked.group(1) == "cheap-one" and not checked.group(2)
    # Generate now sends the allowed model: no "Unknown model" and no dropped options.
    response = designer_client.post(reverse("studio:home"), {"model": "cheap-one", "prompt": "a kite"}, **HX)
    assert response.status_code == 200 and "Unknown model" not in response.content.decode()


# 4. No inherited hx-disabled-elt on the composer's inputs; one request per gallery search.
def test_composer_does_not_hand_hx_disabled_elt_to_its_inputs(designer_client, ai_model):
    html = designer_client.get(reverse("studio:home")).content.decode()
    form = html[html.index('<form id="composer"'):html.index(">", html.index('<form id="composer"'))]
    assert 'hx-disabled-elt="#generate"' in form and 'hx-disinherit="hx-disabled-elt"' in form
    assert 'find button[type=submit]' not in html


def test_gallery_search_fires_once(designer_client):
    html = designer_client.get(reverse("gallery:team")).content.decode()
    start = html.index('<form class="filters"')
    form = html[start:html.index(">", start)]
    # Enter in the search box is a submit only; the other filters answer on change. (No htmx
    # event filter: the CSP forbids the eval they need.)
    assert 'hx-trigger="submit, change from:[data-autosubmit]"' in form
    whole_form = html[start:html.index("</form>", start)]
    assert re.search(r'<input id="gallery-q"[^>]*>', whole_form)
    assert "data-autosubmit" not in re.search(r'<input id="gallery-q"[^>]*>', whole_form).group(0)
    assert whole_form.count("data-autosubmit") >= 3  # the selects and dates


# 5. Descriptions say what a model does, not where its size table came from.
def test_catalogue_descriptions_hold_no_internal_notes():
    entries = json.loads(CATALOG_PATH.read_text())["models"]
    for entry in entries:
        assert not re.search(r"\b000\b|inferred|Sizes? (are|as)", entry["description"]), entry["slug"]
    noted = {e["slug"] for e in entries if e.get("sizing_note")}
    assert {"ideogram-v3", "imagen-4-ultra"} <= noted  # the provenance is kept, out of sight


def test_picker_shows_the_clean_description(designer_client, db):
    sync_catalog()
    html = designer_client.get(reverse("studio:home")).content.decode()
    assert "follow 000" not in html and "Google Imagen 4 Ultra: maximum Imagen fidelity" in html


# 6. A count above the model's maximum is said beside the count.
def test_count_above_the_maximum_is_said(designer, designer_client, make_model):
    make_model("four-max", display_name="Four Max")
    html = designer_client.get(reverse("studio:home"), {"model": "four-max", "count": "7"}).content.decode()
    assert "You asked for 7 images; Four Max makes at most 4 per request, so the count is 4." in html
    assert 'aria-describedby="count-notice"' in html
    state = composer_state(membership=designer, values={"model": "four-max", "count": "7"})
    assert state.values["count"] == 4 and not any("images" in d for d in state.dropped)


# 7. One number format; a price above the balance says so and disables the button.
def test_compare_price_above_the_balance_says_short_and_disables_compare(designer_client, make_model):
    make_model("big-a", credits_per_image=600)
    make_model("big-b", credits_per_image=860)
    html = designer_client.get(reverse("studio:compare"), {"models": ["big-a", "big-b"]}).content.decode()
    assert "<strong>1,460 credits</strong>" in html and "-460" not in html
    assert "Your balance (1,000) is too low for this comparison: 460 credits short." in html
    assert 'disabled aria-describedby="compare-reason"' in html
    response = designer_client.post(reverse("studio:compare"), {"prompt": "a fox", "models": ["big-a", "big-b"]})
    body = response.content.decode()
    assert response.status_code == 400
    assert "this comparison needs 1,460 and your balance is 1,000 (460 short)" in body and "1460" not in body


def test_generate_is_disabled_with_the_reason_when_the_price_is_above_the_balance(designer_client, make_model):
    make_model("pricey", credits_per_image=600)
    html = designer_client.get(reverse("studio:home"), {"model": "pricey", "count": "2"}).content.decode()
    assert "Your balance (1,000) is too low for this request: 200 credits short." in html
    assert re.search(r'<button type="submit" class="primary generate" id="generate" form="composer" disabled aria-describedby="price-reason">', html)
    assert "balance after: -" not in html


def test_batch_short_balance_says_so_and_disables_submit(designer_client, make_model):
    make_model("pricey", credits_per_image=600)
    response = designer_client.post(
        reverse("studio:batch"), {"model": "pricey", "prompts": "one\ntwo", "action": "preview"}
    )
    html = response.content.decode()
    assert "too low for this batch: 200 credits short." in html and "balance after: -" not in html
    assert 'value="submit" class="primary" disabled aria-describedby="batch-reason"' in html


# 8. Names, not slugs, where people read.
def test_names_not_slugs_on_ledger_report_share_and_gallery_filter(team, designer, designer_client, ai_model, django_capture_on_commit_callbacks, settings):
    job = finished_job(designer_client, django_capture_on_commit_callbacks)
    charge = Transfer.objects.filter(job=job, memo__contains="× test-model").first()
    assert charge is not None  # the ledger keeps the model string (the contract) …
    mine = designer_client.get(reverse("studio:credits")).content.decode()
    assert "1 × Test Model" in mine and "× test-model" not in mine  # … and the page shows the name
    owner = team.memberships.get(role=Role.OWNER)
    owner_client = client_for(owner)
    ledger = owner_client.get(reverse("team:ledger")).content.decode()
    assert "1 × Test Model" in ledger and "× test-model" not in ledger
    report = owner_client.get(reverse("team:reports")).content.decode()
    assert "<td>Test Model</td>" in report and "<td>test-model</td>" not in report
    assert "<td>Standard</td>" in report
    image = job.images.get()
    from gallery import services as gallery_services

    link = gallery_services.create_share_link(image=image, user=designer.user)
    shared = Client().get(reverse("gallery:shared", args=[link.token])).content.decode()
    assert "<dd>Test Model</dd>" in shared
    sync_catalog()
    gallery = designer_client.get(reverse("gallery:team")).content.decode()
    assert '<option value="bfl" >Black Forest Labs</option>' in gallery
    assert ">bfl</option>" not in gallery and ">dashscope</option>" not in gallery


# 10. A favicon; viewers are not offered what they cannot use.
def test_favicon_is_linked_and_served(designer_client):
    html = designer_client.get(reverse("studio:home")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    response = Client().get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"
    assert (ROOT / "static/favicon.svg").read_text().startswith("<svg")


def test_viewers_see_no_credits_no_api_and_no_way_back_to_a_studio_they_cannot_use(make_member):
    viewer = make_member("vera", role=Role.VIEWER, balance=0)
    client = client_for(viewer)
    gallery = client.get(reverse("gallery:team")).content.decode()
    assert 'id="credit-badge"' not in gallery and reverse("api_ui:keys") not in gallery
    forbidden = client.get(reverse("team:members"))
    assert forbidden.status_code == 403
    body = forbidden.content.decode()
    assert "Back to the gallery" in body and "Back to the studio" not in body


@pytest.mark.parametrize("role", [Role.DESIGNER, Role.ADMIN])
def test_creators_keep_credits_and_api(make_member, role):
    member = make_member(f"m-{role}", role=role, balance=5)
    html = client_for(member).get(reverse("gallery:team")).content.decode()
    assert 'id="credit-badge"' in html and reverse("api_ui:keys") in html
    assert credits.member_balance(membership=member) == 5


def test_a_model_removed_from_the_catalogue_still_reads(designer_client, designer, ai_model, django_capture_on_commit_callbacks):
    job = finished_job(designer_client, django_capture_on_commit_callbacks)
    CatalogModel.objects.filter(pk=ai_model.pk).update(display_name="Renamed Model")
    html = designer_client.get(reverse("studio:credits")).content.decode()
    assert "1 × Renamed Model" in html and str(job.public_id) in html
