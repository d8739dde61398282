"""Walking a night log record by record as its bytes arrive, in time linear in its length.

The sync engine feeds the bytes of a night as they come off the link, and again when it
resumes from what night.bin holds; the night decoder feeds a file in blocks. Each byte
offset is looked at as a possible record start at most once, so a night that never forms
a record (a hostile device, flash damage) costs one pass, not one pass per block.

Every offset below `pos` is settled: it lies in a whole, CRC-good record, or it was
rejected as the start of one (damage). A record can therefore never begin below `pos`
later, whatever bytes follow: the bytes from `pos` on are the only ones still in doubt (a
record that has not fully arrived). The sync writes night.bin up to `pos` and keeps the
rest pending; on resume, night.bin beyond `pos` is a torn tail.

Uses legsense_core.records for the record format; there is no second codec here.
"""

from __future__ import annotations

from collections.abc import Iterator

from legsense_core import records as R

MAX_DAMAGE_LISTED = 20  # damaged offsets kept for messages; all are counted
_KNOWN_TYPES = frozenset(R.TYPE_NAMES)


class RecordScanner:
    """Scans a byte stream that starts at file offset `start` (see the module docstring).

    feed() appends bytes; records() yields (offset, type, length) of each whole good
    record as scanning advances and stops where a record has not fully arrived;
    drop(upto) forgets bytes below upto (<= pos) so memory holds only what is pending.
    """

    def __init__(self, start: int = 0) -> None:
        self.base = start  # file offset of buf[0]
        self.buf = bytearray()
        self.pos = start  # every offset below is settled
        self.good_end = start  # end of the last whole good record
        self.records_seen = 0
        self.damage: list[int] = []  # where damaged stretches begin (the first few)
        self.damage_count = 0  # damaged stretches in all
        self.damaged_bytes = 0
        self._in_damage = False

    @property
    def end(self) -> int:
        """File offset just past the last byte fed."""
        return self.base + len(self.buf)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self.buf += data

    def drop(self, upto: int) -> None:
        """Forget the bytes below file offset `upto` (at most pos)."""
        upto = min(upto, self.pos)
        if upto > self.base:
            del self.buf[: upto - self.base]
            self.base = upto

    def view(self, start: int, stop: int) -> memoryview:
        """The bytes at file offsets [start, stop) still held."""
        return memoryview(self.buf)[start - self.base : stop - self.base]

    def _damaged_at(self, offset: int) -> None:
        if not self._in_damage:
            self._in_damage = True
            self.damage_count += 1
            if len(self.damage) < MAX_DAMAGE_LISTED:
                self.damage.append(offset)

    def records(self) -> Iterator[tuple[int, int, int]]:
        """(file offset, record type, record length) of each whole good record from pos.

        Stops where the bytes run out in the middle of a possible record; feed more and
        call again. Bytes that cannot start a record are stepped over as damage.
        """
        buf = self.buf
        base = self.base
        end = len(buf)
        p = self.pos - base
        while p < end:
            if buf[p] != R.MAGIC:
                q = buf.find(R.MAGIC, p + 1)
                q = end if q < 0 else q
                self._damaged_at(base + p)
                self.damaged_bytes += q - p
                p = q
                continue
            if p + 1 < end and buf[p + 1] not in _KNOWN_TYPES:
                n = R.ERR_TYPE  # cheaper than the CRC over a length that is garbage too
            else:
                n = R.check_record(buf, p, end)
            if n == R.ERR_SHORT:
                break  # may be a record still arriving
            if n < 0:
                self._damaged_at(base + p)
                self.damaged_bytes += 1
                p += 1
                continue
            self._in_damage = False
            self.records_seen += 1
            self.pos = base + p + n
            self.good_end = self.pos
            yield base + p, buf[p + 1], n
            # the consumer may not change buf; it stays valid until the next feed/drop
            p += n
        self.pos = base + p

    def scan(self) -> None:
        """Advance over everything fed so far (for callers that need only the offsets)."""
        for _ in self.records():
            pass

    def payload(self, offset: int, rtype: int, length: int) -> tuple | int:
        """Decoded payload of the record at offset (records.decode_payload), or ERR_* < 0."""
        p = offset - self.base
        return R.decode_payload(rtype, self.buf, p + R.HEAD_SIZE, p + length - 4)

    def describe_damage(self) -> str:
        """'3 damaged stretches (120 bytes) from byte 40, 900, ...' or ''."""
        if not self.damage_count:
            return ""
        where = ", ".join(map(str, self.damage))
        if self.damage_count > len(self.damage):
            where += ", ..."
        s = "" if self.damage_count == 1 else "es"
        return (
            f"{self.damage_count} damaged stretch{s} ({self.damaged_bytes:,} bytes) at byte {where}"
        )
