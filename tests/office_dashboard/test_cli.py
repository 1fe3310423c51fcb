"""The office data commands as a person types them: init, the four imports, roster export, export, reindex."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from office import db, refdata
from office.keys import BIOMETRICS_IDENTITY_FILE, RECORDS_IDENTITY_FILE
from office.record_index import records
from station.cli import main
from tests.office_dashboard.rig import office_with_stations, resident


def _toml(path: Path, data_dir: Path) -> Path:
    path.write_text(f'[office]\ndistrict = "6106"\ndata_dir = "{data_dir}"\nport = 0\n')
    return path


def test_init_loads_names_and_boundaries_and_imports_report_bad_lines(tmp_path, capsys):
    config = _toml(tmp_path / "office.toml", tmp_path / "data")
    assert main(["office", "init", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert 'biometrics_key = "age1' in out and "move it to the export machine" in out
    engine = db.open_db(f"sqlite:///{tmp_path / 'data' / 'office.db'}")
    try:
        assert refdata.names_for(engine, ["61.06.17.2004"]) == {"61.06.17.2004": "Jaras"}
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(refdata.boundaries)).scalar_one() == 306
    finally:
        engine.dispose()
    targets = tmp_path / "targets.csv"
    targets.write_text("kode_wilayah,nama_wilayah,wajib_ktp,sudah_rekam\n61.06.17,PS,100,90\n61.06.17.2999,X,1,1\n")
    assert main(["office", "targets", "import", str(targets), "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert "1 targets imported, 1 rows skipped." in captured.out
    assert "line 3: unknown kode_wilayah 61.06.17.2999" in captured.err
    people = tmp_path / "people.csv"
    who = resident("61.06.17.2004", 5)
    people.write_text("nik,nama,tanggal_lahir,jenis_kelamin,kode_desa,alamat\n"
                      f"{who.nik},{who.nama},{who.tanggal_lahir},L,{who.kode_desa},x\n")
    assert main(["office", "residents", "import", str(people), "--config", str(config)]) == 0
    assert "1 residents imported, 0 rows skipped." in capsys.readouterr().out
    names = tmp_path / "names.csv"
    names.write_text("kode_wilayah,nama_wilayah\n61.06.17.2004,Jaras Baru\nbad,Nope\n")
    assert main(["office", "wilayah", "import", str(names), "--config", str(config)]) == 0
    assert "line 3" in capsys.readouterr().err
    geo = tmp_path / "b.geojson"
    geo.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "kode_wilayah": "61.06.17.2004"}, "geometry": {"type": "Polygon", "coordinates": [
            [[113, 0.7], [113.1, 0.7], [113.1, 0.8], [113, 0.7]]]}}]}))
    assert main(["office", "boundaries", "import", str(geo), "--config", str(config)]) == 0
    assert "1 boundaries imported" in capsys.readouterr().out
    out_file = tmp_path / "roster.csv"
    assert main(["office", "roster", "export", "--desa", "61.06.17.2004", "--out", str(out_file),
                 "--config", str(config)]) == 0
    assert "1 residents of Jaras Baru written" in capsys.readouterr().out
    assert out_file.read_text().splitlines()[1].startswith(who.nik)
    assert main(["office", "roster", "export", "--desa", "61.07.01.2001", "--out", str(out_file),
                 "--config", str(config)]) == 2
    assert main(["office", "targets", "import", str(tmp_path / "missing.csv"), "--config", str(config)]) == 1


def test_export_command_offline_copy_then_marks_on_the_office(tmp_path, capsys):
    with office_with_stations(tmp_path) as (office, rigs):
        ids = [rigs["kph-01"].record_and_upload(resident("61.06.17.2004", i)) for i in range(1, 3)]
        config = _toml(tmp_path / "office.toml", office.config.office.data_dir)
        assert main(["office", "reindex", "--config", str(config)]) == 0
        assert "coverage recounted" in capsys.readouterr().out
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        keys_dir = office.config.keys_dir
        refused = main(["office", "export", "--since", today, "--identity", str(keys_dir / RECORDS_IDENTITY_FILE),
                        "--out", str(tmp_path / "x"), "--config", str(config)])
        assert refused == 1 and "records identity" in capsys.readouterr().err
        assert main(["office", "list-stations", "--config", str(config)]) == 0
        stations_file = tmp_path / "stations.txt"
        stations_file.write_text(capsys.readouterr().out)
        out = tmp_path / "export"
        offline = ["office", "export", "--since", today, "--identity", str(keys_dir / BIOMETRICS_IDENTITY_FILE),
                   "--out", str(out), "--packets", str(office.config.packets_dir), "--stations", str(stations_file)]
        assert main(offline) == 0
        printed = capsys.readouterr().out
        assert "2 records exported" in printed and "not marked exported" in printed
        assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(ids)
        online = offline[:-4] + ["--config", str(config)]
        assert main(online) == 0
        printed = capsys.readouterr().out
        assert "0 records exported" in printed and "2 already there" in printed and "2 records marked" in printed
        with office.engine.connect() as conn:
            assert set(conn.execute(sa.select(records.c.status)).scalars()) == {"exported"}
