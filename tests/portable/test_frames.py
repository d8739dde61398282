# Link framing (portable: runs on CPython and on the MicroPython VM).
from binascii import unhexlify

from legsense_core import frames
from legsense_core.frames import FrameDecoder, encode, encode_frame

# Worked by hand from the spec in frames.py: body 80 05 ff; plain stream 03 00 80 05 ff
# + CRC32 0x30c28d85 (LE 85 8d c2 30); XOR 0x80 gives 83 80 00 85 7f 05 0d 42 b0, where
# 00 -> 05 20 and 05 -> 05 25; delimiters 00 around.
HAND_BODY = b"\x80\x05\xff"
HAND_WIRE = unhexlify("00838005208 57f0525 0d42b000".replace(" ", ""))


def _lcg_bytes(seed, n):
    # Deterministic pseudo-random bytes without the random module (not on every port).
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    return bytes(out)


def _assert_clean_inside(wire):
    """No 0x00 inside, no 0x01-0x04 at all, 0x05 only before 0x20..0x25."""
    assert wire[0] == 0 and wire[-1] == 0
    inner = wire[1:-1]
    i = 0
    while i < len(inner):
        b = inner[i]
        assert b > 0x04, (b, i + 1)
        if b == 0x05:
            assert i + 1 < len(inner) and 0x20 <= inner[i + 1] <= 0x25
            i += 2
        else:
            i += 1


def test_hand_worked_frame_matches_encoder_and_decoder():
    assert encode(HAND_BODY) == HAND_WIRE
    d = FrameDecoder()
    assert d.feed(HAND_WIRE) == [HAND_BODY]
    assert d.frames == 1 and sum(d.errors) == 0


def test_round_trips():
    d = FrameDecoder()
    bodies = [
        b"",
        b"\x00",
        bytes(range(256)),
        bytes(range(0x80, 0x86)) * 50,  # every byte escaped: the worst case
        _lcg_bytes(1, frames.MAX_BODY),
    ]
    for body in bodies:
        wire = encode(body)
        assert len(wire) <= frames.encoded_bound(len(body))
        assert d.feed(wire) == [body]
    # length 300 = 2c 01 travels as ac 81; then every body byte as two bytes 05 2x
    worst = encode(bodies[3])
    assert worst[1:3] == b"\xac\x81"
    assert worst[3:603] == b"\x05\x20\x05\x21\x05\x22\x05\x23\x05\x24\x05\x25" * 50
    assert sum(d.errors) == 0 and d.frames == len(bodies)


def test_no_reserved_byte_in_any_frame():
    # Every byte value in a payload, alone, repeated and at every position of a body.
    for v in range(256):
        _assert_clean_inside(encode(bytes((v,))))
        _assert_clean_inside(encode(bytes((v,)) * 40))
    _assert_clean_inside(encode(bytes(range(256))))
    _assert_clean_inside(encode(bytes(range(255, -1, -1))))
    # every length (and so every low length byte), a varied CRC each time
    for n in range(300):
        _assert_clean_inside(encode(_lcg_bytes(n + 7, n)))


def test_encode_into_caller_buffer_at_offset():
    body = b"legsense"
    out = bytearray(64)
    end = encode_frame(memoryview(body), memoryview(out), 5)
    assert bytes(out[5:end]) == encode(body)
    assert bytes(out[:5]) == b"\x00" * 5


def test_encoder_refuses_oversize_and_short_buffer():
    for body, out in (
        (bytes(frames.MAX_BODY + 1), bytearray(frames.MAX_ENCODED * 2)),
        (b"abc", bytearray(frames.encoded_bound(3) - 1)),
    ):
        try:
            encode_frame(body, out)
        except ValueError:
            pass
        else:
            raise AssertionError("no ValueError")


def test_split_anywhere_byte_by_byte():
    body = _lcg_bytes(3, 200)
    wire = encode(body) + encode(b"second")
    d = FrameDecoder()
    got = []
    for i in range(len(wire)):
        got += d.feed(wire[i : i + 1])
    assert got == [body, b"second"]


