"""Two-factor sign-in with an authenticator app (django-otp's TOTP devices).

A user has at most one device. It is unconfirmed from enrolment until the first
correct code, and only a confirmed device asks for a code at sign-in. Every wrong
code counts towards django-otp's throttle (1, 2, 4… seconds between checks) and is
written to the user's team trails, like enrolling and removing a device.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from base64 import b32encode

import qrcode
import qrcode.image.svg
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from studio.models import AuditAction, Membership, Role, Team, User
from studio.services.errors import PermissionDenied, StudioError
from studio.services.team.audit import log_event, security_event

DEVICE_NAME = "Authenticator app"


def confirmed_device(*, user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_device(*, user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).first()


def must_enrol(*, user: User) -> bool:
    """Whether a team of the user's requires two-factor of them (as its owner or an admin)."""
    return Membership.objects.filter(
        user=user, role__in=(Role.OWNER, Role.ADMIN), team__require_two_factor=True
    ).exists()


def secret_text(device: TOTPDevice) -> str:
    """The key as an authenticator app asks for it when typed in by hand (base32, in groups of 4)."""
    key = b32encode(device.bin_key).decode()
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The enrolment link as an inline SVG: drawn on the server, so no script and no third party."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=8)
    try:
        return image.to_string(encoding="unicode")
    finally:
        # qrcode registers the "svg" prefix process-wide; put back the default namespace that
        # the SVG sanitiser (gallery.svg) writes stored drawings with.
        ET.register_namespace("", "http://www.w3.org/2000/svg")


def start_enrolment(*, user: User) -> TOTPDevice:
    """Give the user a fresh unconfirmed device (a new key each time they start over)."""
    with transaction.atomic():
        if TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).exists():
            raise StudioError("Two-factor sign-in is already on: remove the current app first.")
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def _check_code(*, user: User, device: TOTPDevice, code: str, ip: str, during: str, by_user: bool = True) -> None:
    """Verify `code` on `device` under django-otp's throttle, or raise with the reason.

    The failure is committed before the error is raised: the throttle count and the
    audit row must survive the refusal. `by_user` is false at sign-in, where whoever
    typed the code has only shown the password, not that they are the user.
    """
    allowed, data = device.verify_is_allowed()
    if not allowed:
        wait = max(1, int(((data or {}).get("locked_until", timezone.now()) - timezone.now()).total_seconds()) + 1)
        raise StudioError(f"Too many wrong codes: wait {wait} second{'s' if wait != 1 else ''} and try again.", field="code")
    if device.verify_token(code):
        return
    security_event(user=user, action=AuditAction.TWO_FACTOR_FAILED, ip=ip, by_user=by_user, detail=during)
    raise StudioError("That code is not right. Enter the 6 digits your app shows now.", field="code")


def confirm_enrolment(*, user: User, code: str, ip: str = "") -> TOTPDevice:
    """Confirm the pending device with its first code; a wrong code leaves it unconfirmed."""
    device = pending_device(user=user)
    if device is None:
        raise StudioError("Start the set-up first: there is no app waiting to be confirmed.")
    _check_code(user=user, device=device, code=code, ip=ip, during="while turning two-factor on")
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        security_event(user=user, action=AuditAction.TWO_FACTOR_ENABLED, ip=ip)
    return device


def remove_device(*, user: User, code: str, ip: str = "") -> None:
    """Turn two-factor off, proven by a current code (a stolen session alone cannot)."""
    device = confirmed_device(user=user)
    if device is None:
        raise StudioError("Two-factor sign-in is not on.")
    _check_code(user=user, device=device, code=code, ip=ip, during="while removing two-factor")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        security_event(user=user, action=AuditAction.TWO_FACTOR_REMOVED, ip=ip)


def verify_sign_in(*, user: User, code: str, ip: str = "") -> TOTPDevice:
    """The second sign-in step: return the device that accepted `code`, or raise."""
    device = confirmed_device(user=user)
    if device is None:
        raise StudioError("Two-factor sign-in is not on for this account.")
    _check_code(user=user, device=device, code=code, ip=ip, during="at sign-in", by_user=False)
    return device


def set_require_two_factor(*, actor: Membership, required: bool) -> Team:
    """Require (or stop requiring) two-factor of the team's owners and admins (owner only).

    The owner must be enrolled before requiring it, or the rule would shut them out of
    the very page that sets it.
    """
    if actor.role != Role.OWNER:
        raise PermissionDenied("Only the team owner can change the two-factor rule.")
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=actor.team_id)
        if team.require_two_factor == required:
            return team
        if required and confirmed_device(user=actor.user) is None:
            raise StudioError(
                "Turn on two-factor sign-in for your own account first (Security page).", field="require_two_factor"
            )
        before = {"require_two_factor": team.require_two_factor}
        team.require_two_factor = required
        team.save(update_fields=["require_two_factor"])
        log_event(
            team=team,
            actor=actor.user,
            action=AuditAction.TWO_FACTOR_RULE,
            before=before,
            after={"require_two_factor": required},
        )
    return team
