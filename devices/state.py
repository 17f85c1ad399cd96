"""One device-state model for every device: state enum, reason, change events."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class DeviceState(enum.StrEnum):
    ABSENT = "absent"
    CONNECTING = "connecting"
    READY = "ready"
    BUSY = "busy"
    DEGRADED = "degraded"
    FAULT = "fault"


#: States in which the device can do its job (maybe with a warning, e.g. paper near end).
USABLE_STATES = frozenset({DeviceState.READY, DeviceState.BUSY, DeviceState.DEGRADED})
#: States a technician must look at.
ERROR_STATES = frozenset({DeviceState.ABSENT, DeviceState.FAULT})


@dataclass(frozen=True)
class DeviceStatus:
    """A device's state at one moment, with a plain-words reason for technicians."""

    device: str
    state: DeviceState
    reason: str = ""
    since: float = field(default_factory=time.time)

    @property
    def usable(self) -> bool:
        return self.state in USABLE_STATES

    def to_dict(self) -> dict[str, object]:
        return {
            "device": self.device,
            "state": self.state.value,
            "reason": self.reason,
            "since": self.since,
        }


@dataclass(frozen=True)
class SelfTest:
    """Outcome of a device's ``self_test()`` (which never raises): plain words for a technician."""

    ok: bool
    state: DeviceState
    reason: str


Listener = Callable[[DeviceStatus], None]


class StatusHolder:
    """Holds a device's current status and tells listeners when it changes.

    Listeners are called on the thread that changed the state; they must not block
    (a UI hands the status to its own thread, e.g. with Kivy's ``@mainthread``).
    """

    def __init__(self, device: str) -> None:
        self._lock = threading.Lock()
        self._status = DeviceStatus(device, DeviceState.ABSENT, "not opened yet")
        self._listeners: list[Listener] = []

    @property
    def status(self) -> DeviceStatus:
        return self._status

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def set(self, state: DeviceState, reason: str = "") -> DeviceStatus:
        with self._lock:
            old = self._status
            if old.state == state and old.reason == reason:
                return old
            new = DeviceStatus(old.device, state, reason)
            self._status = new
            listeners = list(self._listeners)
        for listener in listeners:
            listener(new)
        return new
