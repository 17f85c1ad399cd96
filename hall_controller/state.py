"""The hall's state in memory: what the engine decides on, bounded by the live day.

``HallState`` is plain data (dataclasses and dicts): a snapshot is orjson of it.
``Index`` holds what is derived from it for speed (waiting lines per queue and class in
line order, tickets sent to a window, …); it is never stored, only rebuilt.

Finished tickets of earlier days leave memory at the day boundary (they go to the
store's ticket archive, where a late rating or a lookup finds them), and so do the
counters of earlier days: memory, snapshots and restarts grow with the day's work, not
with the hall's history.

``TRANSITIONS`` is the ticket-state machine: which action may move a ticket from which
states to which, and what staff are told when it may not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from hall_contract.messages import Level, TicketState, TicketStep

WAITING = TicketState.WAITING.value
CALLED = TicketState.CALLED.value
SERVING = TicketState.SERVING.value
SKIPPED = TicketState.SKIPPED.value
FINISHED = TicketState.FINISHED.value
EXPIRED = TicketState.EXPIRED.value
ACTIVE = frozenset({WAITING, CALLED, SERVING, SKIPPED})
AT_WINDOW = frozenset({CALLED, SERVING})
NONE = Level.NONE.value


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    refusal: str  #: to staff, Chinese; ``{n}`` is the ticket's number
    refusal_en: str


#: The ticket-state machine. The engine checks a ticket against it before it decides
#: (``Engine._require``); applying the event then moves the ticket to ``target``.
#: ``issue`` creates a ticket WAITING; the day boundary expires any active ticket of a
#: queue that does not persist overnight.
TRANSITIONS: dict[str, Transition] = {
    "call": Transition(frozenset({WAITING}), CALLED, "{n} 不在等候中", "{n} is not waiting"),
    "recall": Transition(frozenset({CALLED}), CALLED, "{n} 不在呼叫中", "{n} is not being called"),
    "start": Transition(frozenset({CALLED}), SERVING, "{n} 不在呼叫中", "{n} is not being called"),
    "no_show": Transition(
        frozenset({CALLED}), SKIPPED, "{n} 已在办理，不能过号", "{n} is being served"
    ),
    "requeue": Transition(frozenset({SKIPPED}), WAITING, "{n} 不是过号状态", "{n} was not skipped"),
    "transfer": Transition(AT_WINDOW, WAITING, "{n} 不在本窗口办理", "{n} is not at this window"),
    "finish": Transition(AT_WINDOW, FINISHED, "{n} 不在本窗口办理", "{n} is not at this window"),
    "expire": Transition(frozenset({SKIPPED}), EXPIRED, "{n} 不是过号状态", "{n} was not skipped"),
    "day_end": Transition(ACTIVE, EXPIRED, "{n} 已结束", "{n} has ended"),
}


@dataclass
class Ticket:
    id: str
    number: str
    day: str
    queue: str
    priority: str
    issued_at: float
    token: str
    waiting_since: float
    service: str | None = None
    bundle: str | None = None
    citizen_key: str | None = None
    appointment: str | None = None
    state: str = WAITING
    window: str | None = None
    target_window: str | None = None
    called_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    skipped_at: float | None = None
    recalls: int = 0
    rating_open: bool = False
    rated: bool = False
    wait_level: str = NONE
    service_level: str = NONE
    #: Steps; a transfer's ``note`` is kept sealed (opened only for window replies).
    history: list[TicketStep] = field(default_factory=list)

    @property
    def is_priority(self) -> bool:
        return self.priority != "normal"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ticket:
        t = cls(**d)
        t.history = [TicketStep(**h) for h in d["history"]]
        return t


@dataclass
class WindowState:
    id: str
    paused: bool = False
    pause_reason: str | None = None  #: a PauseReason code
    current: str | None = None  #: ticket id
    pri_streak: int = 0
    norm_streak: int = 0
    served: int = 0
    #: staff signed on (window.sign_on); a window nobody signed on at is closed
    open: bool = False
    staff: str | None = None


@dataclass
class Appointment:
    code: str
    service: str | None
    queue: str
    start: float
    end: float
    citizen_key: str | None = None
    ticket: str | None = None
    #: The hall's service day of the slot, fixed when booked.
    day: str = ""


@dataclass
class HallState:
    day: str = ""
    #: Tickets of the live day, and any still active (a queue kept overnight).
    tickets: dict[str, Ticket] = field(default_factory=dict)
    by_token: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)  # "{day}|{queue}" or "{queue}"
    issued_service: dict[str, int] = field(default_factory=dict)  # "{day}|{service}" → n
    issued_queue: dict[str, int] = field(default_factory=dict)  # "{day}|{queue}" → n
    windows: dict[str, WindowState] = field(default_factory=dict)
    avg_service_s: dict[str, float] = field(default_factory=dict)
    case_counter: int = 0
    appointments: dict[str, Appointment] = field(default_factory=dict)
    ratings: int = 0
    alerts: int = 0

    # ------------------------------------------------------------ snapshots
    def header(self) -> dict[str, Any]:
        """Everything but the tickets (which a snapshot writes in parts)."""
        return {
            "day": self.day,
            "counters": self.counters,
            "issued_service": self.issued_service,
            "issued_queue": self.issued_queue,
            "windows": list(self.windows.values()),
            "avg_service_s": self.avg_service_s,
            "case_counter": self.case_counter,
            "appointments": list(self.appointments.values()),
            "ratings": self.ratings,
            "alerts": self.alerts,
        }

    def dumps(self) -> bytes:
        """The whole state as one JSON document (tests; snapshots use parts)."""
        return orjson.dumps({**self.header(), "tickets": list(self.tickets.values())})

    @classmethod
    def from_parts(cls, header: dict[str, Any], tickets: list[dict[str, Any]]) -> HallState:
        s = cls(
            day=header["day"],
            counters=header["counters"],
            issued_service=header["issued_service"],
            issued_queue=header["issued_queue"],
            avg_service_s=header["avg_service_s"],
            case_counter=header["case_counter"],
            ratings=header["ratings"],
            alerts=header["alerts"],
        )
        s.windows = {w["id"]: WindowState(**w) for w in header["windows"]}
        s.appointments = {a["code"]: Appointment(**a) for a in header["appointments"]}
        for d in tickets:
            t = Ticket.from_dict(d)
            s.tickets[t.id] = t
            s.by_token[t.token] = t.id
        return s

    @classmethod
    def loads(cls, body: bytes) -> HallState:
        d = orjson.loads(body)
        return cls.from_parts(d, d["tickets"])


def line_key(t: Ticket) -> tuple[float, float, int, str, str]:
    """A ticket's place in its line: waiting since, then issue time and number (A999
    before A1000), so tickets of one batch (the same instant) keep one order live, after
    a replay and after a snapshot."""
    return (t.waiting_since, t.issued_at, len(t.number), t.number, t.id)


class Index:
    """Derived from ``HallState``, never stored. Each queue's waiting dicts are kept in
    line order, so the head of a line is its first entry: choosing the next ticket looks
    at one ticket per queue, not at every waiting one."""

    __slots__ = (
        "active",
        "appts_by_day",
        "by_number",
        "skipped",
        "targeted",
        "wait_norm",
        "wait_pri",
    )

    def __init__(self) -> None:
        self.active: dict[str, Ticket] = {}
        self.wait_pri: dict[str, dict[str, Ticket]] = {}
        self.wait_norm: dict[str, dict[str, Ticket]] = {}
        self.targeted: dict[str, dict[str, Ticket]] = {}
        self.skipped: dict[str, Ticket] = {}
        #: number → ids of the tickets in memory with it (staff name tickets by number)
        self.by_number: dict[str, list[str]] = {}
        #: Appointments by service day (the caps look at today's only).
        self.appts_by_day: dict[str, dict[str, Appointment]] = {}

    @classmethod
    def of(cls, s: HallState) -> Index:
        ix = cls()
        for t in s.tickets.values():
            ix.add(t)
        for a in s.appointments.values():
            ix.appts_by_day.setdefault(a.day, {})[a.code] = a
        return ix

    def add(self, t: Ticket) -> None:
        self.by_number.setdefault(t.number, []).append(t.id)
        self.update(t)

    def drop(self, t: Ticket) -> None:
        ids = self.by_number.get(t.number)
        if ids is not None and t.id in ids:
            ids.remove(t.id)
            if not ids:
                del self.by_number[t.number]
        self._unwait(t)
        self.active.pop(t.id, None)
        self.skipped.pop(t.id, None)

    def _unwait(self, t: Ticket) -> None:
        for idx in (self.wait_pri, self.wait_norm, self.targeted):
            for d in idx.values():
                d.pop(t.id, None)

    def update(self, t: Ticket) -> None:
        """Keep the indexes in step with one ticket's state and queue."""
        self._unwait(t)
        st = t.state
        if st == WAITING:
            idx = self.wait_pri if t.is_priority else self.wait_norm
            d = idx.setdefault(t.queue, {})
            last = next(reversed(d.values()), None)
            d[t.id] = t
            if last is not None and line_key(last) > line_key(t):
                # keep the line in order (a re-queued no-show comes back behind a few)
                idx[t.queue] = dict(sorted(d.items(), key=lambda kv: line_key(kv[1])))
            if t.target_window is not None:
                self.targeted.setdefault(t.target_window, {})[t.id] = t
        if st in ACTIVE:
            self.active[t.id] = t
        else:
            self.active.pop(t.id, None)
        if st == SKIPPED:
            self.skipped[t.id] = t
        else:
            self.skipped.pop(t.id, None)

    def waiting_count(self, queue: str) -> int:
        return len(self.wait_pri.get(queue, ())) + len(self.wait_norm.get(queue, ()))

    def waiting_in(self, queue: str) -> list[Ticket]:
        return [*self.wait_pri.get(queue, {}).values(), *self.wait_norm.get(queue, {}).values()]
