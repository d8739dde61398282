# The sampling path of a night: IMU FIFO -> timestamps -> detector -> night log.
#
# begin() configures the IMU and a fresh detector; poll() reads the FIFO dry in batches
# into buffers allocated once, stamps the samples (SampleClock), feeds the detector and
# hands its events and epochs to the sink (the NightLog); end() drains the FIFO, lets
# the detector finish the last movement and powers the IMU down. The app calls poll()
# from its sampling task: once per FIFO burst when it light-sleeps between them (woken
# by the IMU's FIFO interrupt), every 250 ms when it stays awake.

from array import array

from legsense_core import records
from legsense_core.detector import DetectorConfig, LegMovementDetector, detector_rate

from legsense_device.raw_recorder import RawRecorder
from legsense_device.sample_clock import SampleClock

BATCH = 64  # samples per FIFO read: 64 * (6 + 6 + 4) bytes of buffers


class _NoSink:
    # Stands in for the night log between nights: nothing is recorded.
    def append_event(self, ev):
        return False

    def append_epoch(self, ep):
        return False

    def append_marker(self, t_ms, code, value=0, text=""):
        return False


_NO_SINK = _NoSink()


class Sampler:
    """Reads one IMU through one night at a time."""

    def __init__(self, imu, batch=BATCH):
        self.imu = imu
        self.batch = batch
        self._acc = array("h", bytes(6 * batch))
        self._gyr = array("h", bytes(6 * batch))
        self._ts = array("i", bytes(4 * batch))
        self.clock = SampleClock()
        self.detector = None
        self.raw = None
        self.sink = _NO_SINK
        self.odr_hz = 0.0
        self.samples = 0
        self.events = 0
        self.overflows = 0  # overflows seen in this night
        self._seen_overflows = 0
        self._reanchor = False
        self.raw = None  # RawRecorder on validation nights (config raw_samples)

    @property
    def running(self):
        return self.detector is not None

    def begin(
        self,
        sink,
        odr_hz,
        accel_fs_g,
        gyro_fs_dps,
        gyro,
        watermark,
        epoch_ms,
        t0_ms,
        raw=False,
        int1=False,
        int1_active_low=False,
        accel_power="high_performance",
    ):
        """Configure the IMU and a detector; samples count from t0_ms. Returns the ODR
        the IMU actually runs at. Raises OSError when the IMU does not answer. With raw,
        every batch is also logged as a compressed raw-sample record. int1: the FIFO
        watermark drives the IMU's interrupt pin (active low if int1_active_low).
        accel_power: the accelerometer's power mode (the driver says which runs)."""
        imu = self.imu
        self.odr_hz = imu.configure(
            odr_hz, accel_fs_g, gyro_fs_dps, gyro, watermark, int1, int1_active_low, accel_power
        )
        cfg = DetectorConfig(rate_hz=detector_rate(self.odr_hz), epoch_ms=epoch_ms)
        self.detector = LegMovementDetector(cfg, imu.accel_scale, imu.gyro_scale)
        self.sink = sink
        self.clock.start(self.odr_hz, t0_ms)
        self.samples = 0
        self.events = 0
        self.overflows = 0
        self._seen_overflows = imu.overflows
        self._reanchor = False
        self.raw = RawRecorder(sink, self.batch, gyro) if raw else None
        return self.odr_hz

    def poll(self, now_ms):
        """Read every sample waiting, up to now_ms (night ms); returns how many."""
        det = self.detector
        if det is None:
            return 0
        imu = self.imu
        acc = self._acc
        gyr = self._gyr if imu.gyro else None
        ts = self._ts
        total = 0
        while True:
            n = imu.read_fifo(acc, gyr, self.batch)
            if imu.overflows != self._seen_overflows:
                self.overflows += imu.overflows - self._seen_overflows
                self._seen_overflows = imu.overflows
                self._reanchor = True
            if n <= 0:
                break
            if self._reanchor:
                self._reanchor = False
                # The FIFO holds the newest samples: the last of them is about now.
                waiting = imu.fifo_level()
                newest = now_ms - (waiting * self.clock.p) // self.clock.q
                lost = self.clock.reanchor(newest, n)
                self.sink.append_marker(
                    now_ms, records.M_FIFO_OVERFLOW, self.clock.lost, "lost %d" % lost
                )
            self.clock.stamp(ts, n)
            if self.raw is not None:
                self.raw.add(ts, acc, gyr, n)
            det.process(ts, acc, gyr, n)
            self.samples += n
            total += n
            self._hand_off(det)
            if n < self.batch:
                break
        if total:
            self.clock.slew(now_ms)
        return total

    def _hand_off(self, det):
        sink = self.sink
        if det.events:
            for ev in det.events:
                sink.append_event(ev)
            self.events += len(det.events)
            det.events.clear()
        if det.epochs:
            for ep in det.epochs:
                sink.append_epoch(ep)
            det.epochs.clear()

    def end(self, now_ms):
        """Drain the FIFO, finish the detector (the last movement and epoch go to the
        sink) and power the IMU down. Safe to call when not running."""
        det = self.detector
        if det is None:
            return
        try:
            self.poll(now_ms)
        except OSError:
            pass  # the IMU went away: finish with what was read
        det.finish()
        self._hand_off(det)
        self.detector = None
        self.raw = None
        self.sink = _NO_SINK
        try:
            self.imu.power_down()
        except OSError:
            pass
