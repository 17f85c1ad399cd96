"""``python -m hall_controller``: run the hall, check its config, staff window client."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hall_contract.client import BrokerSettings, HallClient, RequestTimeout, TlsSetupError
from hall_contract.hallconfig import HallConfig, WindowConfig
from hall_contract.messages import Reply
from hall_contract.topics import Topics
from hall_contract.yamlconf import ConfigFileError, file_problems, load_model

if TYPE_CHECKING:
    from hall_controller.service import Controller, TerminalInfo

DEFAULT_CONFIG = "config/hall.yaml"
log = logging.getLogger("hall_controller")


def load_config(path: str) -> HallConfig:
    return load_model(HallConfig, path)


def broker_for(config: HallConfig, url: str | None, user: str | None = None) -> BrokerSettings:
    """Where a client of this hall connects: the URL given, the config's, or the managed
    one (its plain listener on this machine). An ``mqtts://`` URL trusts ``broker.tls_ca``
    (else the system's CAs) and presents ``broker.tls_client_cert`` when set."""
    b = config.broker
    if url or b.url:
        s = BrokerSettings.from_url(
            url or b.url or "",
            tls_ca=b.tls_ca,
            tls_cert=b.tls_client_cert,
            tls_key=b.tls_client_key,
        )
    else:
        s = BrokerSettings(host=b.local_host, port=b.port)
    if user and b.auth and not s.username:
        pw = Path(config.data_dir) / "auth" / "passwords" / user
        if pw.exists():
            s.username, s.password = user, pw.read_text().strip()
    return s


def make_clock(start: str | None) -> Any:
    """A clock that starts at ``start`` (ISO time) and runs at real speed; for demos and
    tests of opening hours. Without ``start``, the real clock."""
    if not start:
        return time.time
    offset = dt.datetime.fromisoformat(start).timestamp() - time.time()
    return lambda: time.time() + offset


def broker_file_problems(
    config: HallConfig, path: str, url: str | None, *, server: bool, readable: bool
) -> list[str]:
    """Problems with the TLS files the hall config names, in the form of other config
    errors (``FILE:LINE: broker.FIELD: ...``): the client's files when the broker URL is
    ``mqtts://``; with ``server``, the managed broker's TLS listener files too.
    ``readable``: the files must be readable by this user (``run``), not only exist."""
    b = config.broker
    fields: list[str] = []
    if (url or b.url or "").startswith("mqtts://"):
        fields += ["tls_ca", "tls_client_cert", "tls_client_key"]
    if server and not (url or b.url) and b.managed_tls:
        fields += [f for f in ("tls_ca", "tls_cert", "tls_key") if f not in fields]
    named = [(("broker", f), v, Path(v)) for f in fields if (v := getattr(b, f))]
    return file_problems(path, named, readable=readable)


def check_broker_files(
    config: HallConfig, path: str, url: str | None, *, server: bool, readable: bool = True
) -> None:
    problems = broker_file_problems(config, path, url, server=server, readable=readable)
    if problems:
        raise ConfigFileError(Path(path), problems)


# ------------------------------------------------------------------------- commands
def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.file)
        # Only that the files exist: the key may be readable only by the controller's user.
        check_broker_files(cfg, args.file, None, server=True, readable=False)
    except ConfigFileError as err:
        print(f"{args.file}: {len(err.problems)} problem(s):", file=sys.stderr)
        for p in err.problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(
        f"{args.file}: OK — hall {cfg.hall.id} ({cfg.hall.name}), version {cfg.version}: "
        f"{len(cfg.queues)} queues, {len(cfg.windows)} windows, {len(cfg.services)} services, "
        f"{len(cfg.bundles)} bundles, {len(cfg.terminals)} terminals"
    )
    return 0


#: After a broker restart, how long the staff alert waits for the manager's consoles that
#: were online to be back (their new birth), so they are there to hear it.
CONSOLES_BACK_S = 15.0


