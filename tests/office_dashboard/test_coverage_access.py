"""The coverage pages and JSON sit behind the log-in; only an admin imports; a viewer reads and downloads."""

from __future__ import annotations

import io
from typing import Any

from dashboard_helpers import csrf_token, log_in


def test_pages_need_a_login_and_imports_need_an_admin(office_app: Any) -> None:
    client = office_app.test_client()
    for path in ("/cakupan", "/perencana", "/rekaman", "/rekaman/ganda", "/rekaman.csv"):
        assert client.get(path).status_code == 302, path
    for path in ("coverage?level=kecamatan", "planner", "records", "duplicates"):
        assert client.get(f"/api/v1/dashboard/{path}").status_code == 401, path
    log_in(client, "staf", "viewer-pass-123")
    page = client.get("/cakupan").get_data(as_text=True)
    assert "Putussibau Selatan" in page and 'id="targets-file"' not in page     # no import form for a viewer
    token = csrf_token(client, "/cakupan")
    csv_bytes = b"kode_wilayah,nama_wilayah,wajib_ktp,sudah_rekam\n61.06.17,PS,10,5\n"
    refused = client.post("/cakupan/import/targets", data={"csrf_token": token,
                                                           "file": (io.BytesIO(csv_bytes), "t.csv")})
    assert refused.status_code == 403
    assert client.get("/api/v1/dashboard/coverage?level=bogus").status_code == 400
    body = client.get("/api/v1/dashboard/coverage?level=kecamatan").get_json()
    assert len(body["rows"]) == 23 and all(r["wajib_ktp"] is None for r in body["rows"])
    assert client.get("/perencana/roster.csv?desa=61.07.01.2001").status_code == 400
    client.post("/logout", data={"csrf_token": csrf_token(client, "/cakupan")})
    log_in(client, "kepala", "admin-pass-123")
    token = csrf_token(client, "/cakupan")
    done = client.post("/cakupan/import/targets", data={"csrf_token": token,
                                                        "file": (io.BytesIO(csv_bytes), "t.csv")})
    assert done.status_code == 302
    rows = {r["kode"]: r for r in client.get("/api/v1/dashboard/coverage").get_json()["rows"]}
    assert rows["61.06.17"]["wajib_ktp"] == 10 and rows["61.06.17"]["percent"] == 50.0
    csv_text = client.get("/rekaman.csv").get_data(as_text=True)
    assert csv_text.startswith("packet_id,status,station")