def test_push_stops_after_each_frame():
    wire = encode(b"one") + encode(b"two")
    d = FrameDecoder()
    pos = d.push(wire)
    assert pos == len(encode(b"one")) and bytes(d.body()) == b"one"
    pos = d.push(wire, pos)
    assert pos == len(wire) and bytes(d.body()) == b"two"
    assert d.push(b"") == 0 and d.body_len == -1


def test_resync_after_repl_text_and_control_bytes():
    d = FrameDecoder()
    text = b"MicroPython v1.27.0 on 2026-01-01; ESP32\r\n>>> \r\nraw REPL; CTRL-B to exit\r\n>"
    ctrl = b"OK\x04Traceback\x04>\x01\x02\x03"
    stream = text + encode(b"a") + ctrl + encode(b"b") + text + encode(b"c")
    assert d.feed(stream) == [b"a", b"b", b"c"]
    # garbage before the first frame and each garbage run between frames: 3 dropped
    assert sum(d.errors) == 3
    assert d.feed(b"\x00\x04\x00" + encode(b"d")) == [b"d"]
    assert d.errors[frames.ERR_BYTE] == 1


def test_truncated_frame_then_good_frame():
    full = encode(_lcg_bytes(5, 64))
    good = encode(b"next")
    for cut in range(len(full)):
        d = FrameDecoder()
        got = d.feed(full[:cut] + good)
        if cut == len(full) - 1:
            # only the closing delimiter lost: the next frame's opening one ends it
            assert got == [bytes(_lcg_bytes(5, 64)), b"next"]
            assert sum(d.errors) == 0
        else:
            assert got == [b"next"], cut
            assert sum(d.errors) == (1 if cut >= 2 else 0), cut


def test_every_bit_flip_is_caught():
    body = _lcg_bytes(9, 24)
    wire = encode(body)
    good = encode(b"after")
    for i in range(1, len(wire) - 1):
        for bit in range(8):
            bad = bytearray(wire)
            bad[i] ^= 1 << bit
            d = FrameDecoder()
            assert d.feed(bytes(bad) + good) == [b"after"], (i, bit)
            assert sum(d.errors) >= 1


def test_payload_bit_flip_is_a_crc_error():
    body = b"\x10" * 16
    wire = encode(body)  # 0x10 travels as 0x90: no escapes, body at wire[3:19]
    for i in range(3, 19):
        bad = bytearray(wire)
        bad[i] ^= 0x01
        d = FrameDecoder()
        assert d.feed(bytes(bad)) == []
        assert d.errors[frames.ERR_CRC] == 1 and sum(d.errors) == 1


def test_oversize_frame_dropped_with_bounded_buffer():
    d = FrameDecoder(max_body=16)
    cap = d.capacity()
    assert cap == 16 + frames.OVERHEAD
    assert d.feed(encode(bytes(17)) + encode(bytes(16))) == [bytes(16)]
    assert d.errors[frames.ERR_TOO_LONG] == 1
    # a huge length field is refused as soon as it arrives
    d.feed(b"\x00\x7f\x7f" + b"\x41" * 5000)
    assert d.capacity() == cap and d.pending() <= cap
    assert d.feed(b"\x00" + encode(b"ok")) == [b"ok"]
    assert d.errors[frames.ERR_TOO_LONG] == 2


def test_bad_escape_and_dangling_escape():
    d = FrameDecoder()
    assert d.feed(b"\x00\x83\x80\x05\x41\x00") == []
    assert d.errors[frames.ERR_ESCAPE] == 1
    assert d.feed(b"\x83\x80\x05\x00") == []
    assert d.errors[frames.ERR_ESCAPE] == 2
    assert d.error_counts()["bad escape"] == 2


def test_random_noise_never_raises_and_stays_bounded():
    d = FrameDecoder(max_body=64)
    cap = d.capacity()
    noise = _lcg_bytes(11, 20000)
    i = 0
    step = 1
    while i < len(noise):
        d.feed(noise[i : i + step])
        i += step
        step = step % 97 + 1
        assert d.pending() <= cap
    assert d.feed(b"\x00" + encode(b"still alive")) == [b"still alive"]
