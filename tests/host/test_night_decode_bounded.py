"""Night decoding on the host is bounded in memory whatever night.bin holds: raw samples
stream to raw.csv, counts beyond reason are cut and named, a deflate bomb stops at the
bytes its sample count allows.

On the main of before this change night.bin was read whole and its raw samples built
into one table (about 100 bytes per sample): memory grew with the night.
"""

from __future__ import annotations

import random
import struct
import tracemalloc
import zlib

import pytest
from legsense import night_decode, raw_samples
from legsense.night_decode import decode_night, decode_night_file, read_records_file
from legsense.raw_samples import raw_trace, write_raw_csv
from legsense.trace import write_trace
from legsense_core import records as R

HEADER_CFG = b'{"rate_hz": 52, "epoch_ms": 30000}'


def night_with_raw(path, chunks: int, seed: int = 1) -> None:
    """A night of `chunks` raw chunks of 60 samples with the gyro (deflated, as logged)."""
    rng = random.Random(seed)
    with open(path, "wb") as f:
        buf = bytearray(2048)
        end = R.encode_night(buf, 0, 1, "d", "f", "virtual", "lsm6dsox", 52000, (61, 1),
                             (8750, 1), 0, 0, 1_767_652_200_000, HEADER_CFG, 5, 1)  # fmt: skip
        f.write(buf[:end])
        for k in range(chunks):
            noise = bytearray(rng.randbytes(14 * 60))
            for j in range(60):  # the row's time offset, then six random int16 counts
                struct.pack_into("<H", noise, 14 * j, 19 * j)
            data = zlib.compress(bytes(noise), 1)
            end = R.encode_raw(buf, 0, 1140 * k, 60, R.RAW_DEFLATE, data)
            f.write(buf[:end])
            if k % 26 == 0:
                end = R.encode_epoch(buf, 0, (k // 26, 1560, 100, 10, 0, 0, 1000))
                f.write(buf[:end])


def peak_of(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_decoding_a_raw_night_does_not_grow_with_it(tmp_path):
    peaks = []
    for chunks in (1_000, 4_000):
        path = tmp_path / f"night-{chunks}.bin"
        night_with_raw(path, chunks)

        def work(path=path) -> None:
            d = decode_night_file(path)
            h = d.records.header
            write_raw_csv(path, tmp_path / "raw.csv", h.imu, (h.accel_scale, h.gyro_scale), d.info)

        peaks.append((path.stat().st_size, peak_of(work)))
    (small_bytes, small_peak), (big_bytes, big_peak) = peaks
    assert big_bytes > 3.5 * small_bytes and big_bytes > 3_000_000
    # four times the night, not four times the memory (a batch of samples at most)
    assert big_peak < 1.2 * small_peak + 1_000_000, peaks
    assert big_peak < 16_000_000, peaks


def test_streamed_raw_csv_is_the_trace_write_trace_writes(tmp_path, monkeypatch):
    path = tmp_path / "night.bin"
    night_with_raw(path, 40)
    data = path.read_bytes()
    d = decode_night(data)
    h = d.records.header
    scales = (h.accel_scale, h.gyro_scale)
    whole = raw_trace(d.records.raw, h.imu, scales, d.info)
    assert whole is not None
    write_trace(tmp_path / "whole.csv", whole)
    monkeypatch.setattr(raw_samples, "BATCH_SAMPLES", 500)  # many batches
    n = write_raw_csv(path, tmp_path / "streamed.csv", h.imu, scales, d.info)
    assert n == len(whole.t_s) > 2000
    assert (tmp_path / "streamed.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()


def test_events_beyond_reason_are_cut_and_named(tmp_path, monkeypatch):
    monkeypatch.setattr(night_decode, "MAX_EVENTS", 1000)
    buf = bytearray(1 << 16)
    end = R.encode_night(buf, 0, 1, "d", "f", "b", "lsm6dsox", 52000, (61, 1), (8750, 1),
                         0, 0, 1_767_652_200_000, HEADER_CFG, 5, 1)  # fmt: skip
    for i in range(1500):
        end = R.encode_event(buf, end, (1000 * i, 1000 * i + 600, 1, 1, 1, 1))
    path = tmp_path / "n.bin"
    path.write_bytes(buf[:end])
    night = read_records_file(path)
    assert len(night.events) == 1000
    assert night.problem and "500 events beyond 1,000 ignored" in night.problem


def test_a_deflate_bomb_is_skipped_not_inflated(tmp_path):
    buf = bytearray(4096)
    end = R.encode_night(buf, 0, 1, "d", "f", "b", "lsm6dsox", 52000, (61, 1), (8750, 1),
                         0, 0, 1_767_652_200_000, HEADER_CFG, 5, 1)  # fmt: skip
    bomb = zlib.compress(bytes(2_000_000), 9)[:900]  # inflates to far more than it may
    end = R.encode_raw(buf, end, 0, 60, R.RAW_DEFLATE, bomb)
    path = tmp_path / "bomb.bin"
    path.write_bytes(buf[:end])
    d = decode_night_file(path)
    said: list[str] = []
    peak = peak_of(
        lambda: write_raw_csv(
            path, tmp_path / "raw.csv", "lsm6dsox", ((61, 1), (8750, 1)), d.info, said.append
        )
    )
    assert said and "1 raw chunks skipped" in said[0]
    assert peak < 5_000_000
    assert not (tmp_path / "raw.csv").exists()


@pytest.mark.parametrize("cut", [0, 1, 3, 50])
def test_not_a_night_log_is_an_input_error(tmp_path, cut):
    path = tmp_path / "x.bin"
    path.write_bytes(b"\xa5\x01garbage"[:cut] + bytes(range(256)))
    with pytest.raises(night_decode.InputError, match="not a night log"):
        read_records_file(path)
