"""`jemput roster|operator|audit`: through click's CliRunner, the root main() exit codes, and a real subprocess."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from station.cli import main
from station.cli_data import audit_group, operator_group, roster_group

JEMPUT = Path(sys.executable).parent / "jemput"


@pytest.fixture
def cfg(tmp_path, data_dir) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(f'[station]\nid = "kph-01"\ndistrict = "6106"\ndata_dir = "{data_dir}"\n', encoding="utf-8")
    return path


@pytest.fixture
def roster_csv(tmp_path, kit) -> Path:
    rows = [kit.resident_row(1), kit.resident_row(2, nama="Budi Santoso", sex="L"),
            kit.resident_row(3)[:2] + ["1990-05-13"] + kit.resident_row(3)[3:]]
    return kit.write_csv(tmp_path / "roster.csv", rows, delimiter=";", bom=True)


def run(group, args, input=None):
    return CliRunner().invoke(group, args, input=input)


def test_roster_import_reports_bad_lines_and_exits_0(cfg, roster_csv, kit):
    result = run(roster_group, ["import", str(roster_csv), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 rows, skipped 1 bad rows." in result.stdout
    assert "line 4: NIK birth date 12-05-90 disagrees with tanggal_lahir 1990-05-13" in result.stdout
    assert "3 rows read" in result.stderr


def test_roster_import_of_unreadable_file_is_a_runtime_error(cfg, tmp_path, capsys):
    assert main(["roster", "import", str(tmp_path / "nope.csv"), "--config", str(cfg)]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_roster_find(cfg, roster_csv, kit):
    run(roster_group, ["import", str(roster_csv), "--config", str(cfg)])
    nik = kit.resident_row(1)[0]
    by_nik = run(roster_group, ["find", "--nik", nik, "--config", str(cfg)])
    assert by_nik.exit_code == 0
    assert by_nik.stdout == f"{nik}\tSiti Aminah\t1990-05-12\tP\t61.06.01.2001\tDusun I\n"
    by_name = run(roster_group, ["find", "--name", "SANT", "--config", str(cfg)])
    assert by_name.exit_code == 0 and by_name.stdout.startswith(kit.resident_row(2, sex="L")[0] + "\tBudi Santoso")
    none = run(roster_group, ["find", "--name", "zzz", "--config", str(cfg)])
    assert none.exit_code == 1 and "no resident matches" in str(none.exception)
    villages = run(roster_group, ["villages", "--config", str(cfg)])
    assert villages.stdout == "61.06.01.2001\t2\n"


@pytest.mark.parametrize("args", [[], ["--nik", "1", "--name", "x"], ["--nik", "6106015205900000"]])
def test_roster_find_usage_errors(cfg, args):
    result = run(roster_group, ["find", *args, "--config", str(cfg)])
    assert result.exit_code == 2


def test_operator_add_prompts_twice_hidden(cfg):
    result = run(operator_group, ["add", "ani", "--name", "Ani Lestari", "--config", str(cfg)],
                 input="4821\n4822\n4821\n4821\n")
    assert result.exit_code == 0, result.output
    assert "4821" not in result.output  # hidden input is not echoed
    assert "do not match" in result.output.lower()
    assert "Added operator ani (Ani Lestari)" in result.output
    listed = run(operator_group, ["list", "--config", str(cfg)])
    assert listed.stdout == "1\tani\tAni Lestari\toperator\tok\n"


def test_operator_add_from_stdin_and_errors(cfg):
    ok = run(operator_group, ["add", "sup", "--name", "Sup", "--role", "supervisor", "--pin-stdin",
                              "--config", str(cfg)], input="12345678\n")
    assert ok.exit_code == 0 and "Added supervisor sup" in ok.output
    short = run(operator_group, ["add", "x1", "--name", "X", "--pin-stdin", "--config", str(cfg)], input="12\n")
    assert short.exit_code == 2 and "PIN must be 4-8 digits" in short.output
    again = run(operator_group, ["add", "sup", "--name", "Sup", "--pin-stdin", "--config", str(cfg)], input="1234\n")
    assert again.exit_code == 1 and "already exists" in str(again.exception)


def test_operator_list_shows_lockout_and_unlock(cfg, data_dir):
    from station.operators import OperatorLocked, WrongPin, add_operator, authenticate
    from station.store import connect

    conn = connect(data_dir)
    add_operator(conn, "ani", "Ani", "4821")
    for _ in range(5):
        with pytest.raises((WrongPin, OperatorLocked)):
            authenticate(conn, "ani", "0000")
    conn.close()
    assert "locked until" in run(operator_group, ["list", "--config", str(cfg)]).stdout
    assert run(operator_group, ["unlock", "ani", "--config", str(cfg)]).exit_code == 0
    assert run(operator_group, ["list", "--config", str(cfg)]).stdout.endswith("\tok\n")


def test_audit_verify_ok_then_names_the_broken_row(cfg, data_dir, capsys):
    run(operator_group, ["add", "ani", "--name", "Ani", "--pin-stdin", "--config", str(cfg)], input="4821\n")
    run(operator_group, ["add", "budi", "--name", "Budi", "--pin-stdin", "--config", str(cfg)], input="4821\n")
    ok = run(audit_group, ["verify", "--config", str(cfg)])
    assert ok.exit_code == 0 and "Audit chain ok: 2 rows." in ok.stdout
    assert "operator_added" in run(audit_group, ["list", "--config", str(cfg)]).stdout
    raw = sqlite3.connect(data_dir / "jemput.db")
    raw.execute("""UPDATE audit_log SET detail_json = '{"role":"supervisor","username":"budi"}' WHERE seq = 2""")
    raw.commit()
    raw.close()
    assert main(["audit", "verify", "--config", str(cfg)]) == 1
    assert "audit chain broken at seq 2" in capsys.readouterr().err


def test_bad_config_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[station]\nid = "kph-01"\n', encoding="utf-8")
    assert main(["audit", "verify", "--config", str(bad)]) == 2
    assert "missing required key 'station.district'" in capsys.readouterr().err
    assert main(["audit", "verify"]) == 2  # --config missing entirely


def test_real_subprocess(cfg, roster_csv, tmp_path):
    assert JEMPUT.exists(), f"{JEMPUT} is missing: install the project (make test does)"

    def jemput(*args, stdin=""):
        return subprocess.run([str(JEMPUT), *args, "--config", str(cfg)], input=stdin, capture_output=True,
                              text=True, timeout=60)

    imported = jemput("roster", "import", str(roster_csv))
    assert imported.returncode == 0, imported.stderr
    assert "Imported 2 rows, skipped 1 bad rows." in imported.stdout and "line 4:" in imported.stdout
    assert "3 rows read" in imported.stderr
    missing = jemput("roster", "import", str(tmp_path / "missing.csv"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    added = jemput("operator", "add", "ani", "--name", "Ani Lestari", "--pin-stdin", stdin="4821\n")
    assert added.returncode == 0, added.stderr
    assert jemput("operator", "list").stdout.startswith("1\tani\tAni Lestari")
    verified = jemput("audit", "verify")
    assert verified.returncode == 0 and "Audit chain ok: 2 rows." in verified.stdout
    assert jemput("roster", "find").returncode == 2
