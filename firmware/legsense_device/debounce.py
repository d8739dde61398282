# Button debouncing: a contact bounces for a few ms when pressed or released, so a level
# counts only once it has been read the same STABLE_READS times in a row (polled every
# POLL_MS: 60 ms in all, quicker than a deliberate press and slower than any bounce).

POLL_MS = 20
STABLE_READS = 3


class Debouncer:
    """Feed it raw readings every POLL_MS; update() is True once per debounced press."""

    def __init__(self, stable_reads=STABLE_READS):
        self.stable_reads = stable_reads
        self.pressed = False  # the debounced level
        self._raw = False
        self._count = 0

    def update(self, raw):
        """Take one raw reading (True = pressed); True on a debounced press edge."""
        if raw != self._raw:
            self._raw = raw
            self._count = 1
            return False
        if self._count < self.stable_reads:
            self._count += 1
            if self._count == self.stable_reads and raw != self.pressed:
                self.pressed = raw
                return raw
        return False

    def settled(self):
        """True once the raw level has been stable for stable_reads readings."""
        return self._count >= self.stable_reads
