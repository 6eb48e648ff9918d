"""Two-factor sign-in: enrolling and removing an authenticator app, and the code step after the password."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from studio.models import AuditAction, AuditEvent, Role
from studio.services import two_factor
from tests.otp import enrolled, next_code, wrong_code

pytestmark = pytest.mark.django_db
PASSWORD = "pw-owner-123"  # tests/conftest.py's owner


@pytest.fixture
def owner(team):
    return team.memberships.select_related("user").get(role=Role.OWNER).user


@pytest.fixture
def no_throttle(settings):
    # Tests that type a wrong code and then the right one at once; the throttle has its own test.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def signed_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def trail(team, action):
    return AuditEvent.objects.filter(team=team, action=action)


def test_security_page_is_linked_from_the_account_menu(owner):
    html = signed_in_client(owner).get(reverse("gallery:mine")).content.decode()
    assert f'href="{reverse("security")}"' in html


def test_enrol_shows_the_qr_and_key_and_a_wrong_code_leaves_it_unconfirmed(team, owner, no_throttle):
    client = signed_in_client(owner)
    page = client.get(reverse("security")).content.decode()
    assert "Off." in page and f'action="{reverse("security_enrol")}"' in page
    assert client.post(reverse("security_enrol")).status_code == 302
    device = TOTPDevice.objects.get(user=owner)
    assert device.confirmed is False
    page = client.get(reverse("security")).content.decode()
    # The QR code is an SVG drawn into the page (no script, no external image) and the key is text.
    assert "<svg" in page and "<img" not in page[page.index("<svg") - 200 :]
    assert "<script>" not in page and " style=" not in page[page.index("<svg") : page.index("</svg>")]
    assert two_factor.secret_text(device) in page
    wrong = client.post(reverse("security_confirm"), {"code": wrong_code(device)})
    assert wrong.status_code == 400
    assert "That code is not right" in wrong.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False
    failed = trail(team, AuditAction.TWO_FACTOR_FAILED).get()
    assert (failed.memo, failed.actor) == ("while turning two-factor on", owner)
    assert client.post(reverse("security_confirm"), {"code": next_code(device)}).status_code == 302
    device.refresh_from_db()
    assert device.confirmed is True
    assert trail(team, AuditAction.TWO_FACTOR_ENABLED).get().actor == owner
    # The session that showed the code counts as verified.
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert "On: each sign-in asks" in client.get(reverse("security")).content.decode()


def test_codes_that_are_not_six_digits_are_form_errors(owner):
    client = signed_in_client(owner)
    client.post(reverse("security_enrol"))
    for code, message in [("", "Enter the 6-digit code."), ("12345", "Enter all 6 digits."), ("12a456", "6 digits, nothing else"), ("١٢٣٤٥٦", "6 digits, nothing else")]:
        response = client.post(reverse("security_confirm"), {"code": code})
        assert response.status_code == 400 and message in response.content.decode(), code
    assert TOTPDevice.objects.get(user=owner).confirmed is False


def test_confirming_without_starting_is_a_clear_error(owner):
    response = signed_in_client(owner).post(reverse("security_confirm"), {"code": "123456"})
    assert response.status_code == 400 and "Start the set-up first" in response.content.decode()


def test_removing_the_app_needs_a_current_code(team, owner, no_throttle):
    device = enrolled(owner)
    client = signed_in_client(owner)
    wrong = client.post(reverse("security_remove"), {"code": wrong_code(device)})
    assert wrong.status_code == 400 and "That code is not right" in wrong.content.decode()
    assert TOTPDevice.objects.filter(user=owner, confirmed=True).exists()
    assert trail(team, AuditAction.TWO_FACTOR_FAILED).get().memo == "while removing two-factor"
    assert client.post(reverse("security_remove"), {"code": next_code(device)}).status_code == 302
    assert not TOTPDevice.objects.filter(user=owner).exists()
    assert trail(team, AuditAction.TWO_FACTOR_REMOVED).get().actor == owner


def test_sign_in_with_an_app_asks_for_the_code_after_the_password(team, owner, no_throttle):
    device = enrolled(owner)
    client = Client()
    response = client.post(reverse("login"), {"username": "owner", "password": PASSWORD, "next": "/gallery/mine/"})
    assert response.status_code == 302 and response["Location"] == reverse("two_factor_sign_in")
    assert "_auth_user_id" not in client.session
    # The password alone opens no page.
    assert client.get(reverse("gallery:mine")).status_code == 302
    page = client.get(reverse("two_factor_sign_in"))
    assert page.status_code == 200 and "Enter your sign-in code" in page.content.decode()
    wrong = client.post(reverse("two_factor_sign_in"), {"code": wrong_code(device)})
    assert wrong.status_code == 400 and "That code is not right" in wrong.content.decode()
    assert "_auth_user_id" not in client.session
    failed = trail(team, AuditAction.TWO_FACTOR_FAILED).get()
    # Only the password was shown: the sign-in form is the actor, the account the target.
    assert (failed.memo, failed.actor, failed.actor_label, failed.target_user) == ("at sign-in", None, "sign-in form", owner)
    assert not trail(team, AuditAction.SIGNED_IN).exists()
    right = client.post(reverse("two_factor_sign_in"), {"code": next_code(device)})
    assert right.status_code == 302 and right["Location"] == "/gallery/mine/"
    assert client.session["_auth_user_id"] == str(owner.pk)
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert trail(team, AuditAction.SIGNED_IN).get().memo == "with a two-factor code"
    assert client.get(reverse("gallery:mine")).status_code == 200


def test_wrong_codes_are_throttled_by_django_otp(team, owner):
    device = enrolled(owner)
    client = Client()
    client.post(reverse("login"), {"username": "owner", "password": PASSWORD})
    client.post(reverse("two_factor_sign_in"), {"code": wrong_code(device)})
    # Right away, even the right code is not checked.
    throttled = client.post(reverse("two_factor_sign_in"), {"code": next_code(device)})
    assert throttled.status_code == 400 and "Too many wrong codes: wait 1 second" in throttled.content.decode()
    assert "_auth_user_id" not in client.session
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=device.throttling_failure_timestamp - timedelta(seconds=5))
    assert client.post(reverse("two_factor_sign_in"), {"code": next_code(device)}).status_code == 302
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_the_code_step_needs_the_password_step_first(owner):
    enrolled(owner)
    client = Client()
    response = client.post(reverse("two_factor_sign_in"), {"code": "123456"})
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_the_code_step_expires(owner, no_throttle):
    device = enrolled(owner)
    client = Client()
    client.post(reverse("login"), {"username": "owner", "password": PASSWORD})
    session = client.session
    session["studio_2fa_since"] -= 301
    session.save()
    response = client.post(reverse("two_factor_sign_in"), {"code": next_code(device)})
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_axes_still_locks_out_a_user_with_an_app(team, owner, settings):
    enrolled(owner)
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "owner", "password": f"wrong-{n}"})
    locked = client.post(reverse("login"), {"username": "owner", "password": PASSWORD})
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()
    assert "studio_2fa_user" not in client.session


def test_a_user_without_an_app_signs_in_with_the_password_alone(team, owner):
    client = Client()
    response = client.post(reverse("login"), {"username": "owner", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("studio:home")
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_staff_can_remove_a_lost_device_in_the_admin_but_never_read_its_key(owner):
    device = enrolled(owner)
    staff = owner.__class__.objects.create_user(username="staffer", password="pw-staff-123", is_staff=True, is_superuser=True)
    client = signed_in_client(staff)
    change = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))
    assert change.status_code == 200 and device.key not in change.content.decode()
    for name in ("admin:otp_totp_totpdevice_config", "admin:otp_totp_totpdevice_qrcode"):
        for pk in (device.pk, device.pk + 1000):  # a missing device too: refused, not a 500
            assert client.get(reverse(name, args=[pk])).status_code == 403, (name, pk)
    delete = client.post(reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"})
    assert delete.status_code == 302 and not TOTPDevice.objects.filter(pk=device.pk).exists()
