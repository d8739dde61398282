# Link framing: the one codec for frames on every legsense link (USB serial, BLE).
#
# Used by the firmware and by the host; there is no second copy. See docs/protocol.md.
#
# A frame on the wire is
#
#   0x00  stuffed(length u16 LE, body, CRC32 u32 LE)  0x00
#
# where CRC32 is binascii.crc32 over the plain length and body bytes, and stuffed()
# writes each plain byte b as w = b ^ 0x80, except that a w in 0x00..0x05 becomes the
# two bytes 0x05, w ^ 0x20. So inside a frame 0x00 never occurs (it only delimits),
# 0x05 only starts an escape, and 0x01-0x04 never occur at all: Ctrl-C (0x03) always
# means "interrupt" to MicroPython, even in the middle of a frame, and mpremote's
# Ctrl-A/B/D cannot be mistaken for frame bytes either.
#
# Why the XOR with 0x80: binary records are full of 0x00-0x05 (high bytes of small
# little-endian numbers, record types); flipping the top bit moves them out of the
# escaped range, so what gets escaped is 0x80-0x85, which is rare in such data.
# Expected overhead: 6/256 = 2.3 % on uniformly random bytes, about 0.1 % on night
# logs (see docs/protocol.md), at worst 2x (a body of nothing but 0x80-0x85).
#
# The decoder is incremental (feed any chunking), keeps one preallocated buffer,
# never raises on any input, and resynchronises at the next 0x00 after anything bad.

try:
    from micropython import const  # type: ignore  (the CPython fallback differs in signature)
except ImportError:  # CPython

    def const(x):
        return x


from binascii import crc32

DELIM = const(0x00)
ESC = const(0x05)
ESC_XOR = const(0x20)  # an escaped byte w travels as w ^ 0x20: 0x20..0x25
WHITEN = const(0x80)  # every plain byte travels XORed with this
LAST_ESCAPED = const(0x05)  # wire bytes 0x00..0x05 are escaped inside a frame

HEAD_SIZE = const(2)  # length
CRC_SIZE = const(4)
OVERHEAD = const(6)  # plain bytes around a body: length + CRC
MAX_BODY = const(1280)  # largest body; sized so a 1 KB DATA reply fits with its header

# Why a frame was dropped (index into FrameDecoder.errors).
ERR_SHORT = const(0)  # fewer than 6 bytes between delimiters
ERR_LENGTH = const(1)  # length field disagrees with the bytes received (truncated, merged)
ERR_TOO_LONG = const(2)  # length field or bytes beyond the decoder's max body
ERR_CRC = const(3)  # CRC mismatch (flipped bits)
ERR_ESCAPE = const(4)  # 0x05 not followed by 0x20..0x25
ERR_BYTE = const(5)  # a byte 0x01-0x04, which no frame contains (REPL control text)
ERROR_NAMES = ("short", "bad length", "too long", "bad CRC", "bad escape", "control byte")
N_ERRORS = const(6)


def encoded_bound(body_len):
    """Most bytes a frame with a body of body_len bytes can take on the wire."""
    return 2 + 2 * (OVERHEAD + body_len)


MAX_ENCODED = encoded_bound(MAX_BODY)


def _stuff(src, out, j):
    # The per-byte hot path of the sender: whiten, escape the reserved range.
    for b in src:
        w = b ^ WHITEN
        if w <= LAST_ESCAPED:
            out[j] = ESC
            out[j + 1] = w ^ ESC_XOR
            j += 2
        else:
            out[j] = w
            j += 1
    return j


def encode_frame(body, out, off=0):
    """Write body as one frame into out (bytearray/memoryview) at off; return the end.

    out must have encoded_bound(len(body)) bytes free at off (MAX_ENCODED holds any
    frame). Raises ValueError when the body is longer than MAX_BODY or out is short.
    """
    n = len(body)
    if n > MAX_BODY:
        raise ValueError("frame body of %d bytes exceeds %d" % (n, MAX_BODY))
    if off < 0 or off + encoded_bound(n) > len(out):
        raise ValueError("no room for a %d-byte body at offset %d" % (n, off))
    head = bytes((n & 0xFF, n >> 8))
    crc = crc32(body, crc32(head)) & 0xFFFFFFFF
    out[off] = DELIM
    j = _stuff(head, out, off + 1)
    j = _stuff(body, out, j)
    j = _stuff(bytes((crc & 0xFF, (crc >> 8) & 0xFF, (crc >> 16) & 0xFF, crc >> 24)), out, j)
    out[j] = DELIM
    return j + 1


def encode(body):
    """The frame for body as new bytes (convenience for the host; allocates)."""
    out = bytearray(encoded_bound(len(body)))
    return bytes(memoryview(out)[: encode_frame(body, out)])


