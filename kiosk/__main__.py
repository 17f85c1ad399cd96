"""``python -m kiosk run|audit|screenshots`` (see docs/kiosk.md)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for the annotation only: this module imports where it uses (cold start)
    from hall_contract.messages import HallStatus

T0 = time.monotonic()
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "kiosk.yaml"


def clock_start(text: str) -> dt.datetime:
    """``--clock-start``: an ISO time (``2026-11-22T20:00:00+08:00``); without an offset it
    is the machine's local time, as for the controller's ``--clock-start``."""
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time: {text!r}") from None


def shifted_clock(
    start: dt.datetime, tz: dt.tzinfo, wall: Callable[[], float] = time.time
) -> Callable[[], dt.datetime]:
    """A clock that reads ``start`` now and runs at real speed (in the hall's time zone):
    the kiosk's time for opening hours and day/night (the controller's ``make_clock``)."""
    offset = start.timestamp() - wall()
    return lambda: dt.datetime.fromtimestamp(wall() + offset, tz)


def build(
    cfg_path: str | None,
    *,
    headless: bool,
    overrides: dict[str, Any] | None = None,
    connect: bool = True,
    now: Any = None,
    start: dt.datetime | None = None,
    window_size: tuple[int, int] | None = None,
    silent: bool = False,
) -> Any:
    """Boot Kivy, load configs, start devices and the controller link; returns the app.
    ``now`` replaces the kiosk's clock; ``start`` starts it at that time (``--clock-start``)."""
    from kiosk import settings

    cfg = (
        settings.load(cfg_path or DEFAULT_CONFIG)
        if cfg_path or DEFAULT_CONFIG.exists()
        else settings.KioskConfig(base_dir=str(Path.cwd()))
    )
    if overrides:  # command line and tests; validated like the file
        data = {**cfg.model_dump(), **overrides}
        cfg = settings.KioskConfig.model_validate(data).model_copy(
            update={"base_dir": cfg.base_dir}
        )
    if silent:  # audit, screenshots: screens are read aloud as text only, no sound files
        cfg = cfg.model_copy(
            update={"devices": cfg.devices.model_copy(update={"voice": settings.LogVoice()})}
        )
    from kiosk.ui.boot import boot

    boot(
        fullscreen=cfg.fullscreen and not headless,
        rotation=cfg.rotation,
        headless=headless,
        size=window_size or (1080, 1920),
    )
    for name in ("", "devices", "hall_contract", "kiosk", "kivy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from hall_contract.hallconfig import HallConfig
    from hall_contract.topics import Topics
    from hall_contract.yamlconf import load_model
    from kiosk.commands import CommandGate
    from kiosk.core import Kiosk, data_path
    from kiosk.hardware import Hardware, VoicePacks
    from kiosk.link import ControllerLink
    from kiosk.outbox import Outbox
    from kiosk.ui.app import KioskApp, post

    hall = load_model(HallConfig, cfg.path(cfg.hall_config))
    if start is not None and now is None:
        now = shifted_clock(start, hall.tz)
    hw = Hardware(
        cfg.devices,
        data_dir=cfg.path(cfg.data_dir),
        voice_packs=VoicePacks(cfg.voice_pack(cfg.voice.pack), cfg.voice_pack(cfg.voice.dialect)),
        base_dir=Path(cfg.base_dir),
    )
    link = None
    if connect:
        url = cfg.broker_url or hall.broker.url or f"mqtt://127.0.0.1:{hall.broker.port}"
        link = ControllerLink(
            Topics(hall.hall.id),
            cfg.terminal_id,
            cfg.broker_settings(url),
            heartbeat_s=cfg.timeouts.heartbeat_s,
        )
    k = Kiosk(
        cfg,
        hall,
        hw=hw,
        link=link,
        outbox=Outbox(data_path(cfg, "outbox.db")),
        gate=CommandGate(data_path(cfg, "commands.db")),
        post=post,
        now=now,
    )
    hw.on_identity = lambda c: post(lambda: k.on_identity(c))
    hw.on_scan = lambda s: post(lambda: k.on_scan(s))
    hw.on_status = lambda st: post(lambda: k.on_device_status(st))
    if link is not None:
        link.on_command = lambda c: post(lambda: k.on_command(c))
        link.on_config = lambda c: post(lambda: k.on_desired_config(c))
        link.on_status = lambda s: post(lambda: k.on_hall_status(s))
        link.on_connection = lambda up: post(lambda: k.on_connection(up))
        link.mode = lambda: "elderly" if k.elderly else k.mode
        link.set_config_version(hall.version)
    app = KioskApp(k)
    app.hw, app.link = hw, link  # type: ignore[attr-defined]
    return app


def start_io(app: Any) -> None:
    """Open the devices (on a thread: the UI shows at once; states arrive as they come)
    and connect to the broker (paho's own thread)."""
    import threading

    app.hw_thread = threading.Thread(target=app.hw.start, name="kiosk-devices-start")
    app.hw_thread.start()
    if app.link is not None:
        app.link.start(wait=None)


def stop_io(app: Any) -> None:
    with contextlib.suppress(Exception):
        if app.link is not None:
            app.link.stop()
    thread = getattr(app, "hw_thread", None)
    if thread is not None:
        thread.join(30)
    app.hw.stop()
    app.k.close()


def run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line settings that win over the config file."""
    out: dict[str, Any] = {}
    if args.broker_url:
        out["broker_url"] = args.broker_url
    if args.terminal_id:
        out["terminal_id"] = args.terminal_id
    if args.hall_config:
        out["hall_config"] = str(Path(args.hall_config).resolve())
    if args.data_dir:
        out["data_dir"] = str(Path(args.data_dir).resolve())
    if args.windowed:
        out["fullscreen"] = False
    return out


def cmd_run(args: argparse.Namespace) -> int:
    size = None
    if args.size:
        w, _, h = args.size.lower().partition("x")
        size = (int(w), int(h))
    elif args.windowed:
        size = (720, 1280)
    app = build(
        args.config,
        headless=args.headless,
        overrides=run_overrides(args),
        start=args.clock_start,
        window_size=size,
    )

    def ready() -> None:
        print(f"READY {time.monotonic() - T0:.3f}", flush=True)
        if not args.exit_when_ready:
            return
        from kiosk.ui.app import widget_texts

        # what the home screen shows, by the kiosk's clock (checks of --clock-start)
        home = {"clock": app.k.now().isoformat(), "texts": widget_texts(app.root)}
        print("HOME " + json.dumps(home, ensure_ascii=False), flush=True)
        from kivy.clock import Clock

        Clock.schedule_once(lambda _dt: app.stop(), 0)

    app.on_ready = ready

    def stop_on_signal(signum: int, _frame: object) -> None:
        # SIGTERM (systemd, the demo) and Ctrl-C stop the kiosk cleanly: devices closed,
        # presence "offline" published, the session wiped with the app.
        from kivy.clock import Clock

        Clock.schedule_once(lambda _dt: app.stop(), 0)

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    start_io(app)
    try:
        app.run()
    finally:
        stop_io(app)
    if app.k.restart_requested:
        os.execv(sys.executable, [sys.executable, "-m", "kiosk", *sys.argv[1:]])
    return 0


# ---------------------------------------------------------------------- walking screens
class SampleLink:
    """A connected controller link with a hall status (the audit's and screenshots'
    home screen with the queue picture); it sends nothing."""

    online = True
    controller_state = "online"

    def __init__(self, status: HallStatus) -> None:
        self.hall_status = status


def sample_ticket(
    number: str = "A001",
    *,
    queue: str = "id",
    queue_name: str = "户籍证照",
    service: str | None = "idcard_reissue",
    priority: str = "normal",
    token: str | None = "tok",
    at: float = 1757899800.0,  # 2025-09-15 09:30 in the hall
) -> Any:
    """A waiting ticket as the controller describes it (``TicketInfo``): the samples of the
    screenshots, the tests' fake controller and the kiosk benchmark all take this one."""
    from hall_contract import messages as m

    return m.TicketInfo(
        ticket_id=f"2025-09-15-{number}",
        number=number,
        queue=queue,
        queue_name=queue_name,
        service=service,
        bundle=None,
        priority=priority,  # type: ignore[arg-type]
        state="waiting",
        issued_at=at,
        people_ahead=3,
        expected_wait_min=12,
        window=None,
        window_hint="1号窗口",
        rating_open=False,
        token=token,
        history=[m.TicketStep(at=at, what="issued", queue=queue)],
    )


def sample_result(op: str, result: Any) -> Any:
    """``result`` as the reply to ``op`` the controller would send, read back through the
    contract (``messages.read_reply``): a sample that drifts from the contract fails here."""
    import orjson

    from hall_contract.messages import Reply, read_reply

    return read_reply(op, orjson.dumps(Reply(id="sample", ok=True, result=result))).result


def sample_states() -> list[tuple[str, Any]]:
    """(name, setup) for every screen; setup(k) puts the core into that screen."""
    from hall_contract import messages as m
    from kiosk.session import CardIdentity

    card = lambda: CardIdentity("示例人", "110101195003071234", dt.date(1950, 3, 7), "示例地址")  # noqa: E731
    at = dt.datetime(2025, 9, 15, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()

    def ticket(k: Any, op: str, priority: m.PriorityName = "normal") -> m.TicketInfo:
        svc = k.hall.services[0]
        queue = next((q for q in k.hall.queues if q.id == svc.queue), k.hall.queues[0])
        info = sample_ticket(
            queue=queue.id, queue_name=queue.name, service=svc.id, priority=priority, at=at
        )
        result: m.TicketInfo = sample_result(op, info)
        return result

    def ticket_done(k: Any) -> None:
        k.start_ticket("service", k.hall.services[0].id)
        k.session.flow.skip_identify()
        k.session.flow.choose_priority(m.PriorityClass.NORMAL, k.hall.priority)
        result = ticket(k, "ticket.issue")
        k.session.flow.on_reply(m.Reply(id="x", ok=True, result=result))
        k.session.flow.printed = False
        k.go("ticket")

    def flow_step(start: str, step: str, result: Callable[[Any], Any] | None = None) -> Any:
        def setup(k: Any) -> None:
            getattr(k, start)()
            k.session.flow.step = step
            k.session.flow.result = result(k) if result is not None else None
            k.go(k.screen)

        return setup

    def cases(k: Any) -> m.CaseList:
        svc = k.hall.services[0]
        case = m.CaseInfo(
            case_no=f"{k.hall.hall.id.upper()}2025091500001",
            service=svc.id,
            service_name=svc.name,
            state="in_review",
            accepted_at=at,
            deadline="2025-09-26",
            promised_deadline="2025-09-15",
            level="red",
        )
        result: m.CaseList = sample_result("case.lookup", m.CaseList(cases=[case]))
        return result

    def prio(k: Any) -> None:
        k.start_ticket("service", k.hall.services[0].id)
        k.on_identity(card())
        k.prompt = None
        k.go("ticket")

    def reasons(k: Any) -> None:
        k.start_rating()
        k.rating_use_token("tok")
        k.rating_level(1)

    def countdown(k: Any) -> None:
        k.open_catalogue()
        k.countdown = 9
        k.prompt = "more_time" if k.elderly else None

    def diag(k: Any) -> None:
        k.diag_unlocked = True
        k.go("diag")

    def home_queue(k: Any) -> None:
        import orjson

        waiting = {q.id: 3 + 4 * i for i, q in enumerate(k.hall.queues)}
        status = m.HallStatus(open=True, next_opening=None, config_version=1, waiting=waiting)
        k.link = SampleLink(m.read(m.HallStatus, orjson.dumps(status)))
        k.go("home")

    return [
        ("home", lambda k: k.go("home")),
        ("home_queue", home_queue),
        ("offer_elderly", lambda k: (k.on_identity(card()), k.go("home"))),
        ("catalogue", lambda k: k.open_catalogue()),
        ("category", lambda k: k.open_catalogue(k.hall.services[0].queue)),
        ("search", lambda k: k.search("sfz")),
        ("guide", lambda k: k.open_guide("service", k.hall.services[0].id)),
        (
            "bundle",
            lambda k: (
                k.open_guide("bundle", k.hall.bundles[0].id)
                if k.hall.bundles
                else k.open_guide("service", k.hall.services[0].id)
            ),
        ),
        ("ticket_choose", lambda k: k.start_ticket()),
        ("ticket_identify", lambda k: k.start_ticket("service", k.hall.services[0].id)),
        ("ticket_priority", prio),
        ("ticket_done", ticket_done),
        ("checkin", lambda k: k.start_checkin()),
        (
            "checkin_done",
            flow_step(
                "start_checkin", "done", lambda k: ticket(k, "appointment.checkin", "appointment")
            ),
        ),
        ("case", lambda k: k.start_case()),
        ("case_done", flow_step("start_case", "done", cases)),
        ("rating", lambda k: k.start_rating()),
        ("rating_level", lambda k: (k.start_rating(), k.rating_use_token("tok"))),
        ("rating_reasons", reasons),
        (
            "rating_done",
            flow_step(
                "start_rating",
                "done",
                lambda k: sample_result("rating.submit", m.RatingAccepted("A001", 5)),
            ),
        ),
        ("help", lambda k: k.start_help()),
        (
            "help_done",
            flow_step(
                "start_help",
                "done",
                lambda k: sample_result("help.request", m.HelpAccepted("A-1", k.location())),
            ),
        ),
        ("mailing", lambda k: k.start_mailing()),
        ("error", flow_step("start_case", "error")),
        ("countdown", countdown),
        ("pin", lambda k: k.open_pin()),
        ("diag", diag),
    ]


def walk(
    app: Any,
    visit: Any,
    states: list[tuple[str, Any]] | None = None,
    languages: tuple[str, ...] | None = None,
) -> Iterator[float]:
    """Script: every screen (or ``states``) × both modes × every language; ``visit(name,
    mode, lang)`` once the window shows it (a screenshot reads the last frame drawn); a
    ``visit`` that returns an iterator (the audit's) is driven by the script too."""
    from kiosk.i18n import LANGS

    k = app.k
    link = k.link
    for elderly in (False, True):
        for lang in languages or LANGS:
            for name, setup in states or sample_states():
                k.link = link
                k.wipe()
                k.elderly, k.lang = elderly, lang
                setup(k)
                k.elderly, k.lang = elderly, lang
                k.changed()
                # wait for the frame that shows it, not a fixed time (0.12 s left a
                # quarter of the screenshots one screen late on a busy machine)
                waited = 0.0
                while not app.drawn() and waited < 5.0:
                    yield 0.01
                    waited += 0.01
                more = visit(name, "elderly" if elderly else "normal", lang)
                if more is not None:
                    yield from more


def cmd_audit(args: argparse.Namespace) -> int:
    """Every screen × both modes × every language (``i18n.LANGS``), measured on its
    widgets and on the drawn frame (kiosk/ui/audit.py); exit 1 on any broken limit."""
    from kiosk.i18n import LANGS
    from kiosk.ui.audit import Auditor

    app = build(
        args.config,
        headless=True,
        connect=False,
        overrides={"data_dir": tempfile.mkdtemp(prefix="kiosk-audit-")},
        silent=True,
    )
    states = sample_states()
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {name for name, _ in states}
        if unknown:
            print(f"audit: no such screen state: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        states = [(name, setup) for name, setup in states if name in wanted]
    auditor = Auditor(app)
    # a held button's colours do not depend on the language: held down in the first
    # language only (a frame fewer for each other one)
    app.script = walk(
        app,
        lambda name, mode, lang: auditor.inspect(name, mode, lang, press=lang == LANGS[0]),
        states,
        LANGS,  # the kiosk's languages, from one place
    )
    start_io(app)
    t0 = time.monotonic()
    try:
        app.run()
    finally:
        stop_io(app)
    report = auditor.report()
    report["seconds"] = round(time.monotonic() - t0, 1)
    report["script_error"] = getattr(app, "script_error", None)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0 if report["ok"] and auditor.visits > 0 and not report["script_error"] else 1


def cmd_screenshots(args: argparse.Namespace) -> int:
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    app = build(
        args.config,
        headless=True,
        connect=False,
        overrides={"data_dir": tempfile.mkdtemp(prefix="kiosk-shots-")},
        silent=True,
    )
    shots: list[str] = []

    def visit(name: str, mode: str, lang: str) -> None:
        if lang != "zh" and not args.all_languages:
            return
        from kivy.core.window import Window

        path = out / f"{name}-{mode}-{lang}.png"
        Window.screenshot(str(path.with_suffix("")) + ".png")
        # Window.screenshot appends a counter; move it to the stable name
        for p in sorted(out.glob(f"{name}-{mode}-{lang}*.png")):
            if p != path:
                p.replace(path)
        shots.append(str(path))

    app.script = walk(app, visit)
    start_io(app)
    try:
        app.run()
    finally:
        stop_io(app)
    print(json.dumps({"screenshots": len(shots), "outdir": str(out)}))
    return 0 if shots else 1


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    from hall_contract.client import TlsSetupError
    from hall_contract.yamlconf import ConfigFileError

    try:
        return {"run": cmd_run, "audit": cmd_audit, "screenshots": cmd_screenshots}[args.cmd](args)
    except ConfigFileError as err:  # every problem with its file, line and field
        print(str(err), file=sys.stderr)
        return 1
    except TlsSetupError as err:  # a TLS file that exists but cannot be used
        print(f"kiosk config: {err}", file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m kiosk")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the kiosk")
    r.add_argument("--config", default=None)
    r.add_argument("--headless", action="store_true", help="offscreen window (tests, bench)")
    r.add_argument("--exit-when-ready", action="store_true")
    r.add_argument("--hall-config", default=None, help="hall config file (default: the kiosk's)")
    r.add_argument("--broker-url", default=None, help="mqtt://host:port (default: config)")
    r.add_argument("--terminal-id", default=None, help="this terminal's id (default: config)")
    r.add_argument("--data-dir", default=None, help="outbox and command log folder")
    r.add_argument("--windowed", action="store_true", help="a normal window, not fullscreen")
    r.add_argument(
        "--size", default=None, help="window size WxH (default 1080x1920; 720x1280 windowed)"
    )
    r.add_argument(
        "--clock-start",
        type=clock_start,
        default=None,
        help="the kiosk's clock (opening hours, day/night) starts at this ISO time and runs "
        "at real speed (demos; as the controller's --clock-start); default: real time",
    )
    a = sub.add_parser("audit", help="check every screen against the accessibility limits")
    a.add_argument("--config", default=None)
    a.add_argument(
        "--only", default=None, help="only these screen states (comma separated, e.g. home,guide)"
    )
    s = sub.add_parser("screenshots", help="PNG of every screen in both modes")
    s.add_argument("outdir")
    s.add_argument("--config", default=None)
    s.add_argument("--all-languages", action="store_true")
    return ap


if __name__ == "__main__":
    sys.exit(main())
