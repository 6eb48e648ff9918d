"""Test settings: the real settings with fast hashing, eager-free Celery and temp storage."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DEBUG", "false")
# The suite draws keyless models with the demo renderer (production's default is off; see
# tests/providers/test_demo_default.py), and the worker processes inherit this.
os.environ.setdefault("STUDIO_DEMO_RENDER", "auto")
# Most tests spend credits through the local renderer; tests of free demo renders unset it.
os.environ.setdefault("STUDIO_DEMO_CHARGE", "true")
# Each test run gets its own data dir so the suite never touches a developer's var/.
os.environ.setdefault("STUDIO_DATA_DIR", tempfile.mkdtemp(prefix="studio-test-"))

from studio.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STUDIO_DEMO_DELAY = 0.0
STUDIO_RETRY_BASE_SECONDS = 0.01
STUDIO_RETRY_MAX_SECONDS = 0.05
# Unit tests run tasks in-process; the worker tests start a real worker instead.
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "true") == "true"
CELERY_TASK_EAGER_PROPAGATES = True
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# The test client speaks plain HTTP; the redirect itself is tested with override_settings.
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not :memory:, so a real worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(STUDIO_DATA_DIR / "test.sqlite3")}  # noqa: F405
