"""Who may do what on the dashboard: log-in redirects and 401s, viewer 403s, CSRF, lockout, idle logout."""

from __future__ import annotations

import time
from typing import Any

import pytest
from dashboard_helpers import csrf_token, log_in

from office import alerts
from office.audit import recent_office_audit, verify_office_audit
from office.db import utc_now

PAGES = ["/", "/alerts", "/stations/kph-01"]
JSON = ["/api/v1/dashboard/stations", "/api/v1/dashboard/alerts", "/api/v1/dashboard/stations/kph-01",
        "/api/v1/dashboard/stations/kph-01/battery"]
ADMIN_POSTS = ["/stations/kph-01/commands/sync-now", "/stations/kph-01/commands/lock",
               "/stations/kph-01/commands/unlock", "/stations/kph-01/commands/message",
               "/stations/kph-01/commands/requeue", "/alerts/{alert}/ack"]


def _alert(app: Any) -> int:
    with app.engine.begin() as conn:
        return conn.execute(alerts.alerts_table.insert().values(
            station="kph-01", rule="battery_low", severity="bad", raised_at=utc_now(),
            detail_json='{"battery_percent": 12}')).inserted_primary_key[0]


def test_without_login_pages_go_to_login_and_json_answers_401(office_app: Any) -> None:
    client = office_app.test_client()
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    for path in JSON:
        response = client.get(path)
        assert response.status_code == 401 and response.json["error"] == "login_required", path
    assert client.get("/events").status_code == 302
    assert client.get("/login").status_code == 200


def test_viewer_reads_but_gets_403_on_every_command_and_acknowledgement(office_app: Any) -> None:
    alert_id = _alert(office_app)
    client = office_app.test_client()
    assert log_in(client, "staf", "viewer-pass-123").status_code == 302
    for path in PAGES + JSON:
        assert client.get(path).status_code == 200, path
    token = csrf_token(client, "/")
    for path in ADMIN_POSTS:
        response = client.post(path.format(alert=alert_id), data={"csrf_token": token, "reason": "x", "text": "y"})
        assert response.status_code == 403, path
        assert client.post(path.format(alert=alert_id), json={"reason": "x"},
                           headers={"X-CSRFToken": token}).status_code == 403, path
    assert alerts.list_alerts(office_app.engine)[0].acked_by is None
    assert "refused.not_admin" in {e.action for e in recent_office_audit(office_app.engine)}


def test_admin_post_without_csrf_token_is_refused(office_app: Any) -> None:
    alert_id = _alert(office_app)
    client = office_app.test_client()
    log_in(client, "kepala", "admin-pass-123")
    assert client.post(f"/alerts/{alert_id}/ack").status_code == 400
    assert client.post(f"/alerts/{alert_id}/ack", data={"csrf_token": "forged"}).status_code == 400
    assert client.post("/stations/kph-01/commands/lock", data={"reason": "x"}).status_code == 400
    assert alerts.list_alerts(office_app.engine)[0].acked_by is None
    token = csrf_token(client, "/alerts")
    assert client.post(f"/alerts/{alert_id}/ack", data={"csrf_token": token}).status_code == 302
    acked = alerts.list_alerts(office_app.engine)[0]
    assert acked.acked_by == "kepala" and acked.cleared_at is None          # acknowledged, still listed


def test_login_form_itself_needs_the_csrf_token(office_app: Any) -> None:
    client = office_app.test_client()
    response = client.post("/login", data={"username": "kepala", "password": "admin-pass-123"})
    assert response.status_code == 400
    assert client.get("/api/v1/dashboard/stations").status_code == 401


