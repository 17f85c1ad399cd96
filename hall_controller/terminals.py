"""What the controller knows of each terminal: presence, devices, last heartbeat.

Fed by the runner from the terminals' retained presence, device reports and heartbeats
(validated here, at the boundary); returns the staff alerts they call for (a terminal
lost, a device fault). No I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from hall_contract import messages as m


@dataclass
class TerminalInfo:
    id: str
    state: str = "unknown"
    seq: int = -1
    role: str | None = None
    version: str | None = None
    config_version: int | None = None
    last_seen: float = 0.0
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)


class BadReport(ValueError):
    """A terminal's report that cannot be used; the message names the field and the rule,
    never the value."""


@dataclass(frozen=True, slots=True)
class AlertSignal:
    """An alert to raise (in the controller's next batch)."""

    kind: m.AlertKind
    level: m.LevelName
    message: str
    terminal: str | None = None


class Terminals:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.info: dict[str, TerminalInfo] = {}
        self._cond = threading.Condition()

    def _get(self, tid: str) -> TerminalInfo:
        info = self.info.get(tid)
        if info is None:
            info = self.info[tid] = TerminalInfo(tid)
        return info

    def presence(self, tid: str, payload: bytes) -> AlertSignal | None:
        """A retained presence message (empty: cleared). Raises ValueError when malformed."""
        if not payload:
            return None
        try:
            p = m.Presence.model_validate_json(payload)
        except ValidationError as err:
            raise BadReport(m.problem(err)) from None
        info = self._get(tid)
        if not m.presence_counts(p.state, p.seq, info.seq):
            return None  # a late death of an older session: the newer birth stands
        was = info.state
        with self._cond:
            info.state, info.seq, info.role = p.state, p.seq, p.role
            info.version, info.config_version = p.version, p.config_version
            info.last_seen = self.clock()
            self._cond.notify_all()
        if p.state == "lost" and was == "online":
            return AlertSignal("terminal", "red", f"终端 {tid} 失去连接 / terminal {tid} lost", tid)
        return None

    def device(self, tid: str, payload: bytes) -> AlertSignal | None:
        if not payload:
            return None
        try:
            d = m.DeviceReport.model_validate_json(payload)
        except ValidationError as err:
            raise BadReport(m.problem(err)) from None
        info = self._get(tid)
        old = info.devices.get(d.device, {}).get("state")
        with self._cond:
            info.devices[d.device] = d.model_dump()
            self._cond.notify_all()
        if d.state in ("fault", "absent") and old != d.state:
            level: m.LevelName = "red" if d.state == "fault" else "yellow"
            return AlertSignal(
                "device", level, f"{tid} {d.device}: {d.state} {d.reason}".strip(), tid
            )
        return None

    def heartbeat(self, tid: str) -> None:
        self._get(tid).last_seen = self.clock()

    def wait(
        self, tid: str, pred: Callable[[TerminalInfo], bool], timeout: float
    ) -> TerminalInfo | None:
        """Wait until what is known of a terminal satisfies ``pred``."""
        with self._cond:
            ok = self._cond.wait_for(lambda: tid in self.info and pred(self.info[tid]), timeout)
            return self.info[tid] if ok else None
