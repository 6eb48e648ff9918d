from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from studio.models import Job, JobStatus, User
from studio.services import credits
from tests.images import make_png

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def test_every_page_needs_sign_in(client: Client):
    for url in (reverse("studio:home"), reverse("gallery:mine"), reverse("studio:credits")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.get(reverse("login")).status_code == 200
    assert client.get(reverse("signup")).status_code == 200
    assert client.get(reverse("password_reset")).status_code == 200


def test_studio_page_groups_models_by_tier_with_prices(designer_client, make_model):
    make_model("cheap", tier="standard", credits_per_image=2)
    make_model("fancy", tier="ultra", credits_per_image=120)
    response = designer_client.get(reverse("studio:home"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<legend>Standard</legend>" in html and "<legend>Ultra</legend>" in html
    assert "120 cr/image" in html and "1,000" in html
    assert 'hx-headers=\'{"X-CSRFToken"' in html


def test_changing_the_model_returns_only_the_options_fragment(designer_client, make_model):
    make_model("wide", credits_per_image=30, sizes={"default": {"16:9": [1344, 768]}},
               capabilities={"aspect_ratios": ["16:9"], "max_count": 4}, default_aspect_ratio="16:9")
    response = designer_client.get(
        reverse("studio:home"), {"model": "wide", "count": "3", "aspect_ratio": "1:1"},
        HTTP_HX_TARGET="composer-options", **HX,
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<div id="composer-options"')
    assert "16:9 → 1344×768" in html
    assert "3 × 30 = </span><strong>90 credits</strong>" in html and "balance after: 910" in html
    assert "dropped: aspect ratio 1:1" in html


def test_price_shows_a_clear_refusal_when_short(designer_client, make_model):
    make_model("pricey", credits_per_image=600)
    html = designer_client.get(reverse("studio:home"), {"model": "pricey", "count": "2"}).content.decode()
    assert "too low for this request" in html


def test_htmx_submit_returns_a_polling_job_card_and_signals_credits(designer_client, ai_model, designer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = designer_client.post(reverse("studio:home"), {"model": "test-model", "prompt": "a lighthouse", "count": "2"}, **HX)
    html = response.content.decode()
    job = Job.objects.get()
    assert response.status_code == 200 and "credits-changed" in response["HX-Trigger"]
    assert f'id="job-{job.public_id}"' in html and 'hx-trigger="job-changed"' in html
    assert reverse("studio:job_state", args=[job.public_id]) in html
    assert credits.member_balance(membership=designer) == 960


def test_plain_submit_redirects(designer_client, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = designer_client.post(reverse("studio:home"), {"model": "test-model", "prompt": "a lighthouse"})
    assert response.status_code == 302 and response["Location"] == reverse("studio:home")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"prompt": ""}, "Write a prompt."),
        ({"prompt": "x" * 2001}, "the limit is 2000"),
        ({"model": "nope"}, "Unknown model"),
        ({"aspect_ratio": "4:3"}, "does not offer 4:3"),
        ({"count": "3", "model": "pricey"}, "Not enough credits"),
    ],
)
def test_bad_input_gets_a_message_beside_the_field_and_nothing_is_stored(designer_client, designer, ai_model, make_model, data, message):
    make_model("pricey", credits_per_image=400)
    payload = {"model": "test-model", "prompt": "ok"} | data
    response = designer_client.post(reverse("studio:home"), payload, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#composer" and response["HX-Reswap"] == "outerHTML"
    assert message in html and 'role="alert"' in html
    assert not Job.objects.exists()
    assert credits.member_balance(membership=designer) == 1000
    plain = designer_client.post(reverse("studio:home"), payload)
    assert plain.status_code == 400 and message in plain.content.decode()


def test_non_image_upload_is_refused_beside_the_field(designer_client, ai_model):
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile("evil.png", b"<script>alert(1)</script>", content_type="image/png")
    response = designer_client.post(reverse("studio:home"), {"model": "test-model", "prompt": "edit", "references": [fake]}, **HX)
    assert "not an image we can read" in response.content.decode()
    assert not Job.objects.exists()


def test_job_card_stops_polling_at_a_terminal_state(designer_client, designer, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        designer_client.post(reverse("studio:home"), {"model": "test-model", "prompt": "a tree"}, **HX)
    job = Job.objects.get()
    assert job.status == JobStatus.SUCCEEDED
    response = designer_client.get(reverse("studio:job_detail", args=[job.public_id]), **HX)
    html = response.content.decode()
    assert "hx-trigger" not in html.split(">", 1)[0]
    assert "credits-changed" in response["HX-Trigger"]
    assert reverse("gallery:thumbnail", args=[job.images.get().pk]) in html
    full = designer_client.get(reverse("studio:job_detail", args=[job.public_id]))
    assert full.status_code == 200 and "<html" in full.content.decode()


def test_another_users_job_is_404(designer, ai_model, make_member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        Client().post("/")  # anonymous: nothing
    other = make_member("other")
    client = Client()
    client.force_login(designer.user)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("studio:home"), {"model": "test-model", "prompt": "mine"})
    job = Job.objects.get()
    intruder = Client()
    intruder.force_login(other.user)
    assert intruder.get(reverse("studio:job_detail", args=[job.public_id])).status_code == 404
    assert intruder.post(reverse("studio:job_cancel", args=[job.public_id])).status_code == 404


def test_cancel_from_the_card_refunds(designer_client, designer, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        designer_client.post(reverse("studio:home"), {"model": "test-model", "prompt": "slow"})
    job = Job.objects.get()
    response = designer_client.post(reverse("studio:job_cancel", args=[job.public_id]), **HX)
    assert "credits-changed" in response["HX-Trigger"] and "Canceled" in response.content.decode()
    assert credits.member_balance(membership=designer) == 1000


def test_credit_badge_fragment_and_ledger_page(designer_client):
    badge = designer_client.get(reverse("studio:credits"), **HX).content.decode()
    assert badge.lstrip().startswith("<a id=\"credit-badge\"") and "1,000" in badge
    page = designer_client.get(reverse("studio:credits")).content.decode()
    assert "Grant" in page and "+1,000" in page


def test_signup_creates_a_user_who_owns_a_new_team(client: Client):
    response = client.post(reverse("signup"), {
        "username": "newbie", "email": "newbie@example.com", "password1": "a-long-pass-phrase-1", "password2": "a-long-pass-phrase-1",
    })
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert user.membership().role == "owner"
    again = client.post(reverse("signup"), {"username": "x2", "email": "NEWBIE@example.com", "password1": "a-long-pass-phrase-1", "password2": "a-long-pass-phrase-1"})
    assert again.status_code == 400 and "already exists" in again.content.decode()


def test_password_reset_sends_a_mail(client: Client, designer, mailoutbox):
    client.post(reverse("password_reset"), {"email": "designer@example.com"})
    assert len(mailoutbox) == 1 and "/accounts/reset/" in mailoutbox[0].body


def test_reference_upload_works_through_the_form(designer_client, ai_model, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    ref = SimpleUploadedFile("ref.png", make_png(300, 200, (10, 200, 30)), content_type="image/png")
    with django_capture_on_commit_callbacks(execute=True):
        designer_client.post(reverse("studio:home"), {"model": "test-model", "prompt": "make it blue", "references": [ref]}, **HX)
    job = Job.objects.get()
    assert job.status == JobStatus.SUCCEEDED
    assert job.inputs.get().width == 300


def test_signup_returns_to_a_local_next_but_never_to_another_site(client: Client):
    form = {"email": "n1@example.com", "password1": "a-long-pass-phrase-1", "password2": "a-long-pass-phrase-1"}
    page = client.get(reverse("signup"), {"next": "/team/invitations/abc/"}).content.decode()
    assert 'name="next" value="/team/invitations/abc/"' in page
    response = client.post(reverse("signup"), form | {"username": "n1", "next": "/team/invitations/abc/"})
    assert response.status_code == 302 and response["Location"] == "/team/invitations/abc/"
    other = Client().post(
        reverse("signup"),
        form | {"username": "n2", "email": "n2@example.com", "next": "https://evil.example/phish"},
    )
    assert other.status_code == 302 and other["Location"] == reverse("studio:home")
