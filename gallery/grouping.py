"""Grouping a page of tiles: by the day it was made, or by the refinement thread it belongs to.

Groups are made per page, from the page's own rows: a day or a thread that runs over a
page boundary starts the next page with its heading again, and the keyset pager is
unchanged (its cursor is the last row of the page in the page's order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.dateformat import format as date_format

from gallery.models import Image

GROUPS = {"": "None", "day": "By day", "thread": "By thread"}
# Deeper refinement chains than this are cut (and a cycle, were one ever stored, ends).
MAX_THREAD_DEPTH = 200


@dataclass
class Group:
    key: Any
    heading: str
    images: list[Image] = field(default_factory=list)


def group_images(images: list[Image], *, group: str, user: Any, now: datetime | None = None) -> list[Group]:
    """The page's images under headings ([] when not grouping: the flat grid)."""
    if group == "day":
        return by_day(images, now=now)
    if group == "thread":
        return by_thread(images, user=user)
    return []


def day_heading(day: date, *, today: date) -> str:
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    # "Mon 30 Nov"; the year only when it is not this one.
    return date_format(day, "D j M" if day.year == today.year else "D j M Y")


def by_day(images: list[Image], *, now: datetime | None = None) -> list[Group]:
    """Runs of images made on the same day in the site's time zone, in page order."""
    today = timezone.localdate(now)
    groups: list[Group] = []
    for image in images:
        day = timezone.localdate(image.created_at)
        if not groups or groups[-1].key != day:
            groups.append(Group(key=day, heading=day_heading(day, today=today)))
        groups[-1].images.append(image)
    return groups


def _ancestors(job_ids: set[int]) -> dict[int, list[int]]:
    """Each job's chain up the `parent` links, itself first: one recursive query for the page."""
    if not job_ids:
        return {}
    from studio.models import Job

    table = connection.ops.quote_name(Job._meta.db_table)
    marks = ", ".join(["%s"] * len(job_ids))
    # WITH RECURSIVE reads the same on SQLite and PostgreSQL; a loop in Python would cost a
    # query per level of every thread.
    sql = (
        f"WITH RECURSIVE chain(start_id, job_id, parent_id, depth) AS ("  # noqa: S608 - no user input
        f" SELECT id, id, parent_id, 0 FROM {table} WHERE id IN ({marks})"
        f" UNION ALL"
        f" SELECT chain.start_id, j.id, j.parent_id, chain.depth + 1 FROM {table} j"
        f" JOIN chain ON j.id = chain.parent_id WHERE chain.depth < %s"
        f") SELECT start_id, job_id, depth FROM chain ORDER BY start_id, depth"
    )
    chains: dict[int, list[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*sorted(job_ids), MAX_THREAD_DEPTH])
        for start_id, job_id, _depth in cursor.fetchall():
            chains.setdefault(start_id, []).append(job_id)
    return chains


def by_thread(images: list[Image], *, user: Any) -> list[Group]:
    """Images of one refinement thread together, under the thread's first prompt.

    The heading is the prompt of the oldest turn the viewer may see: a teammate's thread
    that began with a private image is not titled with that image's prompt.
    """
    chains = _ancestors({image.job_id for image in images})
    job_ids = {job_id for chain in chains.values() for job_id in chain}
    prompts: dict[int, str] = {}
    if job_ids:
        visible = Image.objects.visible_to(user).filter(job_id__in=job_ids).order_by("job_id", "index")
        for job_id, prompt in visible.values_list("job_id", "prompt"):
            prompts.setdefault(job_id, prompt)
    groups: dict[int, Group] = {}
    heading_distance: dict[int, int] = {}
    for image in images:
        chain = chains.get(image.job_id, [image.job_id])
        root = chain[-1]
        group = groups.setdefault(root, Group(key=root, heading=image.prompt))
        group.images.append(image)
        # The turn nearest the thread's first one that the viewer sees names the thread.
        distance, prompt = next(
            ((len(chain) - 1 - d, prompts[j]) for d, j in reversed(list(enumerate(chain))) if j in prompts),
            (len(chain) - 1, image.prompt),
        )
        if distance < heading_distance.get(root, len(chain)):
            heading_distance[root] = distance
            group.heading = prompt
    return list(groups.values())
