"""Window call → hall display page (Chromium) and → live-stream clients: latency through a
real mosquitto, controller and web server.

Parts, all real and each in its own process (in a hall they are separate programs, mostly
on separate machines; here they share the 2 cores: the CPU line says who used what):

- mosquitto on a free loopback port;
- the controller (``python -m hall_controller run``: ``Controller`` over ``SqliteStore``
  in a temp dir), hall time starting on an open Wednesday morning, with a copy of
  ``config/hall.yaml`` (16 windows win01–win16, the ``web`` terminal) whose daily caps are
  lifted, so that every window has tickets to call for the whole run;
- the web server (``python -m hall_web run``: uvicorn, one process, its CPU its own
  rather than shared under one GIL with the bench);
- 16 window terminals (``HallClient`` role ``window``, w01–w16, one worker process)
  calling concurrently, each on its own random (Poisson) schedule, ``--rate`` calls/s in
  all; each finishes its ticket (``window.finish``) and calls the next
  (``window.call_next``); the tickets were issued beforehand by kiosk clients (k01–k04);
- headless Chromium (Playwright, Debian's ``/usr/bin/chromium``, 1920×1080) on
  ``/screen``, the hall display page;
- Server-Sent-Events clients of ``/live/hall`` in another process: plain asyncio
  HTTP/1.1 connections, as light as we could make them (an httpx client per connection
  costs more CPU than the server it measures: 200 of them would measure the clients).

The rate. ``--rate 10`` calls/s (the default) is far above a hall's own pace (16 windows
calling every few minutes: ~0.1–0.3 calls/s) so that 2,000 calls fit in 4 minutes; every
call is ~4 live states (the finish and the call, each an event plus the retained boards),
so the page renders ~40 states/s. ``--rate 2`` is closer to a hall and slower to run.

Where each figure starts: the window's call request being sent (wall clock, ``time.time()``
in the window process just before ``window.call_next`` is published), i.e. the staff
member pressing "call next". The controller's own part (pick, commit, publish
``events/ticket/called``) is inside; when it publishes cannot be seen from outside in one
clock, so the bench reports, as a break-down, when a bare MQTT subscriber of
``events/ticket/called`` has the call (``event_*``).

- screen: until the hall display page has rendered a state holding the call (on the call
  board or among the announcements). An init script wraps the page's ``EventSource``
  listener: right after the page's own ``render(state)`` returns it notes the time
  (``performance.timeOrigin + performance.now()``) for each number it has not seen, and
  whether the number is then on screen (``#now-number``, ``#others``, ``#recent``). The
  page's clock is checked against ``Date.now()`` (the system wall clock Python reads) at
  the start and end of each page and corrected. "next frame" (``screen_paint_*``): until
  the animation frame after that render, the one that shows it.
- sse: until one SSE client has received a state holding the call.
- fanout: with ``--conns`` (200) SSE connections open on the one web process (and the
  page), each connection's delay for each call: p99 over all (connection, call) pairs.
- audio_start: call → the page's player fires ``playing`` for the call's WAV (Chromium's
  "playback started"; headless Chromium has no sound card and plays into a fake output
  that takes the samples in real time; its first ``timeupdate``, which Chromium fires
  only every ~250 ms, is printed too). ``--audio`` calls, one at a time on a fresh page:
  an announcement lasts ~10 s, so once the player's clock has moved the probe pauses it
  and fires ``ended`` (the page's own handler then reports the end and goes idle), and
  the next call comes once the page has reported it. During the screen phase the page
  plays its announcements as it would in a hall; what became of them is printed.
- hop: the baseline, a bare MQTT 5 publish → subscribe hop (paho to paho, QoS 1, one at
  a time, one process, ``perf_counter``) through the same broker in the same run, before
  the load, as in ``bench/calls.py``.
- floor (``browser_floor_*``): a bare asyncio server (in this process) writes an SSE event
  straight onto the socket of a page that holds nothing but an EventSource listener;
  write → listener, one at a time. With two hops it is the least any design could take
  from a call to a page (``floor_ratio_p50`` = (2 × hop + floor) / hop): the ratio goal
  sits below it.

Goals (issue 10): screen p99 ≤ 50 ms and ratio_p50 (screen p50 / hop p50) ≤ 3; fanout
p99 ≤ 100 ms with 200 connections; call → first audio sample ≤ 1 s. Prints human-readable
lines, then one JSON object as its last line (``screen_p50_ms``, ``screen_p99_ms``,
``hop_p50_ms``, ``ratio_p50``, ``fanout_p99_ms``, ``audio_start_p99_ms``, and more).
``--quick``: 200 calls, 50 connections × 60 calls, 6 audio calls (under a minute).

    python bench/screen.py [--quick] [--calls 2000] [--conns 200] [--rate 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import queue
import random
import re
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
import paho.mqtt.client as mqtt
from _harness import (
    CONFIG,
    OPEN_TIME,
    end_processes,
    percentile,
    remember,
    spawn_child,
    start_broker,
    start_process,
    stop_process,
    tmpdir,
    worker_dies_with_parent,
)
from paho.mqtt.enums import CallbackAPIVersion

from hall_contract.client import BrokerSettings, HallClient, set_nodelay
from hall_contract.hallconfig import HallConfig
from hall_contract.topics import Topics
from hall_contract.yamlconf import load_model
from hall_controller.process import spawn_controller

HALL = "yunxi"
WINDOWS = [f"w{i:02d}" for i in range(1, 17)]  # window terminals of config/hall.yaml
KIOSKS = ["k01", "k02", "k03", "k04"]
RATE = 10.0  #: calls/s over all windows (a busy hall's peak is ~0.3/s: see the docstring)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]

# The page-side probe, added before the page's own scripts run. It only observes (and,
# for the audio phase, skips the rest of an announcement once it plays).
PROBE = r"""
(() => {
  const B = window.__bench = {seen: {}, audio: {}, numSeq: {}, states: 0, skipAudio: false};
  const wall = () => performance.timeOrigin + performance.now();
  try { performance.setResourceTimingBufferSize(100000); } catch (_) {}
  // the page clock's error against the system wall clock (Date.now(), 1 ms steps):
  // the largest Date.now() - wall() seen over a few ms boundaries is -error
  B.clockError = () => {
    let best = -Infinity;
    const end = performance.now() + 25;
    while (performance.now() < end) { const d = Date.now() - wall(); if (d > best) best = d; }
    return [wall(), -best];
  };
  function onScreen() {
    const s = new Set();
    const n = document.getElementById("now-number");
    if (n) s.add(n.textContent);
    for (const el of document.querySelectorAll("#others .s-o-num, #recent .s-r-num")) s.add(el.textContent);
    return s;
  }
  const add = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (type, fn, opts) {
    if (type !== "state") return add.call(this, type, fn, opts);
    const wrapped = function (e) {
      const tRecv = wall();
      const r = fn.apply(this, arguments);
      const tDone = wall();
      B.states++;
      let st;
      try { st = JSON.parse(e.data); } catch (_) { return r; }
      const fresh = [];
      let shown = null;
      for (const a of st.announce || []) B.numSeq[a.number] = a.seq;
      // a call is in the state once it is on the call board or among the announcements
      for (const x of [...(st.calls || []), ...(st.announce || [])]) {
        if (!(x.number in B.seen)) {
          if (shown === null) shown = onScreen();
          const rec = [tRecv, tDone, 0, shown.has(x.number) ? 1 : 0, st.version];
          B.seen[x.number] = rec;
          fresh.push(rec);
        }
      }
      if (fresh.length) requestAnimationFrame(() => { const t = wall(); for (const x of fresh) x[2] = t; });
      return r;
    };
    return add.call(this, type, wrapped, opts);
  };
  const seqOf = (el) => {
    const m = /\/audio\/call\/(\d+)\.wav/.exec(el.src || el.currentSrc || "");
    return m ? +m[1] : null;
  };
  const rec = (seq) => B.audio[seq] || (B.audio[seq] = {});
  const hooked = new WeakSet();
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    const el = this;
    if (!hooked.has(el)) {
      hooked.add(el);
      // capturing listeners run before the page's own onended (which loads the next
      // announcement into the same player), so the event is still that call's
      const on = (name, fn) => el.addEventListener(name, () => {
        const s = seqOf(el);
        if (s !== null) fn(rec(s));
      }, {capture: true});
      on("playing", (r) => { if (!r.playing) r.playing = wall(); });
      on("timeupdate", (r) => {
        if (!r.advancing && el.currentTime > 0) {
          r.advancing = wall();
          r.duration = el.duration;
          // the audio phase: skip the rest, as if it had ended (pause, then the page's
          // own onended runs on a synthetic 'ended')
          if (B.skipAudio) { el.pause(); el.dispatchEvent(new Event("ended")); }
        }
      });
      on("ended", (r) => { r.ended = wall(); });
      on("error", (r) => { r.error = wall(); r.why = el.error ? el.error.code + " " + el.error.message : "?"; });
    }
    const seq = seqOf(el);
    if (seq !== null) rec(seq).play = wall();
    const p = play.apply(el, arguments);
    if (p && p.then && seq !== null) {
      p.then(() => { rec(seq).resolved = wall(); },
             (e) => { rec(seq).rejected = wall(); rec(seq).whyRejected = e.name + ": " + e.message; });
    }
    return p;
  };
  B.wavFetched = (seq) => {
    const e = performance.getEntriesByType("resource").find((x) => x.name.endsWith("/audio/call/" + seq + ".wav"));
    return e ? performance.timeOrigin + e.responseEnd : null;
  };
})();
"""


# ------------------------------------------------------------------ the hall's parts
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hall_copy(work: Path) -> Path:
    """config/hall.yaml with the daily caps lifted (the realty queue's 120 tickets a day
    would leave windows 10 and 11 idle half-way through 2,000 calls)."""
    text = re.sub(r"(?m)^\s+daily_cap:.*\n", "", CONFIG.read_text(encoding="utf-8"))
    path = work / "hall.yaml"
    path.write_text(text, encoding="utf-8")
    return path


#: times the web server had to be started again (see ``start_web``)
WEB_RESTARTS: list[str] = []


def start_web(work: Path, hall_yaml: Path, broker_url: str) -> tuple[Any, str]:
    """``python -m hall_web run`` in its own process, on a free loopback port; its URL
    once it answers and reaches the controller.

    A server that answers but still says ``broker: false`` 5 s later is started again
    (and counted in ``WEB_RESTARTS``): it subscribes to its connection's changes only
    after it has started connecting (hall_web/app.py ``WebServer.start``), so when the
    connection comes first it never learns that it is up, and says offline for good."""
    web_yaml = work / "web.yaml"
    for attempt in range(4):
        port = free_port()
        web_yaml.write_text(
            json.dumps(  # JSON is YAML
                {
                    "hall_config": str(hall_yaml),
                    "broker_url": broker_url,
                    "listen": "127.0.0.1",
                    "port": port,
                    "data_dir": str(work / "web"),
                }
            )
        )
        log = work / f"web-{attempt}.log"
        proc = spawn_child(
            [sys.executable, "-m", "hall_web", "--config", str(web_yaml), "run"], log
        )
        url = f"http://127.0.0.1:{port}"
        deadline, answered, health = time.time() + 30, 0.0, {}
        while time.time() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                health = httpx.get(url + "/healthz", timeout=2).json()
                if health.get("online"):
                    print(f"bench: web server pid {proc.pid} on {url}", file=sys.stderr)
                    return proc, url
                answered = answered or time.time()
                if not health.get("broker") and time.time() - answered > 5:
                    break
            time.sleep(0.05)
        stop_process(proc)
        why = f"healthz {health}; log: {log.read_text()[-300:]!r}"
        WEB_RESTARTS.append(why)
        print(f"bench: web server attempt {attempt + 1} failed: {why}", file=sys.stderr)
    raise RuntimeError("the web server did not start")


def issue_tickets(port: int, hall: HallConfig, calls: int) -> int:
    """Issue, with the kiosks, enough tickets in every queue that no window runs dry: a
    window calls from its first queue while it has tickets (then its next ones)."""
    per_window = calls / len(WINDOWS)
    need: dict[str, float] = {}
    for w in hall.windows:
        need[w.queues[0]] = need.get(w.queues[0], 0) + per_window
    jobs = [q for q, n in need.items() for _ in range(math.ceil(n * 1.3) + 10)]
    random.Random(1).shuffle(jobs)
    topics = Topics(HALL)
    errors: list[str] = []

    def kiosk(tid: str, mine: list[str]) -> None:
        with HallClient(topics, tid, BrokerSettings(port=port), role="kiosk") as k:
            for q in mine:
                r = k.request("ticket.issue", {"queue": q}, timeout=10)
                if not r.ok:
                    errors.append(str(r.error))

    threads = [
        threading.Thread(target=kiosk, args=(tid, jobs[i :: len(KIOSKS)]))
        for i, tid in enumerate(KIOSKS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} tickets not issued, e.g. {errors[0]}")
    return len(jobs)


# --------------------------------------------------------------------- the windows
def caller_worker(port: int, cmds: Any, out: Any) -> None:
    """The 16 window terminals, in one process. Each command ``(n, rate, start_at,
    seed)``: make ``n`` calls in all, each window on its own Poisson schedule (``rate``
    calls/s over all windows), finishing its ticket before it calls the next; puts the
    calls made, (number, window, t_sent, t_replied), and the refusals."""
    worker_dies_with_parent()
    topics = Topics(HALL)
    wins = [
        HallClient(topics, tid, BrokerSettings(port=port), role="window").start() for tid in WINDOWS
    ]
    out.put("ready")
    while (cmd := cmds.get()) is not None:
        run = CallRun(wins, *cmd)
        threads = [threading.Thread(target=run.window, args=(k,)) for k in range(len(wins))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out.put((run.calls, run.errors))
    for w in wins:
        w.stop()


class CallRun:
    """One phase of calls by the window terminals (a thread per window)."""

    current: ClassVar[dict[int, bool]] = {}  #: windows with a ticket called (across phases)

    def __init__(
        self, wins: list[HallClient], n: int, rate: float, start_at: float, seed: int
    ) -> None:
        self.wins, self.n, self.rate, self.start_at, self.seed = wins, n, rate, start_at, seed
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.made = 0
        self.calls: list[tuple[str, str, float, float]] = []
        self.errors: list[str] = []

    def window(self, k: int) -> None:
        rnd = random.Random(self.seed * 1000 + k)
        per = self.rate / len(self.wins)
        w = self.wins[k]
        nxt = self.start_at + rnd.expovariate(per)
        while True:
            if self.done.wait(max(0.0, nxt - time.time())):
                return
            with self.lock:
                if self.made >= self.n or len(self.errors) > 50:
                    self.done.set()
                    return
                self.made += 1
            if self.current.get(k):
                w.request("window.finish", {})  # the staff member finishes, then calls
                self.current[k] = False
            t0 = time.time()
            r = w.request("window.call_next", {})
            t1 = time.time()
            with self.lock:
                if r.ok and r.result is not None:
                    self.current[k] = True
                    self.calls.append((r.result.number, WINDOWS[k], t0, t1))
                else:
                    self.made -= 1
                    self.errors.append(f"{WINDOWS[k]}: {r.error}")
            nxt = max(nxt + rnd.expovariate(per), time.time())


# ---------------------------------------------------------------- live-stream clients
STATE_KEY = b'data: {"version":'


class SSEClient(asyncio.Protocol):
    """One ``GET /live/hall`` over HTTP/1.1 (chunked), as a browser's EventSource holds
    it: notes the arrival time and version of every ``state`` event."""

    def __init__(self, host: str, port: int, versions: dict[int, list[str]], ready: Any) -> None:
        self.req = (
            f"GET /live/hall HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        ).encode()
        self.versions = versions
        self.ready = ready
        self.raw = bytearray()
        self.headers_done = False
        self.events: list[tuple[float, int]] = []
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(self.req)

    def data_received(self, data: bytes) -> None:
        t = time.time()
        self.raw += data
        if not self.headers_done:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.raw[:end]).lower()
            assert head.startswith(b"http/1.1 200"), head[:80]
            assert b"transfer-encoding: chunked" in head, head
            del self.raw[: end + 4]
            self.headers_done = True
        # Each state is one SSE event, ``event: state`` then ``data: {"version":N,...}``
        # and an empty line, written as one HTTP chunk (one send). Rather than de-chunk and
        # split every event (that cost more than the server's own work per state), find
        # each state's data line and its end: a state has arrived once its empty line has.
        while True:
            i = self.raw.find(STATE_KEY)
            if i < 0:
                del self.raw[: max(0, len(self.raw) - len(STATE_KEY))]
                return
            e = self.raw.find(b"\n\n", i)
            if e < 0:
                del self.raw[:i]
                return  # the rest of this state is still on its way
            j = self.raw.index(b",", i)
            v = int(self.raw[i + len(STATE_KEY) : j])
            if v not in self.versions:
                st = json.loads(self.raw[i + 6 : e])
                self.versions[v] = [x["number"] for x in st["calls"] + st["announce"]]
            del self.raw[: e + 2]
            if not self.events:
                self.ready()
            self.events.append((t, v))


def sse_worker(port: int, conns: int, go: Any, ready: Any, stop: Any, out: Any) -> None:
    """``conns`` live-stream connections in one asyncio loop, opened at ``go``; sets
    ``ready`` once each has its first state, and at ``stop`` puts, per connection, when it
    first received a state holding each announced number."""
    worker_dies_with_parent()
    go.wait()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def run() -> tuple[list[dict[str, float]], list[int]]:
        loop = asyncio.get_running_loop()
        versions: dict[int, list[str]] = {}
        got = [0]
        all_in = asyncio.Event()

        def one_ready() -> None:
            got[0] += 1
            if got[0] == conns:
                all_in.set()

        clients = []
        for _ in range(conns):
            _tr, c = await loop.create_connection(
                lambda: SSEClient("127.0.0.1", port, versions, one_ready), "127.0.0.1", port
            )
            clients.append(c)
        await asyncio.wait_for(all_in.wait(), 60)
        ready.set()
        await loop.run_in_executor(None, stop.wait)
        for c in clients:
            c.transport.close()
        firsts = []
        for c in clients:
            seen: dict[str, float] = {}
            for t, v in c.events:
                for num in versions[v]:
                    seen.setdefault(num, t)
            firsts.append(seen)
        return firsts, [len(c.events) for c in clients]

    out.put(asyncio.run(run()))


def subscriber(client_id: str, port: int, topic: str, on_message: Any) -> mqtt.Client:
    """A paho MQTT 5 client (TCP_NODELAY, as every hall process) whose subscription to
    ``topic`` (QoS 1) is in place."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id=client_id)
    ready = threading.Event()

    def on_connect(cl: mqtt.Client, *_a: Any) -> None:
        set_nodelay(cl)
        cl.subscribe(topic, 1)

    c.on_connect = on_connect
    c.on_subscribe = lambda *_a: ready.set()
    c.on_message = on_message
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert ready.wait(10), f"no subscription to {topic}"
    return c


