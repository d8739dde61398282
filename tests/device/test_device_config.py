"""Device config file: defaults, validation, fallback with reasons (never raises)."""

import json

import pytest
from legsense_device import config


def test_missing_file_gives_defaults_and_says_why(tmp_path):
    cfg, reasons = config.load(str(tmp_path / "config.json"))
    assert cfg == config.DEFAULTS
    assert len(reasons) == 1 and "no " in reasons[0] and "defaults" in reasons[0]


@pytest.mark.parametrize("text", ["{", "not json", '{"odr_hz": 52,}', "\x00\xff"])
def test_malformed_json_falls_back_to_defaults(tmp_path, text):
    p = tmp_path / "config.json"
    p.write_bytes(text.encode("latin-1"))
    cfg, reasons = config.load(str(p))
    assert cfg == config.DEFAULTS
    assert "not valid JSON" in reasons[0]


def test_not_an_object(tmp_path):
    p = tmp_path / "config.json"
    p.write_text("[1, 2]")
    cfg, reasons = config.load(str(p))
    assert cfg == config.DEFAULTS and "not a JSON object" in reasons[0]


@pytest.mark.parametrize(
    "key,value",
    [
        ("odr_hz", 50),
        ("odr_hz", True),
        ("accel_fs_g", 3),
        ("gyro", "yes"),
        ("gyro_fs_dps", 245),
        ("fifo_watermark", -1),
        ("fifo_watermark", 2000),
        ("light_sleep", "off"),
        ("epoch_s", 7),
        ("leg", "middle"),
        ("utc_offset_min", 900),
        ("watchdog_ms", 100),
        ("flash_reserve_kb", 1),
        ("schedule", {"start": "25:00", "stop": "07:00"}),
        ("schedule", {"start": "22:00", "stop": "22:00"}),
        ("schedule", "22-07"),
        ("device_name", "x" * 30),
        ("device_name", "bad name!"),
        ("person", "x" * 25),
        ("person", "anna/left"),
        ("person", 7),
        ("board", "My-Board"),
        ("board", "../etc"),
    ],
)
def test_out_of_range_values_keep_their_default(tmp_path, key, value):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({key: value, "leg": "left"} if key != "leg" else {key: value}))
    cfg, reasons = config.load(str(p))
    assert cfg[key] == config.DEFAULTS[key]
    assert any(key in r and "kept default" in r for r in reasons)
    if key != "leg":
        assert cfg["leg"] == "left"  # the good key next to it is kept


def test_unknown_key_is_reported_not_fatal(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"odr_hz": 26, "colour": "blue"}))
    cfg, reasons = config.load(str(p))
    assert cfg["odr_hz"] == 26
    assert reasons == ["config: unknown key 'colour' ignored"]


def test_save_is_atomic_and_round_trips(tmp_path):
    p = str(tmp_path / "config.json")
    clean, reasons = config.save(
        {"odr_hz": 104, "schedule": {"start": "22:30", "stop": "07:00"}}, p
    )
    assert reasons == []
    cfg, reasons = config.load(p)
    assert reasons == [] and cfg == clean and cfg["odr_hz"] == 104
    assert config.schedule_minutes(cfg) == (22 * 60 + 30, 7 * 60)
    assert not (tmp_path / "config.json.tmp").exists()


@pytest.mark.parametrize("person", ["", "anna", "Anna-Maria_2", "x" * 24])
def test_person_is_empty_or_a_short_name(tmp_path, person):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"person": person, "leg": "right"}))
    cfg, reasons = config.load(str(p))
    assert reasons == [] and cfg["person"] == person and cfg["leg"] == "right"
    assert config.DEFAULTS["person"] == ""  # a device is nobody's until told
