"""hardware/power_budget.py: arithmetic checked against numbers worked out by hand."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "hardware" / "power_budget.py"
BUILDS = ("devkitc_lsm6dsox", "m5stickc_plus", "xiao_esp32s3_lsm6dsox")
MEASURED = json.loads((ROOT / "hardware" / "measured_duty.json").read_text())["scenarios"]

_spec = importlib.util.spec_from_file_location("power_budget", SCRIPT)
assert _spec is not None and _spec.loader is not None
pb = importlib.util.module_from_spec(_spec)
sys.modules["power_budget"] = pb  # dataclasses look the module up by name
_spec.loader.exec_module(pb)


def _budget(**over) -> dict:
    # 500 mAh cell derated by 0.9 and 0.5; an 8 h night; a CPU that is awake 10 ms
    # every 200 ms at 40 mA and sleeps at 1 mA otherwise, and a sensor at 0.25 mA.
    data = {
        "build": "hand",
        "night_hours": 8,
        "battery": {
            "cell_mah": 500,
            "derating": [{"factor": 0.9, "why": "cutoff"}, {"factor": 0.5, "why": "age"}],
        },
        "sources": {"ds": "a datasheet"},
        "loads": [
            {"part": "cpu", "state": "awake", "ma": 40, "on_ms": 10, "period_ms": 200,
             "group": "cpu", "source": "ds", "checked": True},
            {"part": "cpu", "state": "sleep", "ma": 1, "duty": "rest", "group": "cpu",
             "source": "ds", "checked": True},
        ],
        "scenarios": [
            {"name": "with sensor", "loads": [
                {"part": "imu", "state": "on", "ma": 0.25, "duty": 1, "source": "ds",
                 "checked": False}]},
        ],
    }  # fmt: skip
    data.update(over)
    return data


def _write(tmp_path: Path, data: object, text: str | None = None) -> Path:
    path = tmp_path / "power.json"
    path.write_text(text if text is not None else json.dumps(data))
    return path


def test_hand_computed_budget(tmp_path):
    sc = pb.load(_write(tmp_path, _budget())).scenarios[0]
    duties = [x.duty for x in sc.loads]
    assert duties == pytest.approx([0.05, 0.95, 1.0])  # 10/200; 1 - 0.05; always on
    # 40 x 0.05 + 1 x 0.95 + 0.25 = 2.0 + 0.95 + 0.25 = 3.2 mA
    assert sc.avg_ma == pytest.approx(3.2)
    assert sc.mah_per_night == pytest.approx(25.6)  # 3.2 mA x 8 h
    assert sc.derating == pytest.approx(0.45)
    assert sc.usable_mah == pytest.approx(225.0)  # 500 x 0.9 x 0.5
    assert sc.nights_per_charge == pytest.approx(8.7890625)  # 225 / 25.6
    assert sc.hours_per_charge == pytest.approx(70.3125)  # 225 / 3.2


def test_rendered_table_shows_the_hand_numbers(tmp_path):
    text = pb.render(pb.load(_write(tmp_path, _budget())))
    assert "| cpu | awake | 40 | 0.0500 | 2.000 | ds |" in text
    assert "| cpu | sleep | 1 | 0.9500 | 0.950 | ds |" in text
    assert "| imu | on | 0.25 | 1.0000 | 0.250 | ds (unchecked) |" in text
    assert "| **total** | | | | **3.200** | |" in text
    assert "- per 8 h night: 25.6 mAh" in text
    assert "- usable capacity: 500 mAh x 0.450 = 225.0 mAh" in text
    assert "- nights per charge: 8.79 (70.3 h of recording)" in text


def test_devkitc_default_scenario_by_hand():
    sc = pb.load(ROOT / "hardware" / "devkitc_lsm6dsox" / "power.json").scenarios[0]
    # By hand from the datasheet figures in power.json and the measured awake share a
    # (hardware/measured_duty.json, read here on its own):
    #   ESP32 awake 44 mA x a
    #   ESP32 waiting for the flash 44 mA x 15/30000 = 0.022
    #   ESP32 light sleep 0.8 x (1 - a - 0.0005)
    #   flash program 20 x 0.0005           = 0.010
    #   LDO 0.025 + AP2112K 0.055 + charger 0.002 + divider 0.0095 = 0.0915
    #   LED 0.64 x 50/60000                 = 0.64 / 1200
    #   DevKitC extras 3.8 + LSM6DSOX 0.55  = 4.35
    a = MEASURED["lsm6dsox_accel_gyro@160MHz"]["awake_fraction"]
    total = 44 * a + 0.022 + 0.8 * (1 - a - 0.0005) + 0.010 + 0.0915 + 0.64 / 1200 + 4.35
    assert sc.avg_ma == pytest.approx(total, rel=1e-12)
    assert sc.mah_per_night == pytest.approx(10 * total, rel=1e-12)
    # 1000 mAh x 0.9 x 0.8 = 720 mAh usable
    assert sc.nights_per_charge == pytest.approx(720 / (10 * total), rel=1e-12)


def test_m5stickc_plus_gyro_night_does_not_fit_the_battery():
    # 44 x a + 44 x 0.0005 + 0.8 x (1 - a - 0.0005) + 20 x 0.0005 + 2 x 50/60000 + 5
    # + 3.8 (MPU-6886 with the gyro): the 5 mA board floor and the 3.8 mA IMU alone take
    # 88 mAh per 10 h night, more than the 120 x 0.72 = 86.4 mAh usable.
    sc = pb.load(ROOT / "hardware" / "m5stickc_plus" / "power.json").scenarios[0]
    a = MEASURED["mpu6886_accel_gyro@160MHz"]["awake_fraction"]
    total = 44 * a + 0.022 + 0.8 * (1 - a - 0.0005) + 0.010 + 2 / 1200 + 5 + 3.8
    assert sc.avg_ma == pytest.approx(total, rel=1e-12)
    assert sc.usable_mah == pytest.approx(86.4)
    assert sc.nights_per_charge < 1


def _measured(tmp_path: Path, fraction: float = 0.03) -> dict:
    (tmp_path / "duty.json").write_text(
        json.dumps({"scenarios": {"night": {"awake_fraction": fraction, "wakes_per_hour": 900}}})
    )
    data = _budget(measured_duty="duty.json")
    data["loads"][0] = {
        k: v for k, v in data["loads"][0].items() if k not in ("on_ms", "period_ms")
    }
    data["loads"][0]["measured"] = "night"
    return data


def test_a_measured_duty_replaces_the_hand_set_one(tmp_path):
    # cpu awake 40 mA x 0.03 + sleep 1 mA x 0.97 + sensor 0.25 = 1.2 + 0.97 + 0.25 = 2.42 mA
    budget = pb.load(_write(tmp_path, _measured(tmp_path)))
    sc = budget.scenarios[0]
    assert [x.duty for x in sc.loads] == pytest.approx([0.03, 0.97, 1.0])
    assert sc.avg_ma == pytest.approx(2.42)
    text = pb.render(budget)
    assert "- night: awake 3.000% of the night, 900 wakes/h" in text
    # the largest load is the awake CPU (1.2 of 2.42 mA); without it 225 / (1.22 x 8)
    assert (
        "- largest load: cpu (awake), 1.200 mA = 50% of the total; without it: 23.1 nights" in text
    )


def test_measured_duty_errors(tmp_path):
    data = _measured(tmp_path)
    data["loads"][0]["measured"] = "day"
    assert "loads[0].measured 'day' is not a scenario of the measured duty file" in _error(
        tmp_path, data
    )
    data = _measured(tmp_path)
    data["loads"][0]["duty"] = 0.1
    assert "loads[0]: give measured or a duty, not both" in _error(tmp_path, data)
    data = _measured(tmp_path)
    data["measured_duty"] = "missing.json"
    assert "measured_duty: cannot read missing.json (FileNotFoundError)" in _error(tmp_path, data)
    data = _measured(tmp_path)
    del data["measured_duty"]
    assert "loads[0].measured needs the budget's measured_duty file" in _error(tmp_path, data)
    data = _measured(tmp_path, fraction=1.5)
    path = _write(tmp_path, data)
    with pytest.raises(pb.BudgetError, match=r"duty.json: scenarios.night.awake_fraction = 1.5"):
        pb.load(path)


@pytest.mark.parametrize("build", BUILDS)
def test_power_budget_md_shows_the_current_output(build):
    # The document quotes the calculator; it must not drift from power.json.
    rendered = pb.render(pb.load(ROOT / "hardware" / build / "power.json"))
    doc = (ROOT / "hardware" / build / "power_budget.md").read_text()
    assert rendered.strip() in doc


def test_every_load_cites_a_source():
    for build in BUILDS:
        budget = pb.load(ROOT / "hardware" / build / "power.json")
        for sc in budget.scenarios:
            assert all(x.source in budget.sources for x in sc.loads)


# --- bad input: one line naming file and key, exit status 2 ---------------------------


def _error(tmp_path, data=None, text=None) -> str:
    path = _write(tmp_path, data, text)
    with pytest.raises(pb.BudgetError) as info:
        pb.load(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


def test_group_duties_over_one(tmp_path):
    data = _budget()
    data["loads"][1] = dict(data["loads"][0], state="also awake", on_ms=195)
    assert "duties of group 'cpu' add up to 1" in _error(tmp_path, data)


def test_two_rest_duties_in_one_group(tmp_path):
    data = _budget()
    data["loads"].append(dict(data["loads"][1], state="other sleep"))
    assert "loads[2]: one duty 'rest' per named group" in _error(tmp_path, data)


def test_rest_outside_a_group(tmp_path):
    data = _budget()
    del data["loads"][1]["group"]
    assert "loads[1]: one duty 'rest' per named group" in _error(tmp_path, data)


def test_unknown_source(tmp_path):
    data = _budget()
    data["loads"][0]["source"] = "blog"
    assert "loads[0].source 'blog' is not a key of sources" in _error(tmp_path, data)


def test_unknown_key(tmp_path):
    data = _budget()
    data["loads"][0]["dutty"] = 0.1
    assert "loads[0]: unknown key 'dutty'" in _error(tmp_path, data)


def test_duty_out_of_range(tmp_path):
    data = _budget()
    data["scenarios"][0]["loads"][0]["duty"] = 1.5
    assert "scenarios[0].loads[0].duty = 1.5 is outside 0.0..1.0" in _error(tmp_path, data)


def test_on_longer_than_period(tmp_path):
    data = _budget()
    data["loads"][0]["on_ms"] = 300
    assert "loads[0].on_ms = 300 is outside" in _error(tmp_path, data)


def test_derating_above_one(tmp_path):
    data = _budget()
    data["battery"]["derating"][0]["factor"] = 1.2
    assert "battery.derating[0].factor" in _error(tmp_path, data)


def test_current_must_be_a_number(tmp_path):
    data = _budget()
    data["loads"][0]["ma"] = "40"
    assert "loads[0].ma must be a number" in _error(tmp_path, data)


def test_malformed_json_names_the_line(tmp_path):
    message = _error(tmp_path, text='{\n  "build": "x",\n  "night_hours": ,\n}')
    assert message.endswith("power.json:3: not valid JSON: Expecting value")


def test_cli_prints_one_line_and_exits_2(tmp_path):
    path = _write(tmp_path, None, text="[]")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"power_budget: error: {path}: power.json must be a JSON object\n"


def test_cli_missing_file_exits_2(tmp_path):
    assert pb.main([str(tmp_path / "none.json")]) == 2


def test_cli_prints_the_budget(capsys):
    assert pb.main([str(ROOT / "hardware" / "devkitc_lsm6dsox" / "power.json")]) == 0
    out = capsys.readouterr().out
    assert "## Power budget: devkitc_lsm6dsox" in out
    # four scenarios: accel + gyro, accel only in high-performance, low-power and
    # ultra-low-power mode
    assert out.count("- nights per charge: ") == 4


@pytest.mark.parametrize("build", ["devkitc_lsm6dsox", "xiao_esp32s3_lsm6dsox"])
def test_low_power_accel_scenarios_differ_by_the_imu_current_only(build):
    # Same MCU duty as the accelerometer-only night; the LSM6DSOX line drops from 170 uA
    # to 26 uA (low-power) and 9.5 uA (ultra-low-power) at 52 Hz (DS12814 Table 4).
    budget = pb.load(ROOT / "hardware" / build / "power.json")
    by_name = {sc.name.split(",")[0] + sc.name.split(",")[1]: sc for sc in budget.scenarios}
    hp = by_name["accelerometer only 52 Hz (gyro powered down)"]
    lp = by_name["accelerometer only low-power mode"]
    ulp = by_name["accelerometer only ultra-low-power mode"]
    assert lp.avg_ma == pytest.approx(hp.avg_ma - (0.170 - 0.026), abs=1e-9)
    assert ulp.avg_ma == pytest.approx(hp.avg_ma - (0.170 - 0.0095), abs=1e-9)
    assert lp.nights_per_charge == pytest.approx(
        1000 * 0.9 * 0.8 / ((hp.avg_ma - 0.144) * 10), rel=1e-9
    )