def broker_alerts(
    ctl: Controller, cfg: HallConfig
) -> tuple[Callable[[int | None], None], Callable[[int | None, int], None]]:
    """The supervisor's ``on_exit`` and ``on_restart`` for the controller: a red staff alert
    (kind ``broker``) once the broker is back. Alerts are not retained, and the consoles
    that show them (role ``admin``) were thrown off with everyone else: the alert waits
    (up to ``CONSOLES_BACK_S``) until each console that was online has announced itself
    again, which it does after its subscriptions are back."""
    from hall_controller.broker import exit_reason

    admins = {t.id for t in cfg.terminals if t.role == "admin"}
    online: dict[str, int] = {}

    def on_exit(code: int | None) -> None:
        online.clear()
        for tid, info in list(ctl.terminals.items()):
            if tid in admins and info.state == "online":
                online[tid] = info.seq

    def on_restart(code: int | None, restarts: int) -> None:
        waiting = dict(online)

        def alert() -> None:
            deadline = time.monotonic() + CONSOLES_BACK_S
            for tid, seq in waiting.items():

                def back(info: TerminalInfo, seq: int = seq) -> bool:
                    return info.state == "online" and info.seq > seq

                ctl.wait_terminal(tid, back, max(0.0, deadline - time.monotonic()))
            why = exit_reason(code)
            ctl.raise_alert(
                "broker",
                f"消息服务（mosquitto）意外停止（{why}），已自动重启（第 {restarts} 次），终端会自动"
                f"重连 / the hall's broker stopped unexpectedly ({why}) and was restarted "
                f"(restart {restarts}); terminals reconnect by themselves",
                level="red",
            )

        threading.Thread(target=alert, name="broker-alert", daemon=True).start()

    return on_exit, on_restart


