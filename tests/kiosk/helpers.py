"""Test helpers: the test hall, a UI-thread stand-in, a fake link."""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from hall_contract.hallconfig import HallConfig
from hall_contract.messages import (
    BadPayload,
    CaseInfo,
    CaseList,
    Command,
    CommandName,
    ErrorCode,
    HallStatus,
    HelpAccepted,
    LevelName,
    MailingAccepted,
    PriorityName,
    RatingAccepted,
    Reply,
    TicketInfo,
    error_reply,
    read,
    read_reply,
    validate_request,
)
from hall_contract.yamlconf import load_model
from kiosk.commands import CommandGate
from kiosk.core import Kiosk
from kiosk.hardware import Hardware
from kiosk.outbox import Outbox
from kiosk.session import CardIdentity
from kiosk.settings import DevicesSettings, KioskConfig

DATA = Path(__file__).parent / "data"
HALL_YAML = DATA / "hall-test.yaml"
TZ = dt.timezone(dt.timedelta(hours=8))
MONDAY_10 = dt.datetime(2025, 9, 15, 10, 0, tzinfo=TZ)
SUNDAY_3AM = dt.datetime(2025, 9, 14, 3, 0, tzinfo=TZ)

ELDER = CardIdentity(
    name="欧阳秀英",
    id_number="110101195003071234",
    birth_date=dt.date(1950, 3, 7),
    address="北京市东城区景山前街4号",
)
YOUNG = CardIdentity(
    name="王小明",
    id_number="350102199001011234",
    birth_date=dt.date(1990, 1, 1),
    address="福州市鼓楼区五四路100号",
)


def hall() -> HallConfig:
    return load_model(HallConfig, HALL_YAML)


def fake_devices() -> DevicesSettings:
    """Every device ``driver: fake`` (kiosk.fakes), the voice ``log``: as a config file
    would say it."""
    fake = {"driver": "fake"}
    return DevicesSettings.model_validate(
        {"idcard": fake, "scanner": fake, "printer": fake, "voice": {"driver": "log"}}
    )


def kiosk_config(tmp: Path, **kw: Any) -> KioskConfig:
    base = {
        "terminal_id": "k01",
        "hall_config": str(HALL_YAML),
        "data_dir": str(tmp),
        "devices": fake_devices(),
        "fullscreen": False,
        "location": "一楼大厅东侧",
    }
    base.update(kw)
    return KioskConfig.model_validate(base)


