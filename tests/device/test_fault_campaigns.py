"""A small fixed-seed sample of the device fault campaigns (`make faults` runs them at
full size): resets of every kind resume with nothing recorded lost beyond the boot time
and the same events as the detector on the same samples; power cuts and bit flips never
change acknowledged bytes nor surface a corrupt record; re-flashing never repeats a
(device id, night UID)."""

from __future__ import annotations

from legsense.simulation.vm_board.mp_lib.sim_machine_common import BOOT_MS

from bench import faults_device_flash, faults_device_resets


def test_reset_campaign_sample():
    result = faults_device_resets.run(resets_per_kind=3, vm_per_kind=0, seed=3, night_hours=0.5)
    for kind, k in result["kinds"].items():
        assert k["resets"] == 3, kind
        assert k["nights_split"] == 0 and k["nights_lost"] == 0, kind
        assert k["stretch_mismatches"] == 0, kind
        if kind == "power cut":
            assert k["resumed"] == 0
            continue
        assert k["resumed"] == 3, kind
        hang = 8.0 if kind == "watchdog" else 0.0
        assert (
            BOOT_MS / 1000 + hang
            <= k["gap_s_mean"]
            <= k["gap_s_max"]
            <= BOOT_MS / 1000 + hang + 1.3
        )


def test_flash_campaign_sample():
    result = faults_device_flash.run(cuts=150, flips=60, erases=2, seed=4)
    cuts, flips, reflash = result["power_cuts"], result["bit_flips"], result["reflash"]
    assert cuts["acked_bytes_changed"] == 0 and cuts["corrupt_records_surfaced"] == 0
    assert cuts["nights_not_closed_or_lost"] == 0
    assert flips["acked_bytes_changed"] == 0 and flips["corrupt_records_surfaced"] == 0
    assert reflash["distinct_night_ids"] < reflash["nights"]  # ids restart after an erase
    assert reflash["repeated_device_id_and_uid"] == 0
