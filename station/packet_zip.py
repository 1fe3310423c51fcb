"""The packet's ZIP profile: stored entries only, no extra fields or comments, local headers identical to the
central directory, nothing between or after the entries.

Reading is our own because ``zipfile`` ignores most of each local header: in this narrow profile every byte is
either fixed or repeated elsewhere, so any altered byte is refused. Pure bytes in, entries out; ``station.packets``
turns ``ZipProfileError`` into ``PacketError``.
"""

from __future__ import annotations

import re
import struct
import zlib
from datetime import UTC, datetime

MAX_ENTRIES = 32
MAX_PACKET_BYTES = 256 * 1024 * 1024

_LOCAL = struct.Struct("<IHHHHHIIIHH")  # 30 bytes
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # 46 bytes
_END = struct.Struct("<IHHHHIIH")  # 22 bytes
_LOCAL_SIG, _CENTRAL_SIG, _END_SIG = 0x04034B50, 0x02014B50, 0x06054B50
_ZIP_VERSION = 20  # 2.0: stored entries, no ZIP64
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*")


class ZipProfileError(ValueError):
    """The bytes are not a ZIP in the packet profile; the message says what is wrong."""


def _dos_time(when: datetime) -> tuple[int, int]:
    when = max(when, datetime(1980, 1, 1, tzinfo=UTC))
    dos_time = when.hour << 11 | when.minute << 5 | when.second // 2
    dos_date = (when.year - 1980) << 9 | when.month << 5 | when.day
    return dos_time, dos_date


def write_zip(entries: list[tuple[str, bytes]], when: datetime) -> bytes:
    dos_time, dos_date = _dos_time(when)
    out, central = bytearray(), bytearray()
    for name, body in entries:
        raw_name, crc, size = name.encode("ascii"), zlib.crc32(body), len(body)
        offset = len(out)
        out += _LOCAL.pack(_LOCAL_SIG, _ZIP_VERSION, 0, 0, dos_time, dos_date, crc, size, size, len(raw_name), 0)
        out += raw_name + body
        central += _CENTRAL.pack(_CENTRAL_SIG, _ZIP_VERSION, _ZIP_VERSION, 0, 0, dos_time, dos_date, crc, size,
                                 size, len(raw_name), 0, 0, 0, 0, 0, offset)
        central += raw_name
    cd_offset = len(out)
    out += central
    out += _END.pack(_END_SIG, 0, 0, len(entries), len(entries), len(central), cd_offset, 0)
    return bytes(out)


def read_zip(data: bytes) -> dict[str, bytes]:
    """Entries of a ZIP in our profile, in order; anything outside the profile is a ``ZipProfileError``."""
    data = bytes(data)
    if len(data) > MAX_PACKET_BYTES:
        raise ZipProfileError(f"packet is {len(data)} bytes, over the {MAX_PACKET_BYTES}-byte limit")
    end_at = len(data) - _END.size
    if end_at < 0 or struct.unpack_from("<I", data, end_at)[0] != _END_SIG:
        raise ZipProfileError("not a ZIP file (truncated?): no end-of-central-directory record at the end")
    _, disk, cd_disk, n_disk, count, cd_size, cd_offset, comment_len = _END.unpack_from(data, end_at)
    if disk or cd_disk or n_disk != count or comment_len:
        raise ZipProfileError("ZIP end record: multi-disk archives and archive comments are not allowed")
    if not 0 < count <= MAX_ENTRIES:
        raise ZipProfileError(f"ZIP holds {count} entries; a packet has 1 to {MAX_ENTRIES}")
    if cd_offset + cd_size != end_at:
        raise ZipProfileError("not a ZIP file (truncated?): central directory is not where the end record says")
    entries: dict[str, bytes] = {}
    pos, next_local = cd_offset, 0
    for _ in range(count):
        pos, next_local = _read_entry(data, pos, next_local, cd_offset, end_at, entries)
    if pos != end_at or next_local != cd_offset:
        raise ZipProfileError("ZIP has bytes that belong to no entry")
    return entries


def _read_entry(data: bytes, pos: int, local_at: int, cd_offset: int, cd_end: int,
                entries: dict[str, bytes]) -> tuple[int, int]:
    if pos + _CENTRAL.size > cd_end:
        raise ZipProfileError("ZIP central directory is truncated")
    (sig, made_by, needed, flags, method, dos_time, dos_date, crc, csize, usize, name_len, extra_len, comment_len,
     disk, int_attr, ext_attr, offset) = _CENTRAL.unpack_from(data, pos)
    raw_name = data[pos + _CENTRAL.size:pos + _CENTRAL.size + name_len]
    if sig != _CENTRAL_SIG or pos + _CENTRAL.size + name_len > cd_end:
        raise ZipProfileError("ZIP central directory is damaged")
    name = _entry_name(raw_name)
    if method != 0:
        raise ZipProfileError(f"entry {name}: compressed (method {method}); only stored entries are allowed")
    if (made_by, needed, flags, extra_len, comment_len, disk, int_attr, ext_attr) != (
            _ZIP_VERSION, _ZIP_VERSION, 0, 0, 0, 0, 0, 0) or csize != usize:
        raise ZipProfileError(f"entry {name}: ZIP header fields outside the packet profile")
    if name in entries:
        raise ZipProfileError(f"entry {name}: duplicate")
    if offset != local_at or local_at + _LOCAL.size + name_len > cd_offset:
        raise ZipProfileError(f"entry {name}: not stored right after the previous entry")
    local = _LOCAL.unpack_from(data, local_at)
    if local != (_LOCAL_SIG, needed, flags, method, dos_time, dos_date, crc, csize, usize, name_len, 0) or \
            data[local_at + _LOCAL.size:local_at + _LOCAL.size + name_len] != raw_name:
        raise ZipProfileError(f"entry {name}: local header does not match the central directory")
    start = local_at + _LOCAL.size + name_len
    if start + csize > cd_offset:
        raise ZipProfileError(f"entry {name}: data runs past the central directory (truncated?)")
    body = data[start:start + csize]
    if zlib.crc32(body) != crc:
        raise ZipProfileError(f"entry {name}: CRC-32 mismatch")
    entries[name] = body
    return pos + _CENTRAL.size + name_len, start + csize


def _entry_name(raw: bytes) -> str:
    try:
        name = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ZipProfileError(f"entry name {raw[:40]!r} is not ASCII") from None
    if ".." in name.split("/") or name.startswith("/") or "\\" in name:
        raise ZipProfileError(f"entry name {name!r} is not allowed (path traversal)")
    if len(name) > 64 or not _NAME_RE.fullmatch(name):
        raise ZipProfileError(f"entry name {name!r} is not allowed")
    return name
