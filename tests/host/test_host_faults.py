"""Small fixed-seed samples of the host fault campaigns that `make faults` runs in full
(bench/faults_host_kill.py, bench/faults_host_fuzz.py): SIGKILLed syncs and fuzzed frames.

On the main of before this change the kill sample left temporary folders behind (a kill
while a night folder was written) and the fuzz sample ended operations with exceptions
other than the documented ones (a stale frame of another version was a protocol mismatch;
a header that did not parse was an internal error).
"""

from __future__ import annotations

import sys

import pytest
from fake_device import FakeDevice, FakeLink, NightSpec, fake_night
from host_fuzz import MUTATIONS, run_fuzz
from kill_harness import run_campaign
from legsense_core import protocol as P
from legsense_core.frames import encode
from sync_harness import sync_port


@pytest.mark.skipif(sys.platform != "linux", reason="fork + /proc: Linux")
def test_sigkilled_syncs_resume_to_the_uninterrupted_folders(tmp_path):
    report = run_campaign(tmp_path, kills=5, seed=5)
    assert report.failures == []
    assert report.kills >= 5 and report.identical == report.rounds
    assert report.leftovers == report.bytes_lost == 0
    assert report.ack_beyond_stored == report.not_prefix == 0


def test_fuzzed_frames_never_crash_or_hang_the_host():
    report = run_fuzz(5_000, seed=3)
    assert report.crashes == 0, report.crash_examples
    assert report.hangs == 0
    assert report.frames >= 5_000 and report.outcomes["ok"] > 0
    assert set(report.by_mutation) == set(MUTATIONS)
    assert report.max_pending <= report.decoder_capacity


class StaleOtherVersion(FakeDevice):
    """Before every answer, a frame of protocol 1 for a request that is not in flight
    (left on the line by an older host's session, or noise with a good CRC)."""

    def handle(self, body):
        frames = super().handle(body)
        seq = (body[2] | body[3] << 8) ^ 0x8000
        return [encode(bytes([1, P.HELLO_REPLY, seq & 0xFF, seq >> 8])), *frames]


def test_a_stale_frame_of_another_version_does_not_end_the_session(tmp_path):
    nights = [fake_night(NightSpec(1, uid=0x5, minutes=10))]
    link = FakeLink(StaleOtherVersion(nights))
    try:
        report = sync_port(link.port, tmp_path / "host")
    finally:
        link.close()
    assert report.nights[0].stored == len(nights[0].data)