class FrameDecoder:
    """Incremental frame decoder with one preallocated buffer of max_body + 6 bytes.

    push() consumes input up to the end of the next good frame; feed() collects every
    good frame body of a chunk. Bad frames are dropped and counted in errors[ERR_*];
    good ones in frames. No input makes it raise, loop or grow.
    """

    def __init__(self, max_body=MAX_BODY):
        if max_body < 0 or max_body > 0xFFFF:
            raise ValueError("max_body must be 0..65535")
        self.max_body = max_body
        self._buf = bytearray(max_body + OVERHEAD)
        self._mv = memoryview(self._buf)
        self._n = 0  # plain bytes held of the current frame
        self._esc = False  # the previous wire byte was ESC
        self._drop = -1  # >= 0: dropping until the next delimiter, for this ERR_*
        self._open = False  # a byte other than a delimiter arrived since the last one
        self.body_len = -1  # >= 0 right after push() returned with a good frame
        self.frames = 0
        self.errors = [0] * N_ERRORS
        self.last_error = -1

    def capacity(self):
        """Bytes of buffer the decoder holds (constant: max_body + 6)."""
        return len(self._buf)

    def pending(self):
        """Plain bytes held of a frame still arriving (never more than capacity())."""
        return self._n

    def body(self):
        """The last good frame's body; valid until the next push() or feed()."""
        return self._mv[HEAD_SIZE : HEAD_SIZE + self.body_len]

    def error_counts(self):
        """{reason name: count} of dropped frames."""
        return {ERROR_NAMES[i]: self.errors[i] for i in range(N_ERRORS)}

    def reset(self):
        """Forget a partial frame (e.g. after the link was reopened)."""
        self._n = 0
        self._esc = False
        self._drop = -1
        self._open = False
        self.body_len = -1

    def _fail(self, code):
        self.errors[code] += 1
        self.last_error = code

    def _close(self):
        # A delimiter arrived: judge the bytes since the previous one. Returns True
        # when they were a good frame.
        n = self._n
        drop = self._drop
        was_open = self._open
        esc = self._esc
        self._n = 0
        self._esc = False
        self._drop = -1
        self._open = False
        if drop >= 0:
            self._fail(drop)
            return False
        if not was_open:
            return False  # back-to-back delimiters: idle line, not an error
        if esc:
            self._fail(ERR_ESCAPE)
            return False
        if n < OVERHEAD:
            self._fail(ERR_SHORT)
            return False
        buf = self._buf
        length = buf[0] | (buf[1] << 8)
        if length != n - OVERHEAD:
            self._fail(ERR_LENGTH)
            return False
        stored = buf[n - 4] | (buf[n - 3] << 8) | (buf[n - 2] << 16) | (buf[n - 1] << 24)
        if crc32(self._mv[: n - CRC_SIZE]) & 0xFFFFFFFF != stored:
            self._fail(ERR_CRC)
            return False
        self.body_len = length
        self.frames += 1
        return True

    def push(self, data, start=0):
        """Consume data[start:] up to and including the delimiter ending a good frame.

        Returns the index of the first byte not consumed (len(data) when all were).
        If a good frame ended, self.body_len >= 0 and self.body() holds its body until
        the next call; otherwise self.body_len is -1.
        """
        self.body_len = -1
        buf = self._buf
        cap = len(buf)
        n = self._n
        esc = self._esc
        drop = self._drop
        i = start
        end = len(data)
        while i < end:
            b = data[i]
            i += 1
            if b == DELIM:
                self._n = n
                self._esc = esc
                self._drop = drop
                if self._close():
                    return i
                n = 0
                esc = False
                drop = -1
                continue
            self._open = True
            if drop >= 0:
                continue
            if esc:
                b ^= ESC_XOR
                esc = False
                if b > LAST_ESCAPED:
                    drop = ERR_ESCAPE
                    continue
            elif b == ESC:
                esc = True
                continue
            elif b <= LAST_ESCAPED:
                drop = ERR_BYTE
                continue
            if n >= cap:
                drop = ERR_TOO_LONG
                continue
            buf[n] = b ^ WHITEN
            n += 1
            # Refuse a huge length as soon as it is known rather than at the delimiter.
            if n == HEAD_SIZE and (buf[0] | (buf[1] << 8)) + OVERHEAD > cap:
                drop = ERR_TOO_LONG
        self._n = n
        self._esc = esc
        self._drop = drop
        return end

    def feed(self, data):
        """Consume all of data; return the bodies (bytes) of the good frames in it."""
        bodies = []
        pos = 0
        end = len(data)
        while pos < end:
            pos = self.push(data, pos)
            if self.body_len >= 0:
                bodies.append(bytes(self.body()))
        self.body_len = -1
        return bodies
