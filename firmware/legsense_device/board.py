# Board profiles: which pins, IMU addresses and battery sensing a board has.
#
# A profile is a JSON file, /boards/<name>.json on the device (firmware/boards/ in the
# repository), named by the "board" key of the device config. load() reads and checks
# it and never raises: a missing or bad profile gives the safe default profile plus
# the reason as one line, so a typo in a config can never turn into a boot loop.
# The format is documented in hardware/README.md.
#
# Runs on MicroPython (ESP32) and CPython; kept free of anything either lacks.

import json

BOARDS_DIR = "/boards"

# IMU driver families: "lsm6" -> legsense_device/imu_lsm6.py, "mpu6" -> imu_mpu6.py;
# the driver tells the chips of a family apart by WHO_AM_I.
IMU_FAMILIES = ("lsm6", "mpu6")
USB_KINDS = ("uart-bridge", "native-cdc")
# How the firmware knows USB power is present (then it never light-sleeps): a GPIO that
# reads high with USB (a divider from VBUS; an RTC GPIO, so plugging in wakes the board),
# the AXP192's input-power status, or "no-battery": the battery line reads empty, which
# on a build whose battery must be switched off while USB is plugged in means USB.
VBUS_SENSES = ("axp192", "no-battery")
LEGS = ("left", "right")
ANKLE_AXES = ("ant", "prox", "lat")  # anterior (toes), proximal (knee), lateral (outwards)
MAX_I2C_HZ = 1000000

# Per MCU: GPIO numbers that exist, those reserved for flash/PSRAM, the input-only
# ones, the RTC GPIOs (the only ones MicroPython can wake light sleep with on the
# ESP32, through ext0/ext1) and the ADC1 pins (ADC2 is unusable while the radio is on).
_ESP32_GPIO = tuple(range(0, 20)) + (21, 22, 23, 25, 26, 27) + tuple(range(32, 40))
_ESP32_RTC = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39)
_ESP32_INPUT_ONLY = (34, 35, 36, 37, 38, 39)
_ESP32_ADC1 = tuple(range(32, 40))
_S3_GPIO = tuple(range(0, 22)) + tuple(range(26, 49))

MCUS = {
    # ESP32 modules (WROOM-32E and friends): GPIO6-11 are the SPI flash.
    "esp32": {
        "gpio": _ESP32_GPIO,
        "reserved": (6, 7, 8, 9, 10, 11),
        "input_only": _ESP32_INPUT_ONLY,
        "rtc": _ESP32_RTC,
        "adc1": _ESP32_ADC1,
    },
    # ESP32-PICO-D4 (M5StickC Plus): in-package flash on GPIO6-8, 11, 16, 17, so 9 and
    # 10 are free but 16 and 17 are not.
    "esp32-pico-d4": {
        "gpio": _ESP32_GPIO,
        "reserved": (6, 7, 8, 11, 16, 17),
        "input_only": _ESP32_INPUT_ONLY,
        "rtc": _ESP32_RTC,
        "adc1": _ESP32_ADC1,
    },
    # ESP32-S3 with octal PSRAM (XIAO ESP32-S3, -R8 modules): GPIO26-32 flash,
    # GPIO33-37 octal PSRAM. No input-only pins; RTC GPIOs are 0-21; ADC1 is GPIO1-10.
    "esp32s3-octal": {
        "gpio": _S3_GPIO,
        "reserved": tuple(range(26, 38)),
        "input_only": (),
        "rtc": tuple(range(0, 22)),
        "adc1": tuple(range(1, 11)),
    },
    # The virtual board (issue 5) emulates an ESP32 module: same rules, so a profile
    # that passes here would pass on the real chip.
    "virtual": {
        "gpio": _ESP32_GPIO,
        "reserved": (6, 7, 8, 9, 10, 11),
        "input_only": _ESP32_INPUT_ONLY,
        "rtc": _ESP32_RTC,
        "adc1": _ESP32_ADC1,
    },
}

# Native USB on the ESP32-S3 uses GPIO19 (D-) and GPIO20 (D+).
_NATIVE_USB_PINS = (19, 20)