def test_lockout_after_wrong_passwords_even_the_right_one_is_refused(office_app: Any) -> None:
    client = office_app.test_client()
    for _ in range(3):                                     # max_failed_logins = 3 in the fixture
        response = log_in(client, "kepala", "wrong-password-1")
        assert response.status_code == 401
    response = log_in(client, "kepala", "admin-pass-123")
    assert response.status_code == 401
    assert "dikunci" in response.get_data(as_text=True)    # "This account is locked until ..."
    assert client.get("/api/v1/dashboard/stations").status_code == 401
    actions = [e.action for e in recent_office_audit(office_app.engine)]
    assert actions.count("login.failed") == 3


def test_unknown_user_and_wrong_password_get_the_same_answer(office_app: Any) -> None:
    client = office_app.test_client()
    a = log_in(client, "nobody", "whatever-123").get_data(as_text=True)
    b = log_in(client, "staf", "whatever-123").get_data(as_text=True)
    assert "Nama pengguna atau kata sandi salah" in a and "Nama pengguna atau kata sandi salah" in b


def test_idle_logout_after_the_configured_time(office_app: Any) -> None:
    client = office_app.test_client()
    log_in(client, "staf", "viewer-pass-123")
    assert client.get("/").status_code == 200
    with client.session_transaction() as sess:
        sess["seen"] = time.time() - 61                    # idle_logout_s = 60 in the fixture
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/api/v1/dashboard/stations").status_code == 401


def test_background_json_does_not_keep_a_login_alive(office_app: Any) -> None:
    client = office_app.test_client()
    log_in(client, "staf", "viewer-pass-123")
    with client.session_transaction() as sess:
        sess["seen"] = time.time() - 50
    assert client.get("/api/v1/dashboard/stations").status_code == 200
    with client.session_transaction() as sess:
        assert time.time() - sess["seen"] >= 49             # not refreshed by the page's own polling


def test_removed_user_is_out_at_once(office_app: Any) -> None:
    from office import users

    client = office_app.test_client()
    log_in(client, "staf", "viewer-pass-123")
    users.remove_user(office_app.engine, "staf")
    assert client.get("/api/v1/dashboard/stations").status_code == 401


def test_security_headers_and_cookie(office_app: Any) -> None:
    client = office_app.test_client()
    response = log_in(client, "staf", "viewer-pass-123")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = client.get("/")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert "http://" not in html.replace("http://localhost", "") and "https://" not in html   # nothing external
    assert client.get("/static/vendor/uPlot.iife.min.js").status_code == 200


@pytest.mark.parametrize("path", ["/login?next=//evil.example/", "/login?next=https://evil.example/"])
def test_login_never_redirects_off_site(office_app: Any, path: str) -> None:
    client = office_app.test_client()
    token = csrf_token(client)
    response = client.post(path, data={"username": "staf", "password": "viewer-pass-123", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_receiver_still_speaks_tus_and_needs_no_csrf(office_app: Any) -> None:
    client = office_app.test_client()
    assert client.options("/api/v1/uploads").headers["Tus-Version"] == "1.0.0"
    response = client.post("/api/v1/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10"})
    assert response.status_code == 401 and response.json["error"] == "unauthorized"   # token, not CSRF


def test_admin_actions_are_in_the_hash_chained_audit_and_tampering_shows(office_app: Any) -> None:
    import sqlalchemy as sa

    from office.audit import office_audit

    client = office_app.test_client()
    log_in(client, "kepala", "admin-pass-123")
    token = csrf_token(client, "/")
    response = client.post("/stations/kph-01/commands/lock", data={"csrf_token": token, "reason": "cek"})
    assert response.status_code == 302                      # recorded even without a broker ("not sent")
    assert verify_office_audit(office_app.engine).ok
    entries = recent_office_audit(office_app.engine)
    lock = next(e for e in entries if e.action == "command.lock")
    assert lock.actor == "kepala" and lock.detail["args"] == {"reason": "cek"}
    with office_app.engine.begin() as conn:
        conn.execute(sa.update(office_audit).where(office_audit.c.seq == lock.seq).values(actor="someone"))
    verdict = verify_office_audit(office_app.engine)
    assert not verdict.ok and verdict.first_bad_seq == lock.seq
