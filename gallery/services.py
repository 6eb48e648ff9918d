"""Gallery workflows: storing images, thumbnails, favourites, visibility, deletion and purge,
boards and share links. Keyword-only, typed, and each owns its transaction.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from gallery import files, imaging, svg, thumbnail_rows
from gallery.models import (
    EXTENSIONS,
    RESTORE_DAYS,
    Board,
    BoardItem,
    Favourite,
    Image,
    ShareLink,
    Visibility,
)

logger = logging.getLogger(__name__)

SVG_PLACEHOLDER = "#e5e7eb"
DEFAULT_PLACEHOLDER = "#888888"
BOARD_NAME_MAX = 100
SHARE_MAX_DAYS = 365
PURGE_BATCH = 500


class GalleryError(Exception):
    """A refused gallery action; the message is safe to show as is."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(GalleryError):
    """The user may not do this; views answer 404 so nothing about the object leaks."""


# -- storing -----------------------------------------------------------------------
@dataclass(frozen=True)
class StoredFile:
    """An original written to storage, not yet in the database."""

    name: str
    mime_type: str
    sha256: str
    byte_size: int
    width: int
    height: int
    placeholder_colour: str


def save_image_file(*, data: bytes, mime_type: str, measure_colour: bool = True) -> StoredFile:
    """Write the bytes exactly as received, content-addressed, and read what the grid needs.

    SVG is the one exception to "as received": it is sanitised first (gallery.svg), and
    the sanitised bytes are then kept exactly. Call outside transactions: it is file I/O.
    The thumbnail is made later by a task (`make_thumbnail`). `measure_colour=False` leaves
    the placeholder's mean colour to that task too, which decodes the image anyway: a
    provider's result is then stored without decoding its pixels on the way to the caller.
    """
    placeholder = DEFAULT_PLACEHOLDER
    if mime_type == "image/svg+xml":
        clean = svg.sanitise_svg(data)
        data, width, height, placeholder = clean.data, clean.width, clean.height, SVG_PLACEHOLDER
    else:
        try:
            width, height = imaging.image_size(data)
            if measure_colour:
                placeholder = imaging.average_colour(data)
        except imaging.ImageError:
            # A format outside the decoder allowlist (a provider's GIF): kept, not decoded.
            width, height = _declared_size(data)
    digest = imaging.sha256_hex(data)
    name = files.image_name(digest, EXTENSIONS.get(mime_type, "bin"))
    files.store_bytes(name, data)
    _recent.put(name, data)
    return StoredFile(
        name=name,
        mime_type=mime_type,
        sha256=digest,
        byte_size=len(data),
        width=width,
        height=height,
        placeholder_colour=placeholder,
    )


def _declared_size(data: bytes) -> tuple[int, int]:
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    return 0, 0


def save_image_files(images: Sequence[Any], *, measure_colour: bool = True) -> list[StoredFile]:
    """Store every delivered image (objects with `.data` and `.mime_type`), or none.

    Raise `imaging.ImageError` if one cannot be stored safely (an SVG we refuse);
    the ones written before it are removed again unless another row uses them.
    """
    stored: list[StoredFile] = []
    try:
        for image in images:
            stored.append(save_image_file(data=image.data, mime_type=image.mime_type, measure_colour=measure_colour))
    except imaging.ImageError:
        discard_unused_files(stored)
        raise
    return stored


@dataclass(frozen=True)
class ImageOrigin:
    """What the gallery keeps of the job an image came from, as plain values.

    The job layer builds it (`studio.services.jobs.settle.image_origin`), so the gallery
    holds the job only as a foreign key and never reads job or catalogue rows itself.
    """

    job_id: int
    owner_id: int
    team_id: int
    prompt: str
    model_slug: str
    tier: str
    provider: str
    params: dict[str, Any]
    is_demo: bool


def create_image(*, origin: ImageOrigin, index: int, stored: StoredFile, revised_prompt: str = "") -> Image:
    """Record one delivered image of a job (inside the job's completing transaction).

    The thumbnail task is enqueued when that transaction commits.
    """
    image = Image.objects.create(
        job_id=origin.job_id,
        index=index,
        owner_id=origin.owner_id,
        team_id=origin.team_id,
        file=stored.name,
        placeholder_colour=stored.placeholder_colour,
        mime_type=stored.mime_type,
        width=stored.width,
        height=stored.height,
        byte_size=stored.byte_size,
        sha256=stored.sha256,
        prompt=origin.prompt,
        model_slug=origin.model_slug,
        tier=origin.tier,
        provider=origin.provider,
        aspect_ratio=str(origin.params.get("aspect_ratio", ""))[:10],
        params=origin.params,
        revised_prompt=revised_prompt,
        is_demo=origin.is_demo,
    )
    # robust: the job has succeeded whatever the broker says; a missing thumbnail is
    # made later by `enqueue_missing_thumbnails`.
    transaction.on_commit(lambda: enqueue_thumbnail(image_id=image.pk), robust=True)
    return image


