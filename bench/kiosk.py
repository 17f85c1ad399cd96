"""Kiosk figures: cold start, screen transition p95, RSS growth over 2,000 sessions.

    python bench/kiosk.py [--sessions 2000] [--tap-rounds 8] [--quick]   → one JSON line

cold_start_s: process start → home screen built and the app's on_start reached (a
subprocess ``python -m kiosk run --headless --exit-when-ready``). transition_ms_p95: one
action + full re-render of the screen + every label texture, layout and glyph rasterisation it left for the next frame (forced
at once, so deferred work is not hidden from the figure), in process. Drawing the frame
itself is the GL renderer's job and is reported apart as frame_floor_ms (an empty frame;
~40 ms on a 2-core box with software GL at 1080×1920, well under 1 ms on a GPU). rss_growth_mb: RSS after the sessions
minus RSS after the first 100 (warm-up). Sessions use fake devices and a synchronous
in-process controller stand-in, so the figures are the kiosk's own, not the network's.

tap_to_frame_p95_ms / _p50_ms, over ``taps`` taps: real touches on real buttons of the
running headless app (a Kivy touch event at the button's place, through
``EventLoop.post_dispatch_input`` as the input providers send them: Window → widgets →
on_release → the kiosk → the app's render trigger), from the release to the end of the
frame that shows the result (the last frame drawn after the render before nothing is left
to do for it; glFinish included). Rounds over the top bar (长辈模式 on/off), home,
categories, a category, a guide, 返回, search and its keys, the mailing form's pinyin
keys and a candidate, 首页 and the question it asks; the first round is not counted (it
builds each screen's view). tap_baseline_p95_ms / _p50_ms, in the same run: before each
tap, the same touch on a place of the same screen that changes nothing, plus a no-op
canvas change, to the end of the next frame (the frame floor as a tap sees it).
tap_frames_p50: frames drawn from a release to the one that shows it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CFG = ROOT / "tests" / "kiosk" / "data" / "kiosk-test.yaml"


def env() -> dict[str, str]:
    return dict(
        os.environ,
        SDL_VIDEODRIVER="offscreen",
        SDL_AUDIODRIVER="dummy",
        KIVY_NO_ARGS="1",
        KIVY_HOME=tempfile.mkdtemp(prefix="kivy-bench-"),
        PYTHONPATH=str(ROOT),
    )


def cold_start(runs: int = 5) -> dict[str, float]:
    """Process start → home screen interactive, over several starts: the median is the
    figure, the slowest is reported too (one start can pay for a cold page cache)."""
    times = sorted(cold_start_once() for _ in range(runs))
    return {"cold_start_s": times[len(times) // 2], "cold_start_max_s": times[-1]}


def cold_start_once() -> float:
    from hall_controller.process import preexec_die_with_parent

    t0 = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiosk",
            "run",
            "--config",
            str(CFG),
            "--headless",
            "--exit-when-ready",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=ROOT,
        # ends with this benchmark, even by kill -9 (started from the main thread)
        preexec_fn=preexec_die_with_parent(),
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("READY"):
                dt_s = time.monotonic() - t0
                proc.wait(30)
                return round(dt_s, 3)
        raise SystemExit("kiosk never became ready")
    finally:
        if proc.poll() is None:  # interrupted, or it hangs: do not leave it behind
            proc.kill()
        proc.wait(30)


class SyncLink:
    online = True
    hall_status = None
    n = 0

    def request(self, op: str, body: dict[str, Any], timeout: float) -> Any:
        import orjson

        from hall_contract.messages import Reply, read_reply
        from kiosk.__main__ import sample_ticket

        self.n += 1
        result = sample_ticket(
            f"A{self.n % 1000:03d}",
            service=body.get("service"),
            priority=body.get("priority", "normal"),
            token=f"t{self.n}",
            at=time.time(),
        )
        # through the contract, as the real link reads a reply
        return read_reply(op, orjson.dumps(Reply(id=body["id"], ok=True, result=result)))

    def new_id(self) -> str:
        return f"bench.{self.n}.{time.monotonic_ns()}"

    def report_device(self, *a: Any) -> None: ...
    def command_result(self, *a: Any) -> None: ...
    def set_config_version(self, *a: Any) -> None: ...


def settle(root: Any) -> None:
    """Do now what a render left for the next frame: label texture updates, layouts, and
    the glyph rasterisation Kivy defers until a label's texture is first bound."""
    from kivy.uix.label import Label

    for _ in range(4):
        pending = False
        for w in root.walk(restrict=True):
            for trig, run in (
                (getattr(w, "_trigger_texture", None), getattr(w, "texture_update", None)),
                (getattr(w, "_trigger_layout", None), getattr(w, "do_layout", None)),
            ):
                if trig is not None and run is not None and trig.is_triggered:
                    trig.cancel()
                    run()
                    pending = True
        if not pending:
            break
    for w in root.walk(restrict=True):
        if isinstance(w, Label) and w.texture is not None:
            w.texture.bind()  # runs the pending rasterise-and-upload callback, if any


