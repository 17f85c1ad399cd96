"""A real hall for the web faces: mosquitto, the controller and the web server (uvicorn on
a free loopback port), each started by the test."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from hall_contract.client import HallClient
from hall_controller.broker import Mosquitto
from hall_controller.service import Controller
from hall_web.app import create_app
from hall_web.auth import Accounts
from hall_web.settings import WebSettings
from tests.conftest import ControllerFactory

STAFF_PASSWORD = "Window-pass-2026"


@dataclass
class WebHall:
    url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread
    controller: Controller
    broker: Mosquitto
    settings: WebSettings

    @property
    def srv(self) -> Any:
        return self.app.state.srv

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def staff(self, account: str = "zhang.wei", window: str | None = "win01") -> httpx.Client:
        """A signed-in staff session (and its window picked), as the console does it."""
        c = self.client()
        r = c.post("/api/counter/login", json={"account": account, "password": STAFF_PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf"]
        if window:
            r = c.post("/api/counter/window", json={"window": window})
            assert r.status_code == 200, r.text
        return c

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def start_web(
    broker: Mosquitto, controller: Controller, tmp_path: Path, **overrides: Any
) -> WebHall:
    url = broker.settings.address
    settings = WebSettings(
        broker_url=url,
        data_dir=str(tmp_path / "web"),
        port=0,
        **overrides,
    )
    accounts = Accounts(tmp_path / "web" / "accounts.db")
    for aid, name in (("zhang.wei", "张伟"), ("li.na", "李娜")):
        if accounts.get(aid) is None:
            accounts.add(aid, name, ["staff"], STAFF_PASSWORD)
    accounts.close()
    app = create_app(settings, controller.config)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    started = threading.Event()

    def ready() -> bool:
        return bool(server.started)

    for _ in range(200):
        if ready():
            started.set()
            break
        thread.join(0.05)
    assert started.is_set(), "the web server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    hall = WebHall(f"http://127.0.0.1:{port}", app, server, thread, controller, broker, settings)
    assert hall.srv.client.wait_connected(10), "the web server did not reach the broker"
    return hall


@pytest.fixture
def web_factory(
    broker: Mosquitto, controller_factory: ControllerFactory, tmp_path: Path
) -> Iterator[Callable[..., WebHall]]:
    started: list[WebHall] = []

    def make(controller: Controller | None = None, **overrides: Any) -> WebHall:
        ctl = controller or controller_factory()
        h = start_web(broker, ctl, tmp_path, **overrides)
        started.append(h)
        return h

    yield make
    for h in started:
        h.stop()


@pytest.fixture
def web(web_factory: Callable[..., WebHall]) -> WebHall:
    return web_factory()


@pytest.fixture
def kiosk(client_factory: Callable[..., HallClient]) -> HallClient:
    return client_factory("k01", role="kiosk")
