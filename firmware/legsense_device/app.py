# The legsense app: boot, the night session's asyncio tasks and the command interface.
#
# Tasks (all in one asyncio loop):
#   sampling  reads the IMU FIFO in bursts while recording and feeds the watchdog, but
#             only while samples keep coming: a stuck sampler resets the board (and the
#             night resumes); between bursts it is the one that light-sleeps (below)
#   storage   flushes the night log every minute and watches the flash reserve
#   led       plays the state's pattern (status_led.PATTERNS)
#   button    idle: a short press starts a night; recording: a short press logs the
#             person's own marker (M_BUTTON, LED acknowledges), a long press (>= 2 s)
#             stops the night
#   schedule  starts/stops nights by the config schedule, in local time from the last
#             host anchor (no schedule until the host has set the time)
#   battery   logs the battery every 10 minutes
# The link (issue 4) calls start(), stop(), status() and set_time().
#
# A reset is not the end of a night (resume.py): while a night records, a durable
# recording state and an RTC-memory block (the host's clock anchor, the log's unwritten
# records, the newest sample's time) are kept; a boot after any reset but a power-on
# resumes the same night with a "resumed" marker, unless five resets came within ten
# minutes (then the night ends with a "reset loop" marker). A crash of the sampling
# task, or of the whole app, while recording resets the board at once to resume.
#
# Light sleep (docs/firmware.md, "Sleeping between bursts"): when nothing is due before
# the next deadline (the FIFO's next burst, or another task's timer) the sampling task
# puts the ESP32 in light sleep, woken by the IMU's FIFO interrupt (INT1, an RTC GPIO),
# the button, USB power appearing (VBUS sense) or the timer. It stays awake instead
# while USB is powered, a BLE link advertises or is connected, a host talked on the
# serial link in the last minute, the button is being handled, or a replay night runs:
# a sleeping chip hears nothing on its UART or radio.
#
# Never a boot loop: every boot step that fails (no IMU, bad config or board profile,
# broken flash) is reported in the boot line and status(), shown by the LED, and the
# app keeps running to serve the link.

import sys

try:
    import asyncio
except ImportError:  # MicroPython before 1.21
    import uasyncio as asyncio  # type: ignore

try:
    import json
except ImportError:  # pragma: no cover
    import ujson as json  # type: ignore

from legsense_core import records
from legsense_core.clock import NightClock
from legsense_core.detector import HELD_MAX

from legsense_device import board as boards
from legsense_device import config, hal, resume, status_led
from legsense_device.debounce import POLL_MS, Debouncer
from legsense_device.imu_detect import open_imu
from legsense_device.night_log import STATUS_FULL, FlashFull, NightLog
from legsense_device.sampler import Sampler
from legsense_device.session import RECORDING, NightSession
from legsense_device.sit_session import DEFAULT_EVERY_MIN, DEFAULT_SIT_MIN
from legsense_device.sleep import SleepStats, wake_plan
from legsense_device.wall_clock import WallClock

FIRMWARE_VERSION = "0.1.0"
NIGHTS_DIR = "/nights"
IDLE_POLL_MS = 500  # sampling task while not recording (it still feeds the watchdog)
AWAKE_POLL_MS = 250  # FIFO polling while the board stays awake (USB, BLE, link, replay)
STALL_AWAKE_MS = 2000  # awake: no sample for this long means a stuck sampler
LIGHT_SLEEP_MIN_MS = 5  # a shorter wait is not worth a sleep (waking takes ~1 ms)
RIDE_MIN_MS = 5000  # a periodic wait this long may end at the next burst (_ride_ms)
WDT_MARGIN_MS = 2000  # a sleep ends at least this long before the watchdog would fire
LINK_AWAKE_MS = 60000  # stay awake this long after a host's last frame on the serial link
NO_BATTERY_MV = 2500  # "no-battery" VBUS sense: below this the board runs from USB
FLUSH_MS = 60000
SCHEDULE_MS = 30000
BATTERY_MS = 600000
MIN_UTC_MS = 1577836800000  # 2020-01-01: anything earlier is not a real time
MAX_UTC_MS = 4102444800000  # 2100-01-01
RTC_EPOCH_UTC_MS = 946684800000  # the RTC counts from 2000-01-01
FREED_MARGIN = 4096  # free flash beyond the reserve that ends "flash full"
MIRROR_MS = resume.MIRROR_MS
LONG_PRESS_MS = 2000  # a press held this long is a long press
ACK_BLINK = (60, 80, 60, 80, 60)  # LED on/off ms: "marker taken"
SIT_MIN_POLL_MS = 200
SIT_MAX_POLL_MS = 30000
SIT_PROMPT_POLL_MS = 1000  # while a prompt is open (a minute at most, a few times an hour)

_STOP_CODES = {
    "host": records.M_STOP_HOST,
    "button": records.M_STOP_BUTTON,
    "schedule": records.M_STOP_SCHEDULE,
    "flash full": records.M_FLASH_FULL,
    "sit": records.M_SIT_DONE,  # a SIT ran its full length (sit_session.py)
}


