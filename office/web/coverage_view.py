"""Cakupan: coverage against the wajib-KTP targets, a map coloured by percent, records per day, and (for admins)
imports of targets and residents."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for

from office import desa_stats, imports, refdata
from office.coverage import coverage_summary, desa_rows, district_code
from office.svg_chart import bar_chart
from office.svg_map import BUCKETS, load_regions, render_map
from office.web import add_nav, office_ctx
from office.web.auth import admin_required, login_required
from office.web.coverage_texts import Bilingual, tr

bp = Blueprint("coverage", __name__)
MAX_UPLOAD_ERRORS_SHOWN = 15


def ensure_reference(ctx: Any) -> None:
    """The national names and (district 6106) the shipped boundaries, loaded once if ``init`` did not: a page
    with no kecamatan would say nothing useful."""
    if not getattr(ctx, "_reference_checked", False):
        refdata.ensure_shipped_wilayah(ctx.engine)
        refdata.ensure_shipped_boundaries(ctx.engine, ctx.config.office.district)
        ctx._reference_checked = True


def local_today(ctx: Any) -> Any:
    import zoneinfo

    return datetime.now(UTC).astimezone(zoneinfo.ZoneInfo(ctx.config.dashboard.timezone)).date()


def selected_kecamatan(district: str) -> str | None:
    kec = request.args.get("kecamatan", "")
    if kec.count(".") == 2 and len(kec) == 8 and kec.startswith(district_code(district) + "."):
        return kec
    return None


def target_sources(engine: sa.Engine) -> list[dict[str, Any]]:
    """Where the targets came from; a made-up demo file is said to be made up on the page."""
    t = refdata.targets
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.source, sa.func.count()).group_by(t.c.source).order_by(t.c.source)).all()
    return [{"source": s, "rows": n, "made_up": "made-up" in s or "dibuat" in s} for s, n in rows]


def least_recorded_first(row: Any) -> tuple:
    return (row.percent is None, row.percent if row.percent is not None else 0.0, row.kode)


@bp.get("/cakupan")
@login_required
def index() -> Any:
    ctx = office_ctx()
    district = ctx.config.office.district
    today = local_today(ctx)
    summary = coverage_summary(ctx.engine, district, today)
    kecamatan = selected_kecamatan(district)
    percent = {r.kode: r.percent for r in summary["kecamatan"]}
    kec_map = render_map(load_regions(ctx.engine, district_code(district)), percent,
                         href=lambda kode: url_for("coverage.index", kecamatan=kode) + "#peta",
                         title=tr("Peta kecamatan menurut persen terekam", "Kecamatan by percent recorded"),
                         selected=kecamatan)
    desa = desa_map = None
    if kecamatan:
        desa = desa_rows(ctx.engine, district, kecamatan)
        desa_map = render_map(load_regions(ctx.engine, kecamatan), {r.kode: r.percent for r in desa},
                              title=tr("Peta desa menurut persen terekam", "Desa by percent recorded"))
    chart = bar_chart(summary["per_day"], width=480, height=220,
                      title=tr("Rekaman diterima per hari", "Records received per day"))
    names = {r.kode: r.nama for r in summary["kecamatan"]}
    # Least recorded first: that is where the next trip should go; regions without a target last.
    summary["kecamatan"] = sorted(summary["kecamatan"], key=least_recorded_first)
    desa = sorted(desa, key=least_recorded_first) if desa else desa
    return render_template("cakupan.html", summary=summary, kec_map=kec_map, desa_map=desa_map, desa=desa,
                           kecamatan=kecamatan, kecamatan_name=names.get(kecamatan or "", kecamatan),
                           chart=chart, sources=target_sources(ctx.engine), buckets=BUCKETS, tr=tr, today=today)


@bp.post("/cakupan/import/<kind>")
@admin_required
def import_file(kind: str) -> Any:
    """Upload a targets or residents CSV (admin): bad rows are listed by line, good rows kept."""
    if kind not in ("targets", "residents"):
        abort(404)
    ctx = office_ctx()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(tr("Pilih berkas CSV dulu.", "Choose a CSV file first."), "bad")
        return redirect(url_for("coverage.index") + "#data")
    source = Path(upload.filename).name
    with tempfile.TemporaryDirectory(prefix="jemput-import-") as tmp:
        path = Path(tmp) / "upload.csv"
        upload.save(path)
        fn = imports.import_targets if kind == "targets" else imports.import_residents
        refdata.ensure_shipped_wilayah(ctx.engine)
        try:
            report = fn(ctx.engine, path, district=ctx.config.office.district, source=source)
        except imports.ImportFileError as exc:
            flash(f"{source}: {exc}", "bad")
            return redirect(url_for("coverage.index") + "#data")
    if kind == "residents":
        desa_stats.rebuild(ctx.engine)
    flash(tr(f"{source}: {report.imported} baris diimpor, {report.skipped} dilewati.",
             f"{source}: {report.imported} rows imported, {report.skipped} skipped."),
          "warn" if report.skipped else "ok")
    for error in report.errors[:MAX_UPLOAD_ERRORS_SHOWN]:
        flash(tr(f"baris {error.line}: {error.reason}", f"line {error.line}: {error.reason}"), "bad")
    if report.skipped > MAX_UPLOAD_ERRORS_SHOWN:
        flash(tr(f"... dan {report.skipped - MAX_UPLOAD_ERRORS_SHOWN} baris lain",
                 f"... and {report.skipped - MAX_UPLOAD_ERRORS_SHOWN} more rows"), "bad")
    return redirect(url_for("coverage.index") + "#data")


@bp.before_app_request
def _reference_first() -> None:
    from flask import request as req

    if req.endpoint and req.endpoint.split(".")[0] in ("coverage", "planner", "records_page", "dashboard_data"):
        ensure_reference(office_ctx())


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav(app, "coverage.index", Bilingual("Cakupan", "Coverage"), 30)
