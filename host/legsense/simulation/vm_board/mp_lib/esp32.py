# MicroPython's `esp32` module for the virtual board (the parts legsense uses): the
# ext0/ext1 wake sources of machine.lightsleep(). Only RTC GPIOs qualify, as on the chip
# (ValueError "invalid pin"); the runner says which those are for the board's MCU.
# Shared rules: sim_machine_common (the CPython shim's esp32 module uses them too).

import _vmhost
import sim_machine_common as _common

WAKEUP_ALL_LOW = _common.WAKEUP_ALL_LOW
WAKEUP_ANY_HIGH = _common.WAKEUP_ANY_HIGH

_rtc = tuple(int(x) for x in _vmhost.rtc_gpios().split(",") if x)
_config = {"ext0": None, "ext1": None}  # read by machine.lightsleep()


def _pin_id(p):
    return getattr(p, "id", p)


def wake_on_ext0(pin, level):
    if pin is None:
        _config["ext0"] = None
        return
    _config["ext0"] = (_common.check_wake_pin(_pin_id(pin), _rtc), bool(level))


def wake_on_ext1(pins, level):
    if not pins:
        _config["ext1"] = None
        return
    ids = tuple(_common.check_wake_pin(_pin_id(p), _rtc) for p in pins)
    _config["ext1"] = (ids, bool(level))
