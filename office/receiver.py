"""The packet receiver: tus 1.0 (core + creation + termination) under ``/api/v1/uploads`` and receipts.

Stations upload sealed packets over unreliable links, so every PATCH is fsynced before its offset is recorded and a
station resumes from ``HEAD``'s ``Upload-Offset``. A finished upload is verified (station signature, part hashes,
the token's station) without decrypting anything; a good packet is renamed into ``packets/`` and receipted, a bad
one is moved to ``quarantine/`` and answered 422, and staging is left empty either way. Protocol notes and status
codes: docs/office-receiver.md. The files themselves (staging, packets/, quarantine/) are handled in ``office.storage``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import uuid
from email.utils import format_datetime
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, jsonify, request, url_for
from sqlalchemy import Engine
from werkzeug.exceptions import ClientDisconnected, HTTPException

from office import db
from office.config import OfficeConfig
from office.keys import OfficeKeys
from office.private_files import private_dir, tighten_tree
from office.stations import StationRecord, station_for_token
from office.storage import (
    NOT_THE_DECLARED_BYTES,
    ReceiverContext,
    create_staging,
    expire_uploads_now_and_then,
    quarantine_reason,
    quarantine_upload,
    recover_staging,
    refusal,
    store_packet,
    terminate_upload,
    upload_expires_at,
    upload_rejection,
)
from station.packets import PacketError, canonical_json, packet_sha256, verify_packet

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
MAX_OPEN_UPLOADS_PER_STATION = 16
MAX_METADATA_CHARS = 4096
CHUNK_BYTES = 16 * 1024
"""Body read size: small, so a cut loses at most this much besides what the network itself dropped."""
_UPLOAD_ID_RE = re.compile(r"[0-9a-f]{32}")
_PACKET_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

bp = Blueprint("receiver", __name__, url_prefix="/api/v1")


class TusError(Exception):
    """An answer other than success: status, a short machine code and a reason a person can read."""

    def __init__(self, status: int, code: str, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason, self.headers = status, code, reason, headers or {}


def init_receiver(app: Flask, config: OfficeConfig, engine: Engine, office_keys: OfficeKeys) -> ReceiverContext:
    private_dir(config.office.data_dir)
    for directory in (config.packets_dir, config.staging_dir, config.quarantine_dir):
        private_dir(directory)
        tighten_tree(directory)
    ctx = ReceiverContext(config=config, engine=engine, keys=office_keys)
    recover_staging(ctx)
    app.extensions["jemput_receiver"] = ctx
    app.register_blueprint(bp)
    return ctx


def _ctx() -> ReceiverContext:
    return current_app.extensions["jemput_receiver"]


# -- protocol helpers ----------------------------------------------------------------------------------------------

@bp.errorhandler(TusError)
def _tus_error(exc: TusError) -> Response:
    response = jsonify(error=exc.code, reason=exc.reason)
    response.status_code = exc.status
    response.headers.update(exc.headers)
    return response


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    """Werkzeug's own refusals (404, 405, 413 ...) as JSON too, keeping headers such as ``Allow``."""
    response = exc.get_response()
    response.set_data(jsonify(error=exc.name.lower().replace(" ", "_"), reason=exc.description).get_data())
    response.content_type = "application/json"
    return response


@bp.after_app_request
def _tus_header(response: Response) -> Response:
    if request.path.startswith("/api/"):
        response.headers["Tus-Resumable"] = TUS_VERSION
    return response


def _require_tus() -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise TusError(412, "tus_version", f"Tus-Resumable: {TUS_VERSION} is required",
                       {"Tus-Version": TUS_VERSION})


def _authenticated_station() -> StationRecord:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="jemput"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise TusError(401, "unauthorized", "an Authorization: Bearer <station token> header is required", challenge)
    station = station_for_token(_ctx().engine, token.strip())
    if station is None:
        raise TusError(401, "unauthorized", "unknown or revoked station token", challenge)
    return station


def _int_header(name: str) -> int:
    value = request.headers.get(name)
    if value is None:
        raise TusError(400, "bad_request", f"{name} header is required")
    if not re.fullmatch(r"[0-9]{1,19}", value.strip()):
        raise TusError(400, "bad_request", f"{name} must be a non-negative decimal integer")
    return int(value.strip())


