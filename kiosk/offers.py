"""Day and night: what the kiosk offers now, from the hall's schedule and the link state.

Pure function :func:`decide`; the controller's retained ``hall/{hall}/status`` wins over the
local schedule when it is fresh (the controller may close early), the schedule is the
fallback when the controller is unreachable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

from hall_contract.hallconfig import HallConfig, is_open, next_opening
from hall_contract.messages import HallStatus, HallStatusInfo

#: Home entries in display order.
ENTRIES = ("guide", "ticket", "checkin", "case", "rating", "help", "mailing")
#: Entries that need the controller right now (no outbox).
NEEDS_CONTROLLER = frozenset({"ticket", "checkin", "case", "mailing"})
#: Entries that need staffed windows (hall open).
NEEDS_OPEN_HALL = frozenset({"ticket", "checkin"})


@dataclass(frozen=True)
class Offer:
    open_now: bool
    next_opening: dt.datetime | None
    online: bool
    enabled: frozenset[str]
    #: entry → plain-words reason key ("closed", "offline") for disabled ones
    why_not: dict[str, str]

    def allows(self, entry: str) -> bool:
        return entry in self.enabled


def decide(
    hall: HallConfig,
    now: dt.datetime,
    online: bool,
    status: HallStatus | HallStatusInfo | None = None,
) -> Offer:
    """What the home screen offers at ``now``. ``status`` is the controller's retained hall
    status (or a ``hall.status`` reply); it counts only while the controller is reachable."""
    tz = hall.tz
    open_now = is_open(hall.schedule, now, tz)
    nxt = next_opening(hall.schedule, now, tz)
    if status is not None and online:
        open_now = status.open
        if status.next_opening is not None:
            with contextlib.suppress(ValueError):
                nxt = dt.datetime.fromisoformat(status.next_opening)
    enabled = set()
    why: dict[str, str] = {}
    for entry in ENTRIES:
        if entry in NEEDS_OPEN_HALL and not open_now:
            why[entry] = "closed"
        elif entry in NEEDS_CONTROLLER and not online:
            why[entry] = "offline"
        elif not open_now and not hall.schedule.self_service_24h and entry != "guide":
            why[entry] = "closed"
        else:
            enabled.add(entry)
    return Offer(open_now, nxt, online, frozenset(enabled), why)