class UiThread:
    """Stands in for Kivy's Clock: posted callables run when the test pumps."""

    def __init__(self) -> None:
        self.q: queue.Queue[Callable[[], None]] = queue.Queue()

    def post(self, fn: Callable[[], None]) -> None:
        self.q.put(fn)

    def pump_until(self, cond: Callable[[], bool], timeout: float = 10.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("condition not reached in time")
            try:  # short waits: the condition may also change on another thread
                fn = self.q.get(timeout=min(left, 0.05))
            except queue.Empty:
                continue
            fn()


def contract_reply(op: str, rid: str, result: Any = None, error: Reply[Any] | None = None) -> Any:
    """What the controller sends for ``op``, read back as the kiosk reads it
    (``messages.read_reply``): a fake reply that drifts from the contract fails here."""
    reply: Reply[Any] = error if error is not None else Reply(id=rid, ok=True, result=result)
    return read_reply(op, orjson.dumps(reply))


def refuse(op: str, rid: str, code: ErrorCode, message: str = "不行", en: str = "no") -> Any:
    """An error reply to ``op`` as the controller sends it."""
    return contract_reply(op, rid, error=error_reply(rid, code, message, en))


def hall_status(
    waiting: dict[str, int] | None = None,
    *,
    open: bool = True,
    next_opening: str | None = None,
    config_version: int = 3,
) -> HallStatus:
    """The controller's retained hall status, through the contract as the link reads it."""
    status = HallStatus(
        open=open, next_opening=next_opening, config_version=config_version, waiting=waiting or {}
    )
    return read(HallStatus, orjson.dumps(status))


def command(cid: str, cmd: CommandName, expires_at: float, **args: str) -> Command:
    """A controller command, through the contract as the link reads it."""
    return read(Command, Command(cid, cmd, dict(args), expires_at).dumps())


def ticket_info(
    number: str = "A001",
    token: str | None = "tok123",
    *,
    priority: PriorityName = "normal",
    service: str | None = "idcard_reissue",
) -> TicketInfo:
    from kiosk.__main__ import sample_ticket

    info: TicketInfo = sample_ticket(
        number, token=token, priority=priority, service=service, at=MONDAY_10.timestamp()
    )
    return info


def case_info(case_no: str = "TESTHALL2025091500001", level: LevelName = "yellow") -> CaseInfo:
    return CaseInfo(
        case_no=case_no,
        service="idcard_reissue",
        service_name="居民身份证补领",
        state="in_review",
        accepted_at=MONDAY_10.timestamp(),
        deadline="2025-09-26",
        promised_deadline="2025-09-17",
        level=level,
    )


class FakeLink:
    """A controller link whose replies the test decides. Like the real controller it
    refuses a request the contract refuses (``bad_request``), and every reply goes through
    the contract as the real link's does (:func:`contract_reply`)."""

    def __init__(self, online: bool = True, location: str = "一楼大厅东侧") -> None:
        self.online = online
        self.location = location
        self.hall_status: HallStatus | None = None
        self.controller_state: str | None = None
        self.sent: list[tuple[str, dict[str, Any]]] = []
        #: requests the contract refuses (op, why): a kiosk bug, answered bad_request
        self.refused: list[tuple[str, str]] = []
        self.results: list[Any] = []
        self.reports: list[tuple[str, str, str]] = []
        self.handler: Callable[[str, dict[str, Any]], Reply[Any]] = self.default
        self._n = 0
        self.lock = threading.Lock()

    def default(self, op: str, body: dict[str, Any]) -> Reply[Any]:
        rid = body["id"]
        if op in ("ticket.issue", "ticket.lookup"):
            return contract_reply(op, rid, ticket_info())
        if op == "appointment.checkin":
            return contract_reply(op, rid, ticket_info("A002", "tok456", priority="appointment"))
        if op == "rating.submit":
            if body["ticket"] == "rated":
                return refuse(op, rid, ErrorCode.CONFLICT, "已经评价过", "rated already")
            return contract_reply(op, rid, RatingAccepted("A001", body["level"]))
        if op == "case.lookup":
            return contract_reply(op, rid, CaseList([case_info()]))
        if op == "help.request":
            return contract_reply(op, rid, HelpAccepted("al-1", self.location))
        if op == "mailing.request":
            return contract_reply(op, rid, MailingAccepted(True))
        return refuse(op, rid, ErrorCode.UNKNOWN_OP, "没有这个操作", "unknown operation")

    def request(self, op: str, body: dict[str, Any], timeout: float) -> Reply[Any]:
        with self.lock:
            self.sent.append((op, dict(body)))
        try:  # what the real controller does first
            validate_request(op, body)
        except BadPayload as err:
            with self.lock:
                self.refused.append((op, err.message_en))
            return refuse(op, str(body.get("id", "")), err.code, err.message, err.message_en)
        return self.handler(op, body)

    def new_id(self) -> str:
        self._n += 1
        return f"k01.test.{self._n}"

    def report_device(self, device: str, state: str, reason: str) -> None:
        self.reports.append((device, state, reason))

    def command_result(self, res: Any) -> None:
        self.results.append(res)

    def set_config_version(self, v: int | None) -> None:
        pass


def make_kiosk(
    tmp: Path, link: Any = None, now: dt.datetime = MONDAY_10, **kw: Any
) -> tuple[Kiosk, UiThread, Hardware]:
    cfg = kiosk_config(tmp, **kw)
    ui = UiThread()
    clock = [0.0]
    hw = Hardware(cfg.devices, data_dir=tmp)
    k = Kiosk(
        cfg,
        hall(),
        hw=hw,
        link=link,
        outbox=Outbox(tmp / "outbox.db"),
        gate=CommandGate(tmp / "cmds.db"),
        post=ui.post,
        now=lambda: now,
        mono=lambda: clock[0],
    )
    k._clock = clock  # type: ignore[attr-defined]
    hw.on_identity = lambda c: ui.post(lambda: k.on_identity(c))
    hw.on_scan = lambda s: ui.post(lambda: k.on_scan(s))
    hw.start()
    return k, ui, hw


# ---------------------------------------------------------------- headless UI drivers
def driver_app(prefix: str, **overrides: Any) -> Any:
    """The real kiosk app, headless, on the test hall at Monday 10:00, fake devices, no
    broker (a ``FakeLink``): what every ``ui_*_driver.py`` drives."""
    import tempfile

    from kiosk.__main__ import build

    app = build(
        None,
        headless=True,
        connect=False,
        now=lambda: MONDAY_10,
        overrides={
            "hall_config": str(HALL_YAML),
            "data_dir": tempfile.mkdtemp(prefix=prefix),
            "devices": fake_devices(),
            "fullscreen": False,
            **overrides,
        },
    )
    app.k.link = FakeLink()
    return app


def run_driver_script(app: Any, script: Any, out: dict[str, Any]) -> None:
    """Run the app with ``script``, then print ``out`` (and the script's error, if any)
    as the driver's one RESULT line."""
    import json

    from kiosk.__main__ import start_io, stop_io

    app.script = script
    start_io(app)
    try:
        app.run()
    finally:
        stop_io(app)
    out["script_error"] = getattr(app, "script_error", None)
    print("RESULT " + json.dumps(out, ensure_ascii=False), flush=True)


def run_driver(name: str, *args: str, timeout: float = 240) -> dict[str, Any]:
    """Run ``tests/kiosk/<name>`` in a subprocess, headless; its RESULT, checked for a
    script error."""
    import json
    import subprocess
    import sys

    from tests.kiosk.test_ui import ROOT, headless_env

    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name(name)), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=headless_env(),
        cwd=ROOT,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(lines[-1][7:])
    assert not out.get("script_error"), str(out["script_error"]) + proc.stderr[-3000:]
    return out
