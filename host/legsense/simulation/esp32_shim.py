"""MicroPython's `esp32` module for CPython (the parts legsense uses), served by the
SimBoard that machine_shim serves: installed as sys.modules["esp32"] beside it.

wake_on_ext0(pin, level) and wake_on_ext1(pins, level) choose the ext0/ext1 wake sources
of machine.lightsleep(); as on the chip, only RTC GPIOs qualify (ValueError otherwise,
checked against the board profile's MCU: legsense_device.board.MCUS). Shared rules:
vm_board/mp_lib/sim_machine_common.py (the MicroPython VM's esp32 module uses them too).
"""

from __future__ import annotations

from legsense.simulation.vm_board.mp_lib import sim_machine_common as common

WAKEUP_ALL_LOW = common.WAKEUP_ALL_LOW
WAKEUP_ANY_HIGH = common.WAKEUP_ANY_HIGH


def _pin_id(pin) -> int | None:
    return None if pin is None else getattr(pin, "id", pin)


def wake_on_ext0(pin, level) -> None:
    """Wake from light sleep when `pin` (an RTC GPIO, or None: no ext0) is at `level`."""
    from legsense.simulation import machine_shim

    machine_shim.current_board().set_wake_ext0(_pin_id(pin), bool(level))


def wake_on_ext1(pins, level) -> None:
    """Wake when any of `pins` is high (WAKEUP_ANY_HIGH) or all are low (WAKEUP_ALL_LOW);
    pins None or empty: no ext1."""
    from legsense.simulation import machine_shim

    ids = [_pin_id(p) for p in pins] if pins else []
    machine_shim.current_board().set_wake_ext1(ids, bool(level))
