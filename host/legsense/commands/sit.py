"""`legsense sit --port P [--minutes 60] [--every 10]`: run an evening immobilization test
(SIT, docs/sit.md) on the device, with the ratings typed here or read from a file, then
sync it.

The device runs the test itself (prompts on its LED, button ratings, M_SIT_DONE at the
end); this command starts it (SIT_START), sets the clock first, and while connected asks
for a rating at each prompt and sends it (SIT_RATING, logged with text `host`); Enter
leaves that prompt to the button. `--ratings FILE` sends the file's ratings at their
minutes instead (no questions); `--no-wait` only starts the test (sync it later with
`legsense sync`). Ctrl-C leaves the SIT running on the device (`legsense stop` ends it
early). A device without a person is refused (exit 2): a SIT is shown beside its
person's nights; `--anonymous` runs it anyway, under the device id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from legsense.commands.device_options import add_device_options, with_device
from legsense.commands.scoring_options import add_scoring_options, scoring_params_from_args
from legsense.device_client import DeviceClient, host_utc_ms
from legsense.errors import EXIT_OK, EXIT_UNSYNCED, InputError
from legsense.scoring import ScoringParams

PROMPT_GRACE_S = 2.0  # ask just after the device's prompt opens
END_GRACE_S = 75.0  # the device answers a prompt due at the end first (up to 60 s + 3 s)
POLL_FIRST_S = 0.2  # host seconds before the device clock's rate is known
POLL_MAX_S = 1.0  # at most this long between looks at the device's clock
TICKS_PERIOD = 1 << 30  # the device's ticks_ms wraps (firmware/legsense_core/clock.py)
MAX_MINUTES = 240
MAX_EVERY = 60


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="run an evening immobilization test (SIT) on the device and sync it",
        description=(__doc__ or "").split("\n\n")[1].replace("\n", " "),
    )
    add_device_options(p)
    p.add_argument("--minutes", type=int, default=60, help="length of the test (default 60)")
    p.add_argument("--every", type=int, default=10, help="minutes between ratings (default 10)")
    p.add_argument(
        "--ratings", type=Path, metavar="CSV", help="send these ratings (minute,rating) instead"
    )
    p.add_argument("--no-wait", action="store_true", help="only start the test")
    p.add_argument("--anonymous", action="store_true", help="run on a device without a person")
    p.add_argument("--out", type=Path, metavar="DIR", help="data folder for the sync")
    p.add_argument("--no-sync", action="store_true", help="do not sync at the end")
    add_scoring_options(p)
    return p


def check_plan(minutes: int, every: int) -> None:
    """InputError (exit 2) for a plan the device would refuse."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise InputError(f"--minutes must be 1..{MAX_MINUTES}, got {minutes}")
    if not 1 <= every <= MAX_EVERY:
        raise InputError(f"--every must be 1..{MAX_EVERY}, got {every}")


def planned_ratings(path: Path) -> dict[int, int]:
    """minute -> rating from a ratings file (docs/sit.md); missed rows are left out."""
    from legsense.sit import read_ratings_csv

    out = {}
    for r in read_ratings_csv(path):
        if r.rating is not None:
            out[round(r.t_s / 60.0)] = r.rating
    return out


async def ask_typed(minute: int) -> int | None:
    """Ask at the terminal for the rating due at `minute` (Enter: leave it to the button)."""
    loop = asyncio.get_running_loop()
    while True:
        text = await loop.run_in_executor(
            None, input, f"minute {minute}: discomfort 0-10 (Enter: answer with the button) "
        )
        text = text.strip()
        if not text:
            return None
        if text.isdigit() and 0 <= int(text) <= 10:
            return int(text)
        print("a whole number 0-10, please", flush=True)


