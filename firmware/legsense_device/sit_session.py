# The suggested immobilization test (SIT) on the device: its plan, the rating prompts,
# and the button presses counted into ratings. Pure logic, no I/O: the app asks what is
# due (tick), logs what comes back and shows the prompt on the LED (docs/sit.md,
# docs/firmware.md "The button").
#
# A SIT is a night whose header config also says {"mode": "sit", "sit_min": M,
# "rating_every_min": E}. Every E minutes a prompt opens for PROMPT_WINDOW_MS (the LED
# blinks fast); the rating is the number of short presses (capped at 10), taken
# COUNT_GAP_MS after the last press; a long press during a prompt is 0; no press while
# the prompt is open is a missed prompt (records.RATING_MISSED). A rating typed at the
# host (the SIT_RATING link request) is logged with text "host" and closes the open
# prompt. At M minutes the SIT is done (records.M_SIT_DONE); a prompt due at M minutes
# is answered first (at most PROMPT_WINDOW_MS later). Outside a prompt a short press is
# the person's own marker (M_BUTTON) and a long press stops the SIT early, as in a night.

from legsense_core import records

DEFAULT_SIT_MIN = 60  # a long press while idle starts a SIT of this plan
DEFAULT_EVERY_MIN = 10
PROMPT_WINDOW_MS = 60000  # a prompt waits this long for its first press
COUNT_GAP_MS = 3000  # presses of one rating: each within this of the one before
MAX_RATING = 10
MAX_SIT_MIN = 240  # the link's and the config's bound on sit_min
MAX_EVERY_MIN = 60
BUTTON = "button"
HOST = "host"

# What tick() asks the app to do.
PROMPT = "prompt"  # a prompt opened: show it
RATING = "rating"  # log M_RATING (value, text)
DONE = "done"  # the SIT ran its full length: end it with M_SIT_DONE


def check_plan(sit_min, every_min):
    """None when (sit_min, every_min) is a plan the device runs, else why not."""
    if not isinstance(sit_min, int) or not 1 <= sit_min <= MAX_SIT_MIN:
        return "sit_min must be 1..%d minutes, got %r" % (MAX_SIT_MIN, sit_min)
    if not isinstance(every_min, int) or not 1 <= every_min <= MAX_EVERY_MIN:
        return "rating_every_min must be 1..%d minutes, got %r" % (MAX_EVERY_MIN, every_min)
    return None


class SitSession:
    """One SIT: times are night ms (ms since the night's start)."""

    def __init__(self, sit_min, every_min):
        why = check_plan(sit_min, every_min)
        if why is not None:
            raise ValueError(why)
        self.sit_min = sit_min
        self.every_min = every_min
        self.sit_ms = sit_min * 60000
        self.every_ms = every_min * 60000
        self.next_prompt = self.every_ms  # night ms of the next prompt
        self.open_at = -1  # night ms the open prompt opened at (-1: none open)
        self.presses = 0  # short presses counted for the open prompt
        self.last_press = 0
        self.prompts = 0
        self.done = False

    def resume_at(self, now):
        """Go on after a reset at night ms now: the next prompt is the first one due after
        now. A prompt that was open, or fell due, while the board was down is not asked
        again (it may have been answered just before the reset); the host sees it as
        neither rated nor missed."""
        done_prompts = now // self.every_ms
        self.prompts = min(done_prompts, self.sit_ms // self.every_ms)
        self.next_prompt = (done_prompts + 1) * self.every_ms

    def header(self):
        """What the night header's config JSON adds for a SIT."""
        return {"mode": "sit", "sit_min": self.sit_min, "rating_every_min": self.every_min}

    @property
    def prompting(self):
        return self.open_at >= 0

    def tick(self, now):
        """What is due at night ms now: a list of (PROMPT,), (RATING, value, text), (DONE,)."""
        out = []
        if self.done:
            return out
        if self.open_at >= 0:
            if self.presses and now - self.last_press >= COUNT_GAP_MS:
                out.append(self._close(min(self.presses, MAX_RATING), BUTTON))
            elif not self.presses and now - self.open_at >= PROMPT_WINDOW_MS:
                out.append(self._close(records.RATING_MISSED, BUTTON))
        if self.open_at < 0 and self.next_prompt <= self.sit_ms and now >= self.next_prompt:
            self.open_at = now
            self.presses = 0
            self.prompts += 1
            self.next_prompt += self.every_ms
            out.append((PROMPT,))
        if self.open_at < 0 and now >= self.sit_ms and self.next_prompt > self.sit_ms:
            self.done = True
            out.append((DONE,))
        return out

    def ms_until_due(self, now):
        """How long until tick() may have something to do (0: now)."""
        if self.done:
            return 60000
        if self.open_at >= 0:
            if self.presses:
                return max(0, COUNT_GAP_MS - (now - self.last_press))
            return max(0, PROMPT_WINDOW_MS - (now - self.open_at))
        due = self.next_prompt if self.next_prompt <= self.sit_ms else self.sit_ms
        return max(0, due - now)

    def press(self, now):
        """A short press at night ms now: True when it counts towards the open prompt's
        rating (else it is the person's own marker, as in a night)."""
        if self.open_at < 0:
            return False
        self.presses += 1
        self.last_press = now
        return True

    def long_press(self):
        """A long press: during a prompt it answers 0 (returns the RATING action);
        otherwise None (the app stops the SIT early)."""
        if self.open_at < 0:
            return None
        return self._close(0, BUTTON)

    def host_rating(self, value):
        """A rating typed at the host: the RATING action (closes the open prompt, if any);
        ValueError outside 0..10."""
        if not isinstance(value, int) or not 0 <= value <= MAX_RATING:
            raise ValueError("a rating is 0..%d, got %r" % (MAX_RATING, value))
        if self.open_at >= 0:
            return self._close(value, HOST)
        return (RATING, value, HOST)

    def _close(self, value, text):
        self.open_at = -1
        self.presses = 0
        return (RATING, value, text)
