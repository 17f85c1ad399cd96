"""The kiosk's connection to the hall controller over the MQTT contract.

Presence (birth/Will) comes from :class:`HallClient`; this adds the kiosk's subscriptions
(commands, desired config, hall status), device reports and heartbeats. Handlers run on
paho's network thread and only hand data on through the ``post`` callable the kiosk
gives (Kivy's Clock in the app); requests block and are called from worker threads.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from hall_contract.client import BrokerSettings, HallClient
from hall_contract.messages import (
    Command,
    CommandResult,
    DesiredConfig,
    DeviceReport,
    Heartbeat,
    Reply,
    presence_counts,
)
from hall_contract.topics import Topics

log = logging.getLogger(__name__)

VERSION = "0.1.0"


class ControllerLink:
    def __init__(
        self,
        topics: Topics,
        terminal_id: str,
        settings: BrokerSettings,
        *,
        on_command: Callable[[Command], None] | None = None,
        on_config: Callable[[DesiredConfig], None] | None = None,
        on_status: Callable[[dict[str, Any]], None] | None = None,
        on_connection: Callable[[bool], None] | None = None,
        heartbeat_s: float = 15.0,
        mode: Callable[[], str] = lambda: "normal",
    ) -> None:
        self.topics = topics
        self.terminal_id = terminal_id
        self.client = HallClient(topics, terminal_id, settings, role="kiosk", version=VERSION)
        self.on_command = on_command
        self.on_config = on_config
        self.on_status = on_status
        self.on_connection = on_connection
        self.heartbeat_s = heartbeat_s
        self.mode = mode
        self.hall_status: dict[str, Any] | None = None
        #: the controller's retained presence: "online", "offline", "lost" (None: unknown)
        self.controller_state: str | None = None
        self._controller_seq = -1
        self.started_at = time.monotonic()
        self._stop = threading.Event()
        self._hb: threading.Thread | None = None
        self.client.on_connection_change = self._conn
        self.client.subscribe(topics.command(terminal_id), self._cmd)
        self.client.subscribe(topics.desired_config(terminal_id), self._config)
        self.client.subscribe(topics.hall_status, self._status)
        self.client.subscribe(topics.controller_state, self._controller)

    @property
    def online(self) -> bool:
        return self.client.connected

    def start(self, wait: float | None = None) -> None:
        self.client.start(wait=wait)
        self._hb = threading.Thread(target=self._heartbeats, name="kiosk-hb", daemon=True)
        self._hb.start()

    def stop(self) -> None:
        self._stop.set()
        if self._hb is not None:
            self._hb.join(2)
        self.client.stop()

    def request(self, op: str, payload: dict[str, Any], timeout: float) -> Reply:
        return self.client.request(op, payload, timeout=timeout, retry_every=1.0)

    def new_id(self) -> str:
        return self.client.new_id()

    def set_config_version(self, version: int | None) -> None:
        self.client.config_version = version

    # ----------------------------------------------------------------- publishing
    def report_device(self, device: str, state: str, reason: str) -> None:
        rep = DeviceReport(
            device=device,
            state=state,
            reason=reason[:200],  # type: ignore[arg-type]
            at=time.time(),
        )
        self.client.publish(self.topics.device(self.terminal_id, device), rep.dumps(), retain=True)

    def command_result(self, res: CommandResult) -> None:
        self.client.publish(self.topics.command_result(self.terminal_id), res.dumps())

    def heartbeat(self) -> None:
        hb = Heartbeat(
            at=time.time(), uptime_s=round(time.monotonic() - self.started_at, 1), mode=self.mode()
        )
        self.client.publish(self.topics.heartbeat(self.terminal_id), hb.dumps(), qos=0)

    def _heartbeats(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if self.online:
                self.heartbeat()

    # ----------------------------------------------------------------- inbound
    def _conn(self, up: bool) -> None:
        if up:
            self.heartbeat()
        if self.on_connection is not None:
            self.on_connection(up)

    def _cmd(self, topic: str, payload: bytes, msg: Any) -> None:
        try:
            cmd = Command.model_validate_json(payload)
        except ValidationError:
            log.warning("ignoring malformed command")
            return
        if self.on_command is not None:
            self.on_command(cmd)

    def _config(self, topic: str, payload: bytes, msg: Any) -> None:
        if not payload:
            return
        try:
            cfg = DesiredConfig.model_validate_json(payload)
        except ValidationError:
            log.warning("ignoring malformed desired config")
            return
        if self.on_config is not None:
            self.on_config(cfg)

    def _status(self, topic: str, payload: bytes, msg: Any) -> None:
        try:
            data = json.loads(payload) if payload else None
        except ValueError:
            return
        if isinstance(data, dict):
            self.hall_status = data
            if self.on_status is not None:
                self.on_status(data)

    def _controller(self, topic: str, payload: bytes, msg: Any) -> None:
        try:
            data = json.loads(payload) if payload else None
        except ValueError:
            return
        state = data.get("state") if isinstance(data, dict) else None
        seq = data.get("seq") if isinstance(data, dict) else None
        if isinstance(seq, int) and not isinstance(seq, bool):
            if not presence_counts(str(state), seq, self._controller_seq):
                return  # the late Will of an older controller connection: the birth stands
            self._controller_seq = seq
        self.controller_state = state if isinstance(state, str) else None
        if self.on_status is not None:  # re-render: the queue picture depends on it
            self.on_status(self.hall_status or {})
