"""The device's configured leg travels in the night header's JSON to the synced night."""

import json

import pytest
from legsense.errors import InputError
from legsense.night_decode import decode_night
from legsense_core import records


def night_bytes(header_json: dict) -> bytes:
    buf = bytearray(4096)
    end = records.encode_night(
        buf,
        0,
        7,
        "dev1",
        "0.1.0",
        "virtual",
        "lsm6dsox",
        52000,
        (61, 1),
        (8750, 1),
        0,
        0,
        1_767_652_200_000,
        json.dumps(header_json).encode(),
    )
    end = records.encode_event(buf, end, (1000, 2500, 120, 30, 3, 400))
    end = records.encode_epoch(buf, end, (0, 1560, 1500, 12, 0, 0, 1000))
    return bytes(buf[:end])


def test_leg_from_the_header_labels_every_movement():
    decoded = decode_night(night_bytes({"rate_hz": 52, "epoch_ms": 30000, "leg": "right"}))
    assert decoded.info.leg == "right"
    assert list(decoded.movements.leg) == ["right"]
    assert "leg" not in decoded.detector  # not a detector setting


def test_no_leg_in_older_headers_means_unknown():
    decoded = decode_night(night_bytes({"rate_hz": 52, "epoch_ms": 30000}))
    assert decoded.info.leg == "" and list(decoded.movements.leg) == [""]


def test_unknown_leg_is_an_input_error():
    with pytest.raises(InputError, match="unknown leg"):
        decode_night(night_bytes({"rate_hz": 52, "leg": "middle"}))
