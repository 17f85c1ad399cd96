"""The hall's MQTT topic tree (documented in docs/mqtt.md and docs/asyncapi.yaml).

Everything lives under ``{root}/{hall}/``. A terminal (kiosk, window, display, rating
device) owns ``t/{terminal}/...``: it publishes its requests, presence, device status,
heartbeats and command results there, and reads its replies, commands and desired
config there. The controller owns everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ID = r"[A-Za-z0-9_.-]{1,64}"
_SEGMENT = re.compile(rf"^({_ID}|\{{[a-z_]+\}})$")  # or a {placeholder} for docs
_PLAIN = re.compile(rf"^{_ID}$")


def is_id(value: str) -> bool:
    """A terminal, queue or device id as a topic segment may hold (no placeholder)."""
    return _PLAIN.match(value) is not None


def check_segment(value: str, what: str) -> str:
    """A topic segment: no wildcards, no slashes, no spaces, so ACL patterns stay exact."""
    if not _SEGMENT.match(value):
        raise ValueError(f"{what} {value!r} must be 1-64 letters, digits, '_', '.' or '-'")
    return value


@dataclass(frozen=True)
class Topics:
    hall: str
    root: str = "hall"

    def __post_init__(self) -> None:
        check_segment(self.hall, "hall id")
        check_segment(self.root, "topic root")

    @property
    def base(self) -> str:
        return f"{self.root}/{self.hall}"

    # --- terminal-owned topics -------------------------------------------------------
    def terminal(self, tid: str) -> str:
        return f"{self.base}/t/{check_segment(tid, 'terminal id')}"

    def request(self, tid: str, op: str) -> str:
        return f"{self.terminal(tid)}/req/{op}"

    @property
    def requests_filter(self) -> str:
        return f"{self.base}/t/+/req/+"

    def reply(self, tid: str) -> str:
        return f"{self.terminal(tid)}/reply"

    def state(self, tid: str) -> str:
        """Retained presence with birth/death sequence numbers; the Will sets ``lost``."""
        return f"{self.terminal(tid)}/state"

    @property
    def states_filter(self) -> str:
        return f"{self.base}/t/+/state"

    def device(self, tid: str, device: str) -> str:
        """Retained status of one device of a terminal."""
        return f"{self.terminal(tid)}/device/{check_segment(device, 'device name')}"

    @property
    def devices_filter(self) -> str:
        return f"{self.base}/t/+/device/+"

    def heartbeat(self, tid: str) -> str:
        return f"{self.terminal(tid)}/hb"

    @property
    def heartbeats_filter(self) -> str:
        return f"{self.base}/t/+/hb"

    def command(self, tid: str) -> str:
        """Controller → terminal commands (never retained; expiry + idempotency id)."""
        return f"{self.terminal(tid)}/cmd"

    def command_result(self, tid: str) -> str:
        return f"{self.terminal(tid)}/cmdres"

    @property
    def command_results_filter(self) -> str:
        return f"{self.base}/t/+/cmdres"

    def desired_config(self, tid: str) -> str:
        """Retained desired configuration with a version."""
        return f"{self.terminal(tid)}/config"

    # --- controller-owned topics -----------------------------------------------------
    def event(self, kind: str) -> str:
        """Published events: kind ``ticket.called`` → ``events/ticket/called``. Every type in
        ``hall_controller.service.PUBLIC_EVENTS`` (ticket, window, rating, case and day
        events); their data are documented in ``hall_contract/asyncapi.py``."""
        return f"{self.base}/events/{kind.replace('.', '/')}"

    @property
    def events_filter(self) -> str:
        return f"{self.base}/events/#"

    def queue_snapshot(self, queue: str) -> str:
        """Retained snapshot of one queue for displays."""
        return f"{self.base}/queue/{check_segment(queue, 'queue id')}"

    @property
    def queue_snapshots_filter(self) -> str:
        return f"{self.base}/queue/+"

    @property
    def calls(self) -> str:
        """Retained board of the latest calls (what the main hall screen shows)."""
        return f"{self.base}/calls"

    @property
    def windows(self) -> str:
        """Retained board of every window's state (what window displays show)."""
        return f"{self.base}/windows"

    @property
    def hall_status(self) -> str:
        """Retained: open now, next opening, config version, waiting count per queue."""
        return f"{self.base}/status"

    @property
    def controller_state(self) -> str:
        """Retained controller presence (online/offline, Will ``lost``) with a ``seq``."""
        return f"{self.base}/controller/state"

    @property
    def alerts(self) -> str:
        """For staff: help requests, 办不成事 reports, bad ratings, red time limits, device
        faults and lost terminals."""
        return f"{self.base}/alerts"
