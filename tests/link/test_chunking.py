"""Chunk sizing alone: grow on a fast link, shrink on a slow one, and respect the ceiling a drop sets."""

from station.chunking import CLEAN_CHUNKS_TO_RAISE, ChunkPolicy, ChunkSizer

POLICY = ChunkPolicy(initial_bytes=64 * 1024, min_bytes=16 * 1024, max_bytes=1024 * 1024, target_s=2.0)


def test_fast_chunks_double_up_to_the_maximum_and_slow_ones_halve():
    sizer = ChunkSizer(POLICY)
    for _ in range(10):
        sizer.after_chunk(sizer.size_bytes, 0.1)
    assert sizer.size_bytes == POLICY.max_bytes
    sizer.after_chunk(sizer.size_bytes, 5.0)
    assert sizer.size_bytes == POLICY.max_bytes // 2
    sizer.after_chunk(100, 0.01)  # a short tail chunk says nothing
    assert sizer.size_bytes == POLICY.max_bytes // 2


def test_a_drop_caps_growth_until_enough_clean_chunks_land():
    sizer = ChunkSizer(POLICY)
    sizer.after_chunk(sizer.size_bytes, 0.1)
    sizer.after_drop(connection_bytes=80 * 1024)          # the connection carried 80 KiB before it died
    assert sizer.size_bytes == 40 * 1024
    for _ in range(CLEAN_CHUNKS_TO_RAISE - 1):
        sizer.after_chunk(sizer.size_bytes, 0.1)
        assert sizer.size_bytes == 40 * 1024                # fast, but held at the ceiling
    sizer.after_chunk(sizer.size_bytes, 0.1)
    assert sizer.size_bytes == 80 * 1024                    # the ceiling doubled
    sizer.after_failure()
    assert sizer.size_bytes == 40 * 1024
    for _ in range(3):
        sizer.after_drop(connection_bytes=0)
    assert sizer.size_bytes == POLICY.min_bytes
