"""`make bench`: run every benchmark, print the figures, write them into README.md.

The README block between the bench markers is replaced with what was measured now, on
this machine, so no figure there is older than the last `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def render(results: dict) -> str:
    lines = [START, "", f"Measured {results['date']} on {results['machine']}.", ""]
    acc = results.get("accuracy")
    if acc:
        lines += [
            f"Detection over {acc['nights']} synthetic nights of {acc['hours_each']:g} h "
            f"({acc['true_lms']} labelled LMs; rates 10-104 Hz, four IMU noise models, "
            "accelerometer-only every fifth night; `bench/accuracy.py`):",
            "",
            "| figure | value | target |",
            "|---|---|---|",
            f"| LM sensitivity | {acc['sensitivity']:.3f} | |",
            f"| LM positive predictive value | {acc['ppv']:.3f} | |",
            f"| LM F1 (all nights pooled) | {acc['f1']:.3f} | >= 0.95 |",
            f"| LM F1, worst night | {acc['f1_worst_night']:.3f} | |",
            f"| mean abs PLM-index error | {acc['plmi_abs_error_mean']:.2f} /h | <= 1 /h |",
            f"| max abs PLM-index error | {acc['plmi_abs_error_max']:.2f} /h | |",
            "",
        ]
    sp = results.get("speed")
    if sp:
        a = sp["analyze_8h_50hz"]
        d = sp["detector_cpython"]["us_per_sample"]
        lines += [
            "| speed | value | target |",
            "|---|---|---|",
            f"| `legsense analyze`, 8 h at 50 Hz "
            f"({a['samples']:,} samples, {a['trace_mb']} MB CSV) "
            f"| {a['analyze_s']:.1f} s | <= 10 s |",
            f"| detector on CPython, accel+gyro | {d['accel+gyro']:.2f} us/sample "
            f"({1e6 / d['accel+gyro'] / 50 / 3600:.0f} h of 50 Hz data per second) | |",
            f"| detector on CPython, accel only | {d['accel only']:.2f} us/sample | |",
            "",
        ]
    sy = results.get("sync")
    if sy:
        lines += [
            f"Sync of a typical {sy['night_hours']:g} h night "
            f"({sy['night_bytes']:,} bytes of night "
            "log) over a pseudo-terminal paced like a UART (`bench/sync_throughput.py`; "
            "handshake, set-time and list included):",
            "",
            "| baud | transfer | payload rate | whole sync vs baud/10 | streaming phase "
            "| host CPU |",
            "|---|---|---|---|---|---|",
        ]
        for baud in (115200, 921600):
            b = sy[f"baud_{baud}"]
            lines.append(
                f"| {baud} | {b['transfer_s']:.2f} s | {b['bytes_per_s']:,} B/s "
                f"| {b['efficiency']:.1%} | {b['streaming_efficiency']:.1%} (target >= 85 %) "
                f"| {b['host_cpu_s_per_mb']:.2f} s/MB |"
            )
        lines.append("")
    vb = results.get("virtual_board")
    if vb and "skipped" in vb:
        lines += [f"MicroPython VM measurements skipped: {vb['skipped']}", ""]
    elif vb:
        d, app, hp, fl, ag = vb["detector"], vb["app"], vb["heap"], vb["flash"], vb["agreement"]
        kb = 1024
        lo, hi = vb["esp32"]["assumed_slowdown"]
        lines += [
            "On the real MicroPython 1.27 VM (WebAssembly under Node; `bench/virtual_board.py`):",
            "",
            "| figure | value |",
            "|---|---|",
            f"| detector on the VM | {d['vm_us_per_sample']:.1f} us/sample = "
            f"{d['vm_ms_per_data_s']:.2f} ms per second of {d['rate_hz']:g} Hz data "
            f"(CPython {d['cpython_us_per_sample']:.1f} us/sample) |",
            f"| whole app on the VM while recording | {app['vm_cpu_ms_per_data_s']:.1f} ms CPU "
            f"per second of data ({app['vm_cpu_ms_per_s_idle']:.1f} idle; includes Node and "
            "the I2C bridge) |",
            f"| ESP32 estimate (assumed {lo}-{hi}x slower than the VM, not measured) | "
            f"detector {vb['esp32']['detector_duty'][0]:.1%}-{vb['esp32']['detector_duty'][1]:.1%}"
            f" of the CPU |",
            f"| heap while recording, runtime data of a night (b) | "
            f"{hp['mpy']['runtime_b'] / kb:.1f} KB |",
            f"| heap, garbage between collections (c) | {hp['mpy']['garbage_c_max'] / kb:.1f} KB |",
            f"| heap, firmware bytecode from .py / .mpy (a) | {hp['py']['bytecode_a'] / kb:.0f} / "
            f"{hp['mpy']['bytecode_a'] / kb:.0f} KB (a frozen image keeps it in flash) |",
            f"| heap while recording, frozen image (estimate) | "
            f"{hp['frozen_recording_peak_estimate'] / kb:.0f} KB peak (budget "
            f"{hp['budget_bytes'] / kb:.0f} KB) |",
            f"| flash per 8 h night, events | {fl['events_bytes'] / kb:.0f} KB |",
            f"| flash per 8 h night, with raw samples | {fl['raw_bytes_per_night'] / 1e6:.1f} MB |",
            f"| CPython vs MicroPython events, every trace | {ag['equal']} of {ag['traces']} "
            "identical |",
            "",
        ]
    ble = results.get("ble")
    if ble:
        ev_ms = ble["rates"]["one_per_event_s"] * 1000
        lines += [
            f"BLE sync of a typical {ble['hours']:g} h night over a real ATT/GATT stack (Bumble "
            "virtual controllers; `bench/ble_efficiency.py`); times are estimates at a stated "
            f"notification rate (one per {ev_ms:g} ms, assumed for MicroPython) and at "
            "NimBLE's published ceiling:",
            "",
            "| ATT MTU | payload / ATT bytes | notifications | requests | est. at 1 per "
            f"{ev_ms:g} ms | est. at NimBLE ceiling |",
            "|---|---|---|---|---|---|",
        ]
        for r in ble["by_mtu"]:
            lines.append(
                f"| {r['mtu']} | {r['payload_per_att_byte']:.1%} | {r['notifications']:,} "
                f"| {r['requests']} | {r['est_s_one_per_event']:g} s "
                f"| {r['est_s_nimble_ceiling']:g} s |"
            )
        lines.append("")
    for extra in results.get("extra_lines", []):
        lines.append(extra)
    lines.append(END)
    return "\n".join(lines)


def update_readme(block: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
        readme.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--nights", type=int, default=24)
    p.add_argument("--hours", type=float, default=2.0)
    p.add_argument(
        "--only", choices=["accuracy", "speed", "sync", "ble", "virtual_board"], default=None
    )
    p.add_argument("--no-readme", action="store_true")
    args = p.parse_args(argv)
    from bench import accuracy, speed

    results: dict = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine()}
    if args.only in (None, "accuracy"):
        print(f"accuracy: {args.nights} nights of {args.hours:g} h ...", flush=True)
        results["accuracy"] = accuracy.run(args.nights, args.hours)
    if args.only in (None, "speed"):
        print("speed: analyze of an 8 h 50 Hz night, detector cost per sample ...", flush=True)
        results["speed"] = speed.run()
    if args.only in (None, "sync"):
        from bench import sync_throughput

        print("sync: a typical night over a paced pseudo-terminal at 115200 and 921600 ...")
        results["sync"] = sync_throughput.run()
    if args.only in (None, "ble"):
        from bench import ble_efficiency

        print("ble: protocol efficiency over a Bumble link at MTU 23, 185, 247 ...")
        results["ble"] = ble_efficiency.run()
    if args.only in (None, "virtual_board"):
        from bench import virtual_board

        print("virtual board: detector, app, heap, flash, agreement on the MicroPython VM ...")
        results["virtual_board"] = virtual_board.run()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    block = render(results)
    print(block)
    if not args.no_readme and args.only is None:
        update_readme(block)
        print("README.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
