"""Do the night log's small state files fit on a full flash? Measured on LittleFS itself.

The acknowledgement files, `next_id`, `boot_count` and the recording state are 8-100
bytes and are replaced atomically (temp + rename). On LittleFS a file that small is kept
inline in its directory's metadata pair, using no data block, so writing one should
succeed even when every data block is in use. This measures it with the real littlefs C
library (the `littlefs-python` package, a dev dependency; without it the measurement
says it was skipped): a 256 KB image of 4 KB blocks
(MicroPython's ESP32 LittleFS geometry), 20 acknowledgement files written, then the
flash filled with data until LittleFS refuses, then 40 more small files written and
renamed into place, and an existing acknowledgement replaced.
"""

from __future__ import annotations

import contextlib

BLOCK = 4096
BLOCKS = 64
SMALL = b"\x01\x02\x03\x04\x05\x06\x07\x08"  # an .ack: u32 + CRC32


def run() -> dict:
    """The measurement (see the module doc)."""
    try:
        from littlefs import LittleFS  # type: ignore[import-not-found]
    except ImportError:
        return {"skipped": "littlefs-python is not installed (pip install littlefs-python)"}
    fs = LittleFS(
        block_size=BLOCK,
        block_count=BLOCKS,
        read_size=128,
        prog_size=128,
        cache_size=512,
        lookahead_size=32,
    )
    fs.mkdir("nights")
    empty = fs.used_block_count
    for i in range(20):
        with fs.open(f"nights/{i:08d}.ack", "wb") as f:
            f.write(SMALL)
    with_acks = fs.used_block_count
    data_blocks = 0
    while True:
        try:
            with fs.open(f"nights/data{data_blocks}.log", "wb") as f:
                f.write(b"x" * BLOCK)
            data_blocks += 1
        except Exception:
            with contextlib.suppress(Exception):
                fs.remove(f"nights/data{data_blocks}.log")
            break
    full = fs.used_block_count
    written = failed = 0
    for i in range(20, 60):
        try:
            with fs.open(f"nights/{i:08d}.ack.tmp", "wb") as f:
                f.write(SMALL)
            fs.rename(f"nights/{i:08d}.ack.tmp", f"nights/{i:08d}.ack")
            written += 1
        except Exception:
            failed += 1
    try:
        with fs.open("nights/00000001.ack.tmp", "wb") as f:
            f.write(SMALL[::-1])
        fs.rename("nights/00000001.ack.tmp", "nights/00000001.ack")
        replaced = True
    except Exception:
        replaced = False
    import littlefs  # type: ignore[import-not-found]

    return {
        "littlefs_python": getattr(littlefs, "__version__", "?"),
        "blocks": BLOCKS,
        "block_bytes": BLOCK,
        "used_empty": empty,
        "used_with_20_acks": with_acks,
        "used_when_full": full,
        "small_files_written_when_full": written,
        "small_files_failed_when_full": failed,
        "ack_replaced_when_full": replaced,
    }


def render(result: dict) -> list[str]:
    """README lines."""
    if "skipped" in result:
        return [f"LittleFS small-file measurement skipped: {result['skipped']}."]
    r = result
    return [
        f"Small state files on a full LittleFS (littlefs-python {r['littlefs_python']}, "
        f"{r['blocks']} blocks of {r['block_bytes']} bytes; `bench/faults_device_littlefs.py`): "
        f"20 acknowledgement files take {r['used_with_20_acks'] - r['used_empty']} blocks "
        f"(inline in the directory); with {r['used_when_full']} of {r['blocks']} blocks used, "
        f"{r['small_files_written_when_full']} more were written and renamed into place "
        f"({r['small_files_failed_when_full']} failed) and an acknowledgement was replaced: "
        f"{r['ack_replaced_when_full']}.",
    ]