def enqueue_thumbnail(*, image_id: int) -> None:
    from gallery.tasks import make_thumbnail_task

    make_thumbnail_task.delay(image_id)


def discard_unused_files(stored: Iterable[StoredFile]) -> None:
    """Delete files no image row refers to (a result that arrived after a cancel)."""
    for entry in stored:
        if not Image.objects.filter(sha256=entry.sha256).exists():
            _recent.forget(entry.name)
            files.delete_file(entry.name)
            files.delete_file(files.thumbnail_name(entry.sha256))


class _RecentBytes:
    """The last few originals this process stored, by file name: the synchronous API answers
    with the image it has just written, and reading it back (from S3, say) would be a round
    trip for bytes it already holds. Names are content addresses, so an entry never goes stale."""

    MAX_BYTES = 64 * 1024 * 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def put(self, name: str, data: bytes) -> None:
        if len(data) > self.MAX_BYTES // 4:
            return
        with self._lock:
            if name in self._items:
                self._items.move_to_end(name)
                return
            self._items[name] = data
            self._size += len(data)
            while self._size > self.MAX_BYTES:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def get(self, name: str) -> bytes | None:
        with self._lock:
            return self._items.get(name)

    def forget(self, name: str) -> None:
        with self._lock:
            dropped = self._items.pop(name, None)
            if dropped is not None:
                self._size -= len(dropped)


_recent = _RecentBytes()


def load_image_bytes(image: Image) -> bytes:
    name = image.file.name
    data = _recent.get(name)
    return data if data is not None else files.read_bytes(name)


# -- thumbnails --------------------------------------------------------------------
def make_thumbnail(*, image_id: int) -> None:
    """Give the image (and every row with the same bytes) its WebP thumbnail. Safe to re-run."""
    image = thumbnail_rows.image_to_thumbnail(image_id)
    if image is None or image.thumbnail:
        return
    done = thumbnail_rows.thumbnail_of_same_bytes(image.sha256)
    if done is None:
        try:
            data = files.read_bytes(image.file)
            if image.mime_type == "image/svg+xml":
                thumb = svg.svg_thumbnail(data, width=image.width, height=image.height)
            else:
                thumb = imaging.make_thumbnail(data)
        except imaging.ImageError as exc:
            logger.warning("image %s: no thumbnail: %s", image_id, exc)
            return
        name = files.thumbnail_name(image.sha256)
        files.store_bytes(name, thumb.data)
        done = {"thumbnail": name, "thumb_width": thumb.width, "thumb_height": thumb.height}
        if thumb.colour:
            done["placeholder_colour"] = thumb.colour
    thumbnail_rows.give_thumbnail(sha256=image.sha256, values=done)


def enqueue_missing_thumbnails(*, older_than: timedelta = timedelta(minutes=5), limit: int = 500) -> int:
    """Re-enqueue thumbnails that never arrived (a broker outage at commit time)."""
    cutoff = timezone.now() - older_than
    ids = list(
        Image.objects.filter(thumbnail="", deleted_at__isnull=True, created_at__lt=cutoff)
        .exclude(mime_type="image/gif")
        .values_list("pk", flat=True)[:limit]
    )
    for image_id in ids:
        enqueue_thumbnail(image_id=image_id)
    return len(ids)


# -- actions on one image ----------------------------------------------------------
def _require_owner(image: Image, user: Any) -> None:
    if image.owner_id != user.pk:
        raise NotAllowed("Only the person who made this image can do that.")


def set_visibility(*, image: Image, user: Any, visibility: str) -> Image:
    """Make an image private or visible to its team (owner only)."""
    _require_owner(image, user)
    if visibility not in Visibility.values:
        raise GalleryError("Choose “Only me” or “My team”.", field="visibility")
    with transaction.atomic():
        Image.objects.filter(pk=image.pk).update(visibility=visibility)
    image.visibility = visibility
    return image


def set_favourite(*, image: Image, user: Any, favourite: bool) -> bool:
    """Mark or unmark an image as the user's favourite; idempotent. Return the new state."""
    if favourite:
        try:
            with transaction.atomic():
                Favourite.objects.get_or_create(user=user, image=image)
        except IntegrityError:
            pass  # a concurrent click created it: same outcome
    else:
        Favourite.objects.filter(user=user, image=image).delete()
    return favourite


