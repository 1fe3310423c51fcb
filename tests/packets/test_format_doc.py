"""docs/packet-format.md matches the bytes: its example is generated from the committed example packet, the
documented reader checks are what the reader does (entry order, DOS time, fixed fields, duplicate JSON keys)."""

from __future__ import annotations

import base64
import json
import struct
import uuid
from datetime import UTC, datetime

import pytest

from station import keys, packets
from station.packet_zip import read_zip, write_zip
from station.packets import PacketError
from tests.packets import packet_example as ex


@pytest.fixture(scope="module")
def example() -> tuple[bytes, str]:
    return ex.PACKET.read_bytes(), keys.load_age_identity(ex.IDENTITY)


def test_the_docs_example_is_the_committed_packet_rendered_by_code(example: tuple[bytes, str]) -> None:
    data, identity = example
    section = ex.doc_section(ex.DOC.read_text(encoding="utf-8"))
    assert section == ex.render_example(data, identity), \
        "docs/packet-format.md §8 drifted: run python -m tests.packets.packet_example --write"


def test_the_example_packet_is_valid_and_consistent(example: tuple[bytes, str]) -> None:
    data, identity = example
    opened = packets.open_packet(data, identity, ex.station_key().public_key())
    envelope = opened.envelope
    id_ms = uuid.UUID(envelope.packet_id).int >> 80
    assert datetime.fromtimestamp(id_ms / 1000, UTC) == envelope.created          # id time == created
    manifest = opened.manifest
    assert manifest["finished"].endswith("+00:00") and "." in manifest["finished"]
    assert manifest["captures"]["fingers"]["01"]["exception"]["confirmed_by_id"] == 1
    entries = read_zip(data)
    assert list(entries) == ["envelope.json", "envelope.sig", "manifest.json.age"]
    version_made_by = struct.unpack_from("<H", data, data.index(b"PK\x01\x02") + 4)[0]
    assert version_made_by == 20
    assert entries["manifest.json.age"].startswith(b"age-encryption.org/v1\n")
    assert ex.IDENTITY.read_text().startswith("# created by jemput office init\n# public key: age1")


def test_entries_out_of_order_or_with_another_dos_time_are_refused(example: tuple[bytes, str]) -> None:
    data, _identity = example
    key = ex.station_key().public_key()
    entries = list(read_zip(data).items())
    swapped = write_zip([entries[1], entries[0], entries[2]], ex.CREATED)
    with pytest.raises(PacketError, match="order"):
        packets.verify_packet(swapped, key)
    other_time = write_zip(entries, ex.CREATED.replace(hour=9))
    with pytest.raises(PacketError, match="DOS time"):
        packets.verify_packet(other_time, key)


def test_duplicate_json_keys_are_refused(example: tuple[bytes, str]) -> None:
    data, _identity = example
    signing = ex.station_key()
    entries = dict(read_zip(data))
    envelope = entries["envelope.json"]
    doubled = envelope[:-1] + b',"station":"kph-99"}'          # the same key twice: which one is true?
    raw = write_zip([("envelope.json", doubled), ("envelope.sig", base64.b64encode(signing.sign(doubled))),
                     ("manifest.json.age", entries["manifest.json.age"])], ex.CREATED)
    with pytest.raises(PacketError, match="appears twice"):
        packets.verify_packet(raw, signing.public_key())
    assert json.loads(doubled)["station"] == "kph-99"            # what a naive reader would have believed
