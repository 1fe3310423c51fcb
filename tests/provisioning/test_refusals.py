"""A bundle that must not be installed is refused with a clear message, and the card is left exactly as it was:
tampered, wrong passphrase, another district, another office, an expired certificate, not a bundle at all."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prov_helpers import ProvOffice, start_office, tree_state

from provisioning.apply import apply_bundle
from provisioning.bundle_format import BundleRefused, RefusalKind
from provisioning.layout import Layout
from station.cli import main
from station.demo_data import demo_villages

pytestmark = pytest.mark.timeout(180)


def cli_apply(bundle: Path, root: Path, passphrase_file: Path, *extra: str) -> int:
    return main(["provision", "apply", str(bundle), "--passphrase-file", str(passphrase_file), "--root", str(root),
                 *extra])


def edited(bundle: Path, out: Path, change) -> Path:
    document = json.loads(bundle.read_text())
    change(document)
    out.write_text(json.dumps(document))
    return out


@pytest.fixture
def bundle(prov_office: ProvOffice, tmp_path: Path) -> Path:
    return prov_office.bundle(tmp_path / "kph-07.jpb")


def assert_refused(capsys, root: Path, before: dict, *words: str) -> None:
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert "Nothing was installed" in err or "nothing was installed" in err
    assert tree_state(root) == before


def test_tampered_bundles_are_refused(prov_office, bundle, root_image, tmp_path, capsys) -> None:
    before = tree_state(root_image)
    flip = {"A": "B", "B": "A"}

    def sealed(doc):
        s = doc["sealed"]
        i = len(s) // 2
        doc["sealed"] = s[:i] + flip.get(s[i], "A") + s[i + 1:]

    def header(doc):
        doc["header"]["desa"] = ["61.06.02.2001"]

    for name, change in (("sealed", sealed), ("header", header)):
        bad = edited(bundle, tmp_path / f"{name}.jpb", change)
        assert cli_apply(bad, root_image, prov_office.files / "passphrase") == 1
        assert_refused(capsys, root_image, before, "office signature does not match")
    truncated = tmp_path / "cut.jpb"
    truncated.write_bytes(bundle.read_bytes()[:500])
    assert cli_apply(truncated, root_image, prov_office.files / "passphrase") == 1
    err = capsys.readouterr().err
    assert "not a Jemput bundle" in err and tree_state(root_image) == before


def test_wrong_passphrase_is_refused(prov_office, bundle, root_image, tmp_path, capsys) -> None:
    before = tree_state(root_image)
    wrong = tmp_path / "wrong"
    wrong.write_text("kapuas hulu 2025\n")
    assert cli_apply(bundle, root_image, wrong) == 1
    assert_refused(capsys, root_image, before, "wrong passphrase")


def test_other_district_and_other_office_are_refused(prov_office, bundle, root_image, tmp_path, capsys) -> None:
    other = start_office(tmp_path / "sintang", district="6102")
    try:
        theirs = other.bundle(tmp_path / "stg-01.jpb", station="stg-01", desa=demo_villages("6102")[:1])
    finally:
        other.server.stop()
        other.engine.dispose()
    before = tree_state(root_image)
    assert cli_apply(theirs, root_image, other.files / "passphrase", "--district", "6106") == 1
    assert_refused(capsys, root_image, before, "district 6102", "district 6106")
    # a card that already belongs to our office refuses a bundle signed by another office, district or not
    assert cli_apply(bundle, root_image, prov_office.files / "passphrase") == 0
    capsys.readouterr()
    before = tree_state(root_image)
    assert cli_apply(theirs, root_image, other.files / "passphrase") == 1
    assert_refused(capsys, root_image, before, "another office")
    assert cli_apply(bundle, root_image, prov_office.files / "passphrase", "--office-key", other.keys.verify_key_b64) \
        == 1
    assert_refused(capsys, root_image, before, "another office")


def test_expired_certificate_is_refused(prov_office, root_image, tmp_path, capsys) -> None:
    bundle = prov_office.bundle(tmp_path / "short.jpb", "--cert-days", "1")
    before = tree_state(root_image)
    later = datetime.now(UTC) + timedelta(days=2)
    with pytest.raises(BundleRefused) as refused:
        apply_bundle(bundle.read_bytes(), "kapuas hulu 2026", Layout(root_image), now=later)
    assert refused.value.kind is RefusalKind.CERTIFICATE
    assert "expired" in str(refused.value) and "Nothing was installed" in str(refused.value)
    assert tree_state(root_image) == before
    # the same bundle within its lifetime installs
    report = apply_bundle(bundle.read_bytes(), "kapuas hulu 2026", Layout(root_image))
    assert report.changed and report.station == "kph-07"


def test_a_new_key_is_refused_while_records_signed_with_the_old_one_wait(prov_office, bundle, root_image, tmp_path,
                                                                        capsys) -> None:
    from prov_helpers import queue_station_packets

    assert cli_apply(bundle, root_image, prov_office.files / "passphrase") == 0
    queue_station_packets(prov_office, root_image, 1)
    replaced = prov_office.bundle(tmp_path / "new-key.jpb", "--reprovision", "--new-key")
    capsys.readouterr()
    before = tree_state(root_image)
    assert cli_apply(replaced, root_image, prov_office.files / "passphrase") == 1
    assert_refused(capsys, root_image, before, "replaces the station key", "1 unsent record")
