# Optional raw-sample recording for validation nights (config "raw_samples", off by
# default): every FIFO batch goes to the night log as one T_RAW record, so the host can
# re-run the detector on exactly what the device saw (legsense writes it as raw.csv).
#
# Chunk rows: records.pack_raw_rows (the one definition, read back by the host),
# compressed with deflate in a zlib container (records.RAW_DEFLATE): MicroPython's
# `deflate` module on the board, `zlib` on CPython (the same format). Compressing
# allocates per batch (a few per second), never per sample. Sensor noise compresses
# poorly: at 52 Hz with the gyro it costs about 2.6 MB of flash an hour (measured on a
# synthetic night; events alone cost about 7 KB an hour), so this is for short
# validation sessions or boards with large flash, not for every night.

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
        self.gyro = gyro
        self._buf = bytearray((14 if gyro else 8) * batch)
        self.chunks = 0
        self.dropped = 0  # batches that did not fit a record (never expected)

    def add(self, ts, acc, gyr, n):
        """Record n samples (ts night ms, acc/gyr interleaved counts)."""
        if n <= 0:
            return
        end = records.pack_raw_rows(self._buf, ts, acc, gyr if self.gyro else None, n)
        data = _compress(memoryview(self._buf)[:end])
        if len(data) > records.MAX_RAW_DATA:
            self.dropped += 1
            return
        if self.sink.append_raw(ts[0], n, records.RAW_DEFLATE, data):
            self.chunks += 1