def frame_floor_ms() -> float:
    """What drawing one *empty* frame costs on this machine's GL (clear, flip, glFinish):
    the renderer's floor, excluded from transition_ms (software GL here, a GPU on site)."""
    from kivy.core.window import Window
    from kivy.graphics.opengl import glFinish

    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        Window.dispatch("on_draw")
        Window.flip()
        glFinish()
        times.append((time.perf_counter() - t0) * 1000)
    return round(sorted(times)[3], 1)


# ------------------------------------------------------------------ taps on the running app
#: How long the finger stays on the glass: a quick tap (people take 50-150 ms), at least
#: Kivy's ``min_state_time`` so that the button is released on screen at once.
HOLD_S = 0.06


class Frame:
    """What the driver waits for: the frame that shows a change. ``shown()`` says whether
    the change has been rendered; the frame is the last one drawn (``Window.on_flip``)
    after that before the window has nothing left to do for it (:func:`settled`, and no
    redraw asked for: work left at a frame may still change nothing on the screen).
    ``at``: when that frame was finished (``glFinish`` in the flip: software GL
    rasterises only when told to finish, so without it a frame's cost would show up in
    the next one)."""

    def __init__(self, shown: Callable[[], bool], what: str, limit_s: float = 5.0) -> None:
        self.shown = shown
        self.what = what
        self.limit_s = limit_s
        self.at = 0.0


def drive(app: Any, gen: Iterator[Any]) -> None:
    """Run ``gen`` on the UI thread once the app has started. It yields the seconds to let
    pass, or a :class:`Frame` to wait for; the app stops when it ends.

    Not ``KioskApp.script``: ``_step`` catches what a script raises, logs it and stops the
    app, so ``app.run()`` returns as if all went well, and the log line goes nowhere to be
    seen (see :func:`loud`). Here nothing is caught: Kivy's main loop re-raises what a
    callback raises and ``app.run()`` fails with it."""
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.graphics.opengl import glFinish

    waiting: list[Frame] = []
    timers: list[Any] = []

    def step(*_: Any) -> None:
        try:
            w = next(gen)
        except StopIteration:
            Window.unbind(on_flip=flipped)
            app.stop()
            return
        if isinstance(w, Frame):
            waiting.append(w)
            timers[:] = [
                Clock.schedule_once(lambda _dt: late(w), w.limit_s),
                Clock.schedule_interval(ticked, 0),  # a repeating event: not in settled()
            ]
        else:
            Clock.schedule_once(step, float(w))

    def late(w: Frame) -> None:
        raise RuntimeError(f"no frame showed {w.what} within {w.limit_s} s")

    def done() -> None:
        waiting.pop()
        for ev in timers:
            ev.cancel()
        Clock.schedule_once(step, 0)  # on with the next tick, not inside this frame

    def flipped(*_: Any) -> None:
        # bound handlers run before Window.flip() itself: the frame is drawn, not shown
        if waiting and waiting[0].shown():
            glFinish()
            waiting[0].at = time.perf_counter()
            if settled():
                done()

    def ticked(*_: Any) -> None:
        # the start of a loop: nothing pending and nothing to redraw, so no frame follows
        if waiting and waiting[0].at and settled() and not Window.canvas.needs_redraw:
            done()

    Window.bind(on_flip=flipped)
    app.bind(on_start=lambda *_: Clock.schedule_once(step, 0))


