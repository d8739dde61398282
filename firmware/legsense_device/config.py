# Device configuration: a JSON file on flash, with defaults and validation.
#
# A missing or bad file never stops the board: every problem falls back to the default
# for that key (or to all defaults) and is returned as a reason for the boot log. A boot
# loop over a typo in a config file would lose a night.

try:
    import json
except ImportError:  # pragma: no cover - every MicroPython port has json
    import ujson as json  # type: ignore

CONFIG_PATH = "/config.json"

ODRS_HZ = (12.5, 26, 52, 104)
LEGS = ("", "left", "right")

DEFAULTS = {
    "board": "esp32_devkitc_lsm6dsox",
    "device_name": "legsense",
    "odr_hz": 52,
    "accel_fs_g": 2,
    "gyro": True,
    "gyro_fs_dps": 250,
    "accel_power": "high_performance",
    "fifo_watermark": 0,
    "epoch_s": 30,
    "leg": "",
    "person": "",
    "schedule": None,
    "utc_offset_min": 0,
    "raw_samples": False,
    "ble_while_recording": False,
    "light_sleep": True,
    "watchdog_ms": 8000,
    "flash_reserve_kb": 64,
}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _hhmm(v):
    # "22:30" -> minutes after midnight, or -1 when malformed
    if not isinstance(v, str) or len(v) != 5 or v[2] != ":":
        return -1
    try:
        h = int(v[:2])
        m = int(v[3:])
    except ValueError:
        return -1
    if 0 <= h < 24 and 0 <= m < 60:
        return h * 60 + m
    return -1


def _name_problem(v):
    # device_name and person: a short name that is safe in a folder name on the host
    if not isinstance(v, str) or not 0 < len(v) <= 24:
        return "must be a text of 1-24 characters"
    for c in v:
        if not (c.isalpha() or c.isdigit() or c in "_-"):
            return "may hold letters, digits, '_' and '-' only"
    return None


def _check(key, v):
    # Returns None when v is acceptable for key, else why not.
    if key == "board":
        # Same rule as board.load: it becomes a file name on the flash.
        if not isinstance(v, str) or not 0 < len(v) <= 32:
            return "must be a board profile name of 1-32 characters"
        for c in v:
            if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "_"):
                return "may hold a-z, 0-9 and '_' only"
        return None
    if key == "device_name":
        return _name_problem(v)
    if key == "person":
        # Whose leg this is: two devices of one person become one bilateral night on
        # the host. "" = nobody in particular (the night stays single-leg).
        return None if v == "" else _name_problem(v)
    if key == "odr_hz":
        if v not in ODRS_HZ or isinstance(v, bool):
            return "must be one of 12.5, 26, 52, 104"
        return None
    if key == "accel_fs_g":
        return None if v in (2, 4, 8, 16) and _is_int(v) else "must be 2, 4, 8 or 16"
    if key == "accel_power":
        # The LSM6DSOX/DSO accelerometer's power mode, used with "gyro": false
        # (imu_lsm6.py; docs/firmware.md, "IMU power modes").
        if v in ("high_performance", "low_power", "ultra_low_power"):
            return None
        return 'must be "high_performance", "low_power" or "ultra_low_power"'
    if key == "gyro_fs_dps":
        return None if v in (125, 250, 500, 1000, 2000) and _is_int(v) else "bad gyro range"
    if key in ("gyro", "raw_samples", "ble_while_recording", "light_sleep"):
        return None if isinstance(v, bool) else "must be true or false"
    if key == "fifo_watermark":
        ok = _is_int(v) and 0 <= v <= 1024
        return None if ok else "must be 0 (the largest the FIFO allows) or 1-1024 samples"
    if key == "epoch_s":
        return None if _is_int(v) and v in (10, 15, 20, 30, 60) else "must be 10, 15, 20, 30 or 60"
    if key == "leg":
        return None if v in LEGS else 'must be "left", "right" or ""'
    if key == "utc_offset_min":
        return None if _is_int(v) and -840 <= v <= 840 else "must be -840..840 minutes"
    if key == "watchdog_ms":
        return None if _is_int(v) and 2000 <= v <= 60000 else "must be 2000-60000 ms"
    if key == "flash_reserve_kb":
        return None if _is_int(v) and 16 <= v <= 4096 else "must be 16-4096 KB"
    if key == "schedule":
        if v is None:
            return None
        if not isinstance(v, dict) or set(v) != {"start", "stop"}:
            return 'must be null or {"start": "HH:MM", "stop": "HH:MM"}'
        if _hhmm(v["start"]) < 0 or _hhmm(v["stop"]) < 0:
            return "start and stop must be HH:MM"
        if v["start"] == v["stop"]:
            return "start and stop must differ"
        return None
    return "unknown key"


def validate(raw):
    """Validated config from a dict: (config, reasons). Bad keys keep their defaults."""
    cfg = dict(DEFAULTS)
    reasons = []
    if not isinstance(raw, dict):
        return cfg, ["config is not a JSON object: using defaults"]
    for key in raw:
        why = _check(key, raw[key])
        if why is None:
            cfg[key] = raw[key]
        elif why == "unknown key":
            reasons.append("config: unknown key %r ignored" % (key,))
        else:
            reasons.append("config: %s %s: kept default %r" % (key, why, DEFAULTS[key]))
    return cfg, reasons


def load(path=CONFIG_PATH):
    """Read and validate the config file: (config, reasons). Never raises."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return dict(DEFAULTS), ["config: no %s, using defaults" % path]
    except ValueError:  # undecodable bytes (UnicodeError is a ValueError)
        return dict(DEFAULTS), ["config: %s is not valid JSON (not text): using defaults" % path]
    try:
        raw = json.loads(text)
    except ValueError as e:
        return dict(DEFAULTS), ["config: %s is not valid JSON (%s): using defaults" % (path, e)]
    return validate(raw)


def save(cfg, path=CONFIG_PATH):
    """Write a validated config atomically (temp file + rename); returns the reasons."""
    clean, reasons = validate(cfg)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(clean))
    try:
        import os
    except ImportError:  # pragma: no cover
        import uos as os  # type: ignore
    os.rename(tmp, path)
    return clean, reasons


def schedule_minutes(cfg):
    """(start, stop) minutes after local midnight, or None when there is no schedule."""
    s = cfg.get("schedule")
    if not s:
        return None
    return _hhmm(s["start"]), _hhmm(s["stop"])