class EventWatch:
    """A bare MQTT subscriber of ``events/ticket/called``: when each call's event arrives
    (the controller's part of the path, for the break-down)."""

    def __init__(self, port: int, topic: str) -> None:
        self.at: dict[str, float] = {}
        self.c = subscriber(f"watch-{os.getpid()}", port, topic, self._on_message)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        t = time.time()
        self.at.setdefault(json.loads(msg.payload)["data"]["number"], t)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def hop_baseline(port: int, n: int) -> list[float]:
    """A bare publish → subscribe hop (QoS 1), paho to paho, one at a time, in ms."""
    topic = f"hall/{HALL}/bench/hop"
    arrived: dict[int, float] = {}
    cond = threading.Condition()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        t = time.perf_counter()
        with cond:
            arrived[int(msg.payload)] = t
            cond.notify_all()

    sub = subscriber("hop-sub", port, topic, on_message)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="hop-pub")
    pub.connect("127.0.0.1", port)
    set_nodelay(pub)
    pub.loop_start()
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        pub.publish(topic, str(i), qos=1)
        with cond:
            assert cond.wait_for(lambda: i in arrived, 10)  # noqa: B023 (called right here)
            lat.append((arrived.pop(i) - t0) * 1000)
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return lat


# ------------------------------------------------------------- the browser's floor
FLOOR_PAGE = b"""<!doctype html><meta charset="utf-8"><title>floor</title><script>
window.got = [];
const wall = () => performance.timeOrigin + performance.now();
const es = new EventSource("/s");
es.onopen = () => { window.opened = true; };
es.addEventListener("state", (e) => { window.got.push([+e.data, wall()]); });
</script>"""


