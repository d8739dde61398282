"""ReplayImu: the driver fed over the link (REPLAY) releases samples at the replayed rate,
in order, with flow control and lateness counted; REPLAY_BEGIN/REPLAY round-trip the codec
and the protocol server drives the app's replay night."""

from __future__ import annotations

import struct
from array import array

import pytest
from legsense_core import protocol as P
from legsense_device.replay_imu import ReplayImu


class Ticks:
    def __init__(self) -> None:
        self.ms = 1000

    def __call__(self) -> int:
        return self.ms


def packed(rows: list[tuple[int, ...]]) -> bytes:
    return b"".join(struct.pack(f"<{len(r)}h", *r) for r in rows)


def read_all(imu: ReplayImu, gyro: bool, max_n: int = 64) -> list[tuple[int, ...]]:
    acc = array("h", bytes(6 * max_n))
    gyr = array("h", bytes(6 * max_n)) if gyro else None
    n = imu.read_fifo(acc, gyr, max_n)
    out = []
    for i in range(n):
        row = tuple(acc[3 * i : 3 * i + 3])
        if gyr is not None:
            row += tuple(gyr[3 * i : 3 * i + 3])
        out.append(row)
    return out


def test_samples_come_out_in_order_at_the_replayed_rate():
    clock = Ticks()
    imu = ReplayImu("lsm6dsox", 26.0, True, capacity=16, ticks_ms=clock)
    assert imu.configure(104, 2, 250, False, 32) == 26.0  # the trace's rate, not the config's
    assert imu.gyro and imu.accel_scale == (61, 1) and imu.gyro_scale == (8750, 1)
    rows = [(i, -i, 32767, -32768, 2 * i, 7) for i in range(10)]
    assert imu.feed(packed(rows)) == 10
    # At t0 only sample 0 is due; sample k is due at k * 1000/26 ms (500/13 ms).
    assert imu.fifo_level() == 1
    assert read_all(imu, True) == rows[:1]
    clock.ms += 500  # 500 ms = 13 periods: samples 1..13 due, 9 there
    assert imu.fifo_level() == 9
    assert read_all(imu, True, max_n=4) == rows[1:5]
    assert read_all(imu, True) == rows[5:10]
    assert imu.late == 4  # samples 10..13 were due and missing
    assert read_all(imu, True) == []
    assert imu.late == 4  # each missing sample counted once


def test_ring_takes_what_fits_and_wraps():
    clock = Ticks()
    imu = ReplayImu("mpu6050", 52.0, False, capacity=8, ticks_ms=clock)
    imu.configure()
    assert imu.accel_scale == (15625, 256)
    rows = [(i, i + 1, i + 2) for i in range(20)]
    assert imu.feed(packed(rows)) == 8 and imu.room() == 0
    clock.ms += 100_000
    got = read_all(imu, False, max_n=5)
    assert imu.feed(packed(rows[8:])) == 5  # the host resends the rest later
    got += read_all(imu, False)
    assert imu.feed(packed(rows[13:]), last=True) == 7
    assert imu.ended
    got += read_all(imu, False)
    assert got == rows


def test_last_flag_only_when_everything_was_taken():
    imu = ReplayImu("lsm6dsox", 26.0, False, capacity=4, ticks_ms=Ticks())
    imu.configure()
    assert imu.feed(packed([(1, 2, 3)] * 6), last=True) == 4
    assert not imu.ended


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown IMU"):
        ReplayImu("bmi270", 26.0, False)
    with pytest.raises(ValueError, match="rate"):
        ReplayImu("lsm6dsox", 0, False)
    imu = ReplayImu("lsm6dsox", 26.0, True, ticks_ms=Ticks())
    with pytest.raises(ValueError, match="not running"):
        imu.feed(packed([(1, 2, 3, 4, 5, 6)]))
    imu.configure()
    with pytest.raises(ValueError, match="whole samples"):
        imu.feed(packed([(1, 2, 3)]))


def test_replay_messages_round_trip():
    buf = bytearray(P.MAX_BODY)
    values = (26000, 1, 0, 0, "lsm6dsox")
    n = P.encode_body(buf, P.REPLAY_BEGIN, 7, values)
    assert (
        bytes(buf[:n])
        == bytes.fromhex("020d0700") + struct.pack("<IBBH", 26000, 1, 0, 0) + b"lsm6dsox"
    )
    assert P.decode_body(buf[:n]) == (P.REPLAY_BEGIN, 7, values)
    samples = packed([(1, -1, 2, -2, 3, -3)] * 106)
    assert len(samples) <= P.MAX_REPLAY_BYTES
    n = P.encode_body(buf, P.REPLAY, 8, (P.R_LAST, samples))
    assert n == P.HEADER_SIZE + 1 + 106 * 12
    assert P.decode_body(buf[:n]) == (P.REPLAY, 8, (P.R_LAST, samples))
    n = P.encode_body(buf, P.REPLAY_REPLY, 8, (100, 412, 3))
    assert bytes(buf[4:n]) == struct.pack("<HHI", 100, 412, 3)
    assert P.reply_type(P.REPLAY_BEGIN) == P.REPLAY_BEGIN_REPLY


def test_nothing_is_late_before_the_first_samples_if_they_cover_what_is_due():
    now = [0]
    imu = ReplayImu("lsm6dsox", 26.0, False, ticks_ms=lambda: now[0])
    imu.configure()
    acc = array("h", bytes(6 * 64))
    now[0] = 400  # the sampler polls before the host's first REPLAY came: 11 due
    assert imu.read_fifo(acc, None, 64) == 0 and imu.late == 0
    sample = bytes(6)
    assert imu.feed(sample * 20) == 20  # the first delivery holds every due sample
    assert imu.late == 0
    assert imu.read_fifo(acc, None, 64) == 11


def test_a_first_delivery_short_of_what_is_due_is_late():
    now = [0]
    imu = ReplayImu("lsm6dsox", 26.0, False, ticks_ms=lambda: now[0])
    imu.configure()
    now[0] = 1000  # 27 samples due (0 .. 26)
    assert imu.feed(bytes(6) * 20) == 20
    assert imu.late == 7