# Used when the named profile cannot be used: the ESP32's default I2C pins, every IMU
# the firmware knows at every address, and no LED, button or battery sensing, so
# nothing is driven that might be wired to something else.
DEFAULT = {
    "name": "default",
    "mcu": "esp32",
    "i2c": {"id": 0, "scl": 22, "sda": 21, "freq_hz": 400000},
    "imu": {
        "candidates": [
            ["lsm6", 0x6A],
            ["lsm6", 0x6B],
            ["mpu6", 0x68],
            ["mpu6", 0x69],
        ],
        "int1_pin": None,
        "int1_active_low": False,
        "mounting": None,
    },
    "led": None,
    "button": None,
    "battery": None,
    "usb": {"kind": "uart-bridge", "vbus": None},
    "notes": "safe default: no LED, no button, no battery sensing",
}


# Keys each part may have: an unknown key is most often a typo ("buton") that would
# otherwise silently drop a feature.
_KEYS = {
    "": ("name", "description", "mcu", "i2c", "imu", "led", "button", "battery", "usb", "notes"),
    "i2c": ("id", "scl", "sda", "freq_hz"),
    "imu": ("candidates", "int1_pin", "int1_active_low", "mounting"),
    "led": ("pin", "active_low"),
    "button": ("pin", "active_low"),
    "battery": ("adc_pin", "divider", "cell_mah"),
    "usb": ("kind", "vbus"),
}


class ProfileError(Exception):
    """A profile breaks a rule; the message names the key."""


def default_profile():
    """Return a fresh copy of the safe default profile."""
    return json.loads(json.dumps(DEFAULT))


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _check_keys(d, section):
    allowed = _KEYS[section]
    for k in d:
        if k not in allowed:
            where = section + "." + k if section else k
            raise ProfileError("unknown key %s (allowed: %s)" % (where, ", ".join(allowed)))


def _section(profile, key, nullable):
    # Returns the part's object, or None for a null optional part.
    if key not in profile:
        raise ProfileError("%s is missing%s" % (key, " (write null if absent)" if nullable else ""))
    v = profile[key]
    if v is None and nullable:
        return None
    if not isinstance(v, dict):
        raise ProfileError("%s must be an object" % key)
    _check_keys(v, key)
    return v


def _required(profile, key):
    v = _section(profile, key, False)
    if v is None:  # cannot happen: _section raises for a required part
        raise ProfileError("%s must be an object" % key)
    return v


def _address(value, where):
    # Addresses may be written as "0x6A" (readable) or as a plain integer.
    if isinstance(value, str):
        try:
            value = int(value, 16)
        except ValueError:
            raise ProfileError("%s: %r is not a hex address" % (where, value)) from None
    if not _is_int(value) or not 0x08 <= value <= 0x77:
        raise ProfileError("%s: %r is not a 7-bit I2C address (0x08-0x77)" % (where, value))
    return value


class _Pins:
    # Checks each pin against the MCU's rules and that no two roles share one.

    def __init__(self, mcu_name, rules, usb_kind):
        self.mcu = mcu_name
        self.rules = rules
        self.used = {}
        self.usb_pins = _NATIVE_USB_PINS if usb_kind == "native-cdc" else ()

    def take(self, pin, where, output=False, rtc=False, adc=False):
        r = self.rules
        if not _is_int(pin):
            raise ProfileError("%s: %r is not a GPIO number" % (where, pin))
        if pin not in r["gpio"]:
            raise ProfileError("%s: GPIO%d does not exist on %s" % (where, pin, self.mcu))
        if pin in r["reserved"]:
            raise ProfileError("%s: GPIO%d is wired to flash/PSRAM on %s" % (where, pin, self.mcu))
        if pin in self.usb_pins:
            raise ProfileError("%s: GPIO%d carries native USB on %s" % (where, pin, self.mcu))
        if output and pin in r["input_only"]:
            raise ProfileError("%s: GPIO%d is input-only on %s" % (where, pin, self.mcu))
        if rtc and pin not in r["rtc"]:
            raise ProfileError(
                "%s: GPIO%d is not an RTC GPIO on %s (cannot wake light sleep)"
                % (where, pin, self.mcu)
            )
        if adc and pin not in r["adc1"]:
            raise ProfileError("%s: GPIO%d is not an ADC1 pin on %s" % (where, pin, self.mcu))
        if pin in self.used:
            raise ProfileError("%s: GPIO%d is already %s" % (where, pin, self.used[pin]))
        self.used[pin] = where
        return pin


