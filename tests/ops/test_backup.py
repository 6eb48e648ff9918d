"""Backups: a dump restored into a fresh database, with the media copied beside it, has a
balanced ledger and a file for every image row (`manage.py verify_restore`).

PostgreSQL runs pg_dump / pg_restore, as the README documents; on SQLite the dump is the
database's SQL text (`iterdump`) replayed into a new file.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from gallery.models import Image
from studio.models import Transfer
from studio.services import credits, jobs
from tests.worker import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def pg_args() -> list[str]:
    db = connection.settings_dict
    return ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"]]


def pg_env() -> dict[str, str]:
    return {**os.environ, "PGPASSWORD": connection.settings_dict.get("PASSWORD") or ""}


def dump_and_restore(tmp_path: Path) -> str:
    """Dump the test database, restore it into a fresh one; return the fresh one's URL."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        dump = tmp_path / "studio.sql"
        with sqlite3.connect(db["NAME"]) as source:
            dump.write_text("\n".join(source.iterdump()))
        fresh = tmp_path / "restored.sqlite3"
        with sqlite3.connect(fresh) as target:
            target.executescript(dump.read_text())
        return f"sqlite:///{fresh}"
    dump = tmp_path / "studio.dump"
    fresh = f"{db['NAME']}_restore"
    run = {"check": True, "env": pg_env(), "capture_output": True}
    subprocess.run(["pg_dump", *pg_args(), "--format=custom", "--no-owner", "-f", str(dump), db["NAME"]], **run)
    subprocess.run(["dropdb", *pg_args(), "--if-exists", fresh], **run)
    subprocess.run(["createdb", *pg_args(), fresh], **run)
    subprocess.run(["pg_restore", *pg_args(), "--no-owner", "--exit-on-error", "-d", fresh, str(dump)], **run)
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{fresh}"


def verify(database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url,
           "STUDIO_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "manage.py", "verify_restore", "--checksums"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_restored_dump_has_a_balanced_ledger_and_every_image_file(designer, make_model, tmp_path):
    if connection.vendor not in ("postgresql", "sqlite"):
        pytest.skip("backups are documented for PostgreSQL and the embedded SQLite")
    if connection.vendor == "postgresql" and not all(shutil.which(t) for t in ("pg_dump", "pg_restore", "createdb")):
        pytest.skip("PostgreSQL's client tools (pg_dump, pg_restore, createdb) are not installed")
    make_model("backup-model", credits_per_image=7)
    for prompt in ("a pier", "a pier at night", "a pier in fog"):
        spec = jobs.validate_job(membership=designer, model="backup-model", prompt=prompt, count=2)
        jobs.submit_job(membership=designer, spec=spec)  # runs eagerly on commit
    images = Image.objects.count()
    assert images == 6 and credits.ledger_is_balanced()
    transfers = Transfer.objects.count()

    # Back up: the database dump and the media folder (a bucket would be mirrored instead).
    media = tmp_path / "media.tar"
    with tarfile.open(media, "w") as archive:
        archive.add(settings.MEDIA_ROOT, arcname="media")
    restored_url = dump_and_restore(tmp_path)

    # Restore the media under a fresh data folder, then check the pair.
    data_dir = tmp_path / "restored"
    data_dir.mkdir()
    with tarfile.open(media) as archive:
        archive.extractall(data_dir, filter="data")
    try:
        result = verify(restored_url, data_dir)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "ledger balanced: yes" in result.stdout
        assert f"image rows: {images}; files missing: 0; checksum mismatches: 0" in result.stdout

        # The check is not a formality: a lost file fails it, by name.
        lost = Image.objects.order_by("pk").first().file.name
        (data_dir / "media" / lost).unlink()
        result = verify(restored_url, data_dir)
        assert result.returncode == 1 and f"missing: {lost}" in result.stdout
    finally:
        if connection.vendor == "postgresql":
            subprocess.run(["dropdb", *pg_args(), "--if-exists", restored_url.rsplit("/", 1)[1]], env=pg_env(),
                           capture_output=True)
    assert Transfer.objects.count() == transfers  # the source was only read
