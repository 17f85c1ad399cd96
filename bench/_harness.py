"""Shared plumbing of the hall benchmarks: broker, controller process, echo responder,
simulated kiosks in worker processes. Not a benchmark itself."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hall_contract.client import BrokerSettings, HallClient  # noqa: E402
from hall_contract.topics import Topics  # noqa: E402
from hall_controller.broker import Mosquitto  # noqa: E402

CONFIG = ROOT / "config" / "hall.yaml"
OPEN_TIME = "2026-11-18T10:00:00+08:00"  # a Wednesday morning: the hall is open


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def start_broker(workdir: Path) -> Mosquitto:
    return Mosquitto(workdir / "broker").start()


def start_controller(broker: Mosquitto, data: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hall_controller",
            "--log-level",
            "WARNING",
            "run",
            "--config",
            str(CONFIG),
            "--broker-url",
            broker.url,
            "--data-dir",
            str(data),
            "--clock-start",
            OPEN_TIME,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("controller ready"):
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc
    raise SystemExit(f"controller did not start (exit {proc.wait()})")


def stop_process(proc: subprocess.Popen[Any]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def echo_server(port: int, hall: str, ready: Any, stop: Any) -> None:
    """The baseline: a bare MQTT 5 request/response responder on the same broker."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from hall_contract.client import set_nodelay

    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="echo")
    c.max_queued_messages_set(0)
    c.max_inflight_messages_set(1000)
    topic = Topics(hall).requests_filter

    def on_connect(cl: Any, u: Any, f: Any, rc: Any, p: Any = None) -> None:
        set_nodelay(cl)
        cl.subscribe(topic, 1)

    def on_subscribe(*a: Any) -> None:
        ready.set()

    def on_message(cl: Any, u: Any, msg: Any) -> None:
        rid = json.loads(msg.payload)["id"]
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = msg.properties.CorrelationData
        cl.publish(
            msg.properties.ResponseTopic,
            json.dumps({"id": rid, "ok": True, "result": {}}),
            qos=1,
            properties=props,
        )

    c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
    c.connect("127.0.0.1", port)
    c.loop_start()
    stop.wait()
    c.loop_stop()
    c.disconnect()


def kiosk_worker(
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
    """``count`` simulated kiosks, each a real MQTT client doing request after request:
    back to back (``rate`` None: the system's capacity), or each paced at ``rate``
    requests/s (latency at a given load; a slow system falls behind its schedule)."""
    settings = BrokerSettings(port=port)
    topics = Topics(hall)
    clients = [
        HallClient(topics, f"bench{first + i:03d}", settings, role="kiosk", presence=False).start()
        for i in range(count)
    ]
    lat: list[list[float]] = [[] for _ in clients]
    errors = [0]

    def run(i: int, c: HallClient) -> None:
        while time.time() < start_at:
            time.sleep(0.001)
        t_end = start_at + warmup + duration
        k = 0
        # Spread the kiosks' sends evenly over one period.
        next_at = start_at + ((first + i) % 50 / 50 / rate if rate else 0)
        while True:
            if rate:
                pause = next_at - time.time()
                if pause > 0:
                    time.sleep(pause)  # pacing the load, not waiting for a result
                next_at += 1 / rate
            t0 = time.perf_counter()
            now = time.time()
            if now >= t_end:
                break
            k += 1
            r = c.request(op, dict(payloads[(i + k) % len(payloads)]), timeout=30)
            dt_ms = (time.perf_counter() - t0) * 1000
            if not r.ok:
                errors[0] += 1
            elif now >= start_at + warmup:
                lat[i].append(dt_ms)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.stop(graceful=False)
    out.put(([x for xs in lat for x in xs], errors[0]))


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
    for n in per:
        rate = load_per_s / kiosks if load_per_s else None
        p = ctx.Process(
            target=kiosk_worker,
            args=(port, hall, first, n, op, payloads, warmup, duration, start_at, rate, q),
        )
        p.start()
        ps.append(p)
        first += n
    lat: list[float] = []
    errors = 0
    for _ in ps:
        xs, e = q.get(timeout=duration + warmup + 120)
        lat += xs
        errors += e
    for p in ps:
        p.join(30)
    return {
        "count": len(lat),
        "per_s": len(lat) / duration,
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
        "mean_ms": statistics.fmean(lat) if lat else 0,
        "errors": errors,
    }


def tmpdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="hallkit-bench-"))