class FloorServer:
    """The least a web server can do: a bare asyncio HTTP server (its own thread) that
    serves a page whose only script is an EventSource listener, and writes an SSE event
    to it straight onto the socket. ``send(i)`` notes the wall clock just before the
    write; the page notes when its listener runs."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.stream: asyncio.StreamWriter | None = None
        self.server: asyncio.Server | None = None
        self.written: dict[int, float] = {}
        started = threading.Event()
        self.port = 0

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            line = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            if line.startswith(b"GET /s "):
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Cache-Control: no-store\r\n\r\nretry: 2000\n\n"
                )
                set_nodelay_sock(writer.get_extra_info("socket"))
                self.stream = writer
                return
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(FLOOR_PAGE) + FLOOR_PAGE
            )
            await writer.drain()
            writer.close()

        async def serve() -> None:
            self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()

        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(serve(), self.loop)
        assert started.wait(10)

    def stop(self) -> None:
        assert self.server is not None
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def send(self, i: int) -> None:
        def write() -> None:
            assert self.stream is not None
            self.written[i] = time.time()
            self.stream.write(b"event: state\ndata: %d\n\n" % i)

        self.loop.call_soon_threadsafe(write)


def set_nodelay_sock(sock: Any) -> None:
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def browser_floor(browser: Any, n: int) -> list[float]:
    """Server write → the page's EventSource listener, for a bare server and a page with
    nothing else in it, one event at a time (ms; the page clock corrected as for the hall
    display): the browser's share of any live page, however fast the server."""
    srv = FloorServer()
    page = browser.new_page()
    page.add_init_script(PROBE)  # only for its clock check
    page.goto(f"http://127.0.0.1:{srv.port}/")
    page.wait_for_function("() => window.opened === true", timeout=15000)
    err = [page.evaluate("window.__bench.clockError()")[1]]
    for i in range(n):
        srv.send(i)
        page.wait_for_function(f"() => window.got.length > {i}", polling="raf", timeout=5000)
    err.append(page.evaluate("window.__bench.clockError()")[1])
    got = page.evaluate("window.got")
    page.close()
    srv.stop()
    fix = statistics.fmean(err)
    return [(t - fix) - srv.written[i] * 1000 for i, t in got]


