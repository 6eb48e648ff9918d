"""Codes an authenticator app would show, computed from a device's key with django-otp's own TOTP."""

from __future__ import annotations

import time

from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from studio.models import User


def next_code(device: TOTPDevice) -> str:
    """The next code the device accepts: django-otp refuses a time step already used (replay)."""
    device.refresh_from_db()
    now_t = int(time.time() - device.t0) // device.step
    target = max(device.last_t + 1, now_t + device.drift)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=target - now_t):06d}"


def wrong_code(device: TOTPDevice) -> str:
    return f"{(int(next_code(device)) + 500_000) % 1_000_000:06d}"


def enrolled(user: User) -> TOTPDevice:
    """A confirmed device, as if the user had scanned the QR code and typed a first code."""
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
