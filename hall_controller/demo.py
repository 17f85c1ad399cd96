"""The demo hall: our own mosquitto, the controller, simulated kiosks and windows, a
console "hall screen", and the kiosk window on simulated devices.

Everything speaks the real contract over the real broker; the simulated staff are just
MQTT clients like the window CLI. The clock starts at the hall's next opening (or now,
when it is open), so the demo shows a working hall at any hour.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hall_contract.client import HallClient
from hall_contract.hallconfig import HallConfig
from hall_contract.messages import CallBoard, read
from hall_contract.topics import Topics
from hall_controller.broker import Mosquitto
from hall_controller.cli import load_config
from hall_controller.process import preexec_die_with_parent
from hall_controller.sealing import Sealer
from hall_controller.service import Controller
from hall_controller.store import SqliteStore

ROOT = Path(__file__).resolve().parent.parent


_SAY = threading.Lock()


def say(who: str, text: str) -> None:
    # One write per line under a lock: kiosks, windows and the screen print from their
    # own threads, and print() writes the text and the newline separately.
    line = f"{time.strftime('%H:%M:%S')} [{who:>7}] {text}\n"
    with _SAY:
        sys.stdout.write(line)
        sys.stdout.flush()


def demo_clock(cfg: HallConfig, speed: float) -> Any:
    """Hall time: starts now if the hall is open, else at its next opening; runs at
    ``speed`` × real time, so waits and warnings show up within a demo."""
    from hall_contract.hallconfig import is_open, next_opening

    now = dt.datetime.now(cfg.tz)
    start = now
    if not is_open(cfg.schedule, now, cfg.tz):
        start = (next_opening(cfg.schedule, now, cfg.tz) or now) + dt.timedelta(minutes=5)
    t0_real, t0_hall = time.time(), start.timestamp()
    return lambda: t0_hall + (time.time() - t0_real) * speed


def kiosk_sim(
    client: HallClient, cfg: HallConfig, stop: threading.Event, rate: float, rng: random.Random
) -> None:
    services = [s for s in cfg.services if not s.self_service]
    while not stop.wait(rng.expovariate(rate)):
        svc = rng.choice(services)
        prio = rng.choices(["normal", "elderly", "disabled", "green"], [80, 12, 4, 4])[0]
        r = client.request("ticket.issue", {"service": svc.id, "priority": prio}, timeout=5)
        if r.ok and r.result:
            t = r.result
            tag = "" if prio == "normal" else f" [{prio}]"
            say(
                client.terminal_id,
                f"取号 {t.number}{tag} {svc.name} — 前面 "
                f"{t.people_ahead} 人，约 {t.expected_wait_min} 分钟",
            )
        elif r.error:
            say(client.terminal_id, f"取号未成功: {r.error.message}")


def window_sim(
    client: HallClient, wid: str, stop: threading.Event, speed: float, rng: random.Random
) -> None:
    while not stop.is_set():
        r = client.request("window.call_next", {}, timeout=5)
        if not r.ok:
            if stop.wait(1.0):
                return
            continue
        assert r.result is not None
        number = r.result.number
        say(wid, f"叫号 {number} 请到 {r.result.window_hint or wid}")
        if rng.random() < 0.08:
            client.request("window.recall", {}, timeout=5)
            say(wid, f"重呼 {number}")
            if rng.random() < 0.5:
                client.request("window.no_show", {}, timeout=5)
                say(wid, f"过号 {number}")
                continue
        client.request("window.start", {}, timeout=5)
        minutes = rng.uniform(3, 15)
        if stop.wait(minutes * 60 / speed):
            return
        if rng.random() < 0.05:
            client.request("window.transfer", {"to_queue": "general"}, timeout=5)
            say(wid, f"转号 {number} → 综合受理（保留号码和记录）")
            continue
        fin = client.request("window.finish", {"accept_case": rng.random() < 0.6}, timeout=5)
        if fin.ok and fin.result:
            case = fin.result.case
            extra = (
                f"，受理办件 {case.case_no}，承诺 {case.promised_deadline} 前办结" if case else ""
            )
            say(wid, f"办结 {number}{extra}")


def run_demo(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    data = ROOT / "var" / "demo"
    if data.exists():
        shutil.rmtree(data)  # a fresh hall every demo
    data.mkdir(parents=True)
    # Ctrl-C, SIGTERM and SIGHUP (a closed terminal) all end the demo cleanly, and the
    # broker and the kiosk window die with it even when it is killed outright.
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: done.set())
    mq = Mosquitto(data / "mosquitto", port=0, persistent=True, die_with_parent=True).start()
    try:
        return _run(args, cfg, data, mq, done)
    finally:
        mq.stop()


def _run(
    args: argparse.Namespace, cfg: HallConfig, data: Path, mq: Mosquitto, done: threading.Event
) -> int:
    say("broker", f"mosquitto on {mq.url} (tuned: TCP_NODELAY, deep queues)")
    clock = demo_clock(cfg, args.speed)
    ctl = Controller(
        cfg,
        SqliteStore(data / "hall.db"),
        mq.settings,
        clock=clock,
        sealer=Sealer.from_dir(data / "secrets"),
    )
    ctl.start()
    hall_now = dt.datetime.fromtimestamp(clock(), cfg.tz)
    say(
        "hall",
        f"{cfg.hall.name} — hall time {hall_now:%Y-%m-%d %H:%M} "
        f"({len(cfg.queues)} queues, {len(cfg.windows)} windows, {len(cfg.services)} services)",
    )
    topics = Topics(cfg.hall.id)
    stop = threading.Event()
    rng = random.Random(42)
    clients: list[HallClient] = []

    # The main hall screen: prints the retained call board whenever it changes.
    screen = HallClient(topics, "d01", mq.settings, role="display").start()
    clients.append(screen)

    def on_board(topic: str, payload: bytes, msg: Any) -> None:
        board = read(CallBoard, payload)
        if board.calls:
            line = "  ".join(f"{c.number}→{c.window_name}" for c in board.calls[:6])
            say("screen", f"正在呼叫: {line}")

    screen.subscribe(topics.calls, on_board)

    def on_alert(topic: str, payload: bytes, msg: Any) -> None:
        a = json.loads(payload)
        say("alert", f"{a['level'].upper()} {a['kind']}: {a['message']}")

    screen.subscribe(topics.alerts, on_alert)

    threads = []
    kiosk_ids = [t.id for t in cfg.terminals if t.role == "kiosk"][1:3] or ["k-sim"]
    for kid in kiosk_ids:
        c = HallClient(topics, kid, mq.settings, role="kiosk").start()
        clients.append(c)
        threads.append(
            threading.Thread(
                target=kiosk_sim, daemon=True, args=(c, cfg, stop, 0.3 * args.speed / 10, rng)
            )
        )
    for t in [t for t in cfg.terminals if t.role == "window"][:6]:
        c = HallClient(topics, t.id, mq.settings, role="window").start()
        clients.append(c)
        threads.append(
            threading.Thread(
                target=window_sim, daemon=True, args=(c, t.window or "", stop, args.speed, rng)
            )
        )
    for th in threads:
        th.start()

    kiosk_proc = None
    has_screen = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if not args.no_kiosk and has_screen:
        kiosk_proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kiosk",
                "run",
                "--windowed",
                "--broker-url",
                mq.url,
                "--hall-config",
                str(Path(args.config).resolve()),
                # the kiosk's day and night follow the demo hall's clock
                "--clock-start",
                dt.datetime.fromtimestamp(clock(), cfg.tz).isoformat(),
            ],
            cwd=ROOT,
            preexec_fn=preexec_die_with_parent(),
        )
        say("kiosk", "kiosk window started on simulated devices (ID card, scanner, printer)")
    elif not args.no_kiosk:
        say(
            "kiosk",
            "no screen here (DISPLAY unset): the kiosk window is skipped; "
            "`python -m kiosk screenshots OUTDIR` draws its screens headless",
        )
    say("hall", "press Ctrl-C to stop")

    done.wait(args.duration if args.duration > 0 else None)
    stop.set()
    if kiosk_proc is not None:
        kiosk_proc.terminate()
        try:
            kiosk_proc.wait(10)
        except subprocess.TimeoutExpired:
            say("kiosk", "the kiosk did not stop within 10 s; killing it")
            kiosk_proc.kill()
            kiosk_proc.wait(5)
    for th in threads:
        th.join(10)
    for c in clients:
        c.stop()
    tickets = len(ctl.engine.state.tickets)
    ctl.stop()
    say("hall", f"demo over: {tickets} tickets today, all in {data / 'hall.db'}")
    return 0
