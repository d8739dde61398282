"""Make the small synthetic traces of the HIL replay tests (run from the repository root:
`.venv/bin/python tests/traces/make_traces.py`).

Each is a `legsense simulate-night` night with its labels; its timestamps are then put
on the IMU's exact output-data-rate grid (the generator jitters them like a real
logger's; an IMU emulator samples on its own exact grid, and the comparison with
`legsense analyze` is exact only when both see the same samples), and it is stored
gzipped to keep the repository small.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from legsense.trace import Trace, read_trace, write_trace

HERE = Path(__file__).resolve().parent
TRACES = [  # name, seed, minutes, rate (an LSM6 ODR), extra options
    ("plmd-gyro-26hz", 1, 3.0, 26, []),
    ("plmd-accel-26hz", 2, 3.0, 26, ["--no-gyro"]),
]


def main() -> None:
    for name, seed, minutes, rate, extra in TRACES:
        csv = HERE / f"{name}.csv"
        subprocess.run(
            [sys.executable, "-m", "legsense", "simulate-night", "--seed", str(seed),
             "--hours", str(minutes / 60), "--rate", str(rate), "--out", str(csv), *extra],
            check=True,
        )  # fmt: skip
        tr = read_trace(csv)
        exact = np.arange(len(tr.t_s)) / float(rate)
        write_trace(csv, Trace(t_s=exact, acc_g=tr.acc_g, gyr_dps=tr.gyr_dps, meta=tr.meta))
        with open(csv, "rb") as src, gzip.open(f"{csv}.gz", "wb", compresslevel=9) as dst:
            shutil.copyfileobj(src, dst)
        csv.unlink()


if __name__ == "__main__":
    main()
