"""The team gallery, "my images", a board's images and the trash: one grid, keyset-paged."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from gallery import browse, grouping
from gallery.models import Board, Image, ImageQuerySet
from gallery.views.common import visible_board
from providers.models import CatalogModel, Family
from studio.http import HtmxHttpRequest

PAGE_TEMPLATE = "gallery/image_list.html"
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "5:4", "4:5", "21:9", "9:21", "2:1", "1:2")


def current_membership(request: HtmxHttpRequest) -> Any:
    """The user's membership in their current team, or None."""
    membership = request.user.membership()
    if membership is not None:
        # It is the same user: sharing the instance spares the nav's credit badge a query.
        membership.user = request.user
    return membership


@require_GET
def team_gallery(request: HtmxHttpRequest) -> HttpResponse:
    """Everything the members of the current team made team-visible."""
    membership = current_membership(request)
    if membership is None:
        return render(request, "studio/no_team.html")
    images = Image.objects.shared_with_team(membership.team_id)
    return _grid(request, images, scope="team", title=f"{membership.team.name} gallery", team_id=membership.team_id)


@require_GET
def my_images(request: HtmxHttpRequest) -> HttpResponse:
    """The signed-in user's own images, in every team."""
    membership = current_membership(request)
    team_id = membership.team_id if membership else None
    return _grid(request, Image.objects.owned_by(request.user), scope="mine", title="My images", team_id=team_id)


@require_GET
def board_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A board's images that the user may see."""
    board = visible_board(request, pk)
    current_membership(request)
    images = Image.objects.visible_to(request.user)
    return _grid(request, images, scope="board", title=board.name, team_id=board.team_id, board=board)


def _grid(
    request: HtmxHttpRequest,
    images: ImageQuerySet,
    *,
    scope: str,
    title: str,
    team_id: int | None,
    board: Board | None = None,
) -> HttpResponse:
    """One view, two renderings: the page, or (HTMX) the next tiles or the filtered results."""
    filters = browse.parse_filters(request.GET)
    if board is not None:
        filters = replace(filters, board=board.pk)
    errors = dict(filters.errors)
    try:
        page = browse.browse_page(images, filters=filters, user=request.user, cursor=request.GET.get("after", ""))
    except browse.CursorError as exc:
        errors["after"] = f"{exc} Showing the first page."
        page = browse.browse_page(images, filters=filters, user=request.user)
    query = (browse.without_board(filters) if board is not None else filters).query_string()
    context: dict[str, Any] = {
        "scope": scope,
        "title": title,
        "page": page,
        "groups": grouping.group_images(page.images, group=filters.group, user=request.user),
        "group_choices": grouping.GROUPS,
        "filters": filters,
        "errors": errors,
        "filter_query": query,
        "board": board,
        "can_edit_board": board is not None and board.owner_id == request.user.pk,
        # "/gallery/": tiles append "<pk>/" and "<pk>/thumbnail/" (gallery.urls) to it.
        "image_root": reverse("gallery:team"),
    }
    if request.htmx and request.htmx.target == "gallery-results":
        return render(request, f"{PAGE_TEMPLATE}#results", context)
    if request.htmx:
        # The pager asking for the next tiles (it replaces itself with them).
        return render(request, f"{PAGE_TEMPLATE}#grid-page", context, status=400 if "after" in errors else 200)
    context.update(_filter_choices(request, team_id=team_id, scope=scope))
    return render(request, PAGE_TEMPLATE, context)


def _filter_choices(request: HtmxHttpRequest, *, team_id: int | None, scope: str) -> dict[str, Any]:
    """The filter form's options: the catalogue, the team's members, the user's boards."""
    models = list(CatalogModel.objects.order_by("tier", "display_name").values("slug", "display_name", "tier", "family"))
    authors: list[str] = []
    if team_id is not None and scope == "team":
        authors = list(
            get_user_model()
            .objects.filter(memberships__team_id=team_id)
            .order_by("username")
            .values_list("username", flat=True)
        )
    # Counted in the same query: the sidebar shows how many live images each board holds.
    live = Count("items", filter=Q(items__image__deleted_at__isnull=True))
    boards = list(
        Board.objects.visible_to(request.user).annotate(count=live).order_by("name").values("pk", "name", "owner_id", "count")
    )
    return {
        "models": models,
        "tiers": sorted({m["tier"] for m in models}, key=_tier_order),
        # (value, name): the filter sends the family key and shows who it is ("Black Forest Labs", not "bfl").
        "providers": sorted(((f, Family(f).label if f in Family.values else f) for f in {m["family"] for m in models}), key=lambda p: p[1].lower()),
        "authors": authors,
        "ratios": ASPECT_RATIOS,
        "sorts": browse.SORTS if browse.uses_full_text() else {k: v for k, v in browse.SORTS.items() if k != "relevance"},
        "boards": boards,
        "my_boards": [b for b in boards if b["owner_id"] == request.user.pk],
    }


def _tier_order(tier: str) -> int:
    order = ("standard", "advanced", "premium", "ultra")
    return order.index(tier) if tier in order else len(order)


@require_GET
def trash(request: HtmxHttpRequest) -> HttpResponse:
    """The user's deleted images, restorable until they are purged."""
    images = list(
        Image.objects.deleted()
        .filter(owner=request.user)
        .only(*browse.TILE_FIELDS, "deleted_at")
        .order_by("-deleted_at", "-id")[:300]
    )
    return render(request, "gallery/image_trash.html", {"images": images})
