"""The host's data model of one night: detected movements, epochs and metadata.

Plain numpy arrays in small dataclasses: cheap to build from the detector's tuples or
from a synced night log, and easy to hand to the scoring, the writers and the plot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

GAP_MIN_S = 1.0  # a hole in the data shorter than this is not reported as a gap


@dataclass(frozen=True)
class Movements:
    """Movements as the detector reported them (every length), one row each.

    Times in seconds from the start of the recording. `leg` is "" when unknown,
    else "left" or "right". Peaks: dynamic acceleration (L1 over axes) in mg and
    angular rate (L1 over axes) in deg/s; channels: 1 accel, 2 gyro, 3 both.
    """

    onset_s: np.ndarray
    offset_s: np.ndarray
    peak_mg: np.ndarray
    peak_dps: np.ndarray
    channels: np.ndarray
    leg: np.ndarray  # dtype str

    @property
    def duration_s(self) -> np.ndarray:
        return self.offset_s - self.onset_s

    def __len__(self) -> int:
        return len(self.onset_s)

    @classmethod
    def from_arrays(
        cls,
        onset_s: np.ndarray,
        offset_s: np.ndarray,
        leg: np.ndarray | None = None,
    ) -> Movements:
        n = len(onset_s)
        return cls(
            onset_s=np.asarray(onset_s, dtype=float),
            offset_s=np.asarray(offset_s, dtype=float),
            peak_mg=np.zeros(n, dtype=np.int64),
            peak_dps=np.zeros(n, dtype=np.int64),
            channels=np.zeros(n, dtype=np.int64),
            leg=np.full(n, "", dtype=object) if leg is None else np.asarray(leg, dtype=object),
        )


@dataclass(frozen=True)
class Epochs:
    """Per-epoch activity and posture (only epochs that had samples)."""

    epoch_s: float
    start_s: np.ndarray
    n_samples: np.ndarray
    active_s: np.ndarray
    activity_mg_s: np.ndarray
    posture_mg: np.ndarray  # (n, 3): mean gravity vector, x y z

    def __len__(self) -> int:
        return len(self.start_s)


@dataclass
class NightInfo:
    """What is known about the recording itself."""

    recording_s: float  # first to last sample
    analysed_s: float  # recording minus gaps in the data
    sample_rate_hz: float
    start_utc: datetime | None = None
    imu: str = ""
    leg: str = ""
    source: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    data_spans_s: list[tuple[float, float]] | None = None  # stretches with data, no gaps
    # Set for synced nights (night_decode); None/0 elsewhere, and summary_dict fills in.
    gaps_s: list[tuple[float, float, str]] | None = None  # (start s, duration s, cause)
    resets: int = 0  # resets the night survived (M_RESUMED markers)
    clock: dict | None = None  # time_base.TimeBase.summary()
