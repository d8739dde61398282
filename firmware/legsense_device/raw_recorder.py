# Optional raw-sample recording for validation nights (config "raw_samples", off by
# default): every FIFO batch goes to the night log as one T_RAW record, so the host can
# re-run the detector on exactly what the device saw (legsense writes it as raw.csv).
#
# Chunk layout before compression, little-endian, one row per sample:
#   uint16 dt_ms (from the record's t_ms), int16 ax, ay, az[, gx, gy, gz] (raw counts)
# compressed with deflate in a zlib container (records.RAW_DEFLATE): MicroPython's
# `deflate` module on the board, `zlib` on CPython (the same format). Compressing
# allocates per batch (a few per second), never per sample. Sensor noise compresses
# poorly: at 52 Hz with the gyro it costs about 2.6 MB of flash an hour (measured on a
# synthetic night; events alone cost about 7 KB an hour), so this is for short
# validation sessions or boards with large flash, not for every night.

import struct

from legsense_core import records

try:
    import io

    import deflate  # MicroPython

    def _compress(data):
        out = io.BytesIO()  # type: ignore  (the stubs lack the MicroPython io types)
        d = deflate.DeflateIO(out, deflate.ZLIB, 9)  # type: ignore
        d.write(data)  # type: ignore
        d.close()
        return out.getvalue()  # type: ignore

except ImportError:  # CPython
    import zlib

    def _compress(data):
        return zlib.compress(bytes(data), 6)


class RawRecorder:
    """Writes each batch of raw samples to the sink (a NightLog) as one T_RAW record."""

    def __init__(self, sink, batch, gyro):
        self.sink = sink
        self.axes = 6 if gyro else 3
        self.row = 2 + 2 * self.axes
        self._buf = bytearray(self.row * batch)
        self.chunks = 0
        self.dropped = 0  # batches that did not fit a record (never expected)

    def add(self, ts, acc, gyr, n):
        """Record n samples (ts night ms, acc/gyr interleaved counts)."""
        if n <= 0:
            return
        buf = self._buf
        t0 = ts[0]
        row = self.row
        off = 0
        for i in range(n):
            dt = ts[i] - t0
            struct.pack_into(
                "<Hhhh",
                buf,
                off,
                dt if dt < 65536 else 65535,
                acc[3 * i],
                acc[3 * i + 1],
                acc[3 * i + 2],
            )
            if gyr is not None and self.axes == 6:
                struct.pack_into("<hhh", buf, off + 8, gyr[3 * i], gyr[3 * i + 1], gyr[3 * i + 2])
            off += row
        data = _compress(memoryview(buf)[:off])
        if len(data) > records.MAX_RAW_DATA:
            self.dropped += 1
            return
        if self.sink.append_raw(t0, n, records.RAW_DEFLATE, data):
            self.chunks += 1
