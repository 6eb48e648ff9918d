"""Celery tasks: thin, take ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="gallery.tasks.make_thumbnail", acks_late=True)
def make_thumbnail_task(image_id: int) -> None:
    from gallery.services import make_thumbnail

    make_thumbnail(image_id=image_id)


@shared_task(name="gallery.tasks.purge_deleted_images")
def purge_deleted_images_task() -> None:
    from gallery.services import purge_deleted_images

    purge_deleted_images()


@shared_task(name="gallery.tasks.enqueue_missing_thumbnails")
def enqueue_missing_thumbnails_task() -> None:
    from gallery.services import enqueue_missing_thumbnails

    enqueue_missing_thumbnails()
