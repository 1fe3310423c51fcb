"""How big the uploader's next PATCH should be, learnt from the link it is on.

Every PATCH costs a round trip of silence (request out, answer back) on links whose round trip is 0.3-0.8 s, so a
chunk should take about ``target_s`` of link time: long enough that this is noise. The office streams bodies and
keeps what a cut PATCH delivered, so a drop costs the same whatever the chunk size and chunks stay large. Only
when an office kept nothing of a cut PATCH (something on the path buffers bodies) must chunks shrink next to how
long connections live, growing back only after the link has carried several full chunks (``after_drop``).
"""

from __future__ import annotations

from dataclasses import dataclass

CLEAN_CHUNKS_TO_RAISE = 8
"""Full chunks confirmed in a row before the post-drop ceiling doubles."""


@dataclass(frozen=True)
class ChunkPolicy:
    initial_bytes: int = 4 * 1024 * 1024
    """A whole real packet in one PATCH: with a streaming office, more PATCHes only add round trips."""
    min_bytes: int = 16 * 1024
    max_bytes: int = 4 * 1024 * 1024
    target_s: float = 30.0
    """A chunk should take about this long: long enough that a round trip per PATCH is noise."""


class ChunkSizer:
    """The current chunk size and the ceiling a dropped connection put on it."""

    def __init__(self, policy: ChunkPolicy) -> None:
        self.policy = policy
        self.size_bytes = policy.initial_bytes
        self._ceiling_bytes: int | None = None
        """After a dropped connection chunks grow no larger than this (None = ``policy.max_bytes``)."""
        self._clean_chunks = 0
        """Full chunks the office confirmed since the ceiling last moved."""

    def after_failure(self) -> None:
        """A round failed for another reason than a drop mid-PATCH: be more careful next time."""
        self.size_bytes = max(self.policy.min_bytes, self.size_bytes // 2)

    def after_drop(self, connection_bytes: int) -> None:
        """Half the last size, and at most half of what the office confirmed over the dropped connection; that
        size is also a ceiling growth respects until ``CLEAN_CHUNKS_TO_RAISE`` full chunks land in a row."""
        limit = connection_bytes // 2 if connection_bytes else self.size_bytes // 4
        self.size_bytes = max(self.policy.min_bytes, min(self.size_bytes // 2, limit))
        self._ceiling_bytes = self.size_bytes
        self._clean_chunks = 0

    def after_chunk(self, size: int, elapsed_s: float) -> None:
        """A chunk of ``size`` bytes was confirmed after ``elapsed_s``: grow on a fast link, shrink on a slow one."""
        if size < self.size_bytes:
            return       # a short tail chunk says nothing about the link
        if self._ceiling_bytes is not None:
            self._clean_chunks += 1
            if self._clean_chunks >= CLEAN_CHUNKS_TO_RAISE:
                self._ceiling_bytes *= 2
                self._clean_chunks = 0
                if self._ceiling_bytes >= self.policy.max_bytes:
                    self._ceiling_bytes = None
        if elapsed_s < self.policy.target_s / 2:
            self.size_bytes = min(self._ceiling_bytes or self.policy.max_bytes, self.policy.max_bytes,
                                  self.size_bytes * 2)
        elif elapsed_s > self.policy.target_s * 2:
            self.size_bytes = max(self.policy.min_bytes, self.size_bytes // 2)
