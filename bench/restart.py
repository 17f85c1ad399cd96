"""A hall after a year of working days: restart time and ticket latency, against day 1.

A store of ``--days`` working days of ``--per-day`` tickets each is made through the real
engine and store (every ticket issued, called and finished at one of the hall's windows,
a fifth of them with a case, a third rated; the day's leftovers expire at the boundary;
a snapshot each quiet evening, as the controller's runner takes them). A copy is kept
after day 1. Then, for the day-1 store and for the last one, in the same run: the
controller is started as in a hall (``python -m hall_controller run --clock-start`` the
next working morning) and timed until it is ready, and 50 kiosks take tickets at
``--load`` per second through a real mosquitto while the latency is measured.

Prints one JSON object as its last line: days, restart_s_first, restart_s_last,
p99_ms_first, p99_ms_last, bytes_per_ticket. Goal: restart_s_last ≤ 1 and
p99_ms_last / p99_ms_first ≤ 1.2.

    python bench/restart.py [--quick] [--days 250] [--per-day 4000]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import random
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

from _harness import CONFIG, drive, start_broker, stop_process, tmpdir

from hall_contract.hallconfig import HallConfig
from hall_contract.messages import PriorityClass
from hall_contract.yamlconf import load_model
from hall_controller.engine import Engine, EngineError
from hall_controller.process import spawn_controller
from hall_controller.service import SnapshotWriter
from hall_controller.store import SqliteStore

FIRST_DAY = dt.date(2026, 1, 5)  # a Monday


def working_days(cfg: HallConfig, n: int) -> list[dt.date]:
    e = Engine(cfg)
    out, d = [], FIRST_DAY
    while len(out) < n + 1:  # and the morning after the last
        at = dt.datetime.combine(d, dt.time(10, 0), cfg.tz).timestamp()
        if e.is_open(at):
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def one_day(e: Engine, store: SqliteStore, day: dt.date, per_day: int, rng: random.Random) -> None:
    """A working day of ``per_day`` tickets, 09:00 to 16:30, committed in batches; by
    closing time every ticket has been served."""
    cfg = e.config
    services = [s.id for s in cfg.services if not s.self_service]
    windows = [w.id for w in cfg.windows]
    start = dt.datetime.combine(day, dt.time(9, 0), cfg.tz).timestamp()
    step = 7.5 * 3600 / per_day
    batch = 0
    for i in range(per_day):
        now = start + i * step
        prio = PriorityClass.ELDERLY if i % 9 == 0 else PriorityClass.NORMAL
        with contextlib.suppress(EngineError):  # a daily cap: as in a hall
            e.issue(now, service=services[i % len(services)], priority=prio)
        wid = windows[i % len(windows)]
        w = e.state.windows[wid]
        if w.current is not None:
            t, _case = e.finish(wid, now, accept_case=rng.random() < 0.2)
            if rng.random() < 0.33:
                e.rate(now, t, rng.choice((5, 5, 4, 3, 2)), [])
        with contextlib.suppress(EngineError):  # nothing this window serves waits
            e.call_next(wid, now)
        batch += 1
        if batch == 50:
            flush(e, store)
            batch = 0
    # before closing: every window serves what is still waiting (no backlog is left)
    end = start + 7.5 * 3600 + 60
    busy = True
    while busy:
        busy = False
        for wid in windows:
            if e.state.windows[wid].current is not None:
                e.finish(wid, end)
            try:
                e.call_next(wid, end)
                busy = True
            except EngineError:
                pass
        end += 1
        flush(e, store)
    e.tick(end)
    flush(e, store)


def flush(e: Engine, store: SqliteStore) -> None:
    with store.transaction(sync=False):
        for x in e.take_events():
            store.append(x.at, x.data)
        store.archive(e.take_departed())


def evening_snapshot(e: Engine, store: SqliteStore) -> None:
    w = SnapshotWriter(store, e)
    while not (w.done or w.abandoned):
        w.step(e)


def make_history(cfg: HallConfig, folder: Path, days: list[dt.date], per_day: int) -> Path:
    """The store after every day of ``days`` but the last; a copy after the first."""
    folder.mkdir(parents=True)
    store = SqliteStore(folder / "hall.db")
    e = Engine(cfg)
    rng = random.Random(7)
    first = folder.parent / "day1"
    t0 = time.monotonic()
    for n, day in enumerate(days[:-1], 1):
        # the night before: the day boundary (tickets of the day before leave memory)
        e.tick(dt.datetime.combine(day, dt.time(6, 0), cfg.tz).timestamp())
        flush(e, store)
        one_day(e, store, day, per_day, rng)
        evening_snapshot(e, store)
        if n == 1:
            first.mkdir()
            copy_store(store, first / "hall.db")
        if n % 25 == 0:
            print(
                f"bench: {n} days made ({time.monotonic() - t0:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    store.close()
    return first


def copy_store(store: SqliteStore, to: Path) -> None:
    dst = sqlite3.connect(to)
    store._db.backup(dst)  # an online copy: SQLite's backup API
    dst.close()


def restart(data: Path, broker_url: str, morning: str) -> tuple[float, object]:
    """Seconds from starting the controller process to its "ready"."""
    t0 = time.perf_counter()
    proc = spawn_controller(CONFIG, broker_url, data, clock_start=morning, die_with_parent=True)
    return time.perf_counter() - t0, proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 days, 3 s of load per side")
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--per-day", type=int, default=4000)
    ap.add_argument("--load", type=float, default=1500.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--starts", type=int, default=3, help="restarts timed per store")
    args = ap.parse_args()
    days = 20 if args.quick else args.days
    seconds = 3.0 if args.quick else args.seconds
    cfg = load_model(HallConfig, CONFIG)
    work = tmpdir()
    dates = working_days(cfg, days)
    t0 = time.monotonic()
    first = make_history(cfg, work / "last", dates, args.per_day)
    made_s = time.monotonic() - t0
    last = work / "last"
    tickets = days * args.per_day
    db_bytes = sum(p.stat().st_size for p in last.glob("hall.db*"))
    morning = {
        first: f"{dates[1].isoformat()}T09:30:00+08:00",
        last: f"{dates[-1].isoformat()}T09:30:00+08:00",
    }
    broker = start_broker(work)
    results: dict[Path, dict[str, list[float]]] = {first: {}, last: {}}
    try:
        for data in (first, last):
            backup = data.parent / f"{data.name}.orig"
            shutil.copytree(data, backup)
            starts = []
            for _ in range(args.starts):
                # each start from the same store: the state of that morning
                shutil.rmtree(data)
                shutil.copytree(backup, data)
                took, proc = restart(data, broker.url, morning[data])
                stop_process(proc)  # type: ignore[arg-type]
                starts.append(took)
            took, proc = restart(data, broker.url, morning[data])
            try:
                run = drive(
                    broker.port,
                    cfg.hall.id,
                    50,
                    "ticket.issue",
                    [{"service": s.id} for s in cfg.services if not s.self_service][:8],
                    seconds,
                    load_per_s=args.load,
                )
            finally:
                stop_process(proc)  # type: ignore[arg-type]
            results[data] = {
                "restart_s": starts,
                "p99_ms": [run["p99_ms"]],
                "p50_ms": [run["p50_ms"]],
            }
            results[data]["errors"] = [run["errors"]]
    finally:
        broker.stop()
    f, la = results[first], results[last]
    out = {
        "bench": "restart",
        "days": days,
        "tickets": tickets,
        "made_s": round(made_s, 1),
        "restart_s_first": round(statistics.median(f["restart_s"]), 3),
        "restart_s_last": round(statistics.median(la["restart_s"]), 3),
        "restart_s_last_max": round(max(la["restart_s"]), 3),
        "p50_ms_first": round(f["p50_ms"][0], 3),
        "p50_ms_last": round(la["p50_ms"][0], 3),
        "p99_ms_first": round(f["p99_ms"][0], 3),
        "p99_ms_last": round(la["p99_ms"][0], 3),
        "p99_ratio": round(la["p99_ms"][0] / f["p99_ms"][0], 2),
        "errors": int(f["errors"][0] + la["errors"][0]),
        "bytes_per_ticket": round(db_bytes / tickets),
        "goal": {"restart_s_last": 1, "p99_ratio": 1.2},
    }
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
