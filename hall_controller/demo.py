"""The demo hall: our own mosquitto, the controller, the web server (hall display, staff
console, rating pads, phone pages), the display program on simulated LED window displays,
simulated kiosks and windows, and the kiosk window on simulated devices.

Everything speaks the real contract over the real broker; the simulated staff are just
MQTT clients like the window CLI, and window 1 is left for you at the staff console. The
demo hall runs on its own 24-hour calendar (every day 00:00-24:00, no holidays; the hall
display says so), so a newcomer sees it working at any hour.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from devices.display.simulator import DisplaySimulator
from hall_contract.client import HallClient
from hall_contract.hallconfig import HallConfig, around_the_clock
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


DEMO_PASSWORD = "Window-pass-2026"
CALENDAR_NOTE = "演示大厅 24 小时开放 · Demo hall: open 24 hours"
#: set when the simulated kiosks issued their first ticket (its phone page is printed)
FIRST_TICKET = threading.Event()


def free_port(preferred: int) -> int:
    """``preferred`` when nothing listens there, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free port")


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def start_web(
    cfg: HallConfig, data: Path, mq: Mosquitto, port: int
) -> tuple[subprocess.Popen[bytes], str]:
    """The web server as its own process, as in a real hall (``python -m hall_web run``),
    with a staff account ``demo`` for the console and the rating pads."""
    write_yaml(data / "hall.yaml", cfg.model_dump(mode="json", exclude_none=True))
    web_yaml = data / "web.yaml"
    write_yaml(
        web_yaml,
        {
            "terminal_id": "web",
            "hall_config": "hall.yaml",
            "broker_url": mq.url,
            "listen": "127.0.0.1",
            "port": port,
            "data_dir": "web",
            "screen": {"calendar_note": CALENDAR_NOTE},
            "sms": {"driver": "simulated", "sign_name": cfg.hall.name},
        },
    )
    base = [sys.executable, "-m", "hall_web", "--config", str(web_yaml)]
    add = subprocess.run(
        [*base, "user", "add", "demo", "--name", "演示窗口", "--password-stdin"],
        input=DEMO_PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if add.returncode != 0:
        raise RuntimeError(f"could not add the demo staff account: {add.stderr.strip()}")
    proc = subprocess.Popen(
        [*base, "run"], cwd=ROOT, preexec_fn=preexec_die_with_parent(), stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # a web server answers or it does not: a poll of /healthz (nothing to subscribe to)
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if json.load(r).get("online"):
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the web server exited with {proc.returncode}")
        time.sleep(0.2)
    raise RuntimeError("the web server did not come up within 30 s")


def start_display(
    cfg: HallConfig, data: Path, mq: Mosquitto
) -> tuple[subprocess.Popen[bytes], DisplaySimulator]:
    """The display program as its own process, driving simulated LED window displays (one
    Modbus RTU bus, unit N above the N-th window) over the simulator's socket; its hall
    speaker writes WAV files (the hall display page plays the voice in the browser)."""
    sim = DisplaySimulator(units=range(1, len(cfg.windows) + 1)).start()
    display_yaml = data / "display.yaml"
    write_yaml(
        display_yaml,
        {
            "terminal_id": "d01",
            "hall_config": "hall.yaml",
            "broker_url": mq.url,
            "leds": {
                "driver": "modbus",
                "port": sim.url,
                "timeout_s": 0.3,
                "retries": 0,
                "reconnect_max_s": 5,
                "windows": {w.id: i for i, w in enumerate(cfg.windows, start=1)},
            },
            "speaker": {"driver": "file", "output_dir": str(data / "speaker"), "keep_files": 20},
        },
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "hall_display", "run", "--config", str(display_yaml)],
        cwd=ROOT,
        preexec_fn=preexec_die_with_parent(),
        stdout=subprocess.DEVNULL,
    )
    return proc, sim


def kiosk_sim(
    client: HallClient,
    cfg: HallConfig,
    stop: threading.Event,
    rate: float,
    rng: random.Random,
    first: list[str] | None = None,
) -> None:
    services = [s for s in cfg.services if not s.self_service]
    while not stop.wait(rng.expovariate(rate)):
        svc = rng.choice(services)
        prio = rng.choices(["normal", "elderly", "disabled", "green"], [80, 12, 4, 4])[0]
        r = client.request("ticket.issue", {"service": svc.id, "priority": prio}, timeout=5)
        if r.ok and r.result:
            t = r.result
            if first is not None and not first and t.token:
                first.append(t.token)
                FIRST_TICKET.set()
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
    cfg = around_the_clock(load_config(args.config))
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
    clock = time.time  # the demo hall's calendar is open around the clock
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

    procs: list[subprocess.Popen[bytes]] = []
    url = None
    sim: DisplaySimulator | None = None
    if not args.no_web:
        web_proc, url = start_web(cfg, data, mq, free_port(args.web_port))
        procs.append(web_proc)
        say("web", f"web server on {url}")
        disp_proc, sim = start_display(cfg, data, mq)
        procs.append(disp_proc)
        say("display", f"LED window displays: {len(cfg.windows)} simulated on {sim.url}")

    threads = []
    first: list[str] = []
    kiosk_ids = [t.id for t in cfg.terminals if t.role == "kiosk"][1:3] or ["k-sim"]
    for kid in kiosk_ids:
        c = HallClient(topics, kid, mq.settings, role="kiosk").start()
        clients.append(c)
        threads.append(
            threading.Thread(
                target=kiosk_sim,
                daemon=True,
                args=(c, cfg, stop, 0.3 * args.speed / 10, rng, first),
            )
        )
    # window 1 is yours at the staff console; the simulated staff work at the next six
    for t in [t for t in cfg.terminals if t.role == "window"][1:7]:
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
    if url is not None:
        FIRST_TICKET.wait(10)
        w1 = cfg.windows[0]
        phone = f"{url}/q/{first[0]}" if first else f"{url}/q/<the token on a ticket>"
        for line in (
            f"综合屏 hall display:     {url}/screen",
            f"窗口工作台 staff console: {url}/counter   (account demo, password {DEMO_PASSWORD}; "
            f"pick {w1.name})",
            f"窗口屏 window display:   {url}/window-display/{w1.id}",
            f"评价器 rating pad:       {url}/rate/{w1.id}   (pair it once with the same account)",
            f"手机页 phone page:       {phone}",
            f"REST API:               {url}/docs",
            f"Every page:             {url}/",
        ):
            say("web", line)
    say("hall", f"{CALENDAR_NOTE} — press Ctrl-C to stop")

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
    for p in procs:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    if sim is not None:
        leds = [(w, sim.displayed(i)) for i, w in enumerate(cfg.windows[:7], start=1)]
        shown = [
            f"{w.name} {'暂停服务' if d.legend else (d.ticket.strip() or '(dark)')}"
            for w, d in leds
        ]
        say("display", "LED now — " + "; ".join(shown))
        sim.stop()
    for th in threads:
        th.join(10)
    for c in clients:
        c.stop()
    tickets = len(ctl.engine.state.tickets)
    ctl.stop()
    say("hall", f"demo over: {tickets} tickets today, all in {data / 'hall.db'}")
    return 0
