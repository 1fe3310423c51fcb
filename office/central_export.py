"""Export for the central system: every record of a period as a folder of plain files, with SHA-256 checksums.

Runs where the *biometrics* identity is (an offline machine with a copy of the packet store is the intended place:
the online office never has that key, DESIGN §5). Each packet is verified (station signature, part hashes) and
opened; each plaintext is checked against the manifest's SHA-256, then written to ``<out>/.partial-<id>/`` and
renamed to ``<out>/<id>/`` with its own ``SHA256SUMS``, so an interrupted run leaves no half folder and a second
run skips what is done. ``<out>/SHA256SUMS`` covers every file of every folder. A packet that fails a check is
reported and skipped; nothing else is lost. Records are marked ``exported`` in the office database only when that
database is reachable (a later run on the office marks what an offline run wrote).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from office.record_index import WIB, records
from station import keys as station_keys
from station.durable import fsync_dir
from station.errors import JemputError
from station.packets import MANIFEST_PART, PacketError, open_manifest, open_packet, read_envelope

SUMS_NAME = "SHA256SUMS"
PARTIAL_PREFIX = ".partial-"


class ExportError(JemputError):
    """The export cannot run at all (wrong identity, unreadable store); nothing was written."""


@dataclass
class ExportReport:
    exported: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(packet file, reason) for packets that failed a check."""
    marked: int = 0
    database_reachable: bool = False


def read_station_keys(path: Path) -> dict[str, Any]:
    """Station public keys from a file as ``jemput office list-stations`` prints it (id, district, state, key)."""
    found: dict[str, Any] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts or line.startswith("#"):
            continue
        try:
            found[parts[0]] = station_keys.load_verify_key(parts[-1])
        except station_keys.KeyMaterialError as exc:
            raise ExportError(f"{path}:{number}: {exc}") from None
    return found


def station_keys_from_db(engine: sa.Engine) -> dict[str, Any]:
    from office.db import stations

    with engine.connect() as conn:
        return {sid: station_keys.load_verify_key(b64) for sid, b64 in
                conn.execute(sa.select(stations.c.id, stations.c.public_key_b64))}


def uuid7_time(packet_id: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(packet_id.replace("-", "")[:12], 16) / 1000, UTC)
    except ValueError:
        return None


def candidates(packets_dir: Path, since: date, until: date, offset: timedelta = WIB) -> list[Path]:
    """Packet files whose id time falls in the period (a day's margin each side; the envelope decides)."""
    low = datetime.combine(since, datetime.min.time(), UTC) - offset - timedelta(days=1)
    high = datetime.combine(until, datetime.min.time(), UTC) - offset + timedelta(days=2)
    chosen = []
    for path in sorted(packets_dir.glob("*.jpk")):
        moment = uuid7_time(path.stem)
        if moment is None or low <= moment < high:
            chosen.append(path)
    return chosen


def export_records(packets_dir: Path, out_dir: Path, *, identity: str, since: date, until: date,
                   station_verify_keys: dict[str, Any], engine: sa.Engine | None = None,
                   progress: Callable[[int], None] | None = None, offset: timedelta = WIB) -> ExportReport:
    """Export the records whose envelope ``created`` (local day) is in ``since..until``; see the module doc."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(PARTIAL_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    report = ExportReport()
    files = candidates(packets_dir, since, until, offset)
    checked_identity = False
    for number, path in enumerate(files, start=1):
        try:
            data = path.read_bytes()
            envelope = read_envelope(data)
            day = (envelope.created + offset).date()
            if not since <= day <= until:
                continue
            if (out_dir / envelope.packet_id / SUMS_NAME).exists():
                report.already.append(envelope.packet_id)
                continue
            key = station_verify_keys.get(envelope.station)
            if key is None:
                raise PacketError(f"station {envelope.station} is not known (no public key to verify it)")
            if not checked_identity:
                _refuse_records_identity(data, identity, key)
                checked_identity = True
            opened = open_packet(data, identity, key)
            _write_record(out_dir, opened.envelope.packet_id, opened.manifest, opened.files)
            report.exported.append(envelope.packet_id)
        except PacketError as exc:
            report.skipped.append((path.name, str(exc)))
        except OSError as exc:
            report.skipped.append((path.name, f"cannot read: {exc.strerror or exc}"))
        if progress:
            progress(number)
    write_sums(out_dir)
    if engine is not None:
        report.database_reachable, report.marked = mark_exported(engine, [*report.exported, *report.already])
    return report


def _refuse_records_identity(data: bytes, identity: str, key: Any) -> None:
    """Fail at once, before writing anything, if the identity opens the manifest but not the biometric parts."""
    try:
        envelope, _ = open_manifest(data, identity, key)
    except PacketError as exc:
        if "wrong office key" in str(exc):
            raise ExportError("this identity does not open the packets' manifests: not this office's key") from None
        raise
    biometric = [p.name for p in envelope.parts if p.name != MANIFEST_PART]
    if biometric:
        try:
            open_packet(data, identity, key)
        except PacketError as exc:
            if "wrong office key" in str(exc):
                raise ExportError("this is the records identity: it opens manifests only. Export needs the "
                                  "biometrics identity (--identity biometrics.age)") from None


def _write_record(out_dir: Path, packet_id: str, manifest: dict[str, Any], files: dict[str, bytes]) -> None:
    partial = out_dir / f"{PARTIAL_PREFIX}{packet_id}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    contents = {"manifest.json": json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False).encode()}
    contents |= files
    sums = []
    for name, body in sorted(contents.items()):
        target = partial / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        sums.append(f"{hashlib.sha256(body).hexdigest()}  {name}\n")
    with open(partial / SUMS_NAME, "w", encoding="ascii") as handle:
        handle.writelines(sums)
        handle.flush()
        os.fsync(handle.fileno())
    for sub in {p.parent for p in partial.rglob("*")}:
        fsync_dir(sub)
    os.replace(partial, out_dir / packet_id)
    fsync_dir(out_dir)


def write_sums(out_dir: Path) -> None:
    """``<out>/SHA256SUMS`` for every record folder (``sha256sum -c SHA256SUMS`` checks the whole export)."""
    lines = []
    for folder in sorted(p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        sums = folder / SUMS_NAME
        if sums.exists():
            for line in sums.read_text(encoding="ascii").splitlines():
                digest, _, name = line.partition("  ")
                lines.append(f"{digest}  {folder.name}/{name}\n")
    tmp = out_dir / f".{SUMS_NAME}.tmp"
    tmp.write_text("".join(lines), encoding="ascii")
    os.replace(tmp, out_dir / SUMS_NAME)


def mark_exported(engine: sa.Engine, packet_ids: Iterable[str]) -> tuple[bool, int]:
    """(database reachable, rows marked). Unreachable is not an error: the files are already safe."""
    ids = sorted(set(packet_ids))
    now = datetime.now(UTC)
    marked = 0
    try:
        with engine.begin() as conn:
            for start in range(0, len(ids), 500):
                marked += conn.execute(records.update().where(
                    records.c.packet_id.in_(ids[start:start + 500]), records.c.status == "verified")
                    .values(status="exported", exported_at=now)).rowcount
    except sa.exc.OperationalError:
        return False, 0
    return True, marked
