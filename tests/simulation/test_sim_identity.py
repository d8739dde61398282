"""`legsense sim`: each state folder is its own board (device id) and its running-sim
marker names that folder's board only (`make flash` without PORT)."""

from __future__ import annotations

import os

from legsense.commands.sim import port_file, running_port
from legsense.simulation.vm_board.board import uid_for_state


def test_each_state_folder_has_its_own_stable_device_id(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert uid_for_state(a) != uid_for_state(b)
    assert uid_for_state(a) == uid_for_state(tmp_path / "x" / ".." / "a")  # same folder
    assert len(uid_for_state(a)) == 6 and uid_for_state(a)[:3] == bytes.fromhex("240ac4")


def test_the_marker_of_one_folder_never_points_at_another_folders_board(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    master, slave = os.openpty()
    try:
        port = os.ttyname(slave)
        port_file(a).write_text(port + "\n")
        assert port_file(a).parent == tmp_path  # beside the flash folder, not inside it
        assert running_port(a) == port
        assert running_port(b) is None  # another folder: no board there
        port_file(b).write_text("/dev/no-such-port\n")  # left by a killed sim
        assert running_port(b) is None
    finally:
        os.close(master)
        os.close(slave)
