"""The thumbnail task's three statements, in SQL: the task runs once per image, and on a small
host compiling the ORM's version of each costs several times the statement itself (the
worker benchmark prints CPU per job). `services.make_thumbnail` is their only caller."""

from __future__ import annotations

from typing import NamedTuple

from django.db import connection

from gallery.models import Image

_IMAGES = Image._meta.db_table


class Pending(NamedTuple):
    sha256: str
    file: str
    mime_type: str
    width: int
    height: int
    thumbnail: str


def image_to_thumbnail(image_id: int) -> Pending | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(Pending._fields)} FROM {_IMAGES} WHERE id = %s", [image_id])  # noqa: S608
        row = cursor.fetchone()
    return Pending(*row) if row is not None else None


def thumbnail_of_same_bytes(sha256: str) -> dict[str, object] | None:
    """A thumbnail already made for another row with the same bytes (a duplicate result, a seed)."""
    columns = ("thumbnail", "thumb_width", "thumb_height", "placeholder_colour")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM {_IMAGES} WHERE sha256 = %s AND thumbnail <> '' LIMIT 1",  # noqa: S608
            [sha256],
        )
        row = cursor.fetchone()
    return dict(zip(columns, row, strict=True)) if row is not None else None


def give_thumbnail(*, sha256: str, values: dict[str, object]) -> None:
    """Every row with these bytes and no thumbnail yet gets `values` (thumbnail, its size, colour)."""
    assignments = ", ".join(f"{Image._meta.get_field(name).column} = %s" for name in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_IMAGES} SET {assignments} WHERE sha256 = %s AND thumbnail = ''",  # noqa: S608 - field names
            [*values.values(), sha256],
        )
