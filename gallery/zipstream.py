"""A ZIP archive written as a stream of chunks, never whole in memory.

zipfile writes to any object with `write()`; on a stream that cannot seek it puts each
entry's sizes and CRC in a data descriptor after the data, which is what lets us yield
the archive while reading the originals chunk by chunk.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ZipEntry:
    name: str
    chunks: Iterable[bytes]


class _Sink(io.RawIOBase):
    """Collects what zipfile writes until the generator hands it on."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def stream_zip(entries: Iterable[ZipEntry]) -> Iterator[bytes]:
    """Yield a ZIP of `entries`; memory stays at about one chunk whatever the total size."""
    sink = _Sink()
    # Deflate at level 1: images are already compressed, and streaming readers (Java's
    # ZipInputStream among them) only accept data descriptors on deflated entries.
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for entry in entries:
            with archive.open(entry.name, "w") as member:
                for chunk in entry.chunks:
                    member.write(chunk)
                    if pending := sink.drain():
                        yield pending
            if pending := sink.drain():
                yield pending
    if pending := sink.drain():
        yield pending
