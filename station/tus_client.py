"""A small tus 1.0 client (core + creation) over ``http.client``, built for bad links.

Every socket operation has a timeout; request bodies go out in small pieces so a stop request or a stalled link is
noticed within one piece, and so the bytes actually handed to the kernel are counted. One keep-alive connection is
reused while it works and thrown away on any error (a half-read response must never be mistaken for the next one).
The office's ``Location`` is reduced to its path and always sent to the configured office address, so a station
behind a proxy or NAT resumes on the same upload whatever host name the office saw.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
NOTSENT_LOWAT_BYTES = 16 * 1024
"""Unsent bytes the kernel may queue: ``body_bytes_sent`` stays close to what left, a stop or a cut strands little."""
MAX_RESPONSE_BYTES = 256 * 1024
"""A receipt is under 1 KB; a captive portal's page is not read past this."""


class LinkError(OSError):
    """The request did not complete (connect, send, receive or timeout); nothing can be concluded from it."""


class Stopped(Exception):
    """``should_stop`` said stop in the middle of a request."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    """Lower-cased header names."""
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """Parsed JSON body, or ``None`` when it is not JSON (e.g. a captive portal's HTML)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


def encode_metadata(metadata: Mapping[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode('utf-8')).decode('ascii')}" for k, v in metadata.items())


class _ResumingHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS that offers the last TLS session again: a resumed handshake costs one round trip less and none of the
    certificate chain's few KB, on every reconnect after a cut."""

    def __init__(self, *args: Any, tls_session: ssl.SSLSession | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tls_session = tls_session

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host, session=self._tls_session)


class TusClient:
    def __init__(self, base_url: str, token: str, *, timeout_s: float = 20.0, piece_bytes: int = 8192,
                 should_stop: Callable[[], bool] = lambda: False, ca_file: str | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"office url must be http(s)://host[:port], got {base_url!r}")
        self.base_url = base_url.rstrip("/") + "/"
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s
        self.piece_bytes = piece_bytes
        self._should_stop = should_stop
        self._conn: http.client.HTTPConnection | None = None
        self.body_bytes_sent = 0
        """PATCH payload bytes handed to the socket (what a resumed upload must keep small)."""
        self.connections_opened = 0
        """Counts connects, so a caller can tell which connection a request went over."""
        self._tls = ssl.create_default_context(cafile=ca_file) if self._https else None
        """One context for the client's life: TLS sessions can only be resumed within the context that made them."""
        self._tls_session: ssl.SSLSession | None = None
        self.tls_resumed = 0
        """Connects whose TLS handshake resumed the previous session."""

    # -- tus operations --------------------------------------------------------------------------------------
    def get_receipt(self, packet_id: str) -> Response:
        return self.request("GET", f"{self._prefix}/api/v1/packets/{packet_id}/receipt")

    def create(self, length_bytes: int, metadata: Mapping[str, str]) -> Response:
        return self.request("POST", f"{self._prefix}/api/v1/uploads", {
            "Upload-Length": str(length_bytes), "Upload-Metadata": encode_metadata(metadata), "Content-Length": "0"})

    def head(self, upload_url: str) -> Response:
        return self.request("HEAD", self.path_of(upload_url))

    def patch(self, upload_url: str, offset: int, data: memoryview,
              on_piece: Callable[[int], None] | None = None) -> Response:
        headers = {"Upload-Offset": str(offset), "Content-Type": OFFSET_CONTENT_TYPE,
                   "Content-Length": str(len(data))}
        return self.request("PATCH", self.path_of(upload_url), headers, data, on_piece)

    def path_of(self, upload_url: str) -> str:
        """Path (+ query) of an upload URL, resolved against the office URL."""
        parts = urlsplit(urljoin(self.base_url, upload_url))
        return parts.path + (f"?{parts.query}" if parts.query else "")

    # -- plumbing --------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                body: memoryview | None = None, on_piece: Callable[[int], None] | None = None) -> Response:
        all_headers = {"Tus-Resumable": TUS_VERSION, "Authorization": f"Bearer {self._token}",
                       "User-Agent": "jemput-station", **(headers or {})}
        conn = self._connection()
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in all_headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            if body is not None:
                self._send_body(conn, body, on_piece)
            resp = conn.getresponse()
            data = resp.read(MAX_RESPONSE_BYTES)   # b"" for HEAD; a fully read response frees the connection
            result = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
            if resp.will_close or not resp.isclosed():
                self.close()          # unread rest or server closing: never reuse this connection
            return result
        except Stopped:
            self.close()
            raise
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            self.close()
            raise LinkError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    def _send_body(self, conn: http.client.HTTPConnection, body: memoryview,
                   on_piece: Callable[[int], None] | None) -> None:
        for start in range(0, len(body), self.piece_bytes):
            if self._should_stop():
                raise Stopped()
            piece = body[start:start + self.piece_bytes]
            conn.send(piece)   # sendall under the socket timeout: a stalled link raises within timeout_s
            self.body_bytes_sent += len(piece)
            if on_piece is not None:
                on_piece(len(piece))

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self.connections_opened += 1
            if self._https:
                self._conn = _ResumingHTTPSConnection(self._host, self._port, timeout=self.timeout_s,
                                                      context=self._tls, tls_session=self._tls_session)
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)
            try:
                self._conn.connect()
                self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if hasattr(socket, "TCP_NOTSENT_LOWAT"):   # Linux: little unsent data waits in the kernel
                    self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, NOTSENT_LOWAT_BYTES)
            except OSError as exc:
                self.close()
                raise LinkError(f"connect {self._host}:{self._port}: {exc}") from exc
            if isinstance(self._conn.sock, ssl.SSLSocket) and self._conn.sock.session_reused:
                self.tls_resumed += 1
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            sock = self._conn.sock
            if isinstance(sock, ssl.SSLSocket):
                try:
                    self._tls_session = sock.session or self._tls_session   # keep it for the next connect
                except (OSError, ValueError):
                    pass
            self._conn.close()
            self._conn = None