def cmd_run(args: argparse.Namespace) -> int:
    """The controller, and (without a broker URL) its own mosquitto, supervised: restarted
    when it dies. SIGTERM, SIGINT and SIGHUP stop both, in order."""
    from hall_controller.broker import (
        BrokerError,
        BrokerSupervisor,
        Mosquitto,
        managed_broker,
        refresh_auth,
    )
    from hall_controller.sealing import Sealer
    from hall_controller.service import Controller
    from hall_controller.store import SqliteStore

    cfg = load_config(args.config)
    check_broker_files(cfg, args.config, args.broker_url, server=True)
    data = Path(args.data_dir or cfg.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    # The store, the seal key, the broker's passwords and its queued messages: for the
    # controller's user only.
    data.chmod(0o700)
    stop = threading.Event()
    # From here on a signal only asks to stop: whatever was started is stopped below.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    broker: Mosquitto | None = None
    supervisor: BrokerSupervisor | None = None
    ctl: Controller | None = None
    try:
        if args.broker_url or cfg.broker.url:
            settings = broker_for(cfg, args.broker_url)
        else:
            try:
                broker, settings = managed_broker(cfg, data)
            except BrokerError as err:
                print(f"cannot start the hall's broker: {err}", file=sys.stderr)
                return 1
            print(f"mosquitto listening on {broker.bind}:{broker.port}", flush=True)
            if broker.tls_port is not None:
                print(f"mosquitto TLS listening on {broker.tls_bind}:{broker.tls_port}", flush=True)
        if stop.is_set():
            return 0
        store = SqliteStore(data / "hall.db")
        ctl = Controller(
            cfg,
            store,
            settings,
            clock=make_clock(args.clock_start),
            sealer=Sealer.from_dir(data / "secrets"),
            manage_gc=True,
        )
        if broker is not None:
            on_exit, on_restart = broker_alerts(ctl, cfg)
            supervisor = BrokerSupervisor(
                broker,
                prepare=lambda: refresh_auth(cfg, data, settings),
                on_exit=on_exit,
                on_restart=on_restart,
            ).start()
        ctl.start(wait=None)
        if ctl.wait_ready(15):
            print(
                f"controller ready: hall {cfg.hall.id}, {len(ctl.engine.state.tickets)} "
                "tickets restored",
                flush=True,
            )

        def watch_fatal() -> None:
            assert ctl is not None
            ctl.fatal.wait()
            stop.set()

        threading.Thread(target=watch_fatal, daemon=True).start()
        stop.wait()
    finally:
        if ctl is not None:
            ctl.stop()
        if supervisor is not None:
            supervisor.stop()
        elif broker is not None:
            broker.stop()
    return 1 if ctl is not None and ctl.fatal.is_set() else 0


def cmd_gen_auth(args: argparse.Namespace) -> int:
    from hall_controller.broker import write_auth

    cfg = load_config(args.config)
    out = Path(args.out)
    creds = write_auth(cfg, out, rotate=args.rotate)
    print(
        f"wrote {out / 'passwd'} and {out / 'acl'} for {len(creds)} users; "
        f"passwords in {out / 'passwords'}/ (mode 0600)"
    )
    return 0


WINDOW_OPS = {
    "call-next": "window.call_next",
    "recall": "window.recall",
    "start": "window.start",
    "no-show": "window.no_show",
    "requeue": "window.requeue",
    "transfer": "window.transfer",
    "finish": "window.finish",
    "pause": "window.pause",
    "resume": "window.resume",
    "sign-on": "window.sign_on",
    "sign-off": "window.sign_off",
    "status": "window.status",
}


def one_request(
    cfg: HallConfig,
    args: argparse.Namespace,
    tid: str,
    role: str,
    op: str,
    payload: dict[str, Any],
) -> Reply | None:
    """Connect as terminal ``tid``, send one request, wait for its reply (None: no answer,
    said on stderr)."""
    client = connect_tool(cfg, args, tid, role)
    if client is None:
        return None
    try:
        return client.request(op, payload, timeout=args.timeout)
    except RequestTimeout:
        print(
            "the hall controller did not answer: is it running? (python -m hall_controller run)",
            file=sys.stderr,
        )
        return None
    finally:
        client.stop()


def connect_tool(
    cfg: HallConfig, args: argparse.Namespace, tid: str, role: str, user: str | None = None
) -> HallClient | None:
    """A started client as terminal ``tid`` (logging in as ``user``, default ``tid``), or
    None when the broker cannot be reached or refuses us (the reason said on stderr: TLS
    trust, refused login, nothing listening)."""
    check_broker_files(cfg, args.config, args.broker_url, server=False)
    settings = broker_for(cfg, args.broker_url, user or tid)
    try:
        client = HallClient(Topics(cfg.hall.id), tid, settings, role=role, presence=False)
    except TlsSetupError as err:
        print(f"{args.config}: broker: {err}", file=sys.stderr)
        return None
    client.start(wait=None)
    if not client.wait_connected(5, fail_fast=True) and client.last_error:
        print(f"cannot connect to the hall's broker: {client.last_error}", file=sys.stderr)
        client.stop()
        return None
    return client


def resolve_window(cfg: HallConfig, given: str) -> str:
    """The window id meant by ``given``: a window id (``win03``), a window name
    (``3号综合窗口``), or a window number as staff say it (``3``): the window whose id ends
    in that number (``win03``, ``win3``) or whose name starts with ``3号``. Raises
    ``ValueError`` saying which windows there are when none or several match."""
    ids = {w.id for w in cfg.windows}
    if given in ids:
        return given
    named = [w.id for w in cfg.windows if w.name == given]
    if len(named) == 1:
        return named[0]
    listing = ", ".join(f"{w.id} ({w.name})" for w in cfg.windows)
    if re.fullmatch(r"\d{1,4}", given):
        n = int(given)

        def numbered(w: WindowConfig) -> bool:
            digits = re.search(r"(\d+)$", w.id)
            by_id = digits is not None and int(digits[1]) == n
            by_name = re.match(rf"0*{n}号", w.name) is not None
            return by_id or by_name

        found = [w.id for w in cfg.windows if numbered(w)]
        if len(found) == 1:
            return found[0]
        if found:
            raise ValueError(
                f"window number {given} is ambiguous: it could be {', '.join(found)}; "
                "give the window id"
            )
        raise ValueError(f"no window number {given}; windows: {listing}")
    raise ValueError(f"no window {given!r}; windows: {listing}")


def window_terminal(cfg: HallConfig, wid: str) -> str:
    for t in cfg.terminals:
        if t.role == "window" and t.window == wid:
            return t.id
    return f"window-{wid}"


def cmd_window(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    try:
        wid = resolve_window(cfg, args.window)
    except ValueError as err:
        print(f"{args.config}: {err}", file=sys.stderr)
        return 2
    tid = window_terminal(cfg, wid)
    payload: dict[str, Any] = {}
    if getattr(args, "ticket", None):
        payload["ticket"] = args.ticket
    if args.op == "transfer":
        if args.to_queue:
            payload["to_queue"] = args.to_queue
        if args.to_window:
            payload["to_window"] = args.to_window
    if args.op == "no-show" and args.requeue:
        payload["requeue"] = True
    if args.op == "finish" and args.case:
        payload["accept_case"] = True
    if args.op == "pause" and args.reason:
        payload["reason"] = args.reason
    if args.staff:
        payload["staff"] = args.staff
    reply = one_request(cfg, args, tid, "window", WINDOW_OPS[args.op], payload)
    if reply is None:
        return 3
    # As JSON data: the contract's result types serialise themselves (Reply.dumps).
    data = json.loads(reply.dumps())
    if args.json:
        print(json.dumps({k: v for k, v in data.items() if v is not None}, ensure_ascii=False))
    elif reply.ok:
        r = data.get("result") or {}
        r = r.get("ticket", r)  # finish: the ticket (and the case, in --json)
        if "number" in r:
            print(f"{args.op}: {r['number']} ({r.get('queue_name', '')}) — {r.get('state')}")
        else:
            print(f"{args.op}: " + json.dumps(r, ensure_ascii=False))
    else:
        assert reply.error is not None
        print(f"{args.op} refused: {reply.error.message}", file=sys.stderr)
    return 0 if reply.ok else 1


def admin_terminal(cfg: HallConfig, given: str | None) -> str:
    if given:
        return given
    for t in cfg.terminals:
        if t.role == "admin":
            return t.id
    raise SystemExit("no admin terminal in the hall config: add one with role: admin")


def cmd_admin(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    tid = admin_terminal(cfg, args.terminal)
    if args.action == "book-appointment":
        start = dt.datetime.fromisoformat(args.start)
        if start.tzinfo is None:
            start = start.replace(tzinfo=cfg.tz)
        op = "admin.book_appointment"
        payload: dict[str, Any] = {
            "code": args.code,
            "service": args.service,
            "start": start.timestamp(),
            "end": start.timestamp() + args.minutes * 60,
        }
    else:
        op, payload = "admin.update_case", {"case_no": args.case_no, "state": args.state}
    reply = one_request(cfg, args, tid, "admin", op, payload)
    if reply is None:
        return 3
    if not reply.ok:
        assert reply.error is not None
        print(f"{args.action} refused: {reply.error.message}", file=sys.stderr)
        return 1
    print(json.dumps(json.loads(reply.dumps())["result"], ensure_ascii=False))
    return 0


def cmd_command(args: argparse.Namespace) -> int:
    """Send a command to a terminal (with expiry and an idempotency id), wait for its result."""
    from hall_contract.messages import Command, CommandResult
    from hall_controller.broker import TOOLS_USER

    cfg = load_config(args.config)
    topics = Topics(cfg.hall.id)
    # With the tools' own login (with auth: commands to any terminal, their results, and
    # nothing else). Not the controller's: a login is one connection, and a second one
    # with the controller's login would throw the controller off the broker.
    client = connect_tool(cfg, args, TOOLS_USER, "tool")
    if client is None:
        return 3
    done = threading.Event()
    result: list[CommandResult] = []
    cid = f"cmd-{client.new_id()}"

    def on_result(topic: str, payload: bytes, msg: Any) -> None:
        res = CommandResult.model_validate_json(payload)
        if res.id == cid:
            result.append(res)
            done.set()

    try:
        client.subscribe(topics.command_result(args.terminal), on_result)
        cmd_args = dict(kv.split("=", 1) for kv in args.arg)
        command = Command(id=cid, cmd=args.cmd, args=cmd_args, expires_at=time.time() + args.ttl)
        client.publish(topics.command(args.terminal), command.dumps(), expiry=int(args.ttl))
        if not done.wait(args.wait):
            print(
                f"no result from {args.terminal} within {args.wait:.0f} s; the command "
                f"stays queued for it until it expires ({args.ttl:.0f} s)",
                file=sys.stderr,
            )
            return 3
    finally:
        client.stop()
    res = result[0]
    print(f"{args.terminal} {args.cmd}: {'ok' if res.ok else 'failed'} {res.message}".rstrip())
    return 0 if res.ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from hall_controller.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hall_controller",
        description="The hall controller: queues, windows and the MQTT contract of a "
        "government service hall.",
    )
    p.add_argument("--log-level", default="INFO")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser(
        "run",
        help="run the controller (and its own mosquitto unless a broker URL is configured)",
        description="Runs the hall controller and, without a broker URL, its own mosquitto. "
        "The hall's other programs are separate processes, each a terminal of the hall: the "
        "web server (hall display, staff console, rating pads, phone pages) with "
        "`python -m hall_web --config config/web.yaml run`, and on the PC wired to the LED "
        "window displays the display program with `python -m hall_display run --config "
        "config/display.yaml`. docs/web.md and docs/display.md have their systemd units.",
    )
    r.add_argument("--config", default=DEFAULT_CONFIG)
    r.add_argument("--broker-url", help="mqtt://host:port of an existing broker")
    r.add_argument("--data-dir", help="overrides data_dir of the config")
    r.add_argument(
        "--clock-start",
        help="pretend the time is this ISO time at start (demos and tests of opening hours)",
    )
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("check-config", help="validate a hall config file")
    c.add_argument("file")
    c.set_defaults(func=cmd_check_config)

    g = sub.add_parser("gen-auth", help="generate mosquitto password file and ACL")
    g.add_argument("--config", default=DEFAULT_CONFIG)
    g.add_argument("--out", required=True)
    g.add_argument("--rotate", action="store_true", help="make new passwords")
    g.set_defaults(func=cmd_gen_auth)

    w = sub.add_parser("window", help="staff window client")
    w.add_argument("--config", default=DEFAULT_CONFIG)
    w.add_argument("--broker-url")
    w.add_argument("--window", required=True)
    w.add_argument("--timeout", type=float, default=5.0)
    w.add_argument("--json", action="store_true")
    w.add_argument(
        "--staff", help="your staff account id, recorded in the events (reports per person)"
    )
    wsub = w.add_subparsers(dest="op", required=True)
    for name in WINDOW_OPS:
        op = wsub.add_parser(name)
        if name in ("recall", "start", "no-show", "requeue", "transfer", "finish"):
            op.add_argument(
                "ticket",
                nargs="?" if name != "requeue" else None,
                help="ticket number or id (default: the window's current)",
            )
        if name == "transfer":
            op.add_argument("--to-queue")
            op.add_argument("--to-window")
        if name == "no-show":
            op.add_argument("--requeue", action="store_true")
        if name == "finish":
            op.add_argument("--case", action="store_true", help="open a case with deadlines")
        if name == "pause":
            from hall_contract.messages import PAUSE_REASONS

            op.add_argument(
                "--reason",
                choices=list(PAUSE_REASONS),
                default="break",
                help="shown on the window's display: "
                + ", ".join(f"{k} ({zh})" for k, (zh, _en) in PAUSE_REASONS.items()),
            )
    w.set_defaults(func=cmd_window)

    a = sub.add_parser("admin", help="hall manager's console: appointments, case states")
    a.add_argument("--config", default=DEFAULT_CONFIG)
    a.add_argument("--broker-url")
    a.add_argument("--terminal", help="admin terminal id (default: the first in the config)")
    a.add_argument("--timeout", type=float, default=5.0)
    asub = a.add_subparsers(dest="action", required=True)
    ab = asub.add_parser("book-appointment", help="make an appointment known to the hall")
    ab.add_argument("--code", required=True, help="the code in the citizen's appointment QR")
    ab.add_argument("--service", required=True)
    ab.add_argument("--start", required=True, help="slot start, ISO time (hall time zone)")
    ab.add_argument("--minutes", type=float, default=30)
    ac = asub.add_parser("case-state", help="move a case on")
    ac.add_argument("case_no")
    ac.add_argument("state", choices=["accepted", "in_review", "done", "delivered", "rejected"])
    a.set_defaults(func=cmd_admin)

    k = sub.add_parser("command", help="send a command to a terminal and wait for its result")
    k.add_argument("--config", default=DEFAULT_CONFIG)
    k.add_argument("--broker-url")
    k.add_argument("--terminal", required=True)
    k.add_argument(
        "cmd", choices=["reload_config", "set_mode", "print_test_page", "restart", "self_test"]
    )
    k.add_argument("--arg", action="append", default=[], help="key=value (repeatable)")
    k.add_argument("--ttl", type=float, default=300, help="seconds before it expires")
    k.add_argument("--wait", type=float, default=10, help="seconds to wait for the result")
    k.set_defaults(func=cmd_command)

    d = sub.add_parser("demo", help="the demo hall: broker, controller, simulated terminals")
    d.add_argument("--config", default=DEFAULT_CONFIG)
    d.add_argument("--no-kiosk", action="store_true", help="no kiosk window")
    d.add_argument("--duration", type=float, default=0, help="stop after N seconds (0: never)")
    d.add_argument("--speed", type=float, default=1.0, help="simulated staff speed factor")
    d.add_argument("--no-web", action="store_true", help="no web server (hall display etc.)")
    d.add_argument("--web-port", type=int, default=8080, help="web server port (another if taken)")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except ConfigFileError as err:
        print(str(err), file=sys.stderr)
        return 1
