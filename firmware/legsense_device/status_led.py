# Status LED patterns: what the device is doing, readable at a glance in the dark.
#
# A pattern is a tuple of durations in ms, alternately on and off, repeated. Recording
# is the dimmest (one 20 ms flash every 10 s: it must not wake anyone and costs next to
# nothing); problems are the most insistent.

IDLE = "idle"
RECORDING = "recording"
FLASH_FULL = "flash full"
ERROR = "error"
SIT_PROMPT = "sit prompt"  # a SIT asks for a rating (sit_session.py)

PATTERNS = {
    IDLE: (60, 2940),  # a heartbeat every 3 s
    RECORDING: (20, 9980),  # a faint flash every 10 s
    FLASH_FULL: (150, 150, 150, 1550),  # double blink every 2 s
    ERROR: (100, 100, 100, 100, 100, 1500),  # triple blink every 2 s
    SIT_PROMPT: (250, 250),  # fast even blinking: "rate your legs now"
}


class StatusLed:
    """Plays the pattern of the current state on a hal.Led."""

    def __init__(self, led, sleep_ms):
        self.led = led
        self._sleep_ms = sleep_ms

    async def run(self, state_of):
        """Forever: play one cycle of PATTERNS[state_of()], then look again."""
        while True:
            pattern = PATTERNS.get(state_of(), PATTERNS[ERROR])
            on = True
            for ms in pattern:
                self.led.set(on)
                await self._sleep_ms(ms)
                on = not on
            self.led.set(False)