def _check_mounting(mounting):
    # Each leg maps every sensor axis (x, y, z) to a signed ankle axis. The sensor is a
    # right-handed frame; (ant, prox, lat) is right-handed on the right leg and
    # left-handed on the left one (lateral flips side), so the determinant of the
    # mapping must be +1 on the right leg and -1 on the left: anything else cannot be
    # built, and catches a sign typo.
    if mounting is None:
        return
    if not isinstance(mounting, dict):
        raise ProfileError("imu.mounting must be an object or null")
    site = mounting.get("site")
    if not isinstance(site, str) or not site:
        raise ProfileError("imu.mounting.site must name where the sensor sits")
    for leg in LEGS:
        where = "imu.mounting." + leg
        m = mounting.get(leg)
        if not isinstance(m, dict):
            raise ProfileError("%s is missing" % where)
        rows = []
        for axis in ("x", "y", "z"):
            target = m.get(axis)
            if not isinstance(target, str):
                raise ProfileError("%s.%s must be one of +/-ant, +/-prox, +/-lat" % (where, axis))
            sign = -1 if target.startswith("-") else 1
            name = target.lstrip("+-")
            if name not in ANKLE_AXES or len(target) - len(name) > 1:
                raise ProfileError(
                    "%s.%s: %r is not one of +/-ant, +/-prox, +/-lat" % (where, axis, target)
                )
            row = [0, 0, 0]
            row[ANKLE_AXES.index(name)] = sign
            rows.append(row)
        columns = [0 if r[0] else (1 if r[1] else 2) for r in rows]
        if sorted(columns) != [0, 1, 2]:
            raise ProfileError("%s maps two sensor axes to the same ankle axis" % where)
        det = (
            rows[0][0] * (rows[1][1] * rows[2][2] - rows[1][2] * rows[2][1])
            - rows[0][1] * (rows[1][0] * rows[2][2] - rows[1][2] * rows[2][0])
            + rows[0][2] * (rows[1][0] * rows[2][1] - rows[1][1] * rows[2][0])
        )
        want = 1 if leg == "right" else -1
        if det != want:
            raise ProfileError("%s is mirrored: no real mounting gives it (check a sign)" % where)


