"""Full-text search on PostgreSQL (a trigger-kept tsvector with a GIN index), and the copied
`provider` / `aspect_ratio` columns filled in for images stored before they existed.

The trigger and the index are PostgreSQL-only, so they are not in the model state: on
SQLite the column stays empty and search uses a case-insensitive match instead.
"""

from __future__ import annotations

from django.db import migrations

TRIGGER = "gallery_image_search_vector_update"
INDEX = "image_search_gin"


def add_search(apps, schema_editor):  # noqa: ANN001, ANN201 - migration signature
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE INSERT OR UPDATE OF prompt ON gallery_image "
        "FOR EACH ROW EXECUTE FUNCTION "
        "tsvector_update_trigger(search_vector, 'pg_catalog.english', prompt)"
    )
    schema_editor.execute(
        "UPDATE gallery_image SET search_vector = to_tsvector('pg_catalog.english', prompt)"
    )
    schema_editor.execute(f"CREATE INDEX {INDEX} ON gallery_image USING gin (search_vector)")


def drop_search(apps, schema_editor):  # noqa: ANN001, ANN201
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON gallery_image")


def backfill(apps, schema_editor):  # noqa: ANN001, ANN201
    Image = apps.get_model("gallery", "Image")
    for image in Image.objects.select_related("job__catalog_model").iterator():
        image.provider = image.job.catalog_model.family
        image.aspect_ratio = str((image.params or {}).get("aspect_ratio", ""))[:10]
        image.save(update_fields=["provider", "aspect_ratio"])


class Migration(migrations.Migration):
    dependencies = [
        ("gallery", "0003_boards_favourites_shares"),
        ("providers", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(add_search, drop_search),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
