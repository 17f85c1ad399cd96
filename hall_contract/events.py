"""The hall's events: one class per event type, what is stored and what may go out.

Every change of a hall is an event. The engine emits these objects, the store keeps
them whole (orjson of the dataclass), and the controller publishes each on
``events/{a}/{b}`` as ``{"seq", "type", "at", "data"}`` where ``data`` holds **only the
fields the class lists in** ``PUBLIC`` — an allow-list: a field added later stays in
the store until somebody decides it may be published. Classes with an empty ``PUBLIC``
are never published (help and mailing requests, bookings).

Free text a citizen or clerk typed travels only sealed (``sealed_*`` fields: Fernet
tokens made by the controller) and is never public.

Events written by older versions are brought to today's shape in one place:
:func:`upgrade`, called by :func:`load`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, Any, ClassVar, Literal

import orjson
from pydantic import ConfigDict, Field

from hall_contract.messages import (
    PAUSE_REASONS,
    RATING_REASONS,
    At,
    CaseState,
    PauseReason,
    PriorityName,
    RatingReason,
)

#: Sealed free text (Fernet token under the hall's key); never published, null if none.
Sealed = Annotated[str | None, Field(description="Sealed free text (Fernet), or null")]
_CFG = ConfigDict(extra="forbid")
#: The staff member who acted (their account id at the web server's staff console, or
#: what a window terminal says); null from terminals that do not say (the staff CLI).
Staff = Annotated[str | None, Field(description="The acting staff member's account id, or null")]


class Record:
    """A nested value of an event (a ticket or case as issued). ``PUBLIC`` lists the
    fields that may be published."""

    __slots__ = ()
    PUBLIC: ClassVar[tuple[str, ...]] = ()

    def public(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.PUBLIC}


class Event:
    """One event type. ``TYPE`` is its name (``ticket.called`` → topic
    ``events/ticket/called``), ``PUBLIC`` the fields published (empty: not published),
    ``QOS`` the publish QoS, ``NESTED`` the fields holding a :class:`Record`."""

    __slots__ = ()
    TYPE: ClassVar[str]
    PUBLIC: ClassVar[tuple[str, ...]] = ()
    QOS: ClassVar[int] = 0
    SUMMARY: ClassVar[str] = ""
    NESTED: ClassVar[dict[str, type[Record]]] = {}

    def public(self) -> dict[str, Any]:
        out = {}
        for k in self.PUBLIC:
            v = getattr(self, k)
            out[k] = v.public() if isinstance(v, Record) else v
        return out

    def dumps(self) -> bytes:
        """The whole event as stored (every field)."""
        return orjson.dumps(self)


# ----------------------------------------------------------------------------- records
@dataclass
class IssuedTicket(Record):
    """A ticket as issued. Public: all but its lookup token, citizen key and
    appointment code (a second check-in with the code answers with the token)."""

    __pydantic_config__: ClassVar = _CFG
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "id",
        "number",
        "day",
        "queue",
        "priority",
        "issued_at",
        "service",
        "bundle",
    )
    id: Annotated[str, Field(description="Stable id {day}-{number}: public, not a secret")]
    number: Annotated[str, Field(description="Letter + at least 3 digits, e.g. A001")]
    day: Annotated[str, Field(description="The service day it belongs to (ISO date)")]
    queue: str
    priority: PriorityName
    issued_at: At
    token: str
    service: str | None = None
    bundle: Annotated[str | None, Field(description="一件事 bundle id, when issued for one")] = None
    citizen_key: str | None = None
    appointment: str | None = None


@dataclass
class CaseRecord(Record):
    """A case (办件) as accepted. Public: all but the citizen key."""

    __pydantic_config__: ClassVar = _CFG
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "case_no",
        "ticket",
        "service",
        "accepted_at",
        "deadline",
        "promised_deadline",
        "state",
    )
    case_no: str
    ticket: Annotated[str, Field(description="The ticket id it was accepted from")]
    service: str | None
    citizen_key: str | None
    accepted_at: At
    deadline: Annotated[str, Field(description="Legal deadline, ISO date (working days)")]
    promised_deadline: Annotated[str, Field(description="Promised (承诺) deadline, ISO date")]
    state: CaseState = "accepted"


@dataclass
class AppointmentRecord(Record):
    __pydantic_config__: ClassVar = _CFG
    code: str
    service: str | None
    queue: str
    start: float
    end: float
    citizen_key: str | None = None
    #: The hall's service day of the slot, fixed when booked ("" in old events).
    day: str = ""


# ------------------------------------------------------------------------------ events
TicketId = Annotated[str, Field(description="The ticket's id, {day}-{number}: public")]
Number = Annotated[str, Field(description="Letter + at least 3 digits, as called and shown")]
WindowId = Annotated[str, Field(description="Window id from the hall config")]
QueueId = Annotated[str, Field(description="Queue id from the hall config")]


@dataclass
class TicketIssued(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "ticket.issued"
    SUMMARY = "A ticket was issued (取号 or 预约签到)."
    PUBLIC = ("ticket",)
    NESTED: ClassVar[dict[str, type[Record]]] = {"ticket": IssuedTicket}
    ticket: IssuedTicket
    counter: Annotated[str, Field(description="Numbering counter: {day}|{queue} or {queue}")]
    n: Annotated[int, Field(description="The counter's new value")]


@dataclass
class TicketCalled(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "ticket.called"
    SUMMARY = "叫号: a window called a ticket."
    PUBLIC = ("ticket", "number", "window", "queue", "pick", "staff")
    QOS = 1
    ticket: TicketId
    number: Number
    window: WindowId
    queue: QueueId
    pick: Annotated[
        Literal["priority", "normal", "starved"],
        Field(description="Why this ticket: the priority/normal interleave, or starvation"),
    ]
    staff: Staff = None


@dataclass
class TicketRecalled(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "ticket.recalled"
    SUMMARY = "重呼: the window called its ticket again."
    PUBLIC = ("ticket", "number", "window", "recall", "staff")
    QOS = 1
    ticket: TicketId
    number: Number
    window: WindowId
    recall: Annotated[int, Field(description="How many times this call was repeated, from 1")]
    staff: Staff = None


@dataclass
class TicketStarted(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "ticket.started"
    SUMMARY = "The called citizen arrived; service started."
    PUBLIC = ("ticket", "number", "window", "staff")
    ticket: TicketId
    number: Number
    window: WindowId
    staff: Staff = None


@dataclass
class TicketNoShow(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "ticket.no_show"
    SUMMARY = "过号: the called citizen did not come."
    PUBLIC = ("ticket", "number", "window", "requeue", "staff")
    ticket: TicketId
    number: Number
    window: WindowId
    requeue: Annotated[bool, Field(description="Back in the queue at once (else skipped)")]
    #: where it re-enters its line (None in events older than requeue_behind)
    waiting_since: float | None = None
    staff: Staff = None


@dataclass
class TicketRequeued(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "ticket.requeued"
    SUMMARY = "A skipped ticket is back in its queue."
    PUBLIC = ("ticket", "number", "window", "staff")
    ticket: TicketId
    number: Number
    window: WindowId
    waiting_since: float | None = None
    staff: Staff = None


@dataclass
class TicketTransferred(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "ticket.transferred"
    SUMMARY = "转号 to another queue or window."
    PUBLIC = (
        "ticket",
        "number",
        "from_window",
        "from_queue",
        "to_queue",
        "to_window",
        "priority",
        "staff",
    )
    ticket: TicketId
    number: Number
    from_window: WindowId
    from_queue: QueueId
    to_queue: QueueId
    to_window: Annotated[str | None, Field(description="Served only at this window, if set")]
    priority: Annotated[PriorityName, Field(description="Its class from now on")]
    sealed_note: Sealed = None
    staff: Staff = None


@dataclass
class TicketFinished(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "ticket.finished"
    SUMMARY = "办结: service finished; the rating opens."
    PUBLIC = ("ticket", "number", "window", "queue", "staff")
    ticket: TicketId
    number: Number
    window: WindowId
    queue: QueueId
    staff: Staff = None


@dataclass
class TicketExpired(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "ticket.expired"
    SUMMARY = "A skipped ticket passed its grace period."
    PUBLIC = ("ticket", "number", "queue")
    ticket: TicketId
    number: Number
    queue: QueueId


@dataclass
class TicketWarning(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "ticket.warning"
    SUMMARY = "限时 / 电子监察: a wait or a service passed its yellow or red limit."
    PUBLIC = ("ticket", "number", "queue", "kind", "level", "window")
    ticket: TicketId
    number: Number
    queue: QueueId
    kind: Annotated[Literal["wait", "service"], Field(description="Waiting, or being served")]
    level: Literal["yellow", "red"]
    window: Annotated[str | None, Field(description="For kind service only")] = None


@dataclass
class WindowPaused(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "window.paused"
    SUMMARY = "A window paused (no calls)."
    PUBLIC = ("window", "reason", "staff")
    window: WindowId
    reason: Annotated[PauseReason, Field(description="Why (its display shows it)")]
    sealed_note: Sealed = None
    staff: Staff = None


@dataclass
class WindowResumed(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "window.resumed"
    SUMMARY = "A paused window resumed."
    PUBLIC = ("window", "staff")
    window: WindowId
    staff: Staff = None


@dataclass
class WindowOpened(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "window.opened"
    SUMMARY = "Staff signed on at a window: it is open (its display leaves blank)."
    PUBLIC = ("window", "staff")
    window: WindowId
    staff: Staff = None


@dataclass
class WindowClosed(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "window.closed"
    SUMMARY = "Staff signed off at a window: it is closed (its display goes blank)."
    PUBLIC = ("window", "staff")
    window: WindowId
    staff: Staff = None


@dataclass
class RatingSubmitted(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "rating.submitted"
    SUMMARY = "好差评: a finished ticket was rated."
    PUBLIC = ("ticket", "number", "window", "service", "level", "reasons")
    ticket: TicketId
    number: Number
    window: str | None
    service: str | None
    level: Annotated[int, Field(ge=1, le=5)]
    reasons: Annotated[list[RatingReason], Field(description="Chosen reasons (levels 1-2)")]
    sealed_text: Sealed = None


@dataclass
class CaseAccepted(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "case.accepted"
    SUMMARY = "A case (办件) was accepted at a window."
    PUBLIC = ("case",)
    NESTED: ClassVar[dict[str, type[Record]]] = {"case": CaseRecord}
    case: CaseRecord
    counter: int


@dataclass
class CaseUpdated(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "case.updated"
    SUMMARY = "The back office moved a case on."
    PUBLIC = ("case_no", "state")
    case_no: str
    state: CaseState


@dataclass
class DayRolled(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "day.rolled"
    SUMMARY = (
        "The service day changed (at schedule.day_boundary); tickets of queues that do not "
        "persist overnight expired."
    )
    PUBLIC = ("day", "prev_day", "expired")
    day: Annotated[str, Field(description="The new service day (ISO date)")]
    prev_day: str
    expired: Annotated[list[str], Field(description="Ids of the tickets that expired")]
    #: appointment codes of past days, forgotten (never published: a code is a credential)
    dropped_appointments: list[str]


@dataclass
class AppointmentBooked(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "appointment.booked"
    NESTED: ClassVar[dict[str, type[Record]]] = {"appointment": AppointmentRecord}
    appointment: AppointmentRecord


@dataclass
class HelpRequested(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "help.requested"
    alert: str
    kind: Literal["helper", "unresolved"]
    terminal: str
    service: str | None
    sealed_note: Sealed = None


@dataclass
class MailingRequested(Event):
    __pydantic_config__: ClassVar = _CFG
    TYPE = "mailing.requested"
    ticket: str | None
    case_no: str | None
    sealed: str
    terminal: str


EVENT_CLASSES: tuple[type[Event], ...] = (
    TicketIssued,
    TicketCalled,
    TicketRecalled,
    TicketStarted,
    TicketNoShow,
    TicketRequeued,
    TicketTransferred,
    TicketFinished,
    TicketExpired,
    TicketWarning,
    WindowPaused,
    WindowResumed,
    WindowOpened,
    WindowClosed,
    RatingSubmitted,
    CaseAccepted,
    CaseUpdated,
    DayRolled,
    AppointmentBooked,
    HelpRequested,
    MailingRequested,
)
#: type name → class.
EVENT_TYPES: dict[str, type[Event]] = {c.TYPE: c for c in EVENT_CLASSES}
#: The event types published on MQTT.
PUBLISHED: dict[str, type[Event]] = {c.TYPE: c for c in EVENT_CLASSES if c.PUBLIC}
#: Published at QoS 1 (a display must not miss a call); the rest at QoS 0.
CALL_EVENTS = frozenset(t for t, c in PUBLISHED.items() if c.QOS == 1)


def envelope(seq: int, at: float, ev: Event) -> bytes:
    """The published form: ``{"seq", "type", "at", "data"}`` with the public fields only."""
    return orjson.dumps({"seq": seq, "type": ev.TYPE, "at": at, "data": ev.public()})


# ----------------------------------------------------------------- old events, one place
_FIELDS: dict[type[Any], frozenset[str]] = {
    c: frozenset(f.name for f in fields(c))  # type: ignore[arg-type]
    for c in (*EVENT_CLASSES, IssuedTicket, CaseRecord, AppointmentRecord)
}


def _only(cls: type[Any], d: dict[str, Any]) -> dict[str, Any]:
    known = _FIELDS[cls]
    return {k: v for k, v in d.items() if k in known}


def upgrade(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event's stored data in today's shape. Every change of an event's fields adds a
    rule here, so replaying a store of any age gives the state it always did:

    - before 0.2: ``ticket.issued`` stored the whole ticket (state, window, history, …):
      only the issued fields are kept; ``ticket.called`` named its pick ``class``;
      ``window.paused`` carried the clerk's free-text ``reason``, transfers a ``note``,
      ratings a ``text``, help requests a ``note`` in clear. Free text left in clear is
      dropped here (``hall_controller.upgrade`` seals it in the store first, with the
      hall's key); a free-text pause reason becomes ``other``.
    - ``no_show``/``requeued`` before requeue_behind had no ``waiting_since``;
      ``day.rolled`` before 0.1.5 had no ``dropped_appointments``; bookings no ``day``
      (the engine works it out when it applies them).
    """
    if type_ == "ticket.issued":
        t = data["ticket"]
        if "waiting_since" in t or "history" in t:
            data = {**data, "ticket": _only(IssuedTicket, t)}
    elif type_ == "ticket.called":
        if "class" in data:
            pick = data["class"] if data["class"] in ("priority", "normal") else "starved"
            data = {k: v for k, v in data.items() if k != "class"} | {"pick": pick}
    elif type_ == "window.paused":
        if data.get("reason") not in PAUSE_REASONS:
            data = {**data, "reason": "other"}
    elif type_ in ("ticket.transferred", "help.requested"):
        data = {k: v for k, v in data.items() if k != "note"}
    elif type_ == "rating.submitted":
        data = {k: v for k, v in data.items() if k != "text"}
        data["reasons"] = [r for r in data.get("reasons", ()) if r in RATING_REASONS]
    elif type_ == "day.rolled":
        data.setdefault("dropped_appointments", [])
    elif type_ == "case.accepted":
        data = {**data, "case": _only(CaseRecord, data["case"])}
    return data


def load(type_: str, data: dict[str, Any]) -> Event:
    """A stored event (its type and decoded data) as its class, upgraded if old."""
    cls = EVENT_TYPES.get(type_)
    if cls is None:
        raise ValueError(f"unknown event type {type_!r}: written by a newer hallkit?")
    data = upgrade(type_, data)
    for k, rec in cls.NESTED.items():
        data[k] = rec(**data[k])
    return cls(**data)