async def sit_session(
    client: DeviceClient,
    minutes: int,
    every: int,
    *,
    ratings: dict[int, int] | None = None,
    ask: Callable[[int], Awaitable[int | None]] | None = None,
    wait: bool = True,
    anonymous: bool = False,
    utc_now_ms: Callable[[], int] = host_utc_ms,
    log: Callable[[str], None] = lambda _msg: None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Start a SIT on a connected device, send the ratings at their prompts and wait for
    its end (`sleep` waits, on the loop's clock); returns its night id. InputError for a
    device without a person (unless `anonymous`); the device's refusals as DeviceRefused
    (exit 3)."""
    cfg = json.loads(await client.config_get() or "{}")
    if not cfg.get("person") and not anonymous:
        raise InputError(
            "the device has no person: set one with `legsense config set person=NAME` "
            "(a SIT is shown beside that person's nights), or give --anonymous"
        )
    await client.set_time(utc_now_ms)
    state, night_id = await client.start_sit(minutes, every)
    log(f"SIT started: night {night_id}, {minutes} min, a rating every {every} min ({state})")
    if not wait:
        return night_id
    _utc, t0_ticks = await client.get_time()
    pace = DeviceClock(client, t0_ticks, sleep)
    for minute in range(every, minutes + 1, every):
        await pace.wait_until(minute * 60.0 + PROMPT_GRACE_S)
        value = (ratings or {}).get(minute)
        if value is None and ratings is None and ask is not None:
            value = await ask(minute)
        if value is not None:
            await client.sit_rating(value)
            log(f"minute {minute}: rating {value} sent")
    await pace.wait_until(minutes * 60.0 + END_GRACE_S)
    info = await client.hello()
    if info.state == "recording":
        log("the device is still recording: the SIT ends after its last prompt")
    return night_id


class DeviceClock:
    """Waits on the device's own clock (its ticks), not the host's: the device runs the
    test, and a virtual board runs faster than real time. The host sleeps by the rate it
    measures between looks, never longer than POLL_MAX_S, so it reaches a prompt's
    moment within a look's worth of the device's time."""

    def __init__(
        self, client: DeviceClient, t0_ticks: int, sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        self.client = client
        self.t0_ticks = t0_ticks
        self.sleep = sleep
        self.rate: float | None = None  # device ms per host second, once measured
        self._last: tuple[float, int] | None = None

    async def elapsed_s(self) -> float:
        """Seconds of the device's clock since t0_ticks (one GET_TIME)."""
        _utc, ticks = await self.client.get_time()
        now = asyncio.get_running_loop().time()
        device_ms = (ticks - self.t0_ticks) % TICKS_PERIOD
        if self._last is not None and now - self._last[0] > 0.02:
            self.rate = max(1.0, (device_ms - self._last[1]) / (now - self._last[0]))
        self._last = (now, device_ms)
        return device_ms / 1000.0

    async def wait_until(self, at_s: float) -> None:
        """Return once the device's clock is at least at_s seconds past t0_ticks."""
        while (left_s := at_s - await self.elapsed_s()) > 0:
            if self.rate is None:
                await self.sleep(min(POLL_FIRST_S, left_s))
            else:
                await self.sleep(min(POLL_MAX_S, left_s * 1000.0 / self.rate))


def run(args: argparse.Namespace) -> int:
    check_plan(args.minutes, args.every)
    params: ScoringParams = scoring_params_from_args(args)
    ratings = planned_ratings(args.ratings) if args.ratings is not None else None
    root = None
    if not args.no_sync and not args.no_wait:
        from legsense.night_folder import ensure_writable_dir
        from legsense.sync import data_dir

        root = ensure_writable_dir(data_dir(args.out))  # before the device is touched

    def note(msg: str) -> None:
        print(msg, flush=True)

    async def work(client: DeviceClient):
        night_id = await sit_session(
            client,
            args.minutes,
            args.every,
            ratings=ratings,
            ask=None if ratings is not None or not sys.stdin.isatty() else ask_typed,
            wait=not args.no_wait,
            anonymous=args.anonymous,
            log=note,
        )
        if root is None:
            return night_id, None
        from legsense.sync import SyncEngine

        return night_id, await SyncEngine(client, root, params=params, log=note).run()

    night_id, report = with_device(args, work)
    if report is None:
        print(f"SIT night {night_id}: sync it with `legsense sync` when it has ended")
        return EXIT_OK
    for n in report.nights:
        if n.night_id == night_id and n.folder is not None:
            print(
                f"SIT night {night_id}: wrote {n.folder}" + (f" ({n.problem})" if n.problem else "")
            )
    return EXIT_UNSYNCED if report.unsynced else EXIT_OK