def validate(profile, expected_name=None):
    """Check a profile (a dict from JSON) and return it normalised.

    Addresses become integers; everything else is returned as given. Raises
    ProfileError with a one-line message naming the offending key.
    """
    if not isinstance(profile, dict):
        raise ProfileError("a profile must be a JSON object")
    name = profile.get("name")
    if not isinstance(name, str) or not name:
        raise ProfileError("name is missing")
    _check_keys(profile, "")
    if expected_name is not None and name != expected_name:
        raise ProfileError("name %r does not match the file name %r" % (name, expected_name))
    mcu = profile.get("mcu")
    if mcu not in MCUS:
        raise ProfileError("mcu %r is not one of %s" % (mcu, ", ".join(sorted(MCUS))))

    usb = _required(profile, "usb")
    if usb.get("kind") not in USB_KINDS:
        raise ProfileError("usb.kind must be one of %s" % ", ".join(USB_KINDS))
    if usb.get("kind") == "native-cdc" and not mcu.startswith("esp32s3"):
        raise ProfileError("usb.kind native-cdc needs an ESP32-S3, not %s" % mcu)
    pins = _Pins(mcu, MCUS[mcu], usb.get("kind"))

    i2c = _required(profile, "i2c")
    if i2c.get("id") not in (0, 1):
        raise ProfileError("i2c.id must be 0 or 1")
    pins.take(i2c.get("scl"), "i2c.scl", output=True)
    pins.take(i2c.get("sda"), "i2c.sda", output=True)
    freq = i2c.get("freq_hz")
    if not isinstance(freq, int) or isinstance(freq, bool) or not 10000 <= freq <= MAX_I2C_HZ:
        raise ProfileError("i2c.freq_hz must be an integer from 10000 to %d" % MAX_I2C_HZ)

    imu = _required(profile, "imu")
    cands = imu.get("candidates")
    if not isinstance(cands, list) or not cands:
        raise ProfileError("imu.candidates must list at least one [family, address]")
    seen_addr = []
    for i, c in enumerate(cands):
        where = "imu.candidates[%d]" % i
        if not isinstance(c, list) or len(c) != 2:
            raise ProfileError("%s must be [family, address]" % where)
        if c[0] not in IMU_FAMILIES:
            raise ProfileError("%s: family %r is not one of %s" % (where, c[0], IMU_FAMILIES))
        c[1] = _address(c[1], where)
        if c[1] in seen_addr:
            raise ProfileError("%s: address 0x%02X is listed twice" % (where, c[1]))
        seen_addr.append(c[1])
    if imu.get("int1_pin") is not None:
        pins.take(imu["int1_pin"], "imu.int1_pin", rtc=True)
    if not isinstance(imu.get("int1_active_low"), bool):
        raise ProfileError("imu.int1_active_low must be true or false")
    _check_mounting(imu.get("mounting"))

    led = _section(profile, "led", True)
    if led is not None:
        pins.take(led.get("pin"), "led.pin", output=True)
        if not isinstance(led.get("active_low"), bool):
            raise ProfileError("led.active_low must be true or false")
    button = _section(profile, "button", True)
    if button is not None:
        pins.take(button.get("pin"), "button.pin")
        if not isinstance(button.get("active_low"), bool):
            raise ProfileError("button.active_low must be true or false")

    bat = _section(profile, "battery", True)
    if bat is not None:
        src = bat.get("adc_pin")
        if src == "axp192":
            if bat.get("divider") is not None:
                raise ProfileError("battery.divider must be null when the AXP192 measures")
        else:
            pins.take(src, "battery.adc_pin", adc=True)
            div = bat.get("divider")
            if not isinstance(div, (int, float)) or isinstance(div, bool) or not div >= 1:
                raise ProfileError("battery.divider must be a number >= 1 (Vbat / Vpin)")
        mah = bat.get("cell_mah")
        if not isinstance(mah, int) or isinstance(mah, bool) or mah <= 0:
            raise ProfileError("battery.cell_mah must be a positive integer")

    if "vbus" not in usb:
        raise ProfileError("usb.vbus is missing (write null if absent)")
    vbus = usb["vbus"]
    if vbus in VBUS_SENSES:
        if vbus == "no-battery" and (bat is None or bat.get("adc_pin") == "axp192"):
            raise ProfileError("usb.vbus no-battery needs battery.adc_pin on an ADC pin")
    elif vbus is not None:
        if isinstance(vbus, str):
            raise ProfileError(
                "usb.vbus must be a GPIO, %s or null" % ", ".join(repr(v) for v in VBUS_SENSES)
            )
        pins.take(vbus, "usb.vbus", rtc=True)

    notes = profile.get("notes", "")
    if not isinstance(notes, str):
        raise ProfileError("notes must be a string")
    return profile


def _valid_name(name):
    if not isinstance(name, str) or not name or len(name) > 48:
        return False
    for ch in name:
        if not ("a" <= ch <= "z" or "0" <= ch <= "9" or ch == "_"):
            return False
    return True


def load(name, boards_dir=BOARDS_DIR):
    """Load and validate boards_dir/<name>.json.

    Returns (profile, reason): reason is None when the named profile was used, else
    one line saying why the safe default (DEFAULT) was returned instead. Never raises.
    """
    try:
        if name is None:
            return default_profile(), "no board named in the config"
        if not _valid_name(name):
            return default_profile(), "board name %r: use a-z, 0-9 and _ only" % (name,)
        path = "%s/%s.json" % (boards_dir, name)
        try:
            # bytes: a file that is not UTF-8 then fails as bad JSON, not as a crash
            with open(path, "rb") as f:
                text = f.read()
        except OSError:
            return default_profile(), "%s: cannot be read (missing?)" % path
        try:
            profile = json.loads(text)
        except ValueError as e:
            return default_profile(), "%s: not valid JSON (%s)" % (path, e)
        try:
            return validate(profile, name), None
        except ProfileError as e:
            return default_profile(), "%s: %s" % (path, e)
    except Exception as e:  # a bug here must not stop the device from booting
        return default_profile(), "board profile %r: unexpected %s: %s" % (
            name,
            type(e).__name__,
            e,
        )
