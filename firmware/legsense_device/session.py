# Night-session state machine: idle -> recording -> stopped (-> recording: a new night).
#
# Pure logic, no I/O: the app turns its decisions into log writes and LED patterns.
# Started and stopped by the host, the button or the schedule; flash running out stops
# a night and refuses new ones until the host has synced and freed space.

IDLE = "idle"
RECORDING = "recording"
STOPPED = "stopped"

SOURCES = ("host", "button", "schedule", "boot")


class NightSession:
    def __init__(self):
        self.state = IDLE
        self.started_by = ""
        self.stopped_by = ""
        self.flash_full = False
        self.nights_started = 0

    def start(self, source):
        """Ask to start a night; returns (ok, reason)."""
        if source not in SOURCES:
            return False, "unknown source %r" % (source,)
        if self.state == RECORDING:
            return False, "already recording"
        if self.flash_full:
            return False, "flash full: sync and erase nights first"
        self.state = RECORDING
        self.started_by = source
        self.stopped_by = ""
        self.nights_started += 1
        return True, "started by " + source

    def stop(self, source):
        """Ask to stop the night; returns (ok, reason)."""
        if self.state != RECORDING:
            return False, "not recording"
        self.state = STOPPED
        self.stopped_by = source
        return True, "stopped by " + source

    def resume(self, source):
        """A night that was recording before a reset goes on (started by source)."""
        self.state = RECORDING
        self.started_by = source
        self.stopped_by = ""

    def press_button(self):
        """The button toggles recording."""
        if self.state == RECORDING:
            return self.stop("button")
        return self.start("button")

    def on_flash_full(self):
        """Flash below its reserve: stop now; unsynced nights are never overwritten."""
        self.flash_full = True
        if self.state == RECORDING:
            self.state = STOPPED
            self.stopped_by = "flash full"
            return True, "stopped: flash full"
        return False, "flash full"

    def on_flash_freed(self):
        self.flash_full = False

    def on_schedule(self, minute_of_day, window):
        """Apply a (start, stop) schedule at local minute_of_day; returns (changed, reason).

        Inside the window an idle or stopped device starts, unless a person stopped this
        night by hand; outside it only a night the schedule started is stopped.
        """
        if window is None:
            return False, ""
        start, stop = window
        if start < stop:
            inside = start <= minute_of_day < stop
        else:  # the window spans midnight
            inside = minute_of_day >= start or minute_of_day < stop
        if inside and self.state != RECORDING:
            if self.stopped_by in ("host", "button"):
                return False, ""
            return self.start("schedule")
        if not inside:
            if self.state == RECORDING and self.started_by == "schedule":
                return self.stop("schedule")
            if self.state == STOPPED and self.stopped_by in ("host", "button"):
                # The window is over: the next window may start again.
                self.stopped_by = ""
        return False, ""