class App:
    """One device: call boot() (or just await run(), which boots first)."""

    def __init__(self, fs_root="", space=None):
        # fs_root prefixes /config.json, /boards and /nights (tests use a folder);
        # space stands in for the flash's free space (night_log.EmulatedSpace).
        self.fs_root = fs_root
        self._space = space
        self.session = NightSession()
        self.wall = WallClock()
        self.cfg = dict(config.DEFAULTS)
        self.reasons = []  # config and board problems: defaults were used instead
        self.errors = []  # what does not work (no IMU, broken flash, a crashed task)
        self.profile = boards.default_profile()
        self.device_id = "unknown"
        self.i2c = None
        self.imu = None
        self.sampler = None
        self.log = None
        self.led = None
        self.button = None
        self.battery = None
        self.watchdog = None
        self.link_port = None  # the USB serial port; a simulated board injects its own
        self.replay = None  # the ReplayImu of a replay night (HIL tests over the link)
        self._real = None  # (imu, sampler) put aside for a replay night
        self.boot_line = ""
        self.night_id = -1
        self.night_clock = None
        self.battery_mv = -1
        self.battery_percent = -1
        self.read_errors = 0
        self._poll_ms = IDLE_POLL_MS
        self._stall_ms = STALL_AWAKE_MS  # while sleeping between bursts (set by _watch)
        self._sleep_span_ms = IDLE_POLL_MS  # longest sleep while recording (_watch)
        self._last_progress = 0
        self._wake = None  # (ext0, ext1) once the wake sources are set: may light-sleep
        self._int1 = None  # (gpio, active level) of the IMU's FIFO interrupt, if wired
        self._int1_in = None  # its input pin
        self._vbus_in = None  # the VBUS sense pin (profile usb.vbus a GPIO)
        self._int1_used = False  # this night's FIFO watermark drives INT1
        self._slept = False  # the last wait was a light sleep (stall rule, see _feed_if_alive)
        self.sleep_stats = SleepStats()
        self._link_at = None  # ticks of the host's last frame on the serial link
        self._button_flag = None  # the button task's edge flag (a wake sets it too)
        self._button_busy = False
        self._beat = asyncio.Event()  # pulsed at every pass of the sampling task (_ride_ms)
        self.ble_link = None
        self.reset_cause = "power-on"  # why this boot happened (hal.reset_cause + RTC)
        self.boot_count = 0
        self.rtc = resume.RtcBlock()  # what survives a reset (resume.py)
        self._state = None  # the durable recording state of the night, while one records
        self._mirror_pos = -1
        self._mirror_at = 0
        # the detector's held-back events as records, for the RTC mirror (allocated once)
        self._held_buf = bytearray(HELD_MAX * (records.OVERHEAD + records.EVENT_SIZE))
        self.resumed = 0  # resumes in this boot's night (0 or 1)
        self.resume_report = ""  # what boot did about a night left recording
        self.presses = 0  # markers logged by short presses
        self.sit = None  # the SitSession of a SIT now recording (sit_session.py)
        self._sit_flag = None  # set when a SIT starts: wakes the SIT task

    # -- boot -----------------------------------------------------------------------

    def boot(self):
        """Bring up what the board has; never raises. Returns the boot line."""
        self.cfg, reasons = config.load(self.fs_root + config.CONFIG_PATH)
        self.reasons = list(reasons)
        self.profile, why = boards.load(self.cfg["board"], self.fs_root + boards.BOARDS_DIR)
        if why:
            self.reasons.append("board: " + why)
        self._try("device id", self._open_id)
        self._try("led", self._open_led)
        self._try("button", self._open_button)
        self._try("imu", self._open_imu)
        self._try("battery", self._open_battery)
        self._try("clock", self._open_clock)
        self._try("flash", self._open_log)
        self._try("resume", self._resume_or_close)
        self._try("sleep", self._open_sleep)
        self._try("watchdog", self._open_watchdog)
        self.boot_line = self._make_boot_line()
        print(self.boot_line)
        return self.boot_line

    def _try(self, what, step):
        try:
            step()
        except Exception as e:  # a boot step must never stop the board
            self.errors.append("%s: %s" % (what, e))

    def _open_id(self):
        self.device_id = hal.unique_id()

    def _open_led(self):
        self.led = hal.Led(self.profile["led"])

    def _open_button(self):
        if self.profile["button"] is not None:
            self.button = hal.Button(self.profile["button"])

    def _open_imu(self):
        self.i2c = hal.make_i2c(self.profile)
        addresses = tuple(c[1] for c in self.profile["imu"]["candidates"])
        imu = open_imu(self.i2c, addresses)
        imu.power_down()  # it may still run from before a soft reset; idle until a night
        self.imu = imu
        self.sampler = Sampler(imu)

    def _open_battery(self):
        self.battery = hal.Battery(self.profile["battery"], self.i2c)
        self._read_battery()

    def _open_clock(self):
        # The RTC block tells a reset from a power-on, and carries the host's clock
        # anchor: UTC survives every reset but a power-on.
        cause = hal.reset_cause()
        blk = resume.RtcBlock.read(hal.rtc_memory())
        if blk is not None:
            if cause == "power-on":  # the RTC memory lived: the ESP32's brownout restart
                cause = "brownout"
            if blk.note:  # the firmware reset itself, and said why
                cause = blk.note
                blk.note = ""
            self.rtc = blk
            if blk.wall_utc:
                self.wall.set(blk.wall_utc + hal.rtc_ms() - blk.wall_rtc, hal.ticks_ms())
        self.reset_cause = cause

    def _state_path(self):
        return self.fs_root + NIGHTS_DIR + "/" + resume.STATE_NAME

    def _open_log(self):
        cfg = self.cfg
        space = self._space if self._space is not None else hal.FlashSpace(self.fs_root or "/")
        log = NightLog(
            self.fs_root + NIGHTS_DIR, reserve=cfg["flash_reserve_kb"] * 1024, space=space
        )
        state = resume.load_state(self._state_path())
        keep = -1
        if state is not None and state.get("token") and state.get("token") == self.rtc.token:
            keep = state["id"]  # the RTC lived through the reset: this night may resume
        self._state = state
        log.recover(keep_open=keep, reason=self.reset_cause)
        self.log = log
        self.boot_count = log.read_counter("boot_count", 0) + 1
        log.write_counter("boot_count", self.boot_count)
        if log.free_bytes() < log.reserve:
            log.free_synced()
            if log.free_bytes() < log.reserve:
                self.session.on_flash_full()

    def _resume_or_close(self):
        # A night was recording when the board reset: go on with it, or close it.
        state = self._state
        self._state = None
        log = self.log
        if state is None or log is None:
            self._set_token(0)
            return
        night_id = state["id"]
        path = self._state_path()
        open_ids = [n[0] for n in log.nights() if not n[5]]
        if night_id not in open_ids:  # closed by recovery (a power-on), or gone
            self.resume_report = "night %d closed after %s" % (night_id, self.reset_cause)
            resume.clear_state(path)
            self._set_token(0)
            return
        now_rtc = hal.rtc_ms()
        resets, loop = resume.loop_check(state.get("resets", []), now_rtc)
        night_ms = now_rtc - state.get("rtc0", now_rtc)
        why = ""
        if loop:
            why = "%d resets in %d min, last %s" % (
                len(resets),
                resume.LOOP_WINDOW_MS // 60000,
                self.reset_cause,
            )
        elif state.get("by") == "replay":
            why = "replay nights do not resume"
        elif self.imu is None:
            why = "no IMU after %s" % self.reset_cause
        elif night_ms < 0:
            why = "RTC went back"
        if why:
            code = records.M_RESET_LOOP if loop else records.M_RECOVERED
            log.close_open(night_id, code, why)
            resume.clear_state(path)
            self._set_token(0)
            self.resume_report = "night %d ended: %s" % (night_id, why)
            if loop:
                self.errors.append("reset loop: " + why)
            return
        rtc = self.rtc
        try:
            log.resume_night(night_id, rtc.log, rtc.log_base)
        except (ValueError, OSError) as e:  # cannot append to it: close it as it is
            log.close_open(night_id, records.M_RECOVERED, "cannot resume")
            resume.clear_state(path)
            self._set_token(0)
            self.resume_report = "night %d could not resume: %s" % (night_id, e)
            return
        gap = night_ms - rtc.covered if rtc.covered <= night_ms else 0
        log.append_marker(night_ms, records.M_RESUMED, gap, self.reset_cause)
        state["resets"] = resets
        self._state = state
        self.night_id = night_id
        self.session.resume(state.get("by") or "host")
        plan = state.get("sit")
        if plan:  # a SIT goes on: its prompts from the next one due, its end unchanged
            from legsense_device.sit_session import SitSession

            self.sit = SitSession(plan[0], plan[1])
            self.sit.resume_at(night_ms)
        ok, why = self._begin_night("resumed", night_ms)
        if not ok:
            self.sit = None
            self.resume_report = "night %d could not resume: %s" % (night_id, why)
            return
        self.resumed += 1
        self.resume_report = "night %d resumed after %s (%d ms not recorded)" % (
            night_id,
            self.reset_cause,
            gap,
        )
        try:
            resume.save_state(path, state)
        except OSError:
            pass  # the night goes on; a later reset then closes it instead
        log.flush()

    def _set_token(self, token):
        rtc = self.rtc
        rtc.token = token
        rtc.covered = 0
        rtc.log_base = -1
        rtc.log = b""
        self._mirror_pos = -1
        self._write_rtc()

    def _write_rtc(self, log=None, extra=None):
        try:
            hal.rtc_memory(self.rtc.encode(log, extra))
        except Exception:  # a board without RTC memory: nothing survives, nothing resumes
            pass

    def _mirror(self, t, force=False):
        # After a batch: put the log's unwritten records, the detector's held-back
        # start-phase events (as event records after them) and the newest sample's time
        # in RTC memory, so a reset loses none of them (cheap: RAM, no flash write).
        log = self.log
        sampler = self.sampler
        if log is None or sampler is None or not self.rtc.token:
            return
        base, pending = log.pending()
        held = sampler.detector.held_events() if sampler.detector is not None else ()
        covered = sampler.clock.last
        pos = base + len(pending) + (len(held) << 20)
        if not force and pos == self._mirror_pos and hal.ticks_diff(t, self._mirror_at) < MIRROR_MS:
            return
        self._mirror_pos = pos
        self._mirror_at = t
        extra = None
        if held:
            extra = self._held_buf
            end = 0
            for ev in held:
                end = records.encode_event(extra, end, ev)
            extra = memoryview(extra)[0:end]
        rtc = self.rtc
        rtc.covered = covered if covered > 0 else rtc.covered
        rtc.log_base = base
        self._write_rtc(pending, extra)

    def _open_watchdog(self):
        self.watchdog = hal.Watchdog(self.cfg["watchdog_ms"])

    def _open_sleep(self):
        # The wake sources: the IMU's FIFO interrupt (if its pin is wired and the chip
        # has one), the button, USB power appearing. A board without light sleep, or
        # with sources ext0/ext1 cannot take, stays awake (the reason is in the errors).
        prof = self.profile
        vbus = prof["usb"]["vbus"]
        vbus_src = None
        if isinstance(vbus, int) and not isinstance(vbus, bool):
            vbus_src = (vbus, 1)
            self._vbus_in = hal.input_pin(vbus)
        if not hal.can_sleep():
            return
        int1 = prof["imu"]["int1_pin"]
        if int1 is not None and self.imu is not None and getattr(self.imu, "has_fifo_int", False):
            self._int1 = (int1, 0 if prof["imu"]["int1_active_low"] else 1)
            self._int1_in = hal.input_pin(int1)
        btn = prof["button"]
        button = None if btn is None else (btn["pin"], 0 if btn["active_low"] else 1)
        ext0, ext1 = wake_plan((self._int1, button, vbus_src))
        hal.set_wake_sources(ext0, ext1)
        self._wake = (ext0, ext1)

    def _make_boot_line(self):
        imu = "none"
        if self.imu is not None:
            imu = "%s@0x%02x" % (self.imu.name, self.imu.address)
        heap = hal.free_heap()
        flash = -1
        if self.log is not None:
            try:
                flash = self.log.free_bytes() // 1024
            except OSError:
                pass
        line = "legsense %s board=%s imu=%s heap_free=%s flash_free=%s" % (
            FIRMWARE_VERSION,
            self.profile["name"],
            imu,
            "%dB" % heap if heap >= 0 else "n/a",
            "%dKB" % flash if flash >= 0 else "n/a",
        )
        for text in self.reasons + self.errors:
            line += " | " + text
        return line

    # -- commands (the link calls these) ------------------------------------------------

    def start(self, source="host"):
        """Start a night; returns (ok, reason)."""
        if self.session.state == RECORDING:
            return False, "already recording"
        if self.imu is None or self.log is None:
            return False, "cannot record: " + ("; ".join(self.errors) or "not booted")
        prev = self.session.state
        ok, why = self.session.start(source)
        if not ok:
            return ok, why
        return self._follow(prev, why)

    def start_replay(self, imu_name, odr_hz, gyro, accel_fs_g=0, gyro_fs_dps=0):
        """Start a night whose samples the host feeds (REPLAY) instead of the IMU, at the
        replayed trace's rate and scales; the IMU comes back when it ends. (ok, reason)."""
        if self.session.state == RECORDING:
            return False, "already recording"
        if self.log is None:
            return False, "cannot record: " + ("; ".join(self.errors) or "not booted")
        from legsense_device.replay_imu import ReplayImu

        try:
            replay = ReplayImu(imu_name, odr_hz, gyro, accel_fs_g, gyro_fs_dps)
        except ValueError as e:
            return False, "replay: %s" % e
        self._real = (self.imu, self.sampler)
        self.imu = replay
        self.sampler = Sampler(replay)
        self.replay = replay
        ok, why = self.start("host")
        if not ok:
            self._end_replay()
        return ok, why

    def _end_replay(self):
        if self._real is not None:
            self.imu, self.sampler = self._real
        self._real = None
        self.replay = None

    def stop(self, source="host"):
        """Stop the night; returns (ok, reason)."""
        prev = self.session.state
        ok, why = self.session.stop(source)
        if not ok:
            return ok, why
        return self._follow(prev, why)

    def press_button(self, held_ms=0):
        """A short press (released within LONG_PRESS_MS): idle, it starts a night;
        recording, it logs the person's own marker (M_BUTTON, value = ms held) and the
        LED acknowledges it."""
        if self.session.state == RECORDING:
            clock = self.night_clock
            if clock is None or self.log is None:
                return False, "not recording"
            sit = self.sit
            if sit is not None and sit.press(clock.now(hal.ticks_ms())):
                return True, "rating press %d" % sit.presses
            self.log.append_marker(clock.now(hal.ticks_ms()), records.M_BUTTON, held_ms)
            self.presses += 1
            if self.led is not None:
                asyncio.create_task(self._blink(ACK_BLINK))
            return True, "marker"
        if self.imu is None:
            return False, "cannot record: no IMU"
        prev = self.session.state
        ok, why = self.session.start("button")
        if not ok:
            return ok, why
        return self._follow(prev, why)

    def long_press(self):
        """A press held LONG_PRESS_MS: recording, it stops the night (a SIT's open
        prompt: it answers 0); idle, it starts a SIT of the default plan."""
        if self.session.state != RECORDING:
            return self.start_sit("button", DEFAULT_SIT_MIN, DEFAULT_EVERY_MIN)
        if self.sit is not None and self.sit.prompting:
            return self._sit_do(self.sit.long_press())
        prev = self.session.state
        ok, why = self.session.stop("button")
        if not ok:
            return ok, why
        return self._follow(prev, why)

    # -- the suggested immobilization test (sit_session.py, docs/sit.md) ----------------

    def start_sit(self, source, sit_min, every_min):
        """Start a SIT: a night whose header says mode sit, with rating prompts every
        every_min minutes and M_SIT_DONE at sit_min. (ok, reason)."""
        from legsense_device.sit_session import SitSession, check_plan

        why = check_plan(sit_min, every_min)
        if why is not None:
            return False, why
        if self.session.state == RECORDING:
            return False, "already recording"
        self.sit = SitSession(sit_min, every_min)
        ok, why = self.start(source)
        if not ok:
            self.sit = None
            return ok, why
        if self._sit_flag is not None:
            self._sit_flag.set()
        return True, "SIT of %d min started by %s" % (sit_min, source)

    def sit_rating(self, value):
        """A rating typed at the host for the running SIT: (ok, reason)."""
        if self.sit is None or self.session.state != RECORDING:
            return False, "no SIT is running"
        try:
            action = self.sit.host_rating(value)
        except ValueError as e:
            return False, str(e)
        return self._sit_do(action)

    def _sit_do(self, action):
        # Log what the SIT asked for (a rating) or end it (done).
        clock = self.night_clock
        if action is None or clock is None or self.log is None:
            return False, "no SIT is running"
        if action[0] == "rating":
            self.log.append_marker(
                clock.now(hal.ticks_ms()), records.M_RATING, action[1], action[2]
            )
            return True, "rating %d (%s)" % (action[1], action[2])
        if action[0] == "done":
            return self.stop("sit")
        return True, "prompt"

    async def _sit(self):
        # While a SIT records: open prompts, close them into ratings, end it when done.
        # Sleeps until the next thing due (the timer wakes a light-sleeping board); with
        # no SIT it waits on a flag, so a night without one keeps no timer running.
        self._sit_flag = hal.Flag()
        while True:
            sit = self.sit
            clock = self.night_clock
            if sit is None or clock is None or self.session.state != RECORDING:
                await self._sit_flag.wait()
                continue
            now = clock.now(hal.ticks_ms())
            for action in sit.tick(now):
                self._sit_do(action)
            if self.sit is sit:
                wait = sit.ms_until_due(clock.now(hal.ticks_ms()))
                if sit.prompting:  # presses and a host's rating change what is due
                    wait = min(wait, SIT_PROMPT_POLL_MS)
                await hal.sleep_ms(max(SIT_MIN_POLL_MS, min(wait, SIT_MAX_POLL_MS)))

    async def _blink(self, pattern):
        led = self.led
        if led is None:
            return
        on = True
        for ms in pattern:
            led.set(on)
            await hal.sleep_ms(ms)
            on = not on
        led.set(False)

    def set_time(self, utc_ms):
        """The host's UTC (epoch ms) now; logged as a clock anchor in a recording night."""
        if not isinstance(utc_ms, int) or not MIN_UTC_MS <= utc_ms < MAX_UTC_MS:
            return False, "utc_ms %r is not a time between 2020 and 2100" % (utc_ms,)
        t = hal.ticks_ms()
        self.wall.set(utc_ms, t)
        rtc = self.rtc  # the anchor on the RTC: UTC survives a reset
        rtc.wall_utc = utc_ms
        rtc.wall_rtc = hal.rtc_ms()
        if rtc.token:
            self._mirror(t, force=True)  # with the log's buffer, as after a batch
        else:
            self._write_rtc()
        clock = self.night_clock
        if self.session.state == RECORDING and clock is not None and self.log is not None:
            self.log.append_anchor(clock.now(t), utc_ms)
        return True, "time set"

    def status(self):
        """What the device is doing, as a dict of plain values."""
        t = hal.ticks_ms()
        s = self.session
        sampler = self.sampler
        clock = self.night_clock
        return {
            "firmware": FIRMWARE_VERSION,
            "device_id": self.device_id,
            "board": self.profile["name"],
            "imu": self.imu.name if self.imu is not None else "",
            "state": s.state,
            "led": self.led_state(),
            "started_by": s.started_by,
            "stopped_by": s.stopped_by,
            "flash_full": s.flash_full,
            "night_id": self.night_id,
            "night_ms": clock.now(t) if clock is not None and s.state == RECORDING else 0,
            "samples": sampler.samples if sampler is not None else 0,
            "events": sampler.events if sampler is not None else 0,
            "overflows": sampler.overflows if sampler is not None else 0,
            "lost_samples": sampler.clock.lost if sampler is not None else 0,
            "read_errors": self.read_errors,
            "battery_mv": self.battery_mv,
            "battery_percent": self.battery_percent,
            "free_flash": self.log.free_bytes() if self.log is not None else -1,
            "free_heap": hal.free_heap(),
            "utc_ms": self.wall.now(t),
            "log": self.log.detail if self.log is not None else "",
            "errors": list(self.errors),
            "config_reasons": list(self.reasons),
            "reset_cause": self.reset_cause,
            "boot_count": self.boot_count,
            "resume": self.resume_report,
            "sleep": self.sleep_stats.as_dict(t, hal.ticks_diff),
        }

    def led_state(self):
        """The LED pattern's name (status_led.IDLE/RECORDING/FLASH_FULL/ERROR)."""
        if self.imu is None or self.log is None or self.errors:
            return status_led.ERROR
        if self.session.flash_full:
            return status_led.FLASH_FULL
        if self.sit is not None and self.sit.prompting:
            return status_led.SIT_PROMPT
        if self.session.state == RECORDING:
            return status_led.RECORDING
        return status_led.IDLE

    # -- night lifecycle ----------------------------------------------------------------

    def _follow(self, prev, why):
        # Carry out what the session decided: begin or end a night.
        state = self.session.state
        if prev != RECORDING and state == RECORDING:
            return self._begin_night(why)
        if prev == RECORDING and state != RECORDING:
            self._end_night()
        return True, why

    def _begin_night(self, why, resume_ms=-1):
        # resume_ms >= 0: the night log's open night goes on from that night ms (the
        # log and the session are resumed already); otherwise a new night starts.
        cfg = self.cfg
        sampler = self.sampler
        log = self.log
        imu = self.imu
        if sampler is None or log is None or imu is None:  # start() checked: cannot be
            self.session.stop("error")
            return False, "cannot record"
        t = hal.ticks_ms()
        replay = self.replay
        odr_cfg = cfg["odr_hz"] if replay is None else replay.odr_hz
        self._int1_used = self._int1 is not None and replay is None
        try:
            odr = sampler.begin(
                log,
                odr_cfg,
                cfg["accel_fs_g"],
                cfg["gyro_fs_dps"],
                cfg["gyro"] if replay is None else replay.gyro,
                self._watermark(odr_cfg),
                cfg["epoch_s"] * 1000,
                resume_ms if resume_ms > 0 else 0,
                cfg["raw_samples"],
                self._int1_used,
                self._int1 is not None and self._int1[1] == 0,
                cfg["accel_power"],
            )
        except OSError as e:
            self.session.stop("error")
            self._end_replay()
            if resume_ms >= 0:
                log.stop_night(resume_ms, records.M_RECOVERED, "IMU did not start")
                resume.clear_state(self._state_path())
                self._set_token(0)
            return False, "IMU did not start: %s" % e
        if resume_ms >= 0:
            self.night_clock = NightClock(hal.ticks_add(t, -resume_ms))
            self._watch(imu, odr, t)
            self._mirror(t, force=True)
            return True, why
        anchor_dev = 0
        anchor_utc = 0
        if self.wall.known():
            self.wall.now(t)  # rebases an old anchor
            anchor_dev = hal.ticks_diff(self.wall.ticks, t)
            anchor_utc = self.wall.utc_ms
        det_cfg = sampler.detector.config.as_dict()  # type: ignore  (begin() made it)
        det_cfg["leg"] = self.cfg["leg"]  # which ankle: the host needs it for bilateral scoring
        det_cfg["person"] = self.cfg["person"]  # whose: the host merges a person's two legs
        # Samples per FIFO burst: a sleeping board reads (and checks its sample clock) this
        # seldom; the host bounds two legs' alignment with it (bilateral_alignment.py).
        det_cfg["fifo_watermark"] = self._watermark(odr_cfg)
        if self.sit is not None:  # a SIT: mode, sit_min, rating_every_min (docs/sit.md)
            det_cfg.update(self.sit.header())
        uid = hal.random_u64()
        try:
            self.night_id = log.start_night(
                self.device_id,
                FIRMWARE_VERSION,
                self.profile["name"],
                imu.name,
                int(odr * 1000 + 0.5),
                imu.accel_scale,
                imu.gyro_scale,
                t,
                anchor_dev,
                anchor_utc,
                json.dumps(det_cfg, separators=(",", ":")).encode(),
                uid,
                self.boot_count,
            )
        except FlashFull as e:
            sampler.end(0)
            self.session.on_flash_full()
            self._end_replay()
            return False, str(e)
        if replay is not None:  # the night log says where its samples came from
            log.append_marker(0, records.M_STARTED, 1, "replay")
        self.night_clock = NightClock(t)
        self._watch(imu, odr, t)
        if self.battery_mv > 0:
            log.append_battery(0, self.battery_mv, self.battery_percent)
        # The durable recording state and its RTC token: a reset resumes this night.
        token = (uid & 0x7FFFFFFF) | 1
        state = {
            "id": self.night_id,
            "token": token,
            "rtc0": hal.rtc_ms(),
            "by": "replay" if replay is not None else self.session.started_by,
            "resets": [],
        }
        if self.sit is not None:  # a reset resumes the SIT's prompts too
            state["sit"] = [self.sit.sit_min, self.sit.every_min]
        try:
            resume.save_state(self._state_path(), state)
            self._state = state
            self._set_token(token)
        except OSError:
            self._state = None  # the night records; a reset will close it instead
        self._mirror(t, force=True)
        return True, why

    def _watermark(self, odr_hz):
        # The config's, or (0) the largest the FIFO allows (the driver's choice), at most
        # 90 % of what a sleep may last before the watchdog's margin (the FIFO interrupt
        # then comes before the backup timer).
        wm = self.cfg["fifo_watermark"]
        cap = self._sleep_cap_ms() * 9 // 10 * odr_hz // 1000
        return int(max(1, cap if wm == 0 else min(wm, cap)))

    def _watch(self, imu, odr, t):
        # Awake, the FIFO is polled every AWAKE_POLL_MS. Sleeping, the MCU wakes when the
        # FIFO reaches its watermark: by INT1, with a timer backing it up halfway from
        # the watermark to a full FIFO; without INT1, by that timer at the watermark.
        # The watchdog is fed only while samples keep coming: awake, for STALL_AWAKE_MS
        # after the last one; sleeping, for two such spans.
        rate = max(1, int(odr))
        wm_ms = imu.watermark * 1000 // rate
        cap_ms = getattr(imu, "capacity", imu.watermark) * 1000 // rate
        span = wm_ms + (cap_ms - wm_ms) // 2 if self._int1_used else wm_ms
        self._sleep_span_ms = max(LIGHT_SLEEP_MIN_MS, min(span, self._sleep_cap_ms()))
        self._poll_ms = AWAKE_POLL_MS
        self._stall_ms = max(STALL_AWAKE_MS, 2 * self._sleep_span_ms)
        self._last_progress = t

    def _sleep_cap_ms(self):
        return max(LIGHT_SLEEP_MIN_MS, self.cfg["watchdog_ms"] - WDT_MARGIN_MS)

    def _end_night(self):
        s = self.session
        clock = self.night_clock
        now = clock.now(hal.ticks_ms()) if clock is not None else 0
        if self.sampler is not None:
            self.sampler.end(now)
        code = _STOP_CODES.get(s.stopped_by, records.M_STOP_HOST)
        if self.log is not None:
            self.log.stop_night(now, code, "" if s.stopped_by in _STOP_CODES else s.stopped_by)
        self.night_clock = None
        self.sit = None
        self._end_replay()
        if self._state is not None:
            self._state = None
            try:
                resume.clear_state(self._state_path())
            except OSError:
                pass
        self._set_token(0)

    def _check_flash(self, measure=False):
        # The log ends a night itself when a flush finds the reserve gone; with measure
        # (the storage task, once a minute: statvfs walks LittleFS, not for every poll)
        # a night with nothing buffered is ended here too. The session learns of it.
        log = self.log
        if self.session.state != RECORDING or log is None:
            return
        full = log.status == STATUS_FULL
        if not full and measure and log.free_bytes() < log.reserve:
            log.free_synced()
            full = log.free_bytes() < log.reserve
        if full:
            prev = self.session.state
            self.session.on_flash_full()
            self._follow(prev, "flash full")

    def _read_battery(self):
        if self.battery is None:
            return
        mv = self.battery.read_mv()
        self.battery_mv = mv
        self.battery_percent = hal.lipo_percent(mv) if mv > 0 else -1

    # -- tasks --------------------------------------------------------------------------

    async def run(self):
        """Boot if needed, then run every task for ever."""
        if not self.boot_line:
            self.boot()
        for name, task in (
            ("sampling", self._sampling),
            ("storage", self._storage),
            ("led", self._led),
            ("button", self._button),
            ("schedule", self._schedule),
            ("battery", self._battery),
            ("sit", self._sit),
            ("link", self._link),
            ("ble", self._ble),
        ):
            asyncio.create_task(self._guard(name, task))
        while True:
            await hal.sleep_ms(3600000)

    async def _guard(self, name, task):
        # A task that crashes is reported, not re-raised: the others go on. If it is the
        # sampler, the watchdog starves and resets the board, as for a stuck one.
        try:
            await task()
        except Exception as e:
            self.errors.append("%s task crashed: %r" % (name, e))
            print("legsense: %s task crashed: %r" % (name, e))
            if name == "sampling" and self.session.state == RECORDING:
                self.reset_to_resume("panic")

    def reset_to_resume(self, why):
        """A crash while recording: note why in RTC memory and reset the board, which
        resumes the night at once (instead of waiting for the watchdog)."""
        if self._state is None:
            return
        self.rtc.note = why
        self._mirror(hal.ticks_ms(), force=True)
        hal.reset()

    async def _link(self):
        # The sync protocol on the USB serial port; the REPL stays reachable because
        # Ctrl-C (never inside a frame) raises KeyboardInterrupt, which _guard lets pass.
        from legsense_device.protocol_server import AppControl, ProtocolServer
        from legsense_device.usb_link import StdioPort, UsbLink

        port = self.link_port
        if port is None:
            if sys.implementation.name != "micropython":
                return  # CPython without an injected port (tests): no USB serial here
            port = StdioPort()
        await UsbLink(ProtocolServer(AppControl(self)), port, self._note_link).run()

    def _note_link(self):
        # A host talks on the serial link: stay awake a while (see awake_reason).
        self._link_at = hal.ticks_ms()

    async def _ble(self):
        # BLE sync on boards with a radio and aioble (installed by `make flash`); boards
        # and simulators without them simply have no BLE link.
        from legsense_device.protocol_server import AppControl, ProtocolServer

        try:
            from legsense_device.ble_link import BleLink

            link = BleLink(
                ProtocolServer(AppControl(self)),
                self.device_id,
                lambda: self.session.state != RECORDING or self.cfg["ble_while_recording"],
            )
        except ImportError:
            return
        self.ble_link = link
        try:
            import aioble  # type: ignore  (micropython-lib; no stubs)

            aioble.security.load_secrets()  # bonds survive a reboot
        except Exception as e:
            print("legsense: BLE bonds not loaded: %r" % (e,))
        # Bonding needs physical access: a 2-minute window after power-on (not after a
        # reset: a night that resumes must not open it).
        if self.reset_cause == "power-on":
            link.open_pairing()
        await link.run()

    async def _sampling(self):
        beat = self._beat
        while True:
            t = hal.ticks_ms()
            if self._sampling_now():
                self._service(t)
            else:
                self._feed()
            # Wake the periodic work riding on the bursts (_ride_ms): it runs now, while
            # the chip is awake anyway, instead of in a wake of its own.
            beat.set()
            beat.clear()
            await self._wait()

    def _riding(self):
        # Recording and light-sleeping between bursts (what _wait found last time).
        return self._sampling_now() and self._wake is not None and not self.sleep_stats.awake_reason

    async def _ride_ms(self, ms):
        # Wait at least ms. While the board light-sleeps between FIFO bursts, a long wait
        # (>= RIDE_MIN_MS: the LED's recording heartbeat, the log flush, the battery)
        # ends at the first pass of the sampling task once it is due, i.e. at the next
        # burst, at most one sleep span late, instead of waking the chip on a timer of
        # its own. Awake, idle, or a short wait: an ordinary timed wait.
        due = hal.ticks_add(hal.ticks_ms(), ms)
        while True:
            left = hal.ticks_diff(due, hal.ticks_ms())
            if left <= 0:
                return
            if ms < RIDE_MIN_MS or not self._riding():
                await hal.sleep_ms(left)
                return
            await self._beat.wait()

    def _sampling_now(self):
        sampler = self.sampler
        return self.night_clock is not None and sampler is not None and sampler.running

    def _service(self, t):
        # One burst: read the FIFO dry, detector, log, RTC mirror, watchdog, flash.
        clock = self.night_clock
        sampler = self.sampler
        if clock is None or sampler is None:
            return
        try:
            n = sampler.poll(clock.now(t))
        except OSError:
            n = 0
            self.read_errors += 1
        if n or self.replay is not None:  # a replay goes at the host's pace
            self._last_progress = t
        self._mirror(t)
        self._feed_if_alive(t)
        self._check_flash()

    def _feed_if_alive(self, t):
        # Feed while samples keep coming (see _watch); idle, always.
        if not self._sampling_now():
            self._feed()
            return
        allowed = self._stall_ms if self._slept else STALL_AWAKE_MS
        if hal.ticks_diff(t, self._last_progress) < allowed:
            self._feed()

    async def _wait(self):
        # Until the next burst is due (recording) or the watchdog wants feeding (idle):
        # light sleep whenever allowed and nothing else is due sooner, else an ordinary
        # asyncio wait with the board awake. Returns early when a night starts or ends
        # meanwhile, or when the FIFO interrupt says a burst is waiting.
        recording = self._sampling_now()
        start = hal.ticks_ms()
        span = self._sleep_span_ms if recording else self._sleep_cap_ms()
        # INT1 still active right after a burst was read: the read failed (a bus or IMU
        # fault). The line cannot wake anyone now; poll awake (the stall rule decides).
        stuck = self._int1_asserted()
        while True:
            why = self.awake_reason()
            self.sleep_stats.awake_reason = why
            if why:
                self._slept = False
                await hal.sleep_ms(self._poll_ms if recording else IDLE_POLL_MS)
                return
            if self._sampling_now() != recording:
                return
            left = span - hal.ticks_diff(hal.ticks_ms(), start)
            if left <= 0:
                return
            if self._int1_asserted():
                if recording and not stuck:
                    return  # the FIFO is at its watermark: read it now
                self._slept = False
                await hal.sleep_ms(self._poll_ms)  # cannot sleep on a line held active
                continue
            other = hal.next_deadline_ms()
            ms = left if other < 0 else min(left, other)
            if ms < LIGHT_SLEEP_MIN_MS:
                await hal.sleep_ms(ms)  # 0: lets the tasks that are ready run first
                continue
            t = hal.ticks_ms()
            cause = self._lightsleep(ms)
            if cause != hal.WAKE_TIMER:
                self._after_pin_wake()
                if hal.ticks_diff(hal.ticks_ms(), t) <= 0 and not self._int1_asserted():
                    # A wake source already at its level (a stuck line): do not spin.
                    await hal.sleep_ms(self._poll_ms)
                    continue
            await hal.sleep_ms(0)  # the tasks due now run before we look again

    def _lightsleep(self, ms):
        t = hal.ticks_ms()
        self._feed_if_alive(t)
        self._slept = True
        cause = hal.lightsleep(min(ms, self._sleep_cap_ms()))
        self.sleep_stats.note(t, hal.ticks_ms(), cause, hal.ticks_diff)
        return cause

    def _after_pin_wake(self):
        # A pin woke the chip: the button's task takes the press as its pin interrupt
        # would have (it does not run in light sleep); USB power shows in the next
        # awake_reason(), the FIFO interrupt in _int1_asserted().
        button = self.button
        if button is not None and button.pressed() and self._button_flag is not None:
            self._button_flag.set()

    def _int1_asserted(self):
        int1 = self._int1
        pin = self._int1_in
        return int1 is not None and pin is not None and pin.value() == int1[1]

    def awake_reason(self):
        """Why the board must stay awake now ("" when it may light-sleep): no sleep
        possible or wanted, a replay night, USB power, BLE, a host on the serial link
        lately, the button being handled."""
        if self._wake is None:
            return "no light sleep"
        if not self.cfg["light_sleep"]:
            return "config"
        if self.replay is not None:
            return "replay"
        if self.usb_powered():
            return "usb"
        ble = self.ble_link
        if ble is not None and (ble.connection is not None or ble.advertising):
            return "ble"
        at = self._link_at
        if at is not None and hal.ticks_diff(hal.ticks_ms(), at) < LINK_AWAKE_MS:
            return "link"
        if self._button_busy:
            return "button"
        return ""

    def usb_powered(self):
        """True when the board runs from USB, by the profile's VBUS sense."""
        vbus = self.profile["usb"]["vbus"]
        if vbus is None:
            return False
        if vbus == "axp192":
            return self.i2c is not None and hal.axp192_vbus(self.i2c)
        if vbus == "no-battery":
            return 0 <= self.battery_mv < NO_BATTERY_MV
        pin = self._vbus_in
        return pin is not None and pin.value() == 1

    def _feed(self):
        if self.watchdog is not None:
            self.watchdog.feed()

    async def _storage(self):
        while True:
            await self._ride_ms(FLUSH_MS)
            if self.session.state == RECORDING and self.log is not None:
                self.log.flush()
                self._check_flash(measure=True)
            elif self.session.flash_full and self.log is not None:
                # The host freed nights: a block more than the reserve (hysteresis: the
                # small state files removed when the night ended do not count).
                if self.log.free_bytes() >= self.log.reserve + FREED_MARGIN:
                    self.session.on_flash_freed()

    async def _led(self):
        if self.led is None:
            return
        await status_led.StatusLed(self.led, self._ride_ms).run(self.led_state)

    async def _button(self):
        if self.button is None:
            return
        edge = hal.Flag()
        self._button_flag = edge
        self.button.on_edge(edge.set)
        debouncer = Debouncer()
        while True:
            self._button_busy = False
            await edge.wait()
            self._button_busy = True  # polling every 20 ms: no light sleep meanwhile
            # Read until the level has settled released; time the press on the way.
            pressed_at = -1
            long_done = False
            while True:
                was = debouncer.pressed
                debouncer.update(self.button.pressed())
                t = hal.ticks_ms()
                if debouncer.pressed and not was:
                    pressed_at = t
                    long_done = False
                elif debouncer.pressed and pressed_at >= 0 and not long_done:
                    if hal.ticks_diff(t, pressed_at) >= LONG_PRESS_MS:
                        long_done = True  # acts while still held: the person feels it
                        self.long_press()
                elif was and not debouncer.pressed:
                    if pressed_at >= 0 and not long_done:
                        self.press_button(hal.ticks_diff(t, pressed_at))
                    pressed_at = -1
                if not debouncer.pressed and debouncer.settled():
                    break
                await hal.sleep_ms(POLL_MS)

    async def _schedule(self):
        while True:
            window = config.schedule_minutes(self.cfg)
            if window is not None and self.imu is not None:
                minute = self.wall.minute_of_day(hal.ticks_ms(), self.cfg["utc_offset_min"])
                if minute >= 0:
                    prev = self.session.state
                    changed, why = self.session.on_schedule(minute, window)
                    if changed:
                        self._follow(prev, why)
            await hal.sleep_ms(SCHEDULE_MS)

    async def _battery(self):
        while True:
            await self._ride_ms(BATTERY_MS)
            self._read_battery()
            clock = self.night_clock
            if clock is not None and self.log is not None and self.battery_mv > 0:
                self.log.append_battery(
                    clock.now(hal.ticks_ms()), self.battery_mv, self.battery_percent
                )
