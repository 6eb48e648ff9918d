"""Browsing: filters parsed from the URL, and keyset pages over them.

Pages never use OFFSET: each page continues from the last row of the previous one
(`WHERE (created_at, id) < (:c, :id) ORDER BY created_at DESC, id DESC LIMIT n`), so a
page costs the same at any depth and concurrent inserts or deletes neither repeat nor
skip rows (an OFFSET does both, and its cost grows with the page number). Search on PostgreSQL ranks by relevance, and the rank
joins the keyset.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Exists, F, FloatField, OuterRef, Q, QuerySet
from django.db.models.functions import Cast
from django.http import QueryDict

from gallery.grouping import GROUPS
from gallery.models import Board, BoardItem, Favourite, Image, ImageQuerySet

PAGE_SIZE = 60
SORTS = {"new": "Newest first", "old": "Oldest first", "relevance": "Best match"}
SEARCH_CONFIG = "english"
Q_MAX = 200
# What a grid tile needs; the rest (params, the search vector...) stays in the table.
TILE_FIELDS = (
    "pk",
    "job_id",
    "created_at",
    "owner_id",
    "thumbnail",
    "thumb_width",
    "thumb_height",
    "placeholder_colour",
    "width",
    "height",
    "mime_type",
    "prompt",
    "model_slug",
    "is_demo",
)


class CursorError(ValueError):
    pass


@dataclass(frozen=True)
class Filters:
    """Everything a gallery view can be narrowed by; lives in the URL, so it can be shared."""

    q: str = ""
    model: str = ""
    tier: str = ""
    provider: str = ""
    author: str = ""
    date_from: date | None = None
    date_to: date | None = None
    ratio: str = ""
    favourites: bool = False
    board: int | None = None
    sort: str = "new"
    # How the page is shown, not what it holds: not a filter for `active` or "Clear all".
    group: str = ""
    errors: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def active(self) -> bool:
        return any(
            (self.q, self.model, self.tier, self.provider, self.author, self.date_from,
             self.date_to, self.ratio, self.favourites, self.board)
        )

    def query_items(self) -> list[tuple[str, str]]:
        items = [
            ("q", self.q),
            ("model", self.model),
            ("tier", self.tier),
            ("provider", self.provider),
            ("author", self.author),
            ("from", self.date_from.isoformat() if self.date_from else ""),
            ("to", self.date_to.isoformat() if self.date_to else ""),
            ("ratio", self.ratio),
            ("fav", "1" if self.favourites else ""),
            ("board", str(self.board) if self.board else ""),
        ]
        default_sort = default_sort_for(self.q)
        if self.sort != default_sort:
            items.append(("sort", self.sort))
        items.append(("group", self.group))
        return [(key, value) for key, value in items if value]

    def query_string(self) -> str:
        """The filters as a query string (without the cursor), for pager and share links."""
        return urlencode(self.query_items())


def uses_full_text() -> bool:
    return connection.vendor == "postgresql"


def default_sort_for(q: str) -> str:
    return "relevance" if q and uses_full_text() else "new"


def parse_filters(params: QueryDict | dict[str, str]) -> Filters:
    """Read filters from GET parameters; a bad value is dropped with a message for its field."""
    errors: dict[str, str] = {}

    def text(name: str, limit: int = 100) -> str:
        return " ".join(str(params.get(name, "") or "").split())[:limit]

    def day(name: str) -> date | None:
        raw = text(name, 20)
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            errors[name] = "Enter a date as YYYY-MM-DD."
            return None

    q = text("q", Q_MAX)
    date_from, date_to = day("from"), day("to")
    if date_from and date_to and date_from > date_to:
        errors["to"] = "The end date is before the start date."
        date_to = None
    board = None
    if raw_board := text("board", 20):
        if raw_board.isdigit():
            board = int(raw_board)
        else:
            errors["board"] = "Unknown board."
    sort = text("sort", 20) or default_sort_for(q)
    if sort not in SORTS or (sort == "relevance" and not (q and uses_full_text())):
        if sort not in SORTS:
            errors["sort"] = "Unknown order."
        sort = "new"
    group = text("group", 10)
    if group not in GROUPS:
        errors["group"] = "Unknown grouping."
        group = ""
    return Filters(
        q=q,
        model=text("model"),
        tier=text("tier", 10),
        provider=text("provider", 20),
        author=text("author", 150),
        date_from=date_from,
        date_to=date_to,
        ratio=text("ratio", 10),
        favourites=text("fav", 5) in ("1", "on", "true"),
        board=board,
        sort=sort,
        group=group,
        errors=errors,
    )


def apply_filters(images: ImageQuerySet, *, filters: Filters, user: Any) -> QuerySet[Image]:
    """Narrow `images` by every filter; search ranks on PostgreSQL, matches words on SQLite."""
    if filters.model:
        images = images.filter(model_slug=filters.model)
    if filters.tier:
        images = images.filter(tier=filters.tier)
    if filters.provider:
        images = images.filter(provider=filters.provider)
    if filters.ratio:
        images = images.filter(aspect_ratio=filters.ratio)
    if filters.author:
        users = get_user_model().objects.filter(username=filters.author).values("pk")
        images = images.filter(owner_id__in=users)
    if filters.date_from:
        images = images.filter(created_at__gte=_start_of(filters.date_from))
    if filters.date_to:
        images = images.filter(created_at__lt=_start_of(filters.date_to + timedelta(days=1)))
    if filters.favourites:
        images = images.filter(Exists(Favourite.objects.filter(user=user, image=OuterRef("pk"))))
    if filters.board:
        boards = Board.objects.visible_to(user).filter(pk=filters.board).values("pk")
        images = images.filter(
            Exists(BoardItem.objects.filter(board_id__in=boards, image=OuterRef("pk")))
        )
    if filters.q:
        if uses_full_text():
            query = SearchQuery(filters.q, config=SEARCH_CONFIG, search_type="websearch")
            images = images.filter(search_vector=query)
            if filters.sort == "relevance":
                # ts_rank is a float4; as float8 it survives the round trip through the
                # cursor exactly, so ties at a page boundary compare equal.
                rank = Cast(SearchRank(F("search_vector"), query), output_field=FloatField())
                images = images.annotate(rank=rank)
        else:
            for word in filters.q.split()[:10]:
                images = images.filter(prompt__icontains=word)
    return images


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# -- keyset ------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    images: list[Image]
    next_cursor: str


def encode_cursor(image: Image, *, sort: str) -> str:
    values: list[Any] = [sort, image.created_at.isoformat(), image.pk]
    if sort == "relevance":
        values.append(float(image.rank))  # type: ignore[attr-defined]
    raw = json.dumps(values, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, sort: str) -> tuple[datetime, int, float | None]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        values = json.loads(raw)
        if values[0] != sort:
            raise CursorError("cursor of another order")
        stamp = datetime.fromisoformat(values[1])
        pk = int(values[2])
        rank = float(values[3]) if sort == "relevance" else None
    except (ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise CursorError("This page link is damaged.") from exc
    if stamp.tzinfo is None:
        raise CursorError("This page link is damaged.")
    return stamp, pk, rank


def order_and_seek(images: QuerySet[Image], *, sort: str, cursor: str) -> QuerySet[Image]:
    """Order totally (id breaks ties) and continue after the cursor's row, if any."""
    if sort == "old":
        images = images.order_by("created_at", "id")
    elif sort == "relevance":
        images = images.order_by("-rank", "-created_at", "-id")
    else:
        images = images.order_by("-created_at", "-id")
    if not cursor:
        return images
    stamp, pk, rank = decode_cursor(cursor, sort=sort)
    if sort == "old":
        # The redundant bound turns the OR into an index range condition.
        return images.filter(created_at__gte=stamp).filter(
            Q(created_at__gt=stamp) | Q(created_at=stamp, pk__gt=pk)
        )
    if sort == "relevance":
        return images.filter(rank__lte=rank).filter(
            Q(rank__lt=rank)
            | Q(rank=rank, created_at__lt=stamp)
            | Q(rank=rank, created_at=stamp, pk__lt=pk)
        )
    return images.filter(created_at__lte=stamp).filter(
        Q(created_at__lt=stamp) | Q(created_at=stamp, pk__lt=pk)
    )


def browse_page(
    images: ImageQuerySet, *, filters: Filters, user: Any, cursor: str = "", page_size: int | None = None
) -> Page:
    """One page of tiles (one query), and the cursor of the next page ("" at the end)."""
    page_size = page_size or PAGE_SIZE
    narrowed = apply_filters(images, filters=filters, user=user).only(*TILE_FIELDS)
    rows = list(order_and_seek(narrowed, sort=filters.sort, cursor=cursor)[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    return Page(rows, encode_cursor(rows[-1], sort=filters.sort) if more and rows else "")


def without_board(filters: Filters) -> Filters:
    return replace(filters, board=None)
