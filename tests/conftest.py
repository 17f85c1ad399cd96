"""Shared fixtures: a real mosquitto per test on a free loopback port, and a real
controller on it (in-process, with a settable clock)."""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hall_contract.client import BrokerSettings, HallClient
from hall_contract.hallconfig import HallConfig
from hall_contract.yamlconf import load_model
from hall_controller.broker import Mosquitto
from hall_controller.sealing import Sealer
from hall_controller.service import Controller
from hall_controller.store import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: A Wednesday at 10:00 in the hall: open in every example config.
OPEN_MORNING = dt.datetime(2026, 11, 18, 10, 0, tzinfo=SHANGHAI)

os.environ.setdefault("HALLKIT_TEST", "1")


class FakeClock:
    """The hall's clock in tests: starts at a chosen moment, moves only when told."""

    def __init__(self, start: dt.datetime = OPEN_MORNING) -> None:
        self.now = start.timestamp()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float = 0, *, minutes: float = 0) -> None:
        with self._lock:
            self.now += seconds + minutes * 60

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            self.now = when.timestamp()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mq = Mosquitto(tmp_path / "broker").start()
    yield mq
    mq.stop()


def load_hall(name: str = "hall-minimal.yaml", **overrides: Any) -> HallConfig:
    cfg = load_model(HallConfig, CONFIG_DIR / name)
    if overrides:
        cfg = cfg.model_copy(update=overrides)
    return cfg


@pytest.fixture
def hall_cfg() -> HallConfig:
    return load_hall()


class ControllerFactory:
    def __init__(self, broker: Mosquitto, tmp_path: Path) -> None:
        self.broker = broker
        self.tmp_path = tmp_path
        self.started: list[Controller] = []

    def __call__(
        self,
        config: HallConfig | None = None,
        *,
        config_path: str | None = None,
        now: dt.datetime | None = None,
        clock: FakeClock | None = None,
        db: Path | None = None,
        settings: BrokerSettings | None = None,
    ) -> Controller:
        if config is None:
            config = load_hall(config_path or "hall-minimal.yaml")
        clock = clock or FakeClock(now or OPEN_MORNING)
        store = SqliteStore(db or self.tmp_path / f"hall-{len(self.started)}.db")
        ctl = Controller(
            config,
            store,
            settings or self.broker.settings,
            clock=clock,
            sealer=Sealer.from_dir(self.tmp_path / "secrets"),
        )
        ctl.clock_control = clock  # type: ignore[attr-defined]
        ctl.start()
        assert ctl.wait_ready(10), "controller did not connect to the test broker"
        self.started.append(ctl)
        return ctl

    def stop_all(self) -> None:
        for c in self.started:
            if c._worker is not None and c._worker.is_alive():
                c.stop()


@pytest.fixture
def controller_factory(broker: Mosquitto, tmp_path: Path) -> Iterator[ControllerFactory]:
    f = ControllerFactory(broker, tmp_path)
    yield f
    f.stop_all()


@pytest.fixture
def controller(controller_factory: ControllerFactory) -> Controller:
    return controller_factory()


@pytest.fixture
def client_factory(broker: Mosquitto) -> Iterator[Callable[..., HallClient]]:
    clients: list[HallClient] = []

    def make(tid: str, hall: str = "mini", **kw: Any) -> HallClient:
        from hall_contract.topics import Topics

        settings = kw.pop("settings", broker.settings)
        c = HallClient(Topics(hall), tid, settings, **kw)
        c.start(wait=10)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.stop()
