"""Bearer API keys: create, revoke, and turn a request's key into a team membership."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from studio.api.errors import ApiError
from studio.api.models import ApiKey
from studio.models import AuditAction, Membership, User
from studio.services import config_cache
from studio.services.errors import PermissionDenied, ValidationFailed
from studio.services.team.audit import log_event, security_event

KEY_SCHEME = "stu"
# last_used_at is a hint for the keys page; writing it on every request would make
# each API call a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# How long a rotated-out webhook secret keeps signing beside the new one.
WEBHOOK_SECRET_OVERLAP = timedelta(hours=24)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiContext:
    """Who is calling: the key, and the membership it acts as."""

    key: ApiKey
    membership: Membership

    @property
    def user(self) -> User:
        return self.membership.user


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create_api_key(*, membership: Membership, name: str) -> tuple[ApiKey, str]:
    """Make a key for the member; return it with the plaintext, which is never stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": "Give the key a name, e.g. where it will be used."})
    if len(name) > 100:
        raise ValidationFailed({"name": "Keep the name under 100 characters."})
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(24)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            user=membership.user,
            team=membership.team,
            name=name,
            prefix=prefix,
            key_hash=hash_key(plaintext),
            webhook_secret=generate_webhook_secret(),
        )
        security_event(
            user=membership.user, action=AuditAction.API_KEY_CREATED, team=membership.team, detail=f"{name} ({prefix})"
        )
    return key, plaintext


def revoke_api_key(*, key: ApiKey, actor: User) -> ApiKey:
    """Revoke a key: its owner may, and so may the team's owners and admins."""
    if key.user_id != actor.pk:
        manager = Membership.objects.filter(user=actor, team_id=key.team_id).first()
        if manager is None or not manager.can_manage:
            raise PermissionDenied("Only the key's owner or a team admin can revoke it.")
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            config_cache.bump()  # every process stops taking the key within config_cache.VERSION_TTL
            log_event(
                team=key.team,
                actor=actor,
                action=AuditAction.API_KEY_REVOKED,
                target=key.user,
                memo=f"{key.name} ({key.prefix})",
            )
    key.refresh_from_db()
    return key


def rotate_webhook_secret(*, key: ApiKey, actor: User, overlap: timedelta = WEBHOOK_SECRET_OVERLAP) -> ApiKey:
    """Give the key a new webhook secret; the old one keeps signing alongside for `overlap`.

    Only the key's owner may: the secret is shown to them alone.
    """
    if key.user_id != actor.pk:
        raise PermissionDenied("Only the key's owner can rotate its webhook secret.")
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=key.pk)
        if locked.revoked_at is not None:
            raise PermissionDenied("This key is revoked; its webhooks are no longer sent.")
        locked.previous_webhook_secret = locked.webhook_secret
        locked.previous_webhook_secret_until = timezone.now() + overlap
        locked.webhook_secret = generate_webhook_secret()
        locked.save(update_fields=["webhook_secret", "previous_webhook_secret", "previous_webhook_secret_until"])
    return locked


def keys_visible_to(*, membership: Membership) -> list[ApiKey]:
    """The member's own keys; a team admin sees every key of the team."""
    keys = ApiKey.objects.filter(team=membership.team).select_related("user")
    if not membership.can_manage:
        keys = keys.filter(user=membership.user)
    return list(keys)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="studio"'})


def _failure_key(request: HttpRequest) -> str:
    return "api-key-failures:" + hashlib.sha256((request.META.get("REMOTE_ADDR") or "").encode()).hexdigest()[:32]


def _refuse(request: HttpRequest, message: str) -> ApiError:
    """Count a wrong key against the caller's address and return the 401 to raise."""
    key = _failure_key(request)
    window = int(settings.STUDIO_API_KEY_FAILURE_WINDOW)
    # add() starts the window; incr() counts within it (atomic in Redis and locmem).
    try:
        if not cache.add(key, 1, timeout=window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=window)
    except Exception:
        # A cache outage must not turn a 401 into a 500: the wrong key is still refused.
        logger.warning("API key failure counter unavailable", exc_info=True)
    return unauthorized(message)


def _throttle(request: HttpRequest) -> None:
    limit = int(settings.STUDIO_API_KEY_FAILURE_LIMIT)
    if not limit:
        return
    try:
        failures = int(cache.get(_failure_key(request)) or 0)
    except Exception:
        # A cache (Redis) outage must not take the API down with it: let the request through.
        logger.warning("API key failure counter unavailable; not throttling", exc_info=True)
        return
    if failures >= limit:
        window = int(settings.STUDIO_API_KEY_FAILURE_WINDOW)
        raise ApiError(
            429,
            "rate_limited",
            f"Too many requests with a wrong API key from this address; try again in {window // 60 or 1} minutes.",
            headers={"Retry-After": str(window)},
        )


def authenticate(request: HttpRequest) -> ApiContext:
    """Resolve `Authorization: Bearer <key>` to an active key and its membership, or 401.

    Wrong keys are counted per client address: past STUDIO_API_KEY_FAILURE_LIMIT in the
    window, that address gets 429 before any key is even looked up.
    """
    _throttle(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("Send your API key as `Authorization: Bearer <key>`.")
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or not token.isascii() or not token.isprintable():
        raise _refuse(request, "That is not a Studio API key.")
    found = config_cache.cached("api-key", parts[1], lambda: _load_key(parts[1]))
    if found is None or not hmac.compare_digest(found.key.key_hash, hash_key(token)):
        raise _refuse(request, "Unknown API key.")
    # Copies: a request may remember things on its objects (the team's access rules).
    key, membership = copy.copy(found.key), copy.copy(found.membership)
    if key.revoked_at is not None:
        raise _refuse(request, "This API key has been revoked.")
    if not key.user.is_active:
        raise unauthorized("The account this key belongs to is disabled.")
    if membership is None:
        raise unauthorized("The key's owner is no longer a member of its team.")
    _note_use(key)
    return ApiContext(key=key, membership=membership)


@dataclass(frozen=True)
class _KnownKey:
    key: ApiKey
    membership: Membership | None


def _load_key(prefix: str) -> _KnownKey | None:
    """The key and the membership it acts as, kept per process by `config_cache`: saving or
    deleting a key, a membership, its team or its user (and revoking a key) bumps the
    version, so every process reads them again within `config_cache.VERSION_TTL` (this
    process at once)."""
    key = ApiKey.objects.select_related("user", "team").filter(prefix=prefix).first()
    if key is None:
        return None
    membership = Membership.objects.select_related("team", "user").filter(user=key.user, team=key.team).first()
    return _KnownKey(key=key, membership=membership)


# When this process last wrote each key's last_used_at (the cached key's own value goes stale).
_last_used_written: dict[int, datetime] = {}


def _note_use(key: ApiKey) -> None:
    now = timezone.now()
    last = _last_used_written.get(key.pk) or key.last_used_at
    if last is None or last < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        _last_used_written[key.pk] = now
