"""Shared plumbing of the hall benchmarks: broker, controller process, echo responder,
simulated kiosks in worker processes. Not a benchmark itself.

A benchmark ends everything it started, however it ends: importing this module turns
SIGTERM, SIGHUP and SIGINT into ``SystemExit`` (so every ``finally`` runs, and then the
``atexit`` sweep of whatever is still running), and every child is started so that the
kernel ends it when the benchmark dies, even by ``kill -9`` (``PR_SET_PDEATHSIG``)."""

from __future__ import annotations

import atexit
import contextlib
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hall_contract.topics import Topics  # noqa: E402
from hall_controller.broker import Mosquitto  # noqa: E402
from hall_controller.process import (  # noqa: E402
    die_with_parent,
    exit_on_signals,
    spawn_controller,
)

CONFIG = ROOT / "config" / "hall.yaml"
OPEN_TIME = "2026-11-18T10:00:00+08:00"  # a Wednesday morning: the hall is open

#: Everything this benchmark started that may still run, oldest first; ended at exit.
_started: list[Any] = []


def _end_all() -> None:
    """End whatever this benchmark started and has not stopped yet, newest first."""
    while _started:
        thing = _started.pop()
        with contextlib.suppress(Exception):
            if isinstance(thing, Mosquitto):
                thing.stop()
            elif isinstance(thing, subprocess.Popen):
                stop_process(thing)
            elif thing.is_alive():  # a multiprocessing.Process
                thing.terminate()
                thing.join(5)
                if thing.is_alive():
                    thing.kill()
                    thing.join(5)


atexit.register(_end_all)  # after every finally; before multiprocessing's own sweep
# (In the workers, which import this module too, quietly: the benchmark speaks for them.)
exit_on_signals("bench" if mp.current_process().name == "MainProcess" else "")


def worker_dies_with_parent() -> None:
    """In a multiprocessing worker: end (SIGTERM) when the benchmark's process dies."""
    parent = mp.parent_process()
    die_with_parent(signal.SIGTERM, parent.pid if parent is not None else None)


def start_process(ctx: Any, target: Callable[..., object], args: tuple[Any, ...]) -> Any:
    """A multiprocessing worker, started and remembered (ended at exit if still alive).
    Started from the main thread: see ``process.die_with_parent``."""
    p = ctx.Process(target=target, args=args, daemon=True)
    p.start()
    _started.append(p)
    return p


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def start_broker(workdir: Path) -> Mosquitto:
    mq = Mosquitto(workdir / "broker", die_with_parent=True)
    _started.append(mq)
    mq.start()
    assert mq.proc is not None
    print(f"bench: mosquitto pid {mq.proc.pid} on {mq.bind}:{mq.port}", file=sys.stderr)
    return mq


def start_controller(broker: Mosquitto, data: Path) -> subprocess.Popen[str]:
    proc = spawn_controller(CONFIG, broker.url, data, clock_start=OPEN_TIME, die_with_parent=True)
    _started.append(proc)
    print(f"bench: controller pid {proc.pid}", file=sys.stderr, flush=True)
    return proc