def settled() -> bool:
    """Nothing of the last change left for a later frame: no one-off callback due at or
    before the next frame (a render, label textures, layouts: Kivy's triggers with timeout
    0 or -1). Repeating ones are effects that go on by themselves (the scroll bar fading
    after a scroll, the busy bar), not part of showing a result."""
    from kivy.clock import Clock

    return not any(ev.timeout <= 0 and not ev.loop for ev in Clock.get_events())


class Taps:
    """Real touches on the running app: a Kivy touch event at a button's place on the
    window, dispatched as the input providers do (``EventLoop.post_dispatch_input``:
    Window → widgets → on_press/on_release), timed from the release (when the button acts)
    to the end of the frame that shows what it did (:class:`Frame`). In counted rounds each
    is preceded by a baseline: the same touch on a place of the same screen that changes
    nothing, plus a no-op canvas change so that a frame is drawn — the frame floor as a
    tap sees it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.n = 0
        self.changed_at = 0.0  #: the last ``k.changed()`` (the kiosk's state changed)
        self.record = False
        self.tap_ms: list[float] = []
        self.base_ms: list[float] = []
        self.frames: list[int] = []  #: frames drawn from a release to the one showing it
        self.by_step: dict[str, list[float]] = {}
        app.k.listeners.append(self._changed)

    def _changed(self) -> None:
        self.changed_at = time.perf_counter()

    # ---------------------------------------------------------------- one touch
    def touch(
        self, x: float, y: float, what: str, button: Any = None
    ) -> Generator[Any, None, tuple[float, int]]:
        """A finger down at window point (x, y), held HOLD_S, up; then wait for the frame
        that shows what it did. ``button``: the button it must press (None: a place where
        a touch changes nothing). Returns the milliseconds from the release to that frame
        and the frames drawn meanwhile."""
        from kivy.base import EventLoop
        from kivy.core.window import Window
        from kivy.input.providers.mouse import MouseMotionEvent

        app = self.app
        self.n += 1
        # As kivy/input/providers/mouse.py makes one: window-normalised position (origin
        # bottom left), is_touch and type_id "touch" (MotionEvent's defaults make a hover
        # event, which reaches no widget), and MotionEvent.depack run for the origin and
        # previous position (without them the window cannot place the touch).
        sx, sy = Window.to_normalized_pos(x, y)
        me = MouseMotionEvent(
            "mouse", f"bench{self.n}", [sx, sy, "left"], is_touch=True, type_id="touch"
        )
        EventLoop.post_dispatch_input("begin", me)
        yield HOLD_S  # the finger on the glass (a timer: nothing to wait for but the finger)
        me.update_time_end()
        flips = app.flips
        t0 = time.perf_counter()
        EventLoop.post_dispatch_input("end", me)
        if button is None:
            Window.canvas.ask_update()  # a no-op canvas change: the next frame is drawn
            frame = Frame(lambda: True, what)
        else:
            frame = Frame(lambda: self.changed_at > t0 and app.rendered_at > self.changed_at, what)
        yield frame
        if button is None and self.changed_at > t0:
            raise RuntimeError(f"{what}: the touch changed the kiosk")
        if button is not None and getattr(button, "last_touch", None) is not me:
            raise RuntimeError(f"{what}: the touch at {x:.0f},{y:.0f} missed its button")
        return (frame.at - t0) * 1000, app.flips - flips

    def tap(self, what: str, find: Callable[[], Any]) -> Iterator[Any]:
        """The baseline on this screen (counted rounds only), then a tap on the button
        ``find()`` returns."""
        app = self.app
        if self.record:
            quiet = app.status  # the bottom bar's countdown place: a label, nothing to press
            x, y = quiet.to_window(*quiet.center)
            base, _ = yield from self.touch(x, y, f"the baseline before {what}")
        b = find()
        x, y = visible(b, what)
        ms, frames = yield from self.touch(x, y, what, b)
        if self.record:
            self.base_ms.append(base)
            self.tap_ms.append(ms)
            self.frames.append(frames)
            self.by_step.setdefault(what, []).append(ms)

    # ---------------------------------------------------------------- the rounds
    def round(self, r: int) -> Iterator[Any]:
        """home → 长辈模式 on and off → 办事指南 → a category → a service's guide → 返回 ×2
        → 搜索 → letters, 删除, 清空 → 返回 → 首页 → 免费邮寄 → 收件人 → w a n g → a
        pinyin candidate → 首页 → 回首页 (the question over the page)."""
        app, k = self.app, self.app.k
        cats = dict(k.catalogue.categories(k.lang))
        yield from self.tap("长辈模式 on", lambda: app.elderly_btn)
        yield from self.tap("长辈模式 off", lambda: app.elderly_btn)
        yield from self.tap("home → 办事指南", lambda: button(app, k.tr("guide")))
        yield from self.tap("a category", lambda: nth(app, r, lambda t: t in cats.values()))
        cat = k.params.get("cat")
        names = {e.name for e in k.catalogue.in_category(cat)} if cat else set()
        yield from self.tap("a service's guide", lambda: nth(app, r, lambda t: t in names))
        yield from self.tap("返回 to the category", lambda: app.back_btn)
        yield from self.tap("返回 to the categories", lambda: app.back_btn)
        yield from self.tap("搜索", lambda: button(app, k.tr("search_btn")))
        for ch in "sfz":
            yield from self.tap("search key", partial(button, app, ch))
        yield from self.tap("search 删除", lambda: button(app, k.tr("del")))
        yield from self.tap("search 清空", lambda: button(app, k.tr("clear")))
        yield from self.tap("返回 from search", lambda: app.back_btn)
        yield from self.tap("首页", lambda: app.home_btn)
        yield from self.tap("home → 免费邮寄", lambda: button(app, k.tr("mailing")))
        field = k.tr("recipient")  # "收件人", and "：" once it holds a value
        yield from self.tap("mailing field", lambda: nth(app, 0, lambda t: t.startswith(field)))
        for ch in "wang":
            yield from self.tap("pinyin key", partial(button, app, ch))
        from kiosk import ime

        cands = ime.lookup("wang")[1]
        yield from self.tap("pinyin candidate", lambda: button(app, cands[r % 4]))
        yield from self.tap("首页 (asks first)", lambda: app.home_btn)
        yield from self.tap("回首页", lambda: button(app, k.tr("leave_yes")))
        if k.screen != "home":
            raise RuntimeError(f"a round of taps ended on {k.screen}, not home")

    def figures(self) -> dict[str, float]:
        t, b = sorted(self.tap_ms), sorted(self.base_ms)
        return {
            "tap_to_frame_p95_ms": pct(t, 0.95),
            "tap_to_frame_p50_ms": pct(t, 0.5),
            "taps": len(t),
            "tap_baseline_p95_ms": pct(b, 0.95),
            "tap_baseline_p50_ms": pct(b, 0.5),
            "tap_frames_p50": sorted(self.frames)[len(self.frames) // 2],
        }


def pct(xs: list[float], q: float) -> float:
    return round(xs[min(len(xs) - 1, int(len(xs) * q))], 1)


def buttons(app: Any) -> list[Any]:
    """The buttons on the window that do something, in the order they are laid out."""
    from kivy.uix.button import Button

    return [
        w
        for w in app.root.walk(restrict=True)
        if isinstance(w, Button) and getattr(w, "action", None) is not None
    ]


def text_of(b: Any) -> str:
    return getattr(b, "source_text", "") or b.text


def button(app: Any, text: str) -> Any:
    for b in buttons(app):
        if text_of(b) == text:
            return b
    raise RuntimeError(f"no button {text!r} on {app.k.screen}")


def nth(app: Any, i: int, match: Callable[[str], bool]) -> Any:
    found = [b for b in buttons(app) if match(text_of(b))]
    if not found:
        raise RuntimeError(f"no such button on {app.k.screen}")
    return found[i % len(found)]


def visible(w: Any, what: str) -> tuple[float, float]:
    """The window point at the middle of ``w``, which must be in view (inside the window
    and every scroll view around it): a finger can only press what is on the screen."""
    from kivy.core.window import Window
    from kivy.uix.scrollview import ScrollView

    x, y = w.to_window(*w.center)
    boxes = [(0.0, 0.0, float(Window.width), float(Window.height))]
    p = w.parent
    while p is not None and p is not Window:
        if isinstance(p, ScrollView):
            px, py = p.to_window(*p.pos)
            boxes.append((px, py, px + p.width, py + p.height))
        p = p.parent
    for x0, y0, x1, y1 in boxes:
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            raise RuntimeError(f"{what}: its button is out of view at {x:.0f},{y:.0f}")
    return x, y


def loud() -> None:
    """Kivy (its default KIVY_LOG_MODE) replaces ``sys.stderr`` by a stream into its
    logger, and ``boot()`` sets KIVY_NO_CONSOLELOG, so that logger writes only to
    ``$KIVY_HOME/logs`` (a temporary directory here): every traceback after Kivy's import,
    Python's last one included, would be seen by no one. The bench's go to the terminal."""
    sys.stderr = sys.__stderr__


def sessions(n: int, tap_rounds: int) -> dict[str, Any]:
    import psutil

    from kiosk.__main__ import build, start_io, stop_io
    from kiosk.session import CardIdentity

    os.environ.update(env())
    app = build(
        str(CFG),
        headless=True,
        connect=False,
        overrides={"data_dir": tempfile.mkdtemp(prefix="kiosk-bench-")},
        now=lambda: dt.datetime(2025, 9, 15, 10, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    )
    loud()
    k = app.k
    k.link = SyncLink()

    def sync_bg(fn: Any, done: Any, *, keep_session: bool = True) -> None:
        try:
            res, err = fn(), None
        except Exception as e:
            res, err = None, e
        done(res, err)

    k._bg = sync_bg
    k.listeners.clear()  # render explicitly, timed
    taps = Taps(app)
    times: list[float] = []
    proc = psutil.Process()
    rss: dict[str, float] = {}

    def step(action: Any) -> None:
        t0 = time.perf_counter()
        action()
        app.render()
        settle(app.root)
        times.append((time.perf_counter() - t0) * 1000)

    def script() -> Any:
        yield 0.1
        # taps first, on screens the first round builds (not counted: a screen's view is
        # built once, on its first visit); they render through the app's own trigger
        for r in range(tap_rounds + 1):
            taps.record = r > 0
            yield from taps.round(r)
        k.listeners.remove(taps._changed)
        k.end_session()
        from hall_contract.messages import PriorityClass

        for i in range(n):
            card = CardIdentity(f"测试{i}", f"11010119500307{i:04d}", dt.date(1950, 3, 7), "某地")
            step(lambda: k.open_catalogue())
            step(lambda: k.open_guide("service", "idcard_reissue"))
            step(k.print_notice)
            step(lambda: k.start_ticket("service", "idcard_reissue"))
            step(lambda c=card: k.on_identity(c))
            step(lambda i=i: k.answer_offer(i % 2 == 0))
            step(lambda: k.ticket_priority(PriorityClass.NORMAL))
            step(k.end_session)  # 完成: the session ends
            if i == 99:
                gc.collect()
                rss["warm"] = proc.memory_info().rss / 2**20
            if i % 25 == 0:
                yield 0  # let the window breathe (on at the next loop, after its frame)
        gc.collect()
        rss["end"] = proc.memory_info().rss / 2**20
        yield 0.1
        rss["floor"] = frame_floor_ms()

    drive(app, script())
    start_io(app)
    try:
        app.run()
    finally:
        stop_io(app)
    times.sort()
    steps = {w: pct(sorted(ms), 0.5) for w, ms in taps.by_step.items()}
    print(f"bench: taps, p50 ms by step: {json.dumps(steps, ensure_ascii=False)}", file=sys.stderr)
    return {
        "transition_ms_p95": round(times[int(len(times) * 0.95)], 1),
        "rss_growth_mb": round(rss["end"] - rss.get("warm", rss["end"]), 1),
        "frame_floor_ms": rss["floor"],
        "sessions": n,
        **taps.figures(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="kiosk cold start, transitions, memory")
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--tap-rounds", type=int, default=8, help="rounds of taps (%(default)s)")
    ap.add_argument(
        "--quick", action="store_true", help="300 sessions instead of 2,000, 1 round of taps"
    )
    args = ap.parse_args()
    out: dict[str, object] = dict(cold_start(3 if args.quick else 5))
    out.update(sessions(300 if args.quick else args.sessions, 1 if args.quick else args.tap_rounds))
    out["goals"] = {
        "cold_start_s": 2.5,
        "transition_ms_p95": 50,
        "rss_growth_mb": 15,
        "tap_to_frame_p95_ms": 100,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    from hall_controller.process import exit_on_signals

    exit_on_signals("bench")  # a signal ends it through the finally blocks above
    main()
