"""Shared fixtures: a real mosquitto per test on a free loopback port, and a real
controller on it (in-process, with a settable clock); every test is checked for processes
it leaves running."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import psutil
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hall_contract.client import BrokerSettings, HallClient
from hall_contract.hallconfig import HallConfig
from hall_contract.yamlconf import load_model
from hall_controller.broker import Mosquitto
from hall_controller.process import become_subreaper, cmdline, wait_gone
from hall_controller.sealing import Sealer
from hall_controller.service import Controller
from hall_controller.store import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: A Wednesday at 10:00 in the hall: open in every example config.
OPEN_MORNING = dt.datetime(2026, 11, 18, 10, 0, tzinfo=SHANGHAI)

os.environ.setdefault("HALLKIT_TEST", "1")

# Orphans (a broker whose controller was killed, a worker whose benchmark died) are
# re-parented to this process instead of init: they stay visible to the leak check.
become_subreaper()
#: How long a test's processes may take to end after it (they are awaited as events).
PROCESS_GRACE_S = float(os.environ.get("HALLKIT_PROCESS_GRACE_S", "5"))


def _descendants() -> dict[tuple[int, float], psutil.Process]:
    found = {}
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            found[(p.pid, p.create_time())] = p
    return found


@pytest.fixture(autouse=True)
def no_process_leak() -> Iterator[None]:
    """Fail a test that leaves a process running that it started, directly or not
    (brokers, controllers, benchmark workers, their orphans). Such processes get
    ``PROCESS_GRACE_S`` to end, then are killed and named in the failure. Processes that
    ended and were re-parented here are reaped: this process is their subreaper, nobody
    else will. (By now every fixture of the test is torn down, so no ``Popen`` of the test
    still waits for one of them.)"""
    before = set(_descendants())
    yield
    new = {k: p for k, p in _descendants().items() if k not in before}
    running = wait_gone([pid for pid, _t in new], PROCESS_GRACE_S)
    leaked = []
    for (pid, _t), p in new.items():
        if pid in running:
            leaked.append(f"pid {pid}: {' '.join(cmdline(pid))[:200]}")
            with contextlib.suppress(psutil.Error):
                p.kill()
    wait_gone(running, PROCESS_GRACE_S)
    me = os.getpid()
    for (pid, _t), p in new.items():
        with contextlib.suppress(psutil.Error, ChildProcessError):
            if p.ppid() == me and p.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(pid, os.WNOHANG)
    assert not leaked, "processes left running by this test (now killed): " + "; ".join(leaked)


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


class Collector:
    """Subscribes raw (no presence) and lets a test wait for a matching message."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.msgs: list[tuple[str, bytes, bool]] = []
        self.cond = threading.Condition()
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            protocol=mqtt.MQTTv5,
            client_id=f"col-{uuid.uuid4().hex[:6]}",
        )
        subscribed = threading.Event()
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda *a: subscribed.set()
        self.c.connect(broker.bind, broker.port)
        self.c.subscribe(topic, qos=1)
        self.c.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.msgs.append((msg.topic, msg.payload, bool(msg.retain)))
            self.cond.notify_all()

    def wait_for(self, pred: Callable[[str, bytes], bool], timeout: float = 5.0) -> bytes:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(pred(t, p) for t, p, _r in self.msgs), timeout)
            assert ok, f"no matching message; got {[t for t, _p, _r in self.msgs]}"
            return next(p for t, p, _r in self.msgs if pred(t, p))

    def wait_all(
        self, pred: Callable[[list[tuple[str, bytes]]], bool], what: str, timeout: float = 15.0
    ) -> None:
        """Until ``pred`` holds of everything received so far, as (topic, payload) pairs."""
        with self.cond:
            ok = self.cond.wait_for(lambda: pred(self.pairs()), timeout)
            assert ok, f"no {what} seen"

    def pairs(self) -> list[tuple[str, bytes]]:
        with self.cond:
            return [(t, p) for t, p, _r in self.msgs]

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture
def collect(broker: Mosquitto):  # type: ignore[no-untyped-def]
    made: list[Collector] = []

    def make(topic: str) -> Collector:
        c = Collector(broker, topic)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def issue_tls(folder: Path, *addresses: str) -> dict[str, str]:
    """A throwaway CA and a server certificate for ``addresses`` (IPs or DNS names)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def san(a: str) -> x509.GeneralName:
        try:
            return x509.IPAddress(ipaddress.ip_address(a))
        except ValueError:
            return x509.DNSName(a)

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name(f"hall CA {folder.name}"))
        .issuer_name(name(f"hall CA {folder.name}"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("hall broker"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([san(a) for a in addresses]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {k: str(v) for k, v in paths.items()}
