"""Fuzzing the frame decoder (CPython only: hypothesis).

Whatever arrives — noise, cut frames, flipped bits, REPL text, lying length fields — the
decoder must deliver exactly the intact frames, count the rest, never raise, never hang
(hypothesis's per-example deadline) and never hold more than its fixed buffer.
"""

from __future__ import annotations

from binascii import crc32
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from legsense_core import frames
from legsense_core.frames import FrameDecoder, encode

SMALL_MAX = 64  # a small decoder limit makes "too long" easy to reach

bodies = st.lists(st.binary(max_size=SMALL_MAX), min_size=1, max_size=6)
repl_text = st.binary(max_size=120).map(
    # REPL-like: printable text, CR/LF and the raw-REPL control bytes, never a delimiter
    lambda b: bytes(c % 96 + 32 if c % 8 else (0x0D, 0x0A, 0x04, 0x01)[c % 4] for c in b)
)


def feed_in_chunks(d: FrameDecoder, data: bytes, cuts: list[int]) -> list[bytes]:
    """Feed data split at the given cut points; check the bound after every chunk."""
    out: list[bytes] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in pairwise(points):
        out += d.feed(data[a:b])
        assert d.pending() <= d.capacity() == d.max_body + frames.OVERHEAD
    return out


def stuff(plain: bytes) -> bytes:
    """The wire form of plain bytes, written from the spec in docs/protocol.md."""
    out = bytearray()
    for b in plain:
        w = b ^ 0x80
        out += bytes((0x05, w ^ 0x20)) if w <= 0x05 else bytes((w,))
    return bytes(out)


@settings(max_examples=300)
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=8))
def test_random_bytes_never_raise_and_stay_bounded(noise, cuts):
    d = FrameDecoder(SMALL_MAX)
    feed_in_chunks(d, noise, cuts)
    # whatever came before, the decoder is in step again at the next frame
    assert d.feed(encode(b"resync")) == [b"resync"]


@given(bodies, st.lists(st.integers(0, 1000), max_size=10))
def test_any_chunking_delivers_every_frame(sent, cuts):
    d = FrameDecoder(SMALL_MAX)
    wire = b"".join(encode(b) for b in sent)
    assert feed_in_chunks(d, wire, cuts) == sent
    assert sum(d.errors) == 0 and d.frames == len(sent)


@given(bodies, repl_text, st.integers(0, 100))
def test_frames_interleaved_with_repl_text(sent, text, where):
    # text printed before, between and after frames costs nothing but error counts
    d = FrameDecoder(SMALL_MAX)
    wire = text
    for i, body in enumerate(sent):
        wire += encode(body)
        if i == where % len(sent):
            wire += text
    assert d.feed(wire + text) == sent


@given(bodies, st.integers(0, 5), st.integers(0, 10**6))
def test_truncated_frame_loses_only_itself(sent, which, cut_at):
    i = which % len(sent)
    wires = [encode(b) for b in sent]
    cut = cut_at % len(wires[i])
    wires[i] = wires[i][:cut]
    d = FrameDecoder(SMALL_MAX)
    got = d.feed(b"".join(wires))
    expected = sent[:i] + sent[i + 1 :]
    if cut == len(encode(sent[i])) - 1 and i + 1 < len(sent):
        expected = sent  # only the closing 00 is lost: the next frame's opening 00 ends it
    assert got == expected


@given(bodies, st.integers(0, 5), st.sets(st.integers(0, 10**6), min_size=1, max_size=4))
def test_flipped_bits_never_deliver_a_wrong_frame(sent, which, flips):
    i = which % len(sent)
    wires = [bytearray(encode(b)) for b in sent]
    inner_bits = (len(wires[i]) - 2) * 8  # flips inside the frame, not its delimiters
    for f in {f % inner_bits for f in flips}:
        wires[i][1 + f // 8] ^= 1 << (f % 8)
    d = FrameDecoder(SMALL_MAX)
    got = d.feed(b"".join(bytes(w) for w in wires))
    assert got == sent[:i] + sent[i + 1 :]
    assert sum(d.errors) >= 1


@given(st.integers(SMALL_MAX + 1, 0xFFFF), st.binary(max_size=4000), st.booleans())
def test_huge_length_fields_are_refused_early(length, rest, closed):
    d = FrameDecoder(SMALL_MAX)
    plain = bytes((length & 0xFF, length >> 8)) + rest
    wire = b"\x00" + stuff(plain) + (b"\x00" if closed else b"")
    assert d.feed(wire) == []
    assert d.pending() <= d.capacity()
    assert d.feed(encode(b"next")) == [b"next"]
    assert d.errors[frames.ERR_TOO_LONG] == 1 and sum(d.errors) == 1


@given(st.binary(max_size=SMALL_MAX), st.integers(-20, 20).filter(lambda k: k != 0))
def test_length_field_that_lies_is_refused(body, delta):
    # a consistent CRC over a lying length: only the length check can catch it
    length = len(body) + delta
    if not 0 <= length <= SMALL_MAX:
        return
    plain = bytes((length & 0xFF, length >> 8)) + body
    plain += crc32(plain).to_bytes(4, "little")
    d = FrameDecoder(SMALL_MAX)
    assert d.feed(b"\x00" + stuff(plain) + b"\x00") == []
    assert sum(d.errors) == 1
    assert d.errors[frames.ERR_LENGTH] + d.errors[frames.ERR_SHORT] == 1


@given(st.binary(max_size=SMALL_MAX))
def test_spec_stuffing_matches_encoder(body):
    # the encoder agrees with the spec, written out independently above
    plain = len(body).to_bytes(2, "little") + body
    plain += crc32(plain).to_bytes(4, "little")
    assert encode(body) == b"\x00" + stuff(plain) + b"\x00"


@given(st.binary(min_size=SMALL_MAX + 1, max_size=frames.MAX_BODY))
def test_frames_over_the_limit_are_dropped(body):
    d = FrameDecoder(SMALL_MAX)
    assert d.feed(encode(body) + encode(b"ok")) == [b"ok"]
    assert d.errors[frames.ERR_TOO_LONG] == 1 and d.pending() == 0
