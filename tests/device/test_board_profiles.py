"""Board profiles (firmware/boards/*.json) and their loader firmware/legsense_device/board.py.

The pin facts the shipped profiles are checked against are written out here from the
Espressif datasheets, independently of the tables inside board.py.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOARDS = ROOT / "firmware" / "boards"
BOARD_PY = ROOT / "firmware" / "legsense_device" / "board.py"
VM_MJS = ROOT / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
VM_MJS = VM_MJS / "micropython.mjs"


def _load_module():
    # The device layer is not a host package: load the very file deployed to the board.
    spec = importlib.util.spec_from_file_location("legsense_device_board", BOARD_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


board = _load_module()

PROFILE_NAMES = sorted(p.stem for p in BOARDS.glob("*.json"))

# Datasheet facts (ESP32 Series Datasheet, "Pin Definitions" / "Strapping Pins";
# ESP32-PICO-D4 datasheet "Pin Description"; ESP32-S3 Series Datasheet).
ESP32_INPUT_ONLY = {34, 35, 36, 37, 38, 39}
FLASH_PINS = {
    "esp32": {6, 7, 8, 9, 10, 11},
    "virtual": {6, 7, 8, 9, 10, 11},
    "esp32-pico-d4": {6, 7, 8, 11, 16, 17},
    "esp32s3-octal": set(range(26, 38)),
}
ESP32_RTC_GPIO = {0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39}


def _raw(name: str) -> dict:
    return json.loads((BOARDS / f"{name}.json").read_text())


def _validate_error(profile: dict) -> str:
    with pytest.raises(board.ProfileError) as info:
        board.validate(profile)
    return str(info.value)


# --- the shipped profiles -------------------------------------------------------------


def test_required_profiles_exist():
    assert {"esp32_devkitc_lsm6dsox", "m5stickc_plus", "virtual"} <= set(PROFILE_NAMES)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_profile_loads_without_fallback(name):
    profile, reason = board.load(name, str(BOARDS))
    assert reason is None
    assert profile["name"] == name
    # addresses come back as integers whichever way the file wrote them
    for family, address in profile["imu"]["candidates"]:
        assert family in ("lsm6", "mpu6")
        assert isinstance(address, int)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_shipped_pins_obey_the_datasheet_rules(name):
    p = _raw(name)
    flash = FLASH_PINS[p["mcu"]]
    outputs = [p["i2c"]["scl"], p["i2c"]["sda"]]
    if p["led"]:
        outputs.append(p["led"]["pin"])
    inputs = []
    if p["button"]:
        inputs.append(p["button"]["pin"])
    if p["imu"]["int1_pin"] is not None:
        inputs.append(p["imu"]["int1_pin"])
    if p["battery"] and p["battery"]["adc_pin"] != "axp192":
        inputs.append(p["battery"]["adc_pin"])
    everything = outputs + inputs
    assert len(everything) == len(set(everything)), "a pin is used twice"
    assert not flash & set(everything)
    if p["mcu"] != "esp32s3-octal":
        assert not ESP32_INPUT_ONLY & set(outputs)
        if p["imu"]["int1_pin"] is not None:
            assert p["imu"]["int1_pin"] in ESP32_RTC_GPIO
        if p["battery"] and p["battery"]["adc_pin"] != "axp192":
            assert 32 <= p["battery"]["adc_pin"] <= 39  # ADC1
    else:
        assert not {19, 20} & set(everything)  # native USB D-/D+


def test_m5stickc_plus_profile_matches_its_board():
    p = _raw("m5stickc_plus")
    # M5StickC Plus: red LED GPIO10 (lit when low), button A GPIO37, internal I2C 21/22.
    assert p["led"] == {"pin": 10, "active_low": True}
    assert p["button"]["pin"] == 37
    assert (p["i2c"]["sda"], p["i2c"]["scl"]) == (21, 22)
    assert p["battery"]["adc_pin"] == "axp192"
    assert p["battery"]["cell_mah"] == 120


# --- pin rules ------------------------------------------------------------------------


def test_output_on_input_only_pin_is_rejected():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["led"]["pin"] = 34
    assert "led.pin: GPIO34 is input-only on esp32" in _validate_error(p)


def test_button_on_input_only_pin_is_fine():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["button"]["pin"] = 36
    board.validate(p)


@pytest.mark.parametrize("pin", [6, 7, 8, 9, 10, 11])
def test_flash_pins_rejected_on_esp32_modules(pin):
    p = _raw("esp32_devkitc_lsm6dsox")
    p["i2c"]["sda"] = pin
    assert f"i2c.sda: GPIO{pin} is wired to flash/PSRAM" in _validate_error(p)


def test_pico_d4_frees_gpio9_10_but_not_16_17():
    p = _raw("m5stickc_plus")
    p["led"]["pin"] = 9
    board.validate(p)
    p["led"]["pin"] = 16
    assert "GPIO16 is wired to flash/PSRAM on esp32-pico-d4" in _validate_error(p)


@pytest.mark.parametrize("pin", [20, 24, 28, 31, 40, -1])
def test_nonexistent_gpio_rejected(pin):
    p = _raw("esp32_devkitc_lsm6dsox")
    p["led"]["pin"] = pin
    assert "does not exist on esp32" in _validate_error(p)


def test_pin_that_is_not_a_number_rejected():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["led"]["pin"] = "25"
    assert "led.pin: '25' is not a GPIO number" in _validate_error(p)


def test_int1_must_be_an_rtc_gpio():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["imu"]["int1_pin"] = 23
    assert "GPIO23 is not an RTC GPIO" in _validate_error(p)


def test_battery_must_use_adc1():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["battery"]["adc_pin"] = 26  # ADC2: unusable while the radio is on
    assert "GPIO26 is not an ADC1 pin" in _validate_error(p)


def test_pin_used_twice_rejected():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["led"]["pin"] = 21
    assert "led.pin: GPIO21 is already i2c.sda" in _validate_error(p)


def test_s3_native_usb_and_psram_pins_rejected():
    p = _raw("xiao_esp32s3_lsm6dsox")
    p["led"]["pin"] = 19
    assert "GPIO19 carries native USB" in _validate_error(p)
    p = _raw("xiao_esp32s3_lsm6dsox")
    p["led"]["pin"] = 35
    assert "GPIO35 is wired to flash/PSRAM on esp32s3-octal" in _validate_error(p)


def test_native_cdc_needs_an_s3():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["usb"]["kind"] = "native-cdc"
    assert "native-cdc needs an ESP32-S3" in _validate_error(p)


# --- other rules ----------------------------------------------------------------------


def test_unknown_key_is_a_typo():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["buton"] = p.pop("button")
    assert "unknown key buton" in _validate_error(p)
    p = _raw("esp32_devkitc_lsm6dsox")
    p["led"]["activelow"] = True
    assert "unknown key led.activelow" in _validate_error(p)


def test_absent_part_must_be_written_as_null():
    p = _raw("esp32_devkitc_lsm6dsox")
    del p["led"]
    assert "led is missing (write null if absent)" in _validate_error(p)
    p["led"] = None
    board.validate(p)


@pytest.mark.parametrize(
    ("address", "message"),
    [("0x6G", "is not a hex address"), ("0x78", "not a 7-bit I2C address"), (3, "not a 7-bit")],
)
def test_bad_imu_address(address, message):
    p = _raw("esp32_devkitc_lsm6dsox")
    p["imu"]["candidates"][0][1] = address
    assert message in _validate_error(p)


def test_unknown_imu_family():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["imu"]["candidates"][0][0] = "bmi160"
    assert "imu.candidates[0]: family 'bmi160'" in _validate_error(p)


def test_mirrored_mounting_rejected():
    # Flipping one sign makes a left-handed sensor: no real mounting gives it.
    p = _raw("esp32_devkitc_lsm6dsox")
    p["imu"]["mounting"]["right"]["y"] = "ant"
    assert "imu.mounting.right is mirrored" in _validate_error(p)


def test_left_leg_is_the_mirror_of_the_right():
    # Same sensor, same site, other leg: lateral points the other way in the body, so
    # the right leg's mapping cannot be reused unchanged on the left.
    p = _raw("m5stickc_plus")
    p["imu"]["mounting"]["left"] = dict(p["imu"]["mounting"]["right"])
    assert "imu.mounting.left is mirrored" in _validate_error(p)


def test_mounting_axis_used_twice_rejected():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["imu"]["mounting"]["right"]["y"] = "-prox"
    assert "maps two sensor axes to the same ankle axis" in _validate_error(p)


def test_mounting_bad_axis_name():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["imu"]["mounting"]["left"]["z"] = "+-lat"
    assert "imu.mounting.left.z" in _validate_error(p)


def test_i2c_frequency_range():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["i2c"]["freq_hz"] = 4000000
    assert "i2c.freq_hz" in _validate_error(p)


def test_divider_below_one_rejected():
    p = _raw("esp32_devkitc_lsm6dsox")
    p["battery"]["divider"] = 0.5
    assert "battery.divider" in _validate_error(p)


# --- loading and falling back ---------------------------------------------------------


def test_default_profile_is_itself_valid_and_fresh():
    first = board.default_profile()
    board.validate(copy.deepcopy(first))
    first["i2c"]["scl"] = 99
    assert board.default_profile()["i2c"]["scl"] == 22
    assert first["led"] is None and first["button"] is None  # drives nothing


def _fallback(tmp_path, name, text=None, data=None):
    if text is not None:
        (tmp_path / f"{name}.json").write_text(text)
    if data is not None:
        (tmp_path / f"{name}.json").write_bytes(data)
    profile, reason = board.load(name, str(tmp_path))
    assert profile == board.default_profile()
    assert isinstance(reason, str) and "\n" not in reason
    return reason


def test_missing_file_falls_back(tmp_path):
    assert "nowhere.json: cannot be read" in _fallback(tmp_path, "nowhere")


def test_directory_instead_of_file_falls_back(tmp_path):
    (tmp_path / "odd.json").mkdir()
    assert "odd.json: cannot be read" in _fallback(tmp_path, "odd")


def test_malformed_json_falls_back(tmp_path):
    assert "broken.json: not valid JSON" in _fallback(tmp_path, "broken", text='{"name": ')


def test_non_utf8_file_falls_back(tmp_path):
    assert "bin.json: not valid JSON" in _fallback(tmp_path, "bin", data=b"\xff\xfe{")


def test_json_that_is_not_an_object_falls_back(tmp_path):
    assert "must be a JSON object" in _fallback(tmp_path, "list", text="[1, 2]")


def test_invalid_profile_falls_back_naming_the_key(tmp_path):
    p = _raw("esp32_devkitc_lsm6dsox")
    p["name"] = "mine"
    p["led"]["pin"] = 39
    reason = _fallback(tmp_path, "mine", text=json.dumps(p))
    assert reason.endswith("mine.json: led.pin: GPIO39 is input-only on esp32")


def test_name_must_match_file(tmp_path):
    p = _raw("esp32_devkitc_lsm6dsox")
    reason = _fallback(tmp_path, "other", text=json.dumps(p))
    assert "does not match the file name 'other'" in reason


@pytest.mark.parametrize("name", ["../etc/passwd", "Board", "a b", "", 7])
def test_unsafe_or_odd_names_fall_back(tmp_path, name):
    profile, reason = board.load(name, str(tmp_path))
    assert profile["name"] == "default"
    assert "board name" in reason


def test_no_name_falls_back():
    profile, reason = board.load(None, str(BOARDS))
    assert profile["name"] == "default" and reason == "no board named in the config"


# --- on the real MicroPython VM -------------------------------------------------------


@pytest.mark.micropython
def test_loader_on_micropython_vm(tmp_path):
    node = shutil.which("node")
    if node is None or not VM_MJS.exists():
        pytest.skip("Node.js or the MicroPython WebAssembly VM (npm ci) is missing")
    script = tmp_path / "run.mjs"
    script.write_text(
        f"""
import {{ loadMicroPython }} from {json.dumps(str(VM_MJS))};
import fs from "fs";
const out = [];
const mp = await loadMicroPython({{ stdout: (l) => out.push(l) }});
mp.FS.mkdir("/boards"); mp.FS.mkdir("/legsense_device");
for (const f of fs.readdirSync({json.dumps(str(BOARDS))}))
  mp.FS.writeFile("/boards/" + f, fs.readFileSync({json.dumps(str(BOARDS))} + "/" + f));
mp.FS.writeFile("/boards/bad.json", "{{\\"name\\": ");
mp.FS.writeFile("/legsense_device/__init__.py", "");
mp.FS.writeFile("/legsense_device/board.py", fs.readFileSync({json.dumps(str(BOARD_PY))}));
mp.runPython(`
import sys
from legsense_device import board
print(sys.implementation.name)
for n in {json.dumps([*PROFILE_NAMES, "bad", "missing"])}:
    p, r = board.load(n)
    print(n, p["name"], r is None)
`);
process.stdout.write(out.join("\\n"));
"""
    )
    done = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "micropython"
    for name in PROFILE_NAMES:
        assert f"{name} {name} True" in lines
    assert "bad default False" in lines
    assert "missing default False" in lines
