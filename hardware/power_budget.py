#!/usr/bin/env python3
"""Power budget of a legsense build for one night: reads hardware/<build>/power.json.

Each load is a current (mA) in one state and the share of time spent in it (duty):
average mA = sum(mA x duty); mAh per night = average mA x night hours; usable capacity
= cell mAh x every derating factor; nights per charge = usable mAh / mAh per night.

The MCU's awake share is not a hand-set constant: a load with "measured": "<scenario>"
takes its duty from the file named by the budget's "measured_duty" (a path relative to
the power.json; hardware/measured_duty.json, written by bench/power_duty.py from a whole
simulated night of the real firmware, calibrated to an ESP32; committed so this runs
without the benchmark).

Plain CPython, standard library only:

    python3 hardware/power_budget.py hardware/devkitc_lsm6dsox/power.json

Bad input gives one line on stderr naming the file and key, and exit status 2.
The format of power.json is described in hardware/README.md ("Power budgets").
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

EXIT_USAGE = 2
DUTY_REST = "rest"
LOAD_KEYS = (
    "part",
    "state",
    "ma",
    "duty",
    "on_ms",
    "period_ms",
    "group",
    "source",
    "checked",
    "note",
    "measured",
)


class BudgetError(Exception):
    """Bad power.json: printed as one line 'path[:line]: message', exit status 2."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Load:
    """One part in one state: its current and the share of the night spent there."""

    part: str
    state: str
    ma: float
    duty: float
    source: str
    checked: bool

    @property
    def avg_ma(self) -> float:
        return self.ma * self.duty


@dataclass(frozen=True)
class Scenario:
    """One way of running the build (e.g. accelerometer + gyroscope) and its result."""

    name: str
    loads: tuple[Load, ...]
    night_hours: float
    cell_mah: float
    derating: float

    @property
    def avg_ma(self) -> float:
        return math.fsum(load.avg_ma for load in self.loads)

    @property
    def mah_per_night(self) -> float:
        return self.avg_ma * self.night_hours

    @property
    def usable_mah(self) -> float:
        return self.cell_mah * self.derating

    @property
    def nights_per_charge(self) -> float:
        return self.usable_mah / self.mah_per_night

    @property
    def hours_per_charge(self) -> float:
        return self.usable_mah / self.avg_ma


@dataclass(frozen=True)
class Budget:
    """A whole power.json: the build, its sources and its scenarios."""

    build: str
    sources: dict[str, str]
    derating_reasons: tuple[tuple[float, str], ...]
    scenarios: tuple[Scenario, ...]
    measured: dict | None = None  # the measured_duty file's content, when used


