"""The studio's pages through the test client: full pages, fragments, redirects, errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from gallery.models import Image, Visibility
from providers.catalog import sync_catalog
from studio.models import Job, JobInput, JobStatus
from studio.services import credits, jobs
from tests.images import make_png

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
PAGE_BUDGET = 150 * 1024


def finished_job(client: Client, capture: Any, **data: Any) -> Job:
    data = {"model": "test-model", "prompt": "a harbour at dawn"} | data
    with capture(execute=True):
        response = client.post(reverse("studio:home"), data, **HX)
    assert response.status_code == 200
    return Job.objects.order_by("-id").first()


def test_picker_lists_models_with_price_provider_badges_and_reasons(designer_client, make_model, settings):
    make_model("fancy", tier="ultra", credits_per_image=120, description="Legible text, 4K posters.")
    settings.STUDIO_DEMO_RENDER = "off"
    settings.OPENAI_API_KEY = "sk-test"
    make_model("no-key", family="ideogram")
    html = designer_client.get(reverse("studio:home")).content.decode()
    fancy = html[html.index('value="fancy"'):][:900]
    assert "120 cr/image" in fancy and "OpenAI Images" in fancy and "Legible text, 4K posters." in fancy
    assert "<i>edit</i><i>references ≤ 2</i><i>mask</i>" in fancy
    blocked = html[html.index('value="no-key"'):][:900]
    assert " disabled>" in blocked[:80] and "Not configured: IDEOGRAM_API_KEY is not set." in blocked
    filtered = designer_client.get(reverse("studio:home"), {"q": "legible"}).content.decode()
    assert 'value="fancy"' in filtered and 'value="no-key"' not in filtered


def test_price_fragment_follows_the_balance(designer_client, designer, ai_model):
    response = designer_client.get(reverse("studio:home"), {"model": "test-model", "count": "3"}, HTTP_HX_TARGET="price", **HX)
    html = response.content.decode()
    # The fragment is the generate bar's price block: the price, the balance after, and Generate.
    assert html.lstrip().startswith('<div class="genbar-price" id="price"') and "3 × 20 = </span><strong>60 credits</strong>" in html
    assert '<button type="submit" class="primary generate" id="generate" form="composer">Generate</button>' in html
    assert 'hx-trigger="credits-changed from:body"' in html and "balance after: 940" in html


def test_gallery_image_as_reference_is_attached_server_side(designer_client, designer, ai_model, django_capture_on_commit_callbacks):
    image = finished_job(designer_client, django_capture_on_commit_callbacks).images.get()
    html = designer_client.get(reverse("studio:home"), {"reference": image.pk}).content.decode()
    assert f'name="reference_image" value="{image.pk}" checked' in html
    upload = SimpleUploadedFile("mine.png", make_png(30, 20, "blue"), content_type="image/png")
    job = finished_job(
        designer_client, django_capture_on_commit_callbacks, prompt="use both",
        reference_image=[str(image.pk)], references=[upload], reference_order=f"file,image:{image.pk}",
    )
    inputs = list(job.inputs.filter(kind=JobInput.Kind.REFERENCE).order_by("position"))
    assert [i.original_name for i in inputs] == ["mine.png", f"gallery-{image.pk}.png"]
    assert (inputs[1].width, inputs[1].height) == (image.width, image.height)


def test_a_private_image_of_someone_else_is_refused(designer_client, designer, make_member, ai_model, django_capture_on_commit_callbacks):
    other = Client()
    other.force_login(make_member("other").user)
    image = finished_job(other, django_capture_on_commit_callbacks).images.get()
    Image.objects.filter(pk=image.pk).update(visibility=Visibility.PRIVATE)
    page = designer_client.get(reverse("studio:home"), {"reference": image.pk}).content.decode()
    assert 'name="reference_image"' not in page and "not available to you" in page
    response = designer_client.post(
        reverse("studio:home"), {"model": "test-model", "prompt": "steal", "reference_image": [str(image.pk)]}, **HX
    )
    assert "not available to you" in response.content.decode() and response["HX-Retarget"] == "#composer"
    assert Job.objects.filter(user=designer.user).count() == 0


def test_too_many_references_are_refused_with_the_limit(designer_client, designer, ai_model):
    files = [SimpleUploadedFile(f"r{i}.png", make_png(10, 10), content_type="image/png") for i in range(3)]
    response = designer_client.post(reverse("studio:home"), {"model": "test-model", "prompt": "x", "references": files}, **HX)
    assert "takes at most 2 reference images; you attached 3" in response.content.decode()
    assert not Job.objects.exists() and credits.member_balance(membership=designer) == 1000


def test_edit_this_opens_the_mask_painter_on_the_image(designer_client, ai_model, django_capture_on_commit_callbacks):
    image = finished_job(designer_client, django_capture_on_commit_callbacks).images.get()
    html = designer_client.get(reverse("studio:home"), {"edit": image.pk}).content.decode()
    assert re.search(r'<fieldset id="mask-box" class="mask" hx-preserve data-open>', html)
    assert f'data-image="{image.pk}"' in html


def test_refine_in_the_thread_continues_with_the_previous_image(designer_client, designer, ai_model, django_capture_on_commit_callbacks):
    parent = finished_job(designer_client, django_capture_on_commit_callbacks, aspect_ratio="16:9")
    thread = designer_client.get(reverse("studio:job_detail", args=[parent.public_id])).content.decode()
    assert f'id="refine-{parent.public_id}"' in thread and "Turn 1" in thread
    empty = designer_client.post(reverse("studio:job_refine", args=[parent.public_id]), {"prompt": " "}, **HX)
    assert empty.content.decode().lstrip().startswith(f'<form id="refine-{parent.public_id}"') and "Write a prompt." in empty.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = designer_client.post(reverse("studio:job_refine", args=[parent.public_id]), {"prompt": "make the lighting warmer"}, **HX)
    child = Job.objects.get(parent=parent)
    assert response["HX-Redirect"] == reverse("studio:job_detail", args=[child.public_id])
    assert child.status == JobStatus.SUCCEEDED and child.params["aspect_ratio"] == "16:9" and child.count == 1
    reference = child.inputs.get(kind=JobInput.Kind.REFERENCE)  # not Gemini: the previous image
    assert reference.original_name == f"gallery-{parent.images.get().pk}.png"
    page = designer_client.get(reverse("studio:job_detail", args=[child.public_id])).content.decode()
    assert "Turn 2 · follows up on turn 1" in page and page.count('class="job card') == 2
    plain = designer_client.post(reverse("studio:job_refine", args=[parent.public_id]), {"prompt": ""})
    assert plain.status_code == 400 and "Write a prompt." in plain.content.decode()


def test_composer_with_a_parent_says_how_the_model_continues(designer_client, ai_model, make_model, django_capture_on_commit_callbacks):
    make_model("no-edit", capabilities={"edit": False, "aspect_ratios": ["1:1"]})
    parent = finished_job(designer_client, django_capture_on_commit_callbacks)
    html = designer_client.get(reverse("studio:home"), {"parent": parent.public_id, "model": "test-model"}).content.decode()
    assert "previous image is sent as the first reference" in html and 'data-max-refs="1"' in html
    blocked = designer_client.get(reverse("studio:home"), {"parent": parent.public_id, "model": "no-edit"}).content.decode()
    assert "cannot start from an image" in blocked
    with django_capture_on_commit_callbacks(execute=True):
        response = designer_client.post(reverse("studio:home"), {"model": "test-model", "prompt": "again", "parent": str(parent.public_id)})
    child = Job.objects.get(parent=parent)
    assert response["Location"] == reverse("studio:job_detail", args=[child.public_id])


def test_compare_page_prices_and_submits_side_by_side(designer_client, designer, make_model, django_capture_on_commit_callbacks):
    make_model("m-20", credits_per_image=20)
    make_model("m-2", credits_per_image=2)
    price = designer_client.get(reverse("studio:compare"), {"models": ["m-20", "m-2"], "count": "2"}, HTTP_HX_TARGET="compare-price", **HX)
    assert "<html" not in price.content.decode() and "44 credits" in price.content.decode() and "balance after: 956" in price.content.decode()
    bad = designer_client.post(reverse("studio:compare"), {"prompt": "fox", "models": ["m-20", "m-20"]})
    assert bad.status_code == 400 and "already in this comparison" in bad.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = designer_client.post(reverse("studio:compare"), {"prompt": "a fox", "models": ["m-20", "m-2", "", ""]})
    batch_id = Job.objects.values_list("batch_id", flat=True).distinct().get()
    assert response["Location"] == reverse("studio:batch_detail", args=[batch_id])
    board = designer_client.get(response["Location"]).content.decode()
    assert "Comparison · 2 jobs" in board and 'class="board side"' in board and "2 done" in board
    fragment = designer_client.get(response["Location"], **HX)
    assert fragment.content.decode().lstrip().startswith('<section id="batch-board"') and "credits-changed" in fragment["HX-Trigger"]
    assert "hx-trigger" not in fragment.content.decode().split(">", 1)[0]


def test_batch_page_prices_a_csv_then_submits_every_row(designer_client, designer, ai_model, django_capture_on_commit_callbacks):
    csv_file = SimpleUploadedFile("list.csv", b"\xef\xbb\xbfprompt,count\na fox,2\na lighthouse,\n", content_type="text/csv")
    preview = designer_client.post(reverse("studio:batch"), {"model": "test-model", "csv_file": csv_file, "action": "preview"})
    html = preview.content.decode()
    assert preview.status_code == 200 and "2 × 20 = 40" in html and "60 credits</strong> in all" in html and "balance after: 940" in html
    assert "prompt,count\na fox,2" in html  # the CSV is now in the text box for the submit
    live = designer_client.post(reverse("studio:batch"), {"model": "test-model", "prompts": "one\ntwo", "action": "preview"}, HTTP_HX_TARGET="batch-preview", **HX)
    assert live.content.decode().lstrip().startswith('<div id="batch-preview"') and "40 credits</strong> in all" in live.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = designer_client.post(reverse("studio:batch"), {"model": "test-model", "prompts": "prompt,count\na fox,2\na lighthouse,\n", "action": "submit"})
    batch = list(Job.objects.order_by("id"))
    assert response.status_code == 302 and [j.count for j in batch] == [2, 1] and len({j.batch_id for j in batch}) == 1
    board = designer_client.get(response["Location"]).content.decode()
    assert "Batch · 2 jobs" in board and "2 done" in board
    assert credits.member_balance(membership=designer) == 940


def test_batch_with_a_bad_row_submits_nothing(designer_client, designer, ai_model):
    response = designer_client.post(reverse("studio:batch"), {"model": "test-model", "prompts": "prompt,aspect_ratio\nok,\nbad,4:3\n", "action": "submit"})
    html = response.content.decode()
    assert response.status_code == 400 and "Fix the rows marked below" in html and "does not offer 4:3" in html
    assert not Job.objects.exists() and credits.member_balance(membership=designer) == 1000
    short = designer_client.post(reverse("studio:batch"), {"model": "test-model", "prompts": "\n".join(f"p{i}" for i in range(51)), "action": "submit"})
    assert short.status_code == 400 and "too low for this batch" in short.content.decode() and not Job.objects.exists()


def test_template_writes_the_prompt_into_the_composer(designer_client, ai_model):
    index = designer_client.get(reverse("studio:templates"), {"model": "test-model"}).content.decode()
    assert "Photorealistic scene" in index and reverse("studio:template", args=["sticker"]) + "?model=test-model" in index
    missing = designer_client.get(reverse("studio:template", args=["minimalist"]), {"use": "1", "subject": "a leaf"})
    assert missing.status_code == 400 and "Fill in “background colour”." in missing.content.decode()
    response = designer_client.get(
        reverse("studio:template", args=["minimalist"]),
        {"use": "1", "subject": "delicate red maple leaf", "position": "bottom-right", "colour": "off-white", "aspect_ratio": "16:9", "model": "test-model"},
    )
    assert response.status_code == 302
    composer = designer_client.get(response["Location"]).content.decode()
    assert "A minimalist composition featuring a single delicate red maple leaf positioned in the bottom-right" in composer
    assert '<option value="16:9" selected>' in composer
    assert designer_client.get(reverse("studio:template", args=["nope"])).status_code == 404


def test_job_card_shows_queue_position_elapsed_time_and_preview(designer_client, designer, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        for prompt in ("first", "second"):
            designer_client.post(reverse("studio:home"), {"model": "test-model", "prompt": prompt}, **HX)
    first, second = Job.objects.order_by("id")
    card = designer_client.get(reverse("studio:job_detail", args=[second.public_id]), **HX).content.decode()
    assert "Queued: position 2" in card and "elapsed" in card and 'hx-trigger="job-changed"' in card
    assert reverse("studio:job_state", args=[second.public_id]) in card and 'hx-trigger="every 200ms"' in card
    assert designer_client.get(reverse("studio:job_preview", args=[first.public_id])).status_code == 404
    jobs.claim_job(job_id=first.pk)
    jobs.store_preview(job_id=first.pk, data=make_png(24, 24, "green"))
    card = designer_client.get(reverse("studio:job_detail", args=[first.public_id]), **HX).content.decode()
    assert "Running" in card and reverse("studio:job_preview", args=[first.public_id]) in card
    preview = designer_client.get(reverse("studio:job_preview", args=[first.public_id]))
    assert preview.status_code == 200 and preview["Content-Type"] == "image/png" and b"".join(preview.streaming_content)[:4] == b"\x89PNG"
    reload = designer_client.get(reverse("studio:home")).content.decode()
    assert f'id="job-{first.public_id}"' in reload and f'id="job-{second.public_id}"' in reload


def test_another_users_preview_thread_and_batch_are_404(designer_client, make_member, ai_model, django_capture_on_commit_callbacks):
    job = finished_job(designer_client, django_capture_on_commit_callbacks)
    intruder = Client()
    intruder.force_login(make_member("intruder").user)
    for name in ("job_preview", "job_detail"):
        assert intruder.get(reverse(f"studio:{name}", args=[job.public_id])).status_code == 404
    assert intruder.post(reverse("studio:job_refine", args=[job.public_id]), {"prompt": "mine now"}).status_code == 404
    assert intruder.get(reverse("studio:batch_detail", args=["00000000-0000-0000-0000-000000000000"])).status_code == 404


def test_studio_page_weighs_under_150_kb(designer_client, designer, django_capture_on_commit_callbacks):
    """HTML with the whole catalogue and a full job list, plus every CSS and JS file it loads."""
    sync_catalog()
    for i in range(8):
        finished_job(designer_client, django_capture_on_commit_callbacks, model="gpt-image-1-mini-low", prompt=f"prompt number {i} " * 10)
    html = designer_client.get(reverse("studio:home")).content
    assets = re.findall(rb'(?:href|src)="/static/([^"]+\.(?:css|js))"', html)
    assert {b"css/app.css", b"js/app.js", b"django_htmx/htmx-2.min.js"} <= set(assets)
    from django.contrib.staticfiles import finders

    weight = len(html) + sum(Path(finders.find(a.decode())).stat().st_size for a in set(assets))
    print(f"\nstudio page weight: {weight} bytes ({weight / 1024:.1f} KB), HTML {len(html)}")
    assert weight < PAGE_BUDGET


def test_keyless_install_says_demo_once_and_prices_free_renders_honestly(designer_client, designer, settings):
    """With no provider key every row would repeat "demo render": the picker says it once, and the
    price line says why a demo render costs nothing (and what the model costs once it is live)."""
    settings.STUDIO_DEMO_CHARGE = False
    sync_catalog()
    html = designer_client.get(reverse("studio:home"), {"model": "gpt-image-1-mini-low"}).content.decode()
    assert 'id="all-demo"' in html and "at no charge" in html and 'data-all-demo="1"' in html
    assert '<small class="demo">' not in html
    assert "Demo render: no charge (2 credits per image once OpenAI Images is configured)" in html
    assert "1 × 0 = </span><strong>0 credits</strong>" in html


def test_a_filter_that_matches_only_keyless_models_does_not_claim_no_key_is_configured(designer_client, designer, settings, monkeypatch):
    """With an OpenAI key set, "flux" matches only demo-drawn models: each row says so, not the page."""
    settings.OPENAI_API_KEY = "sk-test"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    sync_catalog()
    html = designer_client.get(reverse("studio:home"), {"q": "flux", "model": "flux-2-klein"}).content.decode()
    assert 'id="all-demo"' not in html and '<small class="demo">demo render</small>' in html