def is_favourite(*, image: Image, user: Any) -> bool:
    return Favourite.objects.filter(user=user, image=image).exists()


def delete_image(*, image: Image, user: Any) -> Image:
    """Soft-delete: hidden everywhere at once, restorable for RESTORE_DAYS, then purged."""
    _require_owner(image, user)
    now = timezone.now()
    with transaction.atomic():
        Image.objects.filter(pk=image.pk, deleted_at__isnull=True).update(deleted_at=now)
    image.refresh_from_db(fields=["deleted_at"])
    return image


def restore_image(*, image: Image, user: Any) -> Image:
    _require_owner(image, user)
    if image.deleted_at is None:
        return image
    if image.deleted_at < timezone.now() - timedelta(days=RESTORE_DAYS):
        raise GalleryError(f"Images can be restored for {RESTORE_DAYS} days after deletion.")
    with transaction.atomic():
        Image.objects.filter(pk=image.pk).update(deleted_at=None)
    image.deleted_at = None
    return image


def purge_deleted_images(*, now: datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """Remove images deleted more than RESTORE_DAYS ago, and their files once unreferenced.

    Rows go first, in their own transaction; a file goes only when no row, live or
    soft-deleted, still names its sha256 (identical bytes are shared). Safe to re-run.
    """
    cutoff = (now or timezone.now()) - timedelta(days=RESTORE_DAYS)
    purged = 0
    while True:
        with transaction.atomic():
            doomed = list(
                Image.objects.select_for_update(skip_locked=True)
                .filter(deleted_at__lt=cutoff)
                .values_list("pk", "sha256", "file", "thumbnail")[:batch]
            )
            if not doomed:
                break
            Image.objects.filter(pk__in=[row[0] for row in doomed]).delete()
        purged += len(doomed)
        shas = {sha for _, sha, _, _ in doomed}
        still_used = set(
            Image.objects.filter(sha256__in=shas).values_list("sha256", flat=True).distinct()
        )
        for _, sha, name, thumb in doomed:
            if sha in still_used:
                continue
            still_used.add(sha)  # delete each shared file once
            _recent.forget(name)
            files.delete_file(name)
            files.delete_file(thumb or files.thumbnail_name(sha))
        if len(doomed) < batch:
            break
    if purged:
        logger.info("purged %s deleted images", purged)
    return purged


# -- boards ------------------------------------------------------------------------
def _clean_board_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise GalleryError("Give the board a name.", field="name")
    if len(name) > BOARD_NAME_MAX:
        raise GalleryError(f"Board names are at most {BOARD_NAME_MAX} characters.", field="name")
    return name


def create_board(*, user: Any, team_id: int, name: str, visibility: str = Visibility.TEAM) -> Board:
    """Create a board in the user's current team."""
    name = _clean_board_name(name)
    if visibility not in Visibility.values:
        raise GalleryError("Choose who can see the board.", field="visibility")
    try:
        with transaction.atomic():
            return Board.objects.create(team_id=team_id, owner=user, name=name, visibility=visibility)
    except IntegrityError:
        raise GalleryError(f"You already have a board called “{name}”.", field="name") from None


def _require_board_owner(board: Board, user: Any) -> None:
    if board.owner_id != user.pk:
        raise NotAllowed("Only the person who made this board can change it.")


def rename_board(*, board: Board, user: Any, name: str, visibility: str | None = None) -> Board:
    _require_board_owner(board, user)
    board.name = _clean_board_name(name)
    if visibility is not None:
        if visibility not in Visibility.values:
            raise GalleryError("Choose who can see the board.", field="visibility")
        board.visibility = visibility
    try:
        with transaction.atomic():
            board.save(update_fields=["name", "visibility", "updated_at"])
    except IntegrityError:
        raise GalleryError(f"You already have a board called “{board.name}”.", field="name") from None
    return board


def delete_board(*, board: Board, user: Any) -> None:
    """Delete the board; its images stay in the gallery."""
    _require_board_owner(board, user)
    with transaction.atomic():
        board.delete()


def add_images_to_board(*, board: Board, user: Any, image_ids: Iterable[int]) -> int:
    """Add the images the user may see; return how many were new on the board."""
    _require_board_owner(board, user)
    ids = _clean_ids(image_ids)
    visible = list(Image.objects.visible_to(user).filter(pk__in=ids).values_list("pk", flat=True))
    if not visible:
        raise GalleryError("Select at least one image you can see.", field="image")
    with transaction.atomic():
        existing = set(BoardItem.objects.filter(board=board, image_id__in=visible).values_list("image_id", flat=True))
        new = [BoardItem(board=board, image_id=pk) for pk in visible if pk not in existing]
        BoardItem.objects.bulk_create(new, ignore_conflicts=True)
        Board.objects.filter(pk=board.pk).update(updated_at=timezone.now())
    return len(new)


def remove_images_from_board(*, board: Board, user: Any, image_ids: Iterable[int]) -> int:
    _require_board_owner(board, user)
    with transaction.atomic():
        removed, _ = BoardItem.objects.filter(board=board, image_id__in=_clean_ids(image_ids)).delete()
        Board.objects.filter(pk=board.pk).update(updated_at=timezone.now())
    return removed


def _clean_ids(values: Iterable[Any]) -> list[int]:
    ids: list[int] = []
    for value in values:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            continue
    return ids


def boards_with_image(*, image: Image, user: Any) -> list[Board]:
    return list(Board.objects.visible_to(user).filter(items__image=image).distinct())


def zip_images_for(*, user: Any, image_ids: Iterable[int] | None = None, board: Board | None = None) -> list[Image]:
    """The images a ZIP may hold: only those `user` may see, oldest first, files resolved now."""
    images = Image.objects.visible_to(user)
    if board is not None:
        images = images.filter(Exists(BoardItem.objects.filter(board=board, image=OuterRef("pk"))))
    if image_ids is not None:
        images = images.filter(pk__in=_clean_ids(image_ids))
    return list(images.only("pk", "file", "mime_type", "created_at").order_by("created_at", "id"))


# -- share links -------------------------------------------------------------------
def create_share_link(*, image: Image, user: Any, expires_in_days: int | None = None) -> ShareLink:
    """A public link to this one image (owner only), optionally expiring."""
    _require_owner(image, user)
    expires_at = None
    if expires_in_days is not None:
        if not 1 <= expires_in_days <= SHARE_MAX_DAYS:
            raise GalleryError(f"Choose between 1 and {SHARE_MAX_DAYS} days, or no expiry.", field="expires_in_days")
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    with transaction.atomic():
        return ShareLink.objects.create(image=image, created_by=user, expires_at=expires_at)


def revoke_share_link(*, link: ShareLink, user: Any) -> ShareLink:
    if link.image.owner_id != user.pk:
        raise NotAllowed("Only the person who made this image can revoke its links.")
    if link.revoked_at is None:
        with transaction.atomic():
            ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        link.refresh_from_db(fields=["revoked_at"])
    return link


def shared_image(*, token: str) -> Image | None:
    """The image behind an active share link, or None (revoked, expired, deleted, unknown)."""
    link = ShareLink.objects.active().select_related("image").filter(token=token).first()
    return link.image if link else None


def parse_expiry_days(value: str) -> int | None:
    """"" means no expiry; anything else must be a whole number of days."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise GalleryError("Enter the number of days, or leave it empty for no expiry.", field="expires_in_days") from None


def lineage(*, image: Image, user: Any) -> dict[str, list[Image]]:
    """Across refinement: images of the parent job, this job's other images, and images of
    child jobs (refinements), each only if `user` may see it."""
    job_id, parent_id = image.job_id, image.job.parent_id
    visible = Image.objects.visible_to(user).order_by("created_at", "id")
    return {
        "parents": list(visible.filter(job_id=parent_id)[:24]) if parent_id else [],
        "siblings": list(visible.filter(job_id=job_id).exclude(pk=image.pk)[:24]),
        "children": list(visible.filter(job__parent_id=job_id)[:24]),
    }


# A gallery image sent as a reference is stored under this name (studio.services.composer
# .references.image_upload): it is how a job remembers which gallery image it started from.
GALLERY_INPUT_NAME = re.compile(r"gallery-(\d+)\.[a-z0-9]+")


def edit_source(*, image: Image, user: Any, references: Sequence[Any]) -> Image | None:
    """The gallery image this one was edited from, if `user` may see it (else None).

    An edit ("Edit", a refinement that starts from the previous image) sends its source as
    the first reference; a turn that continues a conversation instead (Gemini's history)
    sends none, and its source is the parent job's first image.
    """
    first = min(references, key=lambda ref: ref.position, default=None)
    match = GALLERY_INPUT_NAME.fullmatch(first.original_name) if first is not None else None
    visible = Image.objects.visible_to(user).exclude(pk=image.pk)
    if match:
        return visible.filter(pk=int(match[1])).first()
    if first is None and image.job.parent_id:
        return visible.filter(job_id=image.job.parent_id).order_by("index").first()
    return None
