"""The kiosk's connection to the hall controller over the MQTT contract.

Presence (birth/Will) comes from :class:`HallClient`; this adds the kiosk's subscriptions
(commands, desired config, hall status, the controller's presence), device reports and
heartbeats. Everything read is validated as its contract type (``messages.read``); a
payload that is not one is logged (never its content) and ignored. Handlers run on paho's
network thread and only hand data on through the callbacks the kiosk gives (Kivy's Clock
in the app); requests block and are called from worker threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from hall_contract.client import BrokerSettings, HallClient
from hall_contract.messages import (
    Command,
    CommandResult,
    ControllerState,
    DesiredConfig,
    DeviceReport,
    HallStatus,
    Heartbeat,
    Reply,
    presence_counts,
    read,
)
from hall_contract.topics import Topics

log = logging.getLogger(__name__)

VERSION = "0.1.0"

T = TypeVar("T")


def _read(tp: type[T], payload: bytes, what: str) -> T | None:
    """``payload`` as the contract type ``tp``, or None (logged without the payload, which
    is not ours to copy into a log)."""
    try:
        return read(tp, payload)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        known = getattr(tp, "__dataclass_fields__", {})
        loc = first["loc"][0] if first["loc"] else None
        where = f" at {loc}" if isinstance(loc, str) and loc in known else ""
        log.warning(
            "ignoring a malformed %s: %d problem(s), first %s%s",
            what,
            err.error_count(),
            first["type"],
            where,
        )
        return None


class ControllerLink:
    def __init__(
        self,
        topics: Topics,
        terminal_id: str,
        settings: BrokerSettings,
        *,
        on_command: Callable[[Command], None] | None = None,
        on_config: Callable[[DesiredConfig], None] | None = None,
        on_status: Callable[[HallStatus | None], None] | None = None,
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
        #: the controller's retained hall status (None: not received yet)
        self.hall_status: HallStatus | None = None
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

    def request(self, op: str, payload: dict[str, Any], timeout: float) -> Reply[Any]:
        """The reply, its ``result`` typed and checked against the contract (``op``'s
        result type in ``messages.OPERATIONS``)."""
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
        cmd = _read(Command, payload, "command")
        if cmd is not None and self.on_command is not None:
            self.on_command(cmd)

    def _config(self, topic: str, payload: bytes, msg: Any) -> None:
        if not payload:  # the retained desired config was cleared
            return
        cfg = _read(DesiredConfig, payload, "desired config")
        if cfg is not None and self.on_config is not None:
            self.on_config(cfg)

    def _status(self, topic: str, payload: bytes, msg: Any) -> None:
        if not payload:  # the retained status was cleared: keep the last one
            return
        status = _read(HallStatus, payload, "hall status")
        if status is not None:
            self.hall_status = status
            if self.on_status is not None:
                self.on_status(status)

    def _controller(self, topic: str, payload: bytes, msg: Any) -> None:
        if not payload:  # the retained presence was cleared: not known any more
            self.controller_state = None
        else:
            st = _read(ControllerState, payload, "controller state")
            if st is None:
                return
            if not presence_counts(st.state, st.seq, self._controller_seq):
                return  # the late Will of an older controller connection: the birth stands
            self._controller_seq = st.seq
            self.controller_state = st.state
        if self.on_status is not None:  # re-render: the queue picture depends on it
            self.on_status(self.hall_status)
