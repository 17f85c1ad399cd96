"""The one place a citizen's personal data lives while they use the kiosk.

Everything the person gives (ID card identity, scanned codes, form input) and everything
the hall answers about them (ticket, case) is kept in one :class:`Session`. ``wipe()``
drops it all; the UI rebuilds every widget from the wiped state, so nothing of the last
person survives on screen either.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Protocol


class PersonIdentity(Protocol):
    """What the kiosk needs of an ID card read (``devices.idcard.Identity`` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def id_number(self) -> str: ...

    @property
    def birth_date(self) -> dt.date: ...


@dataclass
class CardIdentity:
    """The kiosk's own identity record (adapter output); ``str()`` is masked."""

    name: str
    id_number: str
    birth_date: dt.date
    address: str = ""
    sex: str = ""

    def age_on(self, day: dt.date) -> int:
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def __str__(self) -> str:
        from kiosk.privacy import mask_id, mask_name

        return f"Identity({mask_name(self.name)}, {mask_id(self.id_number)})"

    __repr__ = __str__

    def wipe(self) -> None:
        self.name = ""
        self.id_number = ""
        self.address = ""
        self.birth_date = dt.date(1900, 1, 1)


def age_of(identity: PersonIdentity, day: dt.date) -> int:
    b = identity.birth_date
    return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


@dataclass
class Session:
    identity: CardIdentity | None = None
    scans: list[str] = field(default_factory=list)
    form: dict[str, str] = field(default_factory=dict)
    #: results about this person (ticket info, case info, rating state)
    results: dict[str, Any] = field(default_factory=dict)
    #: the running flow (its state may reference the above)
    flow: Any = None
    started: float = field(default_factory=time.monotonic)

    @property
    def empty(self) -> bool:
        return (
            self.identity is None
            and not self.scans
            and not self.form
            and not self.results
            and self.flow is None
        )

    def set_identity(self, identity: CardIdentity) -> None:
        if self.identity is not None and self.identity is not identity:
            self.identity.wipe()
        self.identity = identity

    def add_scan(self, code: str) -> None:
        self.scans.append(code)

    def wipe(self) -> None:
        """Forget everything about the person (overwrite first, then drop)."""
        if self.identity is not None:
            self.identity.wipe()
        self.identity = None
        for i in range(len(self.scans)):
            self.scans[i] = ""
        self.scans.clear()
        self.results.clear()
        self.drop_task()

    def drop_task(self) -> None:
        """Forget the task under way and what was typed for it (overwritten first); the
        person's card and the session itself stay."""
        for k in list(self.form):
            self.form[k] = ""
        self.form.clear()
        wipe = getattr(self.flow, "wipe", None)
        if callable(wipe):
            wipe()
        self.flow = None
        self.started = time.monotonic()
