# What both simulated `machine` modules share: the CPython shim (machine_shim.py) and the
# MicroPython VM's (mp_lib/machine.py) import this one file, so the two virtual boards
# model resets, reset causes, the RTC and its memory the same way. Plain Python that
# runs on CPython and on MicroPython (no datetime, no typing at run time).
#
# The ESP32 as MicroPython 1.27 shows it:
# * machine.reset_cause(): a power-on and a brownout both read PWRON_RESET; the task
#   watchdog WDT_RESET; machine.reset() and a panic HARD_RESET; a soft reset
#   (Ctrl-D, machine.soft_reset()) SOFT_RESET.
# * The RTC keeps counting through every reset except a power-on (which restarts it at
#   2000-01-01 00:00), and so does its memory (RTC_NOINIT: the ESP32 restarts the CPU on
#   a brownout, the RTC domain stays powered). A power cut loses both.
# * Booting takes time: ROM and second-stage bootloader, MicroPython, main.py's imports.
#   The boards model a fixed BOOT_MS during which the MCU records nothing (the IMU,
#   powered on its own, keeps sampling).
# * machine.lightsleep([ms]) stops the CPU until a wake source fires: the timer (ms), or
#   a level on RTC GPIOs set up with esp32.wake_on_ext0(pin, level) (one pin) and
#   esp32.wake_on_ext1(pins, level) (several: WAKEUP_ANY_HIGH or WAKEUP_ALL_LOW). They
#   are levels, not edges: a pin already at its wake level wakes the chip at once.
#   Only RTC GPIOs can be ext0/ext1 sources (ValueError "invalid pin" otherwise, as
#   MicroPython says). machine.wake_reason() then reads 2 (EXT0), 3 (EXT1) or 4 (TIMER),
#   ESP-IDF's esp_sleep_source_t; 0 before any sleep. RAM, the CPU state and output
#   levels are kept. While the chip sleeps its UART receives nothing (bytes sent to it
#   are lost), pin interrupts do not run and the radio is off; the boards model the
#   watchdog as counting on (conservative: ESP-IDF's timer-group watchdog stops with the
#   APB clock, the firmware does not rely on that).

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

BOOT_MS = 1500
RTC_MEMORY_BYTES = 2048

# machine.wake_reason() (ESP-IDF esp_sleep_source_t) and esp32.WAKEUP_* levels.
WAKE_UNDEFINED = 0
EXT0_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4
WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True

# kind of reset -> (machine.reset_cause() after it, whether the RTC and its memory live)
RESET_KINDS = {
    "power-on": (PWRON_RESET, False),
    "power cut": (PWRON_RESET, False),
    "brownout": (PWRON_RESET, True),
    "watchdog": (WDT_RESET, True),
    "hard": (HARD_RESET, True),
    "panic": (HARD_RESET, True),
    "soft": (SOFT_RESET, True),
}


def kind_of(why):
    """The reset kind of a reset's description ("watchdog not fed ...", "machine.reset()",
    "machine.soft_reset()", "power cut", ...)."""
    if "watchdog" in why:
        return "watchdog"
    if "soft" in why:
        return "soft"
    for kind in RESET_KINDS:
        if kind in why:
            return kind
    return "hard"


def after_reset(kind):
    """(reset cause, RTC and its memory kept) after a reset of this kind."""
    return RESET_KINDS.get(kind, (HARD_RESET, True))


_DAYS_BEFORE_MONTH = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def _leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def rtc_tuple(ms):
    """RTC.datetime() of an RTC standing at ms since 2000-01-01 00:00:00:
    (year, month, day, weekday 0=Monday, hours, minutes, seconds, microseconds)."""
    ms = max(0, int(ms))
    days, rest = divmod(ms, 86400000)
    weekday = (days + 5) % 7  # 2000-01-01 was a Saturday
    year = 2000
    while True:
        n = 366 if _leap(year) else 365
        if days < n:
            break
        days -= n
        year += 1
    month = 12
    while month > 1:
        start = _DAYS_BEFORE_MONTH[month - 1] + (1 if month > 2 and _leap(year) else 0)
        if days >= start:
            break
        month -= 1
    start = _DAYS_BEFORE_MONTH[month - 1] + (1 if month > 2 and _leap(year) else 0)
    day = days - start + 1
    hours, rest = divmod(rest, 3600000)
    minutes, rest = divmod(rest, 60000)
    seconds, millis = divmod(rest, 1000)
    return (year, month, day, weekday, hours, minutes, seconds, millis * 1000)


def rtc_ms_of(dt):
    """ms since 2000-01-01 of an RTC.datetime() tuple (as set by the firmware)."""
    year, month, day = dt[0], dt[1], dt[2]
    hours = dt[4] if len(dt) > 4 else 0
    minutes = dt[5] if len(dt) > 5 else 0
    seconds = dt[6] if len(dt) > 6 else 0
    micros = dt[7] if len(dt) > 7 else 0
    days = 0
    for y in range(2000, year):
        days += 366 if _leap(y) else 365
    days += _DAYS_BEFORE_MONTH[month - 1] + (1 if month > 2 and _leap(year) else 0) + day - 1
    return ((days * 24 + hours) * 60 + minutes) * 60000 + seconds * 1000 + micros // 1000


def check_memory(data):
    """RTC.memory(data): the bytes kept, or ValueError when they do not fit."""
    data = bytes(data)
    if len(data) > RTC_MEMORY_BYTES:
        raise ValueError("buffer too long")
    return data


def check_wake_pin(pin_id, rtc_pins):
    """The GPIO number of an ext0/ext1 wake source; ValueError unless it is an RTC GPIO."""
    if pin_id not in rtc_pins:
        raise ValueError("invalid pin %r: not an RTC GPIO" % (pin_id,))
    return pin_id


def ext_wake(ext0, ext1, level_of):
    """The wake cause the ext0/ext1 sources give now (EXT0_WAKE, EXT1_WAKE) or 0.
    ext0: (pin, level) or None; ext1: (pins, any_high) or None; level_of(pin) -> 0/1."""
    if ext0 is not None and level_of(ext0[0]) == (1 if ext0[1] else 0):
        return EXT0_WAKE
    if ext1 is not None and ext1[0]:
        levels = [level_of(p) for p in ext1[0]]
        if ext1[1]:
            if 1 in levels:
                return EXT1_WAKE
        elif 1 not in levels:
            return EXT1_WAKE
    return 0
