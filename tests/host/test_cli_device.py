"""The device commands end to end over a pty: output, exit statuses, one-line errors."""

from __future__ import annotations

import json
import os
import threading
import tty

import pytest
from legsense.cli import main
from legsense.errors import EXIT_DEVICE
from legsense_core import protocol as P
from legsense_core.frames import FrameDecoder, encode
from link_device import DEVICE_ID
from sync_harness import Rig


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path / "device")
    yield r
    r.close()


def test_sync_status_time_config_start_stop_erase(rig, tmp_path, capsys):
    port = rig.port
    assert main(["start", "--port", port]) == 0
    assert "recording night 1" in capsys.readouterr().out
    for i in range(20):  # what the detector would log meanwhile (the link is idle)
        assert rig.device.log.append_epoch((i, 1560, 0, 12, 10, -20, 990))
    assert rig.device.log.append_event((61_000, 62_340, 184, 37, 3, 212))
    rig.clock.advance(600_000)
    assert main(["stop", "--port", port]) == 0
    assert "stopped night 1" in capsys.readouterr().out
    assert main(["erase", "--synced", "--port", port]) == 0
    assert "erased 0 nights" in capsys.readouterr().out  # not synced yet: kept
    out = tmp_path / "data"
    assert main(["sync", "--port", port, "--out", str(out), "--no-picture"]) == 0
    text = capsys.readouterr().out
    assert "night 1:" in text and "complete" in text
    assert list((out / DEVICE_ID).glob("*_1/night.edf")), text
    assert main(["status", "--port", port]) == 0
    text = capsys.readouterr().out
    assert DEVICE_ID in text and "clock     set" in text
    assert main(["time", "--port", port]) == 0
    assert "difference" in capsys.readouterr().out
    assert main(["time", "--set", "--port", port, "--out", str(out)]) == 0
    assert "device was" in capsys.readouterr().out
    assert (out / DEVICE_ID / "clock.csv").read_text().count("\n") == 3  # header + 2
    assert main(["config", "set", "odr_hz=26", "leg=left", "--port", port]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["odr_hz"] == 26 and cfg["leg"] == "left"
    assert main(["config", "get", "--port", port]) == 0
    assert json.loads(capsys.readouterr().out)["odr_hz"] == 26
    assert main(["erase", "--synced", "--port", port]) == 0
    assert "erased 1 nights (1)" in capsys.readouterr().out


def test_device_refusal_is_one_line_exit_3(rig, capsys):
    assert main(["config", "set", "odr_hz=7", "--port", rig.port]) == EXIT_DEVICE
    err = capsys.readouterr().err.strip()
    assert err.startswith("legsense config: ") and "bad request" in err
    assert "\n" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["status", "--port", "/dev/no-such-legsense-port"], "no such port"),
        (["sync", "--port", "/dev/null", "--out", "x"], "not a serial port"),
    ],
)
def test_port_errors(argv, message, capsys):
    assert main(argv) == EXIT_DEVICE
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_silent_port_times_out(capsys):
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        argv = ["status", "--port", os.ttyname(slave), "--timeout", "0.2"]
        assert main(argv) == EXIT_DEVICE
    finally:
        os.close(slave)
        os.close(master)
    assert "no answer from the device within 0.2 s" in capsys.readouterr().err


def _answer_with_version(master: int, version: int, stop: threading.Event) -> None:
    decoder = FrameDecoder()
    while not stop.is_set():
        try:
            data = os.read(master, 4096)
        except OSError:
            return
        for body in decoder.feed(data):
            reply = bytearray(body[:4])
            reply[0] = version
            reply[1] = P.HELLO_REPLY
            os.write(master, encode(bytes(reply)))


def test_protocol_mismatch(capsys):
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()
    t = threading.Thread(target=_answer_with_version, args=(master, 9, stop), daemon=True)
    t.start()
    try:
        assert main(["status", "--port", os.ttyname(slave), "--timeout", "2"]) == EXIT_DEVICE
    finally:
        stop.set()
        os.close(slave)
        os.close(master)
        t.join(2)
    err = capsys.readouterr().err
    assert "protocol mismatch: device speaks 9, host speaks 2" in err


def test_devices_lists_the_port_that_answers(rig, capsys):
    assert main(["devices", rig.port, "/dev/no-such-legsense-port"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(rig.port) and DEVICE_ID in lines[0]
