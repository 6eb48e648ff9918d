"""Signals other apps listen to (providers imports no other app)."""

from django.dispatch import Signal

# Sent after `sync_catalog` wrote the catalogue, bulk writes included (which send no post_save).
catalog_synced = Signal()