def parse_metadata(header: str) -> dict[str, str]:
    """tus ``Upload-Metadata``: comma-separated ``key base64value`` pairs, keys unique, values UTF-8."""
    if len(header) > MAX_METADATA_CHARS:
        raise TusError(400, "bad_metadata", "Upload-Metadata is too long")
    result: dict[str, str] = {}
    if not header.strip():
        return result
    for pair in header.split(","):
        key, _, value = pair.strip().partition(" ")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", key) or " " in value.strip() or key in result:
            raise TusError(400, "bad_metadata", "Upload-Metadata must be unique 'key base64value' pairs")
        try:
            result[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise TusError(400, "bad_metadata", f"Upload-Metadata value of '{key}' is not base64 UTF-8") from None
    return result


def _owned_upload(upload_id: str, station: StationRecord) -> db.Upload:
    upload = db.get_upload(_ctx().engine, upload_id) if _UPLOAD_ID_RE.fullmatch(upload_id) else None
    if upload is None or upload.result in ("terminated", "lost", "expired"):
        raise TusError(404, "not_found", "no such upload")
    if upload.station_id != station.id:
        raise TusError(403, "forbidden", "this upload belongs to another station")
    return upload


def _receipt_headers(packet: db.StoredPacket) -> dict[str, str]:
    return {"Jemput-Receipt": _b64_json(packet.receipt),
            "Jemput-Receipt-Url": url_for("receiver.receipt", packet_id=packet.packet_id)}


# -- endpoints -----------------------------------------------------------------------------------------------------

@bp.route("/uploads", methods=["OPTIONS"])
def options() -> Response:
    response = Response(status=204)
    response.headers.update({"Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS,
                             "Tus-Max-Size": str(_ctx().config.max_upload_bytes)})
    return response


@bp.route("/uploads", methods=["POST"], provide_automatic_options=False)
def create() -> Response:
    ctx = _ctx()
    _require_tus()
    station = _authenticated_station()
    if "Upload-Defer-Length" in request.headers:
        raise TusError(400, "bad_request", "Upload-Defer-Length is not supported; send Upload-Length")
    length = _int_header("Upload-Length")
    if length == 0:
        raise TusError(400, "bad_request", "Upload-Length must be at least 1")
    meta = parse_metadata(request.headers.get("Upload-Metadata", ""))
    for key, pattern in (("packet_id", _PACKET_ID_RE), ("sha256", _SHA256_RE), ("station", None)):
        if key not in meta:
            raise TusError(400, "bad_metadata", f"Upload-Metadata must carry '{key}'")
        if pattern is not None and not pattern.fullmatch(meta[key]):
            raise TusError(400, "bad_metadata", f"Upload-Metadata '{key}' is malformed")
    if meta["station"] != station.id:
        raise TusError(403, "forbidden", f"metadata station '{meta['station']}' is not the token's station")
    if length > ctx.config.max_upload_bytes:   # final for this packet: signed, so the station sets it aside
        reason = f"Upload-Length {length} exceeds {ctx.config.max_upload_bytes} bytes"
        return _rejected(413, reason, refusal(ctx, packet_id=meta["packet_id"], sha256=meta["sha256"],
                                              reason=reason))
    stored = db.get_packet(ctx.engine, meta["packet_id"])
    if stored is not None:
        conflict = _same_packet_conflict(stored, station.id, meta["sha256"])
        if conflict:
            return _rejected(409, conflict, refusal(ctx, packet_id=meta["packet_id"], sha256=meta["sha256"],
                                                    reason=conflict))
        response = jsonify(stored.receipt)
        response.headers.update(_receipt_headers(stored))
        return response  # 200: already received, nothing to upload
    expire_uploads_now_and_then(ctx)
    _prune_open_uploads(ctx, station.id, meta["packet_id"])
    upload_id = uuid.uuid4().hex
    create_staging(ctx, upload_id)
    db.create_upload(ctx.engine, upload_id=upload_id, station_id=station.id, packet_id=meta["packet_id"],
                     length_bytes=length, meta=meta)
    response = Response(status=201)
    response.headers["Location"] = url_for("receiver.upload", upload_id=upload_id, _external=True)
    _expires_header(response, upload_id)
    return response


def _expires_header(response: Response, upload_id: str) -> None:
    expires = upload_expires_at(_ctx(), upload_id)
    if expires is not None:
        response.headers["Upload-Expires"] = format_datetime(expires, usegmt=True)


def _same_packet_conflict(stored: db.StoredPacket, station_id: str, sha256: str) -> str | None:
    if stored.station_id != station_id:
        return "this packet id is already stored for another station"
    if stored.sha256 != sha256:
        return "this packet id is already stored with different content"
    return None


def _prune_open_uploads(ctx: ReceiverContext, station_id: str, packet_id: str) -> None:
    """Abandoned uploads must not fill the disk. A station creates an upload for a packet only when it has no URL
    for it (the answer to its last create was lost), so an open upload of the same packet is abandoned: terminate
    it when it holds no bytes (had the station known the URL, it would have resumed it). Beyond that, keep a
    station's newest few."""
    for upload_id in db.open_uploads(ctx.engine, station_id):
        found = db.get_upload(ctx.engine, upload_id)
        if found is not None and found.packet_id == packet_id and found.offset_bytes == 0:
            terminate_upload(ctx, upload_id)
    open_ids = db.open_uploads(ctx.engine, station_id)
    for upload_id in open_ids[: max(0, len(open_ids) - MAX_OPEN_UPLOADS_PER_STATION + 1)]:
        terminate_upload(ctx, upload_id)


HEAD_WAITS_FOR_PATCH_S = 5.0
"""A HEAD right after a cut waits this long for the cut PATCH to finish storing what arrived, so the station
resumes at the true offset (a stalled PATCH may hold the upload longer: then HEAD answers what is recorded)."""


@bp.route("/uploads/<upload_id>", methods=["HEAD"])
def upload(upload_id: str) -> Response:
    _require_tus()
    station = _authenticated_station()
    _owned_upload(upload_id, station)
    lock = _ctx().upload_lock(upload_id)
    held = lock.acquire(timeout=HEAD_WAITS_FOR_PATCH_S)
    try:
        found = _owned_upload(upload_id, station)
    finally:
        if held:
            lock.release()
    response = Response(status=200)
    response.headers.update({"Upload-Offset": str(found.offset_bytes), "Upload-Length": str(found.length_bytes),
                             "Cache-Control": "no-store"})
    if found.result:
        response.headers["Jemput-Upload-Result"] = found.result
    else:
        _expires_header(response, upload_id)
    if found.result == "quarantined":   # the station must stop retrying it, and show the operator why
        response.headers["Jemput-Upload-Reason"] = _header_safe(quarantine_reason(_ctx(), upload_id))
        rejection = upload_rejection(_ctx(), found)
        if rejection is not None:
            response.headers["Jemput-Rejection"] = _b64_json(rejection)
    return response


def _b64_json(obj: dict) -> str:
    return base64.b64encode(canonical_json(obj)).decode("ascii")


def _header_safe(text: str) -> str:
    """Printable ASCII on one line (a header cannot carry a newline or arbitrary bytes)."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:300]


@bp.delete("/uploads/<upload_id>")
def terminate(upload_id: str) -> Response:
    _require_tus()
    found = _owned_upload(upload_id, _authenticated_station())
    if found.completed_at is None:
        terminate_upload(_ctx(), upload_id)
    return Response(status=204)


@bp.patch("/uploads/<upload_id>")
def patch(upload_id: str) -> Response:
    ctx = _ctx()
    _require_tus()
    station = _authenticated_station()
    _owned_upload(upload_id, station)
    if request.mimetype != OFFSET_CONTENT_TYPE:
        raise TusError(415, "unsupported_media_type", f"PATCH needs Content-Type: {OFFSET_CONTENT_TYPE}")
    offset = _int_header("Upload-Offset")
    with ctx.upload_lock(upload_id):
        found = _owned_upload(upload_id, station)  # fresh, under the lock
        current = {"Upload-Offset": str(found.offset_bytes)}
        if found.completed_at is not None:
            raise TusError(409, "conflict", f"upload is already complete ({found.result})", current)
        if offset != found.offset_bytes:
            raise TusError(409, "conflict", f"Upload-Offset {offset} is not the current offset", current)
        remaining = found.length_bytes - offset
        if request.content_length is not None and request.content_length > remaining:
            raise TusError(413, "too_large", f"PATCH body would pass Upload-Length ({remaining} bytes left)", current)
        new_offset = offset + _append(ctx.staging_path(upload_id), offset, remaining, current)
        db.set_offset(ctx.engine, upload_id, new_offset)
        if new_offset == found.length_bytes:
            response = _complete(ctx, station, found)
            ctx.forget_lock(upload_id)
            return response
    response = Response(status=204)
    response.headers["Upload-Offset"] = str(new_offset)
    _expires_header(response, upload_id)
    return response


def _append(path: Path, offset: int, remaining: int, current: dict[str, str]) -> int:
    """Write the body at ``offset`` as it arrives and fsync; returns the bytes kept.

    The server streams the body (office.server), so a connection cut mid-body keeps every byte that arrived
    (tus core allows it): the station's next ``HEAD`` resumes there. Anything past ``remaining`` undoes the write.
    """
    written = 0
    try:
        handle = open(path, "r+b")
    except FileNotFoundError:
        raise TusError(410, "gone", "upload staging file is gone; create a new upload") from None
    with handle:
        handle.truncate(offset)  # bytes a crash left past the recorded offset are not the client's
        handle.seek(offset)
        while chunk := _read_body_piece(path, written):
            written += len(chunk)
            if written > remaining:
                handle.truncate(offset)
                raise TusError(413, "too_large", "PATCH body passes Upload-Length", current)
            handle.write(chunk)         # a write error (disk full) is not a cut: it propagates
        handle.flush()
        os.fsync(handle.fileno())
    return written


def _read_body_piece(path: Path, written: int) -> bytes:
    """The next piece of the PATCH body, or b"" at its end or when the connection was cut or stalled mid-body
    (then what arrived so far is kept)."""
    try:
        return request.stream.read(CHUNK_BYTES)
    except (ClientDisconnected, OSError) as exc:
        current_app.logger.info("PATCH of %s cut after %d bytes (%s); kept them", path.stem, written,
                                type(exc).__name__)
        return b""


def _complete(ctx: ReceiverContext, station: StationRecord, found: db.Upload) -> Response:
    staging = ctx.staging_path(found.upload_id)
    data = staging.read_bytes()
    sha256 = packet_sha256(data)
    with ctx.store_lock:
        try:
            if sha256 != found.metadata["sha256"]:
                raise PacketError(f"{NOT_THE_DECLARED_BYTES} from Upload-Metadata")
            envelope = verify_packet(data, station.verify_key)
            if envelope.station != station.id:
                raise PacketError(f"envelope station '{envelope.station}' is not the uploading station")
            if envelope.packet_id != found.packet_id:
                raise PacketError("envelope packet_id differs from Upload-Metadata")
        except PacketError as exc:
            return _quarantine(ctx, found, str(exc), 422)
        stored = db.get_packet(ctx.engine, found.packet_id)
        if stored is not None:
            if stored.station_id != station.id or stored.sha256 != sha256:
                return _quarantine(ctx, found, "packet id already stored with different content", 409)
            staging.unlink()
            db.finish_upload(ctx.engine, found.upload_id, "duplicate")
        else:
            stored = store_packet(ctx, found, staging, sha256, len(data))
    response = Response(status=204)
    response.headers["Upload-Offset"] = str(found.length_bytes)
    response.headers.update(_receipt_headers(stored))
    return response


def _quarantine(ctx: ReceiverContext, found: db.Upload, reason: str, status: int) -> Response:
    quarantine_upload(ctx, found, reason)
    current_app.logger.warning("quarantined upload %s from %s: %s", found.upload_id, found.station_id, reason)
    return _rejected(status, reason, upload_rejection(ctx, found))


def _rejected(status: int, reason: str, rejection: dict | None) -> Response:
    """The office's refusal: with a signed rejection it is final for the station (DESIGN §6); without one (bytes
    damaged on the way) the station uploads again."""
    response = jsonify(error="packet_rejected" if rejection else "upload_failed", reason=reason,
                       rejection=rejection)
    response.status_code = status
    if rejection is not None:
        response.headers["Jemput-Rejection"] = _b64_json(rejection)
    return response


@bp.get("/packets/<packet_id>/receipt")
def receipt(packet_id: str) -> Response:
    station = _authenticated_station()
    stored = db.get_packet(_ctx().engine, packet_id) if _PACKET_ID_RE.fullmatch(packet_id) else None
    if stored is None or stored.station_id != station.id:
        raise TusError(404, "not_found", "no receipt: this station has no stored packet with that id")
    response = jsonify(stored.receipt)
    response.headers["Cache-Control"] = "no-store"
    return response
