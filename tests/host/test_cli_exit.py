"""Exit statuses as the README documents them: an output folder that cannot be written is
bad input (2) found before the device is asked anything; a reader closing our stdout is
not a bug; a sync that left nights on the device says so with status 4.

On the main of before this change: a closed pipe gave 1, a bad --out gave "internal
error" (1) after the device clock had been set, and a sync that left a night gave 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_device import FakeDevice, FakeLink, NightSpec, fake_night
from legsense.cli import main
from legsense.errors import EXIT_UNSYNCED, EXIT_USAGE
from legsense_core import protocol as P


def test_a_closed_stdout_pipe_is_a_quiet_exit(tmp_path):
    events = tmp_path / "ev.csv"
    events.write_text("onset_s,duration_s\n" + "".join(f"{20 * i + 5},2\n" for i in range(50)))
    read, write = os.pipe()
    os.close(read)  # the reader (`| head -1`) has gone before we write
    try:
        r = subprocess.run(
            [sys.executable, "-m", "legsense", "score", str(events), "--recording-hours", "1"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def bad_outs(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    outs = {"a file": (a_file, "is not a folder"), "below a file": (a_file / "sub", "a file")}
    outs["in /proc"] = (Path("/proc/legsense-cannot-be-here"), "cannot")
    if os.geteuid() != 0:  # root writes anywhere: this case needs a normal user
        ro = tmp_path / "read-only"
        ro.mkdir()
        ro.chmod(0o555)
        outs["read-only"] = (ro, "cannot write here")
    return outs


@pytest.mark.parametrize("case", ["a file", "below a file", "in /proc"])
@pytest.mark.parametrize("command", ["sync", "time --set"])
def test_an_unusable_out_is_bad_input_before_any_device_command(tmp_path, capsys, case, command):
    out, words = bad_outs(tmp_path)[case]
    device = FakeDevice([fake_night(NightSpec(1, uid=1, minutes=5))])
    link = FakeLink(device)
    try:
        status = main([*command.split(), "--port", link.port, "--out", str(out)])
    finally:
        link.close()
    err = capsys.readouterr().err.strip()
    assert status == EXIT_USAGE, err
    assert str(out) in err and words in err and "\n" not in err
    assert device.requests[P.SET_TIME] == 0 and device.requests[P.READ] == 0
    assert device.requests[P.HELLO] == 0  # checked before the link was even opened


def test_read_only_out_for_a_normal_user(tmp_path, capsys):
    outs = bad_outs(tmp_path)
    if "read-only" not in outs:
        pytest.skip("running as root: permissions do not stop root")
    out, words = outs["read-only"]
    assert main(["sync", "--port", "/dev/null", "--out", str(out)]) == EXIT_USAGE
    assert words in capsys.readouterr().err


def test_sync_that_leaves_a_night_exits_4_and_says_why(tmp_path, capsys):
    nights = [fake_night(NightSpec(i, uid=i, minutes=5, seed=i)) for i in (1, 2)]
    data = bytearray(nights[1].data)
    data[1] = 0x7F  # not a record type: the header cannot be read
    nights[1].data = bytes(data)
    link = FakeLink(FakeDevice(nights))
    try:
        status = main(["sync", "--port", link.port, "--out", str(tmp_path / "o"), "-q"])
    finally:
        link.close()
    err = capsys.readouterr().err
    assert status == EXIT_UNSYNCED
    assert "1 of 2 nights" in err and "night 2" in err
