"""Window call → the display sees it: latency through a real mosquitto and controller.

Ours: a window terminal sends ``window.call_next``; the controller picks the ticket,
commits the event to the SQLite WAL, publishes ``events/ticket/called`` while the WAL is
fsync'd, and answers the window once it is. A display subscriber receives the call.
Measured from the window's send to the display's receipt, in one process with one clock.
Baseline, same run and broker: a bare publish → subscribe hop. Prints one JSON object as
its last line: p50_ms, p99_ms, hop_p50_ms, ratio_p50 (ours / hop); also the window's
own reply latency (reply_p50_ms: it waits for the fsync) and one fsync (fsync_p50_ms).
Goal: p99 ≤ 10 ms, ratio_p50 ≤ 3.

    python bench/calls.py [--quick] [--calls 2000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from _harness import percentile, start_broker, start_controller, stop_process, tmpdir
from paho.mqtt.enums import CallbackAPIVersion

from hall_contract.client import BrokerSettings, HallClient, set_nodelay
from hall_contract.topics import Topics

HALL = "yunxi"
# general-queue services: windows w01-w04 all serve the general queue
SERVICES = ["birth_medical_cert", "disability_card", "elderly_card", "utility_transfer"]


class Display:
    """A display: a plain MQTT subscriber that notes when each message arrives."""

    def __init__(self, port: int, topic: str) -> None:
        self.arrived: dict[str, float] = {}
        self.cond = threading.Condition()
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            protocol=mqtt.MQTTv5,
            client_id=f"display-{topic.count('/')}-{time.time_ns()}",
        )
        ready = threading.Event()
        self.c.on_connect = lambda cl, u, f, rc, p=None: (set_nodelay(cl), cl.subscribe(topic, 1))
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert ready.wait(10)

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        t = time.perf_counter()
        key = (
            json.loads(msg.payload)["data"]["number"]
            if b'"data"' in msg.payload
            else json.loads(msg.payload)["k"]
        )
        with self.cond:
            self.arrived[key] = t
            self.cond.notify_all()

    def wait(self, key: str, timeout: float = 10.0) -> float:
        with self.cond:
            assert self.cond.wait_for(lambda: key in self.arrived, timeout), key
            return self.arrived.pop(key)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def hop_baseline(port: int, n: int) -> list[float]:
    topic = f"hall/{HALL}/bench/hop"
    disp = Display(port, topic)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="hop-pub")
    pub.connect("127.0.0.1", port)
    set_nodelay(pub)
    pub.loop_start()
    lat = []
    for i in range(n):
        k = f"h{i}"
        t0 = time.perf_counter()
        pub.publish(topic, json.dumps({"k": k}), qos=1)
        lat.append((disp.wait(k) - t0) * 1000)
    pub.loop_stop()
    pub.disconnect()
    disp.close()
    return lat


def fsync_floor(workdir: Path, n: int = 200) -> list[float]:
    """One durable SQLite commit (WAL, synchronous=FULL) on this disk: what the window's
    reply waits for and the display's call no longer does."""
    db = sqlite3.connect(str(workdir / "fsync.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (x)")
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?)", (i,))
        db.execute("COMMIT")
        lat.append((time.perf_counter() - t0) * 1000)
    db.close()
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="300 calls instead of 2000")
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    n = 300 if args.quick else args.calls
    work = tmpdir()
    broker = start_broker(work)
    settings = BrokerSettings(port=broker.port)
    topics = Topics(HALL)
    try:
        hop = hop_baseline(broker.port, n)
        fsync = fsync_floor(work)
        ctl = start_controller(broker, work / "ctl")
        try:
            kiosk = HallClient(topics, "k01", settings, role="kiosk").start()
            for i in range(n + 50):
                r = kiosk.request("ticket.issue", {"service": SERVICES[i % len(SERVICES)]})
                assert r.ok, r.error
            kiosk.stop()
            disp = Display(broker.port, topics.event("ticket.called"))
            windows = [
                HallClient(topics, f"w{i:02d}", settings, role="window").start()
                for i in range(1, 5)
            ]
            lat, reply = [], []
            for i in range(n):
                w = windows[i % len(windows)]
                t0 = time.perf_counter()
                r = w.request("window.call_next", {})
                reply.append((time.perf_counter() - t0) * 1000)
                assert r.ok and r.result is not None, r.error
                lat.append((disp.wait(r.result.number) - t0) * 1000)
                assert w.request("window.finish", {}).ok
            for w in windows:
                w.stop()
            disp.close()
        finally:
            stop_process(ctl)
    finally:
        broker.stop()
    p50, hop50 = percentile(lat, 50), percentile(hop, 50)
    print(
        json.dumps(
            {
                "bench": "calls",
                "calls": n,
                "p50_ms": round(p50, 3),
                "p99_ms": round(percentile(lat, 99), 3),
                "hop_p50_ms": round(hop50, 3),
                "hop_p99_ms": round(percentile(hop, 99), 3),
                "ratio_p50": round(p50 / hop50, 2),
                # the window's own reply: sent once the call is fsync'd
                "reply_p50_ms": round(percentile(reply, 50), 3),
                "fsync_p50_ms": round(percentile(fsync, 50), 3),
                "goal": {"p99_ms": 10, "ratio_p50": 3},
            }
        )
    )


if __name__ == "__main__":
    main()