# ----------------------------------------------------------------------- the browser
class Screen:
    """The hall display page in headless Chromium, with the probe."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1920, "height": 1080})
        self.page.add_init_script(PROBE)
        self.page.goto(url + "/screen")
        self.until("() => window.__bench && window.__bench.states > 0", None, 15)
        self.clock = [self.page.evaluate("window.__bench.clockError()")]

    def until(self, fn: str, arg: Any, timeout: float) -> Any:
        """Poll ``fn(arg)`` in the page until it is truthy. (Not ``wait_for_function``:
        its string predicates are evaluated with eval(), which the page's CSP forbids.)"""
        deadline = time.time() + timeout
        while not (v := self.page.evaluate(fn, arg)):
            if time.time() > deadline:
                raise TimeoutError(f"page: {fn} not true within {timeout} s")
            self.page.wait_for_timeout(10)
        return v

    def wait(self, seconds: float) -> None:
        """Let time pass while Playwright keeps reading the browser's messages."""
        self.page.wait_for_timeout(seconds * 1000)

    def seen(self) -> dict[str, list[float]]:
        """number → [rendered, render done, next frame, on screen, version], in system
        wall-clock seconds (the page's clock corrected by its measured error)."""
        self.clock.append(self.page.evaluate("window.__bench.clockError()"))
        raw = self.page.evaluate("window.__bench.seen")
        return {
            k: [self.fix(v[0]), self.fix(v[1]), self.fix(v[2]), v[3], v[4]] for k, v in raw.items()
        }

    def audio_summary(self) -> dict[str, int]:
        """What the page's player did with the calls so far."""
        return self.page.evaluate(
            """() => { const a = Object.values(window.__bench.audio);
               return {started: a.filter((x) => x.play).length,
                       playing: a.filter((x) => x.playing).length,
                       ended: a.filter((x) => x.ended).length,
                       failed: a.filter((x) => x.error || x.rejected).length,
                       // MEDIA_ERR_SRC_NOT_SUPPORTED: the 404 of a call the server no
                       // longer keeps (it serves the WAVs of the last 20 calls only)
                       gone: a.filter((x) => (x.why || "").startsWith("4 ")).length}; }"""
        )

    def fix(self, t_ms: float) -> float:
        """Page wall-clock ms → system wall-clock s: subtract the page clock's error,
        interpolated between the checks."""
        (t0, e0), (t1, e1) = self.clock[0], self.clock[-1]
        e = e0 if t1 == t0 else e0 + (e1 - e0) * (t_ms - t0) / (t1 - t0)
        return (t_ms - e) / 1000 if t_ms else 0.0

    def close(self) -> None:
        self.page.close()


class CpuMeter:
    """CPU time of each part over a phase, in % of one core; ``other``: everything else
    this machine ran meanwhile (other users' jobs: noise in the figures)."""

    def __init__(self, parts: dict[int, str]) -> None:
        self.parts = parts  # pid → name; Chromium and Playwright's driver found by name

    def _now(self) -> tuple[float, dict[str, float], float]:
        import psutil

        me = psutil.Process()
        used: dict[str, float] = {"bench": sum(me.cpu_times()[:2])}
        for p in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                name = self.parts.get(p.pid)
                if name is None:
                    pname = p.name()
                    name = (
                        "chromium"
                        if pname.startswith("chrom")
                        else ("bench" if pname.startswith("node") else "")
                    )
                if name:
                    used[name] = used.get(name, 0.0) + sum(p.cpu_times()[:2])
        t = psutil.cpu_times()
        return time.time(), used, t.user + t.system + t.nice + t.irq + t.softirq

    def start(self) -> None:
        self.t0 = self._now()

    def stop(self) -> dict[str, float]:
        (a, u0, all0), (b, u1, all1) = self.t0, self._now()
        span = b - a
        pct = {k: round(100 * (u1.get(k, 0.0) - v) / span, 1) for k, v in u0.items()}
        pct["other"] = round(100 * (all1 - all0) / span - sum(pct.values()), 1)
        return pct


# ------------------------------------------------------------------------- figures
def ms(xs: list[float], p: float) -> float:
    return round(percentile(xs, p), 2)


def line(name: str, xs: list[float], extra: str = "") -> None:
    if not xs:
        print(f"{name:<34} no samples {extra}")
        return
    print(
        f"{name:<34} n={len(xs):<6} p50 {ms(xs, 50):8.2f}  p90 {ms(xs, 90):8.2f}  "
        f"p99 {ms(xs, 99):8.2f}  max {max(xs):8.2f} ms {extra}"
    )


def lat(arrived: dict[str, float], sent: dict[str, float]) -> list[float]:
    """Latencies (ms) of the calls ``sent`` (number → time sent) that ``arrived``."""
    return [(arrived[k] - t0) * 1000 for k, t0 in sent.items() if k in arrived]


def run_calls(cmds: Any, results: Any, n: int, rate: float, seed: int, screen: Screen) -> Any:
    """``n`` calls by the 16 windows; the calls made, once the last has had a second to
    reach the page and the clients."""
    cmds.put((n, rate, time.time() + 0.5, seed))
    while True:
        try:
            calls, errors = results.get_nowait()
            break
        except queue.Empty:
            screen.wait(0.2)
    if errors:
        print(f"bench: {len(errors)} calls refused, e.g. {errors[0]}", file=sys.stderr)
    screen.wait(1.0)
    return calls


class Listeners:
    """``conns`` live-stream connections in their own process (``sse_worker``): started
    early (a process takes seconds to start here), connected at ``open``."""

    def __init__(self, ctx: Any, port: int, conns: int, parts: dict[int, str]) -> None:
        self.go, self.ready, self.stop, self.q = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
        self.proc = start_process(
            ctx, sse_worker, (port, conns, self.go, self.ready, self.stop, self.q)
        )
        parts[self.proc.pid] = "sse clients"

    def open(self) -> None:
        self.go.set()
        deadline = time.time() + 90
        while not self.ready.is_set():
            assert self.proc.is_alive() and time.time() < deadline, "the SSE clients failed"
            time.sleep(0.05)

    def collect(self) -> tuple[list[dict[str, float]], list[int]]:
        """Per connection: when it first had each number; how many states it got."""
        self.stop.set()
        firsts, states = self.q.get(timeout=120)
        end_processes([self.proc])
        return firsts, states


def audio_phase(browser: Any, url: str, port: int, n: int) -> tuple[Screen, list[dict[str, Any]]]:
    """``n`` calls one at a time, each once the page's player is idle; what the page's
    player did for each (page wall-clock ms) with ``t0``, the call's send time (s)."""
    screen = Screen(browser, url)
    screen.page.evaluate("window.__bench.skipAudio = true")
    topics = Topics(HALL)
    wins = [
        HallClient(topics, tid, BrokerSettings(port=port), role="window").start()
        for tid in WINDOWS[:4]
    ]
    audio: list[dict[str, Any]] = []
    try:
        for i in range(n):
            w = wins[i % len(wins)]
            w.request("window.finish", {})
            t0 = time.time()
            r = w.request("window.call_next", {})
            assert r.ok and r.result is not None, r.error
            num = r.result.number
            screen.until(
                """num => { const s = window.__bench.numSeq[num];
                   const a = s && window.__bench.audio[s];
                   return a && (a.ended || a.error || a.rejected); }""",
                num,
                30,
            )
            rec = screen.page.evaluate(
                """num => { const s = window.__bench.numSeq[num];
                   return Object.assign({seq: s, fetched: window.__bench.wavFetched(s)},
                                        window.__bench.audio[s]); }""",
                num,
            )
            rec["t0"] = t0
            audio.append(rec)
            screen.wait(0.2)
    finally:
        for w in wins:
            w.stop()
    screen.clock.append(screen.page.evaluate("window.__bench.clockError()"))
    return screen, audio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 calls, 50 connections, 6 audio")
    ap.add_argument("--calls", type=int, default=None, help="screen phase calls (2000)")
    ap.add_argument("--conns", type=int, default=None, help="live connections for fanout (200)")
    ap.add_argument("--fanout-calls", type=int, default=None, help="fanout phase calls (400)")
    ap.add_argument("--audio", type=int, default=None, help="audio calls (50)")
    ap.add_argument("--rate", type=float, default=RATE, help="calls/s over all 16 windows")
    args = ap.parse_args()
    n = args.calls or (200 if args.quick else 2000)
    conns = args.conns or (50 if args.quick else 200)
    n_fan = args.fanout_calls or (60 if args.quick else 400)
    n_audio = args.audio or (6 if args.quick else 50)
    warm = len(WINDOWS)
    t_start = time.time()

    def note(what: str) -> None:
        print(f"bench: {time.time() - t_start:5.1f} s {what}", file=sys.stderr, flush=True)

    from playwright.sync_api import sync_playwright

    work = tmpdir()
    hall_yaml = hall_copy(work)
    hall = load_model(HallConfig, hall_yaml)
    broker = start_broker(work)
    assert broker.proc is not None
    ctx = mp.get_context("spawn")
    ps: list[Any] = []
    parts: dict[int, str] = {broker.proc.pid: "mosquitto"}
    meter = CpuMeter(parts)
    try:
        hop = hop_baseline(broker.port, n)
        ctl = remember(
            spawn_controller(
                hall_yaml, broker.url, work / "ctl", clock_start=OPEN_TIME, die_with_parent=True
            )
        )
        parts[ctl.pid] = "controller"
        note(f"controller pid {ctl.pid} ready")
        web, url = start_web(work, hall_yaml, broker.url)
        parts[web.pid] = "web"
        port = int(url.rsplit(":", 1)[1])
        cmds, results = ctx.Queue(), ctx.Queue()
        caller = start_process(ctx, caller_worker, (broker.port, cmds, results))
        ps.append(caller)
        parts[caller.pid] = "windows"
        sse1, sse2 = Listeners(ctx, port, 1, parts), Listeners(ctx, port, conns, parts)
        ps += [sse1.proc, sse2.proc]
        t = time.time()
        issued = issue_tickets(broker.port, hall, 2 * warm + n + n_fan + n_audio)
        note(f"{issued} tickets issued in {time.time() - t:.1f} s")
        assert results.get(timeout=30) == "ready"
        watch = EventWatch(broker.port, Topics(HALL).event("ticket.called"))

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            note(f"chromium {browser.version}")
            floor = browser_floor(browser, 100 if args.quick else 300)

            # 1. the page and one live-stream client; --rate calls/s from the 16 windows
            screen = Screen(browser, url)
            sse1.open()
            run_calls(cmds, results, warm, args.rate, 1, screen)  # warm-up, not counted
            note("warmed up; the screen phase")
            meter.start()
            t = time.time()
            calls = run_calls(cmds, results, n, args.rate, 2, screen)
            span = time.time() - t - 1.0
            cpu1 = meter.stop()
            (sse_first,), _ = sse1.collect()
            seen = screen.seen()
            page_states = screen.page.evaluate("window.__bench.states")
            played = screen.audio_summary()
            clock_err = [e for _t, e in screen.clock]
            screen.close()

            # 2. fanout: `conns` live connections (and the page) on the one web process
            note("the fanout phase")
            screen = Screen(browser, url)
            sse2.open()
            # as in the screen phase, a few calls first: 200 browsers connecting at once and
            # the page loading are a start-up burst, not the steady state measured here
            run_calls(cmds, results, warm, args.rate, 4, screen)
            meter.start()
            t = time.time()
            calls2 = run_calls(cmds, results, n_fan, args.rate, 3, screen)
            span2 = time.time() - t
            cpu2 = meter.stop()
            firsts, states2 = sse2.collect()
            state_bytes = len(httpx.get(url + "/api/hall", timeout=5).content)
            seen2 = screen.seen()
            screen.close()
            cmds.put(None)  # the window terminals go: the audio phase calls from here
            caller.join(15)
            end_processes([caller])

            # 3. audio: one call at a time, on a fresh page
            note("the audio phase")
            screen, audio = audio_phase(browser, url, broker.port, n_audio)
            screen.close()
            browser.close()
        note("stopping")
        watch.close()
        stop_process(web)
        stop_process(ctl)
    finally:
        end_processes(ps)
        broker.stop()

    sent = {num: t0 for num, _w, t0, _t1 in calls}
    reply = [(t1 - t0) * 1000 for _n, _w, t0, t1 in calls]
    scr = lat({k: v[1] for k, v in seen.items()}, sent)
    recv = lat({k: v[0] for k, v in seen.items()}, sent)
    paint = lat({k: v[2] for k, v in seen.items() if v[2]}, sent)
    shown = sum(1 for k in sent if k in seen and seen[k][3])
    sse_lat = lat(sse_first, sent)
    evt = lat(watch.at, sent)
    sent2 = {num: t0 for num, _w, t0, _t1 in calls2}
    fan = [x for f in firsts for x in lat(f, sent2)]
    if os.environ.get("BENCH_DUMP"):
        Path(os.environ["BENCH_DUMP"]).write_text(json.dumps({"sent": sent2, "firsts": firsts}))
    fan_missing = sum(1 for f in firsts for k in sent2 if k not in f)
    scr2 = lat({k: v[1] for k, v in seen2.items()}, sent2)

    def a_lat(key: str) -> list[float]:
        return [(screen.fix(a[key]) - a["t0"]) * 1000 for a in audio if a.get(key)]

    a_play, a_start = a_lat("play"), a_lat("playing")
    a_fetch, a_adv = a_lat("fetched"), a_lat("advancing")
    a_fail = sum(1 for a in audio if not a.get("playing"))
    durations = [a["duration"] for a in audio if a.get("duration")]

    hop50, scr50 = percentile(hop, 50), percentile(scr, 50)
    print(
        f"screen.py: {len(calls)} calls at {len(calls) / span:.1f}/s from {len(WINDOWS)} "
        f"windows (+{warm} warm-up); {issued} tickets pre-issued; page clock error "
        f"{min(clock_err):+.2f}..{max(clock_err):+.2f} ms (corrected); "
        f"{time.time() - t_start:.0f} s in all"
    )
    if WEB_RESTARTS:
        print(
            f"  the web server was started {len(WEB_RESTARTS) + 1} times: it did not see its "
            "own broker connection (hall_web/app.py WebServer.start subscribes too late)"
        )
    line("hop: MQTT publish → subscribe", hop)
    line("window call → its reply", reply)
    line("call → event at an MQTT subscriber", evt)
    line("call → page got the state", recv)
    line("call → page rendered it [screen]", scr, f"(on screen: {shown}/{len(scr)})")
    line("call → next frame", paint)
    line("call → SSE client got it [sse]", sse_lat)
    line("floor: bare server write → page", floor)
    floor50 = percentile(floor, 50)
    floor_ratio = (2 * hop50 + floor50) / hop50
    print(
        f"  the least any design could take: two broker hops (the call to the controller, "
        f"its event out) and a browser, with no work at all: {2 * hop50 + floor50:.2f} ms, "
        f"ratio {floor_ratio:.1f}"
    )
    print(
        f"  page rendered {page_states} states for {len(calls) + warm} calls; "
        f"calls it never got: {sum(1 for k in sent if k not in seen)}"
    )
    print(
        f"  its voice: {played['started']} of {len(calls) + warm} announcements started, "
        f"{played['ended']} played to the end, {played['failed']} failed ({played['gone']} "
        "of them: WAV gone, older than the last 100 calls the server keeps); the rest still queued"
    )
    print(f"  CPU, % of one core (2 cores = 200): {cpu1}")
    line(f"fanout: {conns} conns × {len(calls2)} calls", fan, f"(missing {fan_missing})")
    line("  page, during fanout", scr2)
    # states per connection over the measured calls (the warm-up calls got some too)
    per_conn = statistics.fmean(states2) * len(calls2) / (len(calls2) + warm)
    # the web server's CPU beyond the screen phase's (one page, one client), per state
    # sent to one of the `conns` connections: an estimate
    extra_cpu = max(0.0, cpu2.get("web", 0) - cpu1.get("web", 0)) / 100 * span2
    us_per_state = extra_cpu / max(1.0, per_conn * (conns - 1)) * 1e6
    print(
        f"  each connection got {per_conn:.0f} states ({state_bytes} bytes each) for "
        f"{len(calls2)} calls; the web server spent ~{us_per_state:.0f} µs of CPU per state "
        "per connection"
    )
    print(f"  CPU, % of one core: {cpu2}")
    line("audio: call → play()", a_play)
    line("audio: call → WAV fetched", a_fetch)
    line("audio: call → 'playing' [audio_start]", a_start, f"(never played: {a_fail})")
    line("audio: call → first timeupdate", a_adv)
    if durations:
        print(f"  an announcement lasts {statistics.fmean(durations):.1f} s")
    out = {
        "bench": "screen",
        "calls": len(calls),
        "rate_per_s": args.rate,
        "windows": len(WINDOWS),
        "screen_p50_ms": round(scr50, 2),
        "screen_p99_ms": ms(scr, 99),
        "screen_paint_p99_ms": ms(paint, 99),
        "sse_p50_ms": ms(sse_lat, 50),
        "sse_p99_ms": ms(sse_lat, 99),
        "event_p50_ms": ms(evt, 50),
        "event_p99_ms": ms(evt, 99),
        "hop_p50_ms": round(hop50, 3),
        "hop_p99_ms": round(percentile(hop, 99), 3),
        "ratio_p50": round(scr50 / hop50, 1),
        "browser_floor_p50_ms": round(floor50, 3),
        "floor_ratio_p50": round(floor_ratio, 1),
        "fanout_conns": conns,
        "fanout_calls": len(calls2),
        "fanout_p50_ms": ms(fan, 50),
        "fanout_p99_ms": ms(fan, 99),
        "fanout_states_per_conn": round(per_conn),
        "web_us_per_state_conn": round(us_per_state),
        "state_bytes": state_bytes,
        "audio_calls": len(audio),
        "audio_start_p50_ms": ms(a_start, 50),
        "audio_start_p99_ms": ms(a_start, 99),
        "web_restarts": len(WEB_RESTARTS),
        "cpu_pct": cpu1,
        "cpu_fanout_pct": cpu2,
        "goal": {
            "screen_p99_ms": 50,
            "ratio_p50": 3,
            "fanout_p99_ms": 100,
            "audio_start_p99_ms": 1000,
        },
    }
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