def _number(value: object, where: str, path: Path, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BudgetError(f"{where} must be a number", path)
    if not (low <= value <= high) or math.isnan(value):
        raise BudgetError(f"{where} = {value} is outside {low}..{high}", path)
    return float(value)


def _text(value: object, where: str, path: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BudgetError(f"{where} must be a non-empty text", path)
    return value


def _duty(raw: dict, where: str, path: Path, measured: dict | None) -> float | None:
    # A duty is a fraction, or on_ms per period_ms, or "rest" (resolved per group), or
    # "measured": a scenario of the measured duty file.
    if "measured" in raw:
        if "duty" in raw or "on_ms" in raw or "period_ms" in raw:
            raise BudgetError(f"{where}: give measured or a duty, not both", path)
        if measured is None:
            raise BudgetError(f"{where}.measured needs the budget's measured_duty file", path)
        key = raw["measured"]
        scenarios = measured["scenarios"]
        if not isinstance(key, str) or key not in scenarios:
            raise BudgetError(
                f"{where}.measured {key!r} is not a scenario of the measured duty file "
                f"({', '.join(sorted(scenarios))})",
                path,
            )
        return _number(scenarios[key]["awake_fraction"], f"{where}.measured", path, 0.0, 1.0)
    if "duty" in raw and ("on_ms" in raw or "period_ms" in raw):
        raise BudgetError(f"{where}: give duty or on_ms/period_ms, not both", path)
    if raw.get("duty") == DUTY_REST:
        return None
    if "duty" in raw:
        return _number(raw["duty"], f"{where}.duty", path, 0.0, 1.0)
    if "on_ms" in raw and "period_ms" in raw:
        period = _number(raw["period_ms"], f"{where}.period_ms", path, 1e-9, 1e12)
        on = _number(raw["on_ms"], f"{where}.on_ms", path, 0.0, period)
        return on / period
    raise BudgetError(f"{where} needs duty (0..1 or 'rest') or on_ms and period_ms", path)


def _loads(
    raw_loads: object,
    where: str,
    path: Path,
    sources: dict[str, str],
    measured: dict | None = None,
) -> list[Load]:
    if not isinstance(raw_loads, list):
        raise BudgetError(f"{where} must be a list", path)
    loads: list[Load] = []
    groups: dict[str, list[int]] = {}
    rest: dict[str, int] = {}
    for i, raw in enumerate(raw_loads):
        w = f"{where}[{i}]"
        if not isinstance(raw, dict):
            raise BudgetError(f"{w} must be an object", path)
        for key in raw:
            if key not in LOAD_KEYS:
                raise BudgetError(
                    f"{w}: unknown key {key!r} (allowed: {', '.join(LOAD_KEYS)})", path
                )
        part = _text(raw.get("part"), f"{w}.part", path)
        state = _text(raw.get("state"), f"{w}.state", path)
        ma = _number(raw.get("ma"), f"{w}.ma", path, 0.0, 10000.0)
        source = _text(raw.get("source"), f"{w}.source", path)
        if source not in sources:
            raise BudgetError(f"{w}.source {source!r} is not a key of sources", path)
        checked = raw.get("checked")
        if not isinstance(checked, bool):
            raise BudgetError(f"{w}.checked must be true or false", path)
        duty = _duty(raw, w, path, measured)
        group = raw.get("group", f"#{i}")
        if not isinstance(group, str):
            raise BudgetError(f"{w}.group must be a text", path)
        if duty is None:
            if group in rest or group.startswith("#"):
                raise BudgetError(f"{w}: one duty 'rest' per named group", path)
            rest[group] = len(loads)
        groups.setdefault(group, []).append(len(loads))
        loads.append(Load(part, state, ma, 0.0 if duty is None else duty, source, checked))
    # The states of one group exclude each other (a chip is in one state at a time):
    # their duties may not add up to more than 1, and "rest" takes what is left.
    for group, members in groups.items():
        total = math.fsum(loads[k].duty for k in members)
        if total > 1.0 + 1e-9:
            raise BudgetError(f"{where}: duties of group {group!r} add up to {total:.6g} > 1", path)
        if group in rest:
            k = rest[group]
            old = loads[k]
            loads[k] = Load(
                old.part, old.state, old.ma, max(0.0, 1.0 - total), old.source, old.checked
            )
    return loads


def parse(data: object, path: Path) -> Budget:
    """Check a decoded power.json and build the Budget; BudgetError names the key."""
    if not isinstance(data, dict):
        raise BudgetError("power.json must be a JSON object", path)
    build = _text(data.get("build"), "build", path)
    hours = _number(data.get("night_hours"), "night_hours", path, 0.1, 24.0)
    sources = data.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise BudgetError("sources must map keys to citations", path)
    for key, text in sources.items():
        _text(text, f"sources.{key}", path)
    battery = data.get("battery")
    if not isinstance(battery, dict):
        raise BudgetError("battery must be an object", path)
    cell = _number(battery.get("cell_mah"), "battery.cell_mah", path, 1e-3, 1e6)
    raw_derating = battery.get("derating")
    if not isinstance(raw_derating, list):
        raise BudgetError("battery.derating must be a list of {factor, why}", path)
    derating = 1.0
    reasons = []
    for i, d in enumerate(raw_derating):
        w = f"battery.derating[{i}]"
        if not isinstance(d, dict):
            raise BudgetError(f"{w} must be an object", path)
        factor = _number(d.get("factor"), f"{w}.factor", path, 1e-6, 1.0)
        reasons.append((factor, _text(d.get("why"), f"{w}.why", path)))
        derating *= factor
    measured = _measured(data.get("measured_duty"), path)
    common = _loads(data.get("loads", []), "loads", path, sources, measured)
    raw_scenarios = data.get("scenarios")
    if not isinstance(raw_scenarios, list) or not raw_scenarios:
        raise BudgetError("scenarios must list at least one {name, loads}", path)
    scenarios = []
    for i, s in enumerate(raw_scenarios):
        w = f"scenarios[{i}]"
        if not isinstance(s, dict):
            raise BudgetError(f"{w} must be an object", path)
        name = _text(s.get("name"), f"{w}.name", path)
        own = _loads(s.get("loads"), f"{w}.loads", path, sources, measured)
        loads = tuple(common + own)
        if not loads or math.fsum(x.avg_ma for x in loads) <= 0:
            raise BudgetError(f"{w}: draws no current at all", path)
        scenarios.append(Scenario(name, loads, hours, cell, derating))
    return Budget(build, dict(sources), tuple(reasons), tuple(scenarios), measured)


def _measured(name: object, path: Path) -> dict | None:
    # The measured duty file (bench/power_duty.py's output): {"scenarios": {name:
    # {"awake_fraction": f, "wakes_per_hour": n, ...}}, "source": ..., ...}.
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise BudgetError("measured_duty must be a path (relative to this file)", path)
    file = (path.parent / name).resolve()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        msg = f"measured_duty: cannot read {name} ({e.__class__.__name__})"
        raise BudgetError(msg, path) from None
    except json.JSONDecodeError as e:
        raise BudgetError(f"not valid JSON: {e.msg}", file, e.lineno) from None
    scenarios = data.get("scenarios") if isinstance(data, dict) else None
    if not isinstance(scenarios, dict) or not scenarios:
        raise BudgetError("scenarios must map names to measured duties", file)
    for key, sc in scenarios.items():
        if not isinstance(sc, dict):
            raise BudgetError(f"scenarios.{key} must be an object", file)
        _number(sc.get("awake_fraction"), f"scenarios.{key}.awake_fraction", file, 0.0, 1.0)
        _number(sc.get("wakes_per_hour"), f"scenarios.{key}.wakes_per_hour", file, 0.0, 1e6)
    return data


def load(path: str | Path) -> Budget:
    """Read and check one power.json."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BudgetError(f"cannot read ({e.__class__.__name__})", path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise BudgetError(f"not valid JSON: {e.msg}", path, e.lineno) from None
    return parse(data, path)


def render(budget: Budget) -> str:
    """The budget as Markdown: one table per scenario, then the battery arithmetic."""
    out = [f"## Power budget: {budget.build}", ""]
    for sc in budget.scenarios:
        out += [
            f"### {sc.name}",
            "",
            "| part | state | mA | duty | avg mA | source |",
            "|---|---|---:|---:|---:|---|",
        ]
        for x in sc.loads:
            mark = "" if x.checked else " (unchecked)"
            out.append(
                f"| {x.part} | {x.state} | {x.ma:.4g} | {x.duty:.4f} | {x.avg_ma:.3f} "
                f"| {x.source}{mark} |"
            )
        big = max(sc.loads, key=lambda x: x.avg_ma)
        without = sc.usable_mah / ((sc.avg_ma - big.avg_ma) * sc.night_hours)
        out += [
            f"| **total** | | | | **{sc.avg_ma:.3f}** | |",
            "",
            f"- largest load: {big.part} ({big.state}), {big.avg_ma:.3f} mA = "
            f"{big.avg_ma / sc.avg_ma:.0%} of the total; without it: {without:.1f} nights",
            f"- average current: {sc.avg_ma:.3f} mA",
            f"- per {sc.night_hours:g} h night: {sc.mah_per_night:.1f} mAh",
            f"- usable capacity: {sc.cell_mah:g} mAh x {sc.derating:.3f} = {sc.usable_mah:.1f} mAh",
            f"- nights per charge: {sc.nights_per_charge:.2f}"
            f" ({sc.hours_per_charge:.1f} h of recording)",
            "",
        ]
    m = budget.measured
    if m is not None:
        out += [
            f"Measured MCU duty ({m.get('source', 'measured_duty')}; "
            f"{m.get('model', '')}; VM-to-ESP32 ratio {m.get('vm_to_esp32_ratio', '?')}, "
            f"from {m.get('ratio_source', '?')}):",
        ]
        for key, sc in m["scenarios"].items():
            out.append(
                f"- {key}: awake {sc['awake_fraction']:.3%} of the night, "
                f"{sc['wakes_per_hour']:g} wakes/h"
            )
        out.append("")
    out.append("Derating:")
    for factor, why in budget.derating_reasons:
        out.append(f"- x{factor:g}: {why}")
    out += ["", "Sources:"]
    for key, text in budget.sources.items():
        out.append(f"- {key}: {text}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the budget of every power.json named on the command line."""
    args = sys.argv[1:] if argv is None else argv
    if not args or any(a in ("-h", "--help") for a in args):
        print("usage: power_budget.py hardware/<build>/power.json [...]", file=sys.stderr)
        return EXIT_USAGE if not args else 0
    try:
        texts = [render(load(a)) for a in args]
    except BudgetError as e:
        print(f"power_budget: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write("\n".join(texts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
