"""Test helpers: the test hall, a UI-thread stand-in, a fake link."""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hall_contract.hallconfig import HallConfig
from hall_contract.messages import ErrorCode, ErrorInfo, Reply
from hall_contract.yamlconf import load_model
from kiosk.commands import CommandGate
from kiosk.core import Kiosk
from kiosk.hardware import Hardware
from kiosk.outbox import Outbox
from kiosk.session import CardIdentity
from kiosk.settings import DeviceSettings, DevicesSettings, KioskConfig

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
    return DevicesSettings(
        idcard=DeviceSettings(driver="fake"),
        scanner=DeviceSettings(driver="fake"),
        printer=DeviceSettings(driver="fake"),
        voice=DeviceSettings(driver="log"),
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


class FakeLink:
    """A controller link whose replies the test decides."""

    def __init__(self, online: bool = True) -> None:
        self.online = online
        self.hall_status: dict[str, Any] | None = None
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.results: list[Any] = []
        self.reports: list[tuple[str, str, str]] = []
        self.handler: Callable[[str, dict[str, Any]], Reply] = self.default
        self._n = 0
        self.lock = threading.Lock()

    def default(self, op: str, body: dict[str, Any]) -> Reply:
        if op == "ticket.issue":
            return Reply(
                id=body["id"],
                ok=True,
                result={
                    "ticket_id": "d-A001",
                    "number": "A001",
                    "queue": "id",
                    "queue_name": "户籍证照",
                    "issued_at": 0,
                    "people_ahead": 3,
                    "expected_wait_min": 12,
                    "token": "tok123",
                    "window_hint": "1号窗口",
                },
            )
        if op == "rating.submit" and body["ticket"] == "rated":
            return Reply(
                id=body["id"], ok=False, error=ErrorInfo(code=ErrorCode.CONFLICT, message="rated")
            )
        if op == "case.lookup":
            return Reply(
                id=body["id"],
                ok=True,
                result={
                    "case_no": "2025001",
                    "service": "身份证补领",
                    "state": "审批中",
                    "deadline": "2025-09-20",
                    "level": "yellow",
                },
            )
        return Reply(id=body["id"], ok=True, result={})

    def request(self, op: str, body: dict[str, Any], timeout: float) -> Reply:
        with self.lock:
            self.sent.append((op, dict(body)))
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