def stop_process(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    with contextlib.suppress(ValueError):
        _started.remove(proc)


def lean_subscriber(
    client_id: str, port: int, topic: str, on_message: Callable[[Any], object]
) -> Any:
    """A connected ``LeanClient`` (the controller's MQTT client) whose subscription to
    ``topic`` is in place: the simulated kiosks, the echo and the drain's timer."""
    from hall_contract.client import BrokerSettings
    from hall_contract.lean import LeanClient

    c = LeanClient(client_id, BrokerSettings(port=port), clean_start=True, session_expiry=0)
    c.on_message = on_message
    c.connect()
    c.subscribe([(topic, 1)])
    c.flush()
    while c.pump(5.0) == 0 and c.connected:
        pass  # until the SUBACK
    return c


def echo_server(port: int, hall: str, ready: Any, stop: Any) -> None:
    """The baseline: a bare MQTT 5 request/response responder on the same broker, with
    the controller's own MQTT client (``LeanClient``) and its reply QoS (0): the same
    transport work as the controller, without validating, deciding or storing."""

    def on_message(msg: Any) -> None:
        rid = json.loads(msg.payload)["id"]
        c.publish(
            msg.response_topic,
            json.dumps({"id": rid, "ok": True, "result": {}}),
            qos=0,
            correlation=msg.correlation,
        )

    worker_dies_with_parent()
    c = lean_subscriber("echo", port, Topics(hall).requests_filter, on_message)
    ready.set()
    while not stop.is_set():
        c.flush()
        c.pump(0.05)
    c.disconnect()


def lean_worker(
    port: int,
    hall: str,
    first: int,
    count: int,
    op: str,
    payloads: list[dict[str, Any]],
    warmup: float,
    duration: float,
    start_at: float,
    rate: float | None,
    out: Any,
) -> None:
    """``count`` simulated kiosks in ONE thread: one real MQTT 5 connection each (the
    controller's ``LeanClient``), all served by one select() loop. A reply's callback
    sends that kiosk's next request at once (or at its next paced slot), and everything
    sent in a round leaves with one write per connection: on a 2-core machine the load
    generator must not eat the CPU the system under test needs."""
    import selectors

    worker_dies_with_parent()
    # In the hall the kiosks are 50 other machines; here they share 2 cores with what
    # they measure, so they yield the CPU to it (the echo baseline gets the same).
    os.nice(10)
    topics = Topics(hall)
    sel = selectors.DefaultSelector()
    lat: list[float] = []
    errors = [0]
    t_warm = start_at + warmup
    t_end = t_warm + duration
    state: dict[int, dict[str, Any]] = {}
    run = f"{int(start_at * 1000) % 100_000_000:x}"

    def send(k: int) -> None:
        st = state[k]
        st["n"] += 1
        # Unique across runs on the same controller: a repeated id would be answered
        # from the reply store (an idempotent retry) instead of issuing a ticket.
        rid = f"{st['tid']}.{run}.{st['n']}"
        body = dict(payloads[(k + st["n"]) % len(payloads)], id=rid)
        st["t0"] = time.perf_counter()
        st["sent_at"] = time.time()
        st["busy"] = True
        st["c"].publish(
            st["topic"],
            json.dumps(body),
            qos=1,
            response_topic=st["reply"],
            correlation=rid.encode(),
            expiry=30,
        )

    def make(k: int) -> Any:
        tid = f"bench{first + k:03d}"
        state[k] = {
            "tid": tid,
            "n": 0,
            "busy": False,
            "next": 0.0,
            "reply": topics.reply(tid),
            "topic": topics.request(tid, op),
        }

        def on_message(msg: Any) -> None:
            st = state[k]
            dt_ms = (time.perf_counter() - st["t0"]) * 1000
            st["busy"] = False
            if not json.loads(msg.payload).get("ok"):
                errors[0] += 1
            elif st["sent_at"] >= t_warm and time.time() <= t_end:
                lat.append(dt_ms)
            if rate is None and time.time() < t_end:
                send(k)

        c = state[k]["c"] = lean_subscriber(tid, port, state[k]["reply"], on_message)
        return c

    clients = [make(k) for k in range(count)]
    for k, c in enumerate(clients):
        sel.register(c.fileno(), selectors.EVENT_READ, k)  # type: ignore[arg-type]
    period = 1 / rate if rate else 0.0
    for k in range(count):
        state[k]["next"] = start_at + ((first + k) % 50) / 50 * period
    started = False
    next_upkeep = 0.0
    while True:
        now = time.time()
        if now >= t_end + 1.0 or (now >= t_end and not any(s["busy"] for s in state.values())):
            break
        if not started and now >= start_at:
            started = True
            if rate is None:
                for k in range(count):
                    send(k)
        if rate and started and now < t_end:
            for k, st in state.items():
                if not st["busy"] and now >= st["next"]:
                    st["next"] += period
                    send(k)
        for c in clients:
            if c.has_output:
                c.flush()
        # Sleep until the next reply or the next paced send, not in a polling loop: the
        # generator shares the 2 cores with what it measures.
        timeout = 0.05
        if not started:
            timeout = min(timeout, max(0.0, start_at - now))
        elif rate and now < t_end:
            due = [st["next"] for st in state.values() if not st["busy"]]
            if due:
                timeout = min(timeout, max(0.0, min(due) - time.time()))
        for key, _ev in sel.select(timeout):
            clients[key.data].service(True)
        if time.time() >= next_upkeep:  # keepalive pings for the quiet connections
            next_upkeep = time.time() + 1.0
            for c in clients:
                c.service(False)
    for c in clients:
        c.disconnect()
    out.put((lat, errors[0]))


def drive(
    port: int,
    hall: str,
    kiosks: int,
    op: str,
    payloads: list[dict[str, Any]],
    duration: float,
    warmup: float = 1.0,
    procs: int = 2,
    load_per_s: float | None = None,
) -> dict[str, Any]:
    """Run ``kiosks`` closed-loop clients in ``procs`` processes; latency figures."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    start_at = time.time() + 3.0  # time for every worker to connect
    per = [kiosks // procs + (1 if i < kiosks % procs else 0) for i in range(procs)]
    ps, first = [], 0
    lat: list[float] = []
    errors = 0
    try:
        for n in per:
            rate = load_per_s / kiosks if load_per_s else None
            ps.append(
                start_process(
                    ctx,
                    lean_worker,
                    (port, hall, first, n, op, payloads, warmup, duration, start_at, rate, q),
                )
            )
            first += n
        print(
            f"bench: {kiosks} kiosks in worker processes {[p.pid for p in ps]}",
            file=sys.stderr,
            flush=True,
        )
        for _ in ps:
            xs, e = q.get(timeout=duration + warmup + 120)
            lat += xs
            errors += e
        for p in ps:
            p.join(30)
    finally:
        end_processes(ps)
    return {
        "count": len(lat),
        "per_s": len(lat) / duration,
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
        "mean_ms": statistics.fmean(lat) if lat else 0,
        "errors": errors,
    }


def end_processes(ps: list[Any]) -> None:
    """End (SIGTERM, then SIGKILL) the multiprocessing workers of ``ps`` still alive."""
    for p in ps:
        if p.is_alive():
            p.terminate()
    for p in ps:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join(5)
        with contextlib.suppress(ValueError):
            _started.remove(p)


def tmpdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="hallkit-bench-"))


def remember(thing: Any) -> Any:
    """Have the exit sweep end ``thing`` too (a ``subprocess.Popen`` or a multiprocessing
    worker started elsewhere, e.g. by ``spawn_controller``); returns it."""
    _started.append(thing)
    return thing


def spawn_child(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``args`` (from the project's root) with its output in the file ``log``: it
    gets SIGTERM when the benchmark dies, and is ended at exit if still running."""
    from hall_controller.process import preexec_die_with_parent

    with open(log, "ab") as out:
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
            preexec_fn=preexec_die_with_parent(signal.SIGTERM),
        )
    return remember(proc)
