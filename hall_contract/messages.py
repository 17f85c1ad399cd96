"""The hall's MQTT contract: every payload, typed (JSON, UTF-8).

One definition per message, used by the producer, the consumer, the documentation
(``docs/asyncapi.yaml`` is generated from this module and :mod:`hall_contract.events`)
and the tests:

- **Requests** (terminal → controller) are pydantic models, validated strictly where
  they come in: an unknown field is an error naming it, nothing is coerced (``"5"`` and
  ``true`` are not a rating level), numbers are finite, times are within 2000–2100.
- **Results** of every operation, the reply envelope, and everything else the controller
  publishes (call board, queue snapshots, hall status, its presence, alerts, commands)
  are plain dataclasses: cheap to build on the hot path and serialised by orjson (which
  reads a plain dataclass's ``__dict__`` several times faster than slots). A
  consumer validates them with a pydantic ``TypeAdapter`` (:func:`adapter`) at its
  boundary.
- **Terminal state** (presence, device reports, heartbeats, command results) are pydantic
  models validated by the controller; unknown extra fields are ignored there, so an older
  controller accepts a newer terminal's reports.
- :data:`OPERATIONS` is the one table of operations: request model, result type, the
  roles that may call it, and what it does. The controller's role checks and the docs'
  role table both come from it.

Personal data: no payload carries a name, ID number, address or photo, except
``MailingRequest`` (the address is the point of it; the controller keeps it sealed).
Identity travels as ``citizen_key`` (:data:`CitizenKey`). Free text a citizen or a clerk
typed (a rating's comment, a help note, a transfer note, a pause note) is sealed by the
controller before it is stored and is never published.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

# --------------------------------------------------------------------------- basic types
#: A request id: ASCII letters, digits and ``_ . : -``, 1-64 characters. (Not ``\w``,
#: which means "any Unicode letter" in Python and in pydantic's regex engine.)
RequestId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$"),
    Field(description="1-64 ASCII characters: letters, digits, `_`, `.`, `:`, `-`"),
]
#: A hall-wide id (queue, window, service, ticket token, case number): ASCII letters,
#: digits and ``_ . -``, 1-64 characters. The same pattern as topic segments.
Id = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$"),
    Field(description="1-64 ASCII characters: letters, digits, `_`, `.`, `-`"),
]
CITIZEN_KEY_DOC = (
    "A citizen's pseudonymous key, never the ID number itself: the first 32 hex digits "
    "(lower case) of HMAC-SHA256(key = the hall's `citizen_key_secret` as UTF-8, message = "
    "the ID number with surrounding spaces removed and its letters upper-cased, as UTF-8). "
    "For a code scanned instead of an ID card, the message is `code:` + the code. "
    "Anything else (an ID number, a name) is refused."
)
CitizenKey = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{32}$"),
    Field(description=CITIZEN_KEY_DOC),
]
#: Epoch seconds within 2000-01-01 .. 2100-01-01: anything else is a broken clock or input.
EPOCH_MIN, EPOCH_MAX = 946_684_800.0, 4_102_444_800.0
Epoch = Annotated[
    float,
    Field(
        ge=EPOCH_MIN,
        le=EPOCH_MAX,
        description="Epoch seconds (UTC), between 2000-01-01 and 2100-01-01",
    ),
]
#: Free text a citizen or a clerk typed: sealed by the controller, never published.
FreeText = Annotated[
    str,
    StringConstraints(max_length=500),
    Field(description="Free text (≤ 500 characters); sealed at rest, never published"),
]


#: Times the controller sends: its hall time.
At = Annotated[float, Field(description="Epoch seconds (UTC), the controller's hall time")]
#: Times a terminal sends: its own clock.
TerminalAt = Annotated[float, Field(description="Epoch seconds (UTC), the terminal's clock")]
#: A ticket as window staff name it.
StaffTicketRef = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$"),
    Field(
        description="The ticket's number as staff say it (A001, a1), its id or its lookup "
        "token; when left out, the window's current ticket"
    ),
]


def _exactly_one(*names: str) -> dict[str, Any]:
    """The JSON Schema of "exactly one of these fields is given" (the others absent or
    null), for the document: pydantic checks it in a model validator."""
    return {
        "oneOf": [
            {
                "required": [n],
                "properties": {
                    n: {"type": "string"},
                    **{o: {"type": "null"} for o in names if o != n},
                },
            }
            for n in names
        ]
    }


def _clip(limit: int) -> BeforeValidator:
    """Cut an over-long string to ``limit`` characters instead of refusing the message:
    a device report with a 1.5 MB reason still raises its alert, with the first words."""

    def clip(v: object) -> object:
        return v[:limit] if isinstance(v, str) else v

    return BeforeValidator(clip)


class PriorityClass(enum.StrEnum):
    NORMAL = "normal"
    ELDERLY = "elderly"
    DISABLED = "disabled"
    GREEN = "green"  # 绿色通道: 军人, 消防救援, 医护
    APPOINTMENT = "appointment"
    TRANSFER = "transfer"  # 转号: raised priority after a transfer


class TicketState(enum.StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    SKIPPED = "skipped"  # no-show, may be re-queued within the grace period
    FINISHED = "finished"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # left at the day boundary, or a no-show past its grace


class Level(enum.StrEnum):
    NONE = "none"
    YELLOW = "yellow"
    RED = "red"


class ErrorCode(enum.StrEnum):
    BAD_REQUEST = "bad_request"
    UNKNOWN_OP = "unknown_op"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CLOSED = "closed"  # outside opening hours
    CAP_REACHED = "cap_reached"
    CONFLICT = "conflict"  # e.g. already rated, recall limit reached
    TOO_EARLY = "too_early"
    TOO_LATE = "too_late"
    EMPTY = "empty"  # nothing to call
    INTERNAL = "internal"


PriorityName = Literal["normal", "elderly", "disabled", "green", "appointment", "transfer"]
StateName = Literal["waiting", "called", "serving", "skipped", "finished", "cancelled", "expired"]
LevelName = Literal["none", "yellow", "red"]
CaseState = Literal["accepted", "in_review", "done", "delivered", "rejected"]
#: Who a terminal is (hall config ``terminals[].role``). ``tool`` and ``controller`` are
#: the hall's own programs.
#: ``web`` is the hall's web server (hall_web): it acts for the window staff who signed in
#: at its staff console (naming the window and the staff member in each request), for the
#: rating pads paired with it, and for the citizens' phone pages.
Role = Literal["kiosk", "window", "display", "rater", "admin", "web"]
ROLES: tuple[Role, ...] = ("kiosk", "window", "display", "rater", "admin", "web")

#: 好差评 reasons a citizen may choose for a bad rating (levels 1-2): code → (中文, English).
RATING_REASONS: dict[str, tuple[str, str]] = {
    "wait_long": ("等候时间长", "waited too long"),
    "attitude": ("服务态度不好", "unfriendly service"),
    "unclear_materials": ("材料要求不清楚", "unclear list of materials"),
    "come_again": ("需要再跑一次", "has to come again"),
    "system_fault": ("系统故障", "system fault"),
    "other": ("其他", "other"),
}
RatingReason = Literal[
    "wait_long", "attitude", "unclear_materials", "come_again", "system_fault", "other"
]
#: Why a window is paused (shown on its display): code → (中文, English).
PAUSE_REASONS: dict[str, tuple[str, str]] = {
    "break": ("暂停服务", "short break"),
    "lunch": ("午间休息", "lunch break"),
    "meeting": ("会议", "meeting"),
    "training": ("培训", "training"),
    "backoffice": ("后台处理", "back-office work"),
    "system": ("系统故障", "system fault"),
    "other": ("暂停服务", "paused"),
}
PauseReason = Literal["break", "lunch", "meeting", "training", "backoffice", "system", "other"]
IssuablePriority = Literal["normal", "elderly", "disabled", "green"]
PriorityReason = Literal["id_card_age", "declared", "staff"]


# ---------------------------------------------------------------------------- requests
class Request(BaseModel):
    """Every request carries an id; a retried request with the same id gets the same
    reply and never does the work twice. Strict: unknown fields, coerced types,
    non-finite numbers are refused with ``bad_request`` naming the field."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    id: RequestId


class TicketIssue(Request):
    """Exactly one of ``service``, ``bundle`` or ``queue``: the ticket's queue is the
    service's (or the bundle's) queue, or the one named. Two of them are refused
    (``bad_request``), not ranked."""

    model_config = ConfigDict(json_schema_extra=_exactly_one("service", "bundle", "queue"))

    service: Id | None = Field(None, description="A service id (事项) of the catalogue")
    bundle: Id | None = Field(None, description="A 一件事 bundle id")
    queue: Id | None = Field(None, description="A queue id, when no service is chosen")
    priority: IssuablePriority = Field(
        "normal",
        description="elderly, disabled or green (绿色通道) only when established at the kiosk; "
        "appointment priority comes from appointment.checkin, transfer from a window",
    )
    priority_reason: PriorityReason | None = Field(
        None,
        description="How the claim was established: id_card_age (the ID card shows the "
        "age), declared (the citizen said so; checked at the window), staff",
    )
    citizen_key: CitizenKey | None = None
    lang: Literal["zh", "en", "ug"] = Field(
        "zh", description="The language the citizen chose (ug: Uyghur)"
    )

    @model_validator(mode="after")
    def _one_target(self) -> TicketIssue:
        given = [k for k in ("service", "bundle", "queue") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of service, bundle or queue"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class AppointmentCheckin(Request):
    """Exactly one of ``code`` (the appointment QR) or ``citizen_key`` (the ID card)."""

    model_config = ConfigDict(json_schema_extra=_exactly_one("code", "citizen_key"))

    code: Id | None = Field(None, description="The appointment code in the citizen's QR")
    citizen_key: CitizenKey | None = None

    @model_validator(mode="after")
    def _one(self) -> AppointmentCheckin:
        if (self.code is None) == (self.citizen_key is None):
            raise ValueError("give exactly one of code or citizen_key")
        return self


class TicketLookup(Request):
    ticket: Id = Field(description="The ticket's lookup token (printed in its QR code)")


class CaseLookup(Request):
    """Exactly one of ``case_no`` or ``citizen_key`` (a case carries the citizen key of
    the ticket it was accepted from)."""

    model_config = ConfigDict(json_schema_extra=_exactly_one("case_no", "citizen_key"))

    case_no: Id | None = None
    citizen_key: CitizenKey | None = None

    @model_validator(mode="after")
    def _one(self) -> CaseLookup:
        if (self.case_no is None) == (self.citizen_key is None):
            raise ValueError("give exactly one of case_no or citizen_key")
        return self


class RatingSubmit(Request):
    """One rating per finished ticket, within 7 days after the day it was finished.
    ``reasons`` and ``text`` only with levels 1-2."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"level": {"minimum": 3}}},
            "then": {"properties": {"reasons": {"maxItems": 0}, "text": {"type": "null"}}},
        }
    )
    ticket: Id = Field(
        description="The ticket's lookup token; the rating device at the serving window "
        "may give the ticket id instead"
    )
    level: Annotated[int, Field(ge=1, le=5)] = Field(
        description="5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意"
    )
    reasons: list[RatingReason] = Field(
        default_factory=list, max_length=6, description="Only for levels 1-2"
    )
    text: FreeText | None = Field(None, description="Only for levels 1-2; sealed, never published")
    window: Id | None = Field(
        None,
        description="Only from the web server's rating pads (role web): the pad's window, "
        "whose ticket it rates by id",
    )


class HelpRequest(Request):
    kind: Literal["helper", "unresolved"] = Field(
        "helper", description="helper: 帮办代办; unresolved: 办不成事反映"
    )
    service: Id | None = None
    note: FreeText | None = None


class MailingRequest(Request):
    """Exactly one of ``ticket`` (its lookup token) or ``case_no``, which must exist."""

    model_config = ConfigDict(json_schema_extra=_exactly_one("ticket", "case_no"))

    ticket: Id | None = Field(None, description="The ticket's lookup token")
    case_no: Id | None = None
    recipient: Annotated[str, StringConstraints(min_length=1, max_length=30)]
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+\- ]{5,20}$")]
    address: Annotated[str, StringConstraints(min_length=4, max_length=200)]

    @model_validator(mode="after")
    def _one(self) -> MailingRequest:
        if (self.ticket is None) == (self.case_no is None):
            raise ValueError("give exactly one of ticket or case_no")
        return self


class HallStatusRequest(Request):
    pass


class AdminBookAppointment(Request):
    """An appointment booked elsewhere (online, by phone) becomes known to the hall.
    ``end`` must be after ``start``; booking a code again moves it."""

    code: Id = Field(description="The appointment code in the citizen's QR code")
    service: Id
    start: Epoch = Field(description="Slot start, epoch seconds")
    end: Epoch = Field(description="Slot end, epoch seconds, after start")
    citizen_key: CitizenKey | None = None

    @model_validator(mode="after")
    def _ordered(self) -> AdminBookAppointment:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class AdminUpdateCase(Request):
    case_no: Id
    state: CaseState


class WindowRequest(Request):
    """Every window operation. A window terminal acts for its own window and leaves
    ``window`` out; the web server (role ``web``) names the window and the staff member
    it acts for in every request."""

    window: Id | None = Field(
        None,
        description="The window acted for: required from the web server (role web); a "
        "window terminal may only name its own",
    )
    staff: Id | None = Field(
        None,
        description="The staff member acting (their account id): recorded in the events, "
        "for reports per person; required from the web server (role web)",
    )


class WindowTicketRequest(WindowRequest):
    ticket: StaffTicketRef | None = None


class WindowRequeue(WindowRequest):
    ticket: StaffTicketRef


class WindowTransfer(WindowRequest):
    """Exactly one of ``to_queue`` or ``to_window`` (a window: into the ticket's queue,
    served only there). A normal ticket becomes priority ``transfer`` (when
    ``priority.transfer_is_priority``); a ticket of another priority class keeps it."""

    model_config = ConfigDict(json_schema_extra=_exactly_one("to_queue", "to_window"))
    ticket: StaffTicketRef | None = None
    to_queue: Id | None = None
    to_window: Id | None = None
    note: FreeText | None = Field(None, description="For the next window's staff; sealed")

    @model_validator(mode="after")
    def _one(self) -> WindowTransfer:
        if (self.to_queue is None) == (self.to_window is None):
            raise ValueError("give exactly one of to_queue or to_window")
        return self


class WindowNoShow(WindowRequest):
    ticket: StaffTicketRef | None = None
    requeue: bool = Field(False, description="Put it back at once instead of the grace list")


class WindowFinish(WindowRequest):
    ticket: StaffTicketRef | None = None
    accept_case: bool = Field(False, description="Open a case (办件) with its deadlines")


class WindowPause(WindowRequest):
    reason: PauseReason = Field(description="Shown on the window's display")
    note: FreeText | None = Field(None, description="For the hall manager; sealed")


# ------------------------------------------------------------------------------ results
#: Results and everything else the controller publishes: plain dataclasses,
#: serialised by orjson. ``OUT`` is their pydantic config when a consumer validates them:
#: strict, no unknown fields.
OUT = ConfigDict(extra="forbid", strict=False)

StepName = Literal[
    "issued",
    "called",
    "recalled",
    "started",
    "no_show",
    "requeued",
    "transferred",
    "finished",
    "expired",
    "rated",
]


@dataclass
class TicketStep:
    """One step of a ticket's history."""

    __pydantic_config__: ClassVar = OUT
    at: At
    what: StepName
    window: str | None = None
    queue: str | None = None
    #: a transfer's note, in window replies only (unsealed for the staff); else null
    note: str | None = None
    #: the staff member who did it (window steps from the staff console), else null
    staff: str | None = None


@dataclass
class TicketInfo:
    """A ticket as a terminal sees it (the result of ticket.issue, appointment.checkin,
    ticket.lookup and the window operations)."""

    __pydantic_config__: ClassVar = OUT
    ticket_id: Annotated[str, Field(description="Stable id {day}-{number}: public")]
    number: Annotated[
        str, Field(description="Letter + at least 3 digits, e.g. A001 (past 999: A1000)")
    ]
    queue: str
    queue_name: str
    service: str | None
    bundle: str | None
    priority: PriorityName
    state: StateName
    issued_at: At
    people_ahead: Annotated[int, Field(description="Waiting tickets to be called before it")]
    expected_wait_min: int
    window: Annotated[str | None, Field(description="The window calling or serving it")]
    window_hint: Annotated[
        str | None, Field(description="Where to go: the window's name, or the service's hint")
    ]
    rating_open: Annotated[bool, Field(description="Finished and not rated yet: rate it now")]
    token: Annotated[
        str | None,
        Field(
            description="The lookup token for the status QR code: only to the terminal that "
            "was issued the ticket or presented the token; null in every other reply"
        ),
    ]
    history: list[TicketStep]


@dataclass
class CaseInfo:
    """A case (办件) with its deadlines."""

    __pydantic_config__: ClassVar = OUT
    case_no: str
    service: str | None
    service_name: str | None
    state: CaseState
    accepted_at: At
    deadline: Annotated[str, Field(description="Legal deadline, ISO date (working days)")]
    promised_deadline: Annotated[str, Field(description="Promised (承诺) deadline, ISO date")]
    level: Annotated[
        LevelName, Field(description="yellow within 2 days of the promise, red past it")
    ]


@dataclass
class CaseList:
    __pydantic_config__: ClassVar = OUT
    cases: Annotated[list[CaseInfo], Field(description="Newest first, at most 10")]


@dataclass
class TicketFinished:
    __pydantic_config__: ClassVar = OUT
    ticket: TicketInfo
    case: Annotated[CaseInfo | None, Field(description="With accept_case: the new case")]


@dataclass
class RatingAccepted:
    __pydantic_config__: ClassVar = OUT
    number: str
    level: int


@dataclass
class HelpAccepted:
    __pydantic_config__: ClassVar = OUT
    alert: Annotated[str, Field(description="The staff alert raised")]
    location: Annotated[str, Field(description="Where staff will come to")]


@dataclass
class MailingAccepted:
    __pydantic_config__: ClassVar = OUT
    accepted: bool


@dataclass
class AppointmentBooked:
    __pydantic_config__: ClassVar = OUT
    code: str
    service: str
    queue: str
    start: At
    end: At
    day: Annotated[str, Field(description="The hall's service day of the slot (ISO date)")]


@dataclass
class WindowStatus:
    __pydantic_config__: ClassVar = OUT
    window: str
    name: str
    paused: bool
    pause_reason: PauseReason | None
    current: Annotated[str | None, Field(description="Number of its current ticket")]
    current_state: StateName | None
    served: Annotated[int, Field(description="Tickets finished here (since it was set up)")]
    waiting: Annotated[int, Field(description="Tickets this window may call now")]
    open: Annotated[bool, Field(description="Staff signed on (window.sign_on) and not off")]
    staff: Annotated[str | None, Field(description="Who signed on, while it is open")]


@dataclass
class QueueSnapshot:
    """One queue's state for displays."""

    __pydantic_config__: ClassVar = OUT
    queue: str
    name: str
    letter: str
    waiting: int
    serving: Annotated[
        list[str], Field(description="Numbers being called or served at windows, oldest call first")
    ]
    last_called: str | None
    expected_wait_min: int
    open: bool
    at: At


@dataclass
class HallStatusInfo:
    """The result of ``hall.status``: every queue's full snapshot."""

    __pydantic_config__: ClassVar = OUT
    open: bool
    next_opening: Annotated[str | None, Field(description="ISO 8601 with offset, or null")]
    config_version: int
    queues: list[QueueSnapshot]


# ------------------------------------------------------------------------------ replies
@dataclass
class ErrorInfo:
    __pydantic_config__: ClassVar = OUT
    code: Annotated[
        Literal[
            "bad_request",
            "unknown_op",
            "not_found",
            "forbidden",
            "closed",
            "cap_reached",
            "conflict",
            "too_early",
            "too_late",
            "empty",
            "internal",
        ],
        Field(description="What kind of refusal"),
    ]
    message: Annotated[str, Field(description="Plain words in Chinese, for the citizen or staff")]
    message_en: Annotated[str, Field(description="The same in English")]
    field: Annotated[str | None, Field(description="The request field at fault, if one is")]


R = TypeVar("R")


@dataclass
class Reply(Generic[R]):
    """``ok`` with ``result`` (the operation's result type), or ``error``. ``id`` is the
    request's; a payload without a usable id still gets its error reply, with ``id`` ""."""

    __pydantic_config__: ClassVar = OUT
    id: str
    ok: bool
    result: R | None = None
    error: ErrorInfo | None = None

    def dumps(self) -> bytes:
        return orjson.dumps(self)


def error_reply(
    rid: str, code: ErrorCode, message: str, message_en: str, field: str | None = None
) -> Reply[Any]:
    return Reply(id=rid, ok=False, error=ErrorInfo(code.value, message, message_en, field))


# --------------------------------------------------------------------- the operations
@dataclass(frozen=True)
class Operation:
    name: str
    request: type[Request]
    result: type[Any]
    roles: frozenset[Role]
    summary: str
    result_doc: str


_ALL: frozenset[Role] = frozenset(ROLES)


def _op(
    name: str, request: type[Request], result: type[Any], roles: str, summary: str, res: str
) -> tuple[str, Operation]:
    rs = frozenset(roles.split()) if roles != "*" else _ALL
    assert rs <= _ALL, rs
    return name, Operation(name, request, result, rs, summary, res)  # type: ignore[arg-type]


#: Every operation: ``t/{terminal}/req/{op}`` → result, and the roles that may call it.
#: The controller refuses anyone else with ``forbidden``; docs/mqtt.md shows this table.
OPERATIONS: dict[str, Operation] = dict(
    [
        _op(
            "ticket.issue",
            TicketIssue,
            TicketInfo,
            "kiosk",
            "取号: a queue ticket for a service, a bundle or a queue.",
            "The ticket, with `token` for its status QR code (to this terminal only).",
        ),
        _op(
            "appointment.checkin",
            AppointmentCheckin,
            TicketInfo,
            "kiosk",
            "预约签到 by appointment code (QR) or citizen_key (ID card).",
            "The ticket, with `token`; priority `appointment` inside the check-in window; "
            "`too_early` / `too_late` outside it. Checking in twice gives the same ticket.",
        ),
        _op(
            "ticket.lookup",
            TicketLookup,
            TicketInfo,
            "kiosk web",
            "Look up a ticket by its lookup token (the public ticket id is not accepted).",
            "The ticket, with `token`; `not_found` for anything but a valid token.",
        ),
        _op(
            "case.lookup",
            CaseLookup,
            CaseList,
            "kiosk admin",
            "办件查询 by case number or citizen_key.",
            "The cases found, newest first (at most 10); `not_found` when none.",
        ),
        _op(
            "rating.submit",
            RatingSubmit,
            RatingAccepted,
            "kiosk rater web",
            "好差评: one rating per finished ticket, levels 1-5; reasons and text only for 1-2.",
            "`forbidden` unless given the ticket's lookup token (or sent by the rating device "
            "at the serving window, by ticket id); `conflict` when rated already or not "
            "finished; `too_late` more than 7 days after the day it was finished.",
        ),
        _op(
            "help.request",
            HelpRequest,
            HelpAccepted,
            "kiosk rater",
            "帮办代办 (helper) or 办不成事 (unresolved): staff are alerted at once with the "
            "terminal's location. The note is sealed.",
            "The alert's id and the location staff will come to (the terminal's location in "
            "the hall config, else its id).",
        ),
        _op(
            "mailing.request",
            MailingRequest,
            MailingAccepted,
            "kiosk",
            "两免费: free mailing of the result of a ticket (by its lookup token) or a case. "
            "The address is sealed in the controller's store and never published.",
            "`accepted`; `not_found` when the ticket or case does not exist.",
        ),
        _op(
            "hall.status",
            HallStatusRequest,
            HallStatusInfo,
            "*",
            "Open now, next opening, and every queue's snapshot.",
            "The hall's status with each queue's full snapshot.",
        ),
        _op(
            "admin.book_appointment",
            AdminBookAppointment,
            AppointmentBooked,
            "admin",
            "Make an appointment booked online or by phone known to the hall (booking the "
            "same code again moves it).",
            "The appointment, with its queue and service day.",
        ),
        _op(
            "admin.update_case",
            AdminUpdateCase,
            CaseInfo,
            "admin",
            "The back office moves a case on (in_review, done, delivered, rejected); any "
            "state may follow any other: the back office decides.",
            "The case, with its level.",
        ),
        _op(
            "window.call_next",
            WindowRequest,
            TicketInfo,
            "window web",
            "叫号: the next ticket for this window (priority interleave, queue order, "
            "starvation bound).",
            "The ticket called; `empty` when none waits; `conflict` while the window is "
            "paused or still has a ticket called or being served (finish it, transfer it "
            "or mark it a no-show first).",
        ),
        _op(
            "window.recall",
            WindowTicketRequest,
            TicketInfo,
            "window web",
            "重呼 the current ticket (limited by window_policy.recall_limit).",
            "The ticket.",
        ),
        _op(
            "window.start",
            WindowTicketRequest,
            TicketInfo,
            "window web",
            "The called citizen arrived: service starts.",
            "The ticket.",
        ),
        _op(
            "window.no_show",
            WindowNoShow,
            TicketInfo,
            "window web",
            "过号: skip; the ticket may come back within the grace period.",
            "The ticket.",
        ),
        _op(
            "window.requeue",
            WindowRequeue,
            TicketInfo,
            "window web",
            "Put a skipped ticket back in its queue within the grace period.",
            "The ticket.",
        ),
        _op(
            "window.transfer",
            WindowTransfer,
            TicketInfo,
            "window web",
            "转号 to another queue or window: number and history kept, raised priority.",
            "The ticket.",
        ),
        _op(
            "window.finish",
            WindowFinish,
            TicketFinished,
            "window web",
            "办结: finish; opens the one-time rating; optionally accepts a case.",
            "The ticket and, with accept_case, the new case with its deadlines.",
        ),
        _op(
            "window.pause",
            WindowPause,
            WindowStatus,
            "window web",
            "Pause the window (no calls) with a reason its display shows.",
            "The window's status.",
        ),
        _op(
            "window.resume",
            WindowRequest,
            WindowStatus,
            "window web",
            "Resume the window.",
            "The window's status.",
        ),
        _op(
            "window.sign_on",
            WindowRequest,
            WindowStatus,
            "window web",
            "Staff sign on at the window: it is open (its displays leave blank).",
            "The window's status; signing on again (another staff member) takes it over.",
        ),
        _op(
            "window.sign_off",
            WindowRequest,
            WindowStatus,
            "window web",
            "Staff sign off: the window is closed (its displays go blank) and paused no more.",
            "The window's status; `conflict` while it still has a ticket called or served.",
        ),
        _op(
            "window.status",
            WindowRequest,
            WindowStatus,
            "window web",
            "This window's current ticket, waiting count, served count.",
            "The window's status.",
        ),
    ]
)
#: op name → request model (the op is the last topic segment: ``.../req/{op}``).
REQUESTS: dict[str, type[Request]] = {name: op.request for name, op in OPERATIONS.items()}


def may_call(role: str | None, op: str) -> bool:
    """The role table: whether a terminal of ``role`` may call ``op``."""
    o = OPERATIONS.get(op)
    return o is not None and role in o.roles


# ----------------------------------------------------------- controller → everyone
@dataclass
class CallBoardEntry:
    __pydantic_config__: ClassVar = OUT
    number: str
    window: str
    window_name: str
    queue: str
    at: Annotated[float, Field(description="When it was called: epoch seconds, hall time")]
    recall: Annotated[int, Field(description="How many times this call was repeated")]
    state: Annotated[Literal["called", "serving"], Field(description="Being called, or served")]


@dataclass
class CallBoard:
    """The tickets being called or served now, newest call first (at most 10)."""

    __pydantic_config__: ClassVar = OUT
    calls: list[CallBoardEntry]


@dataclass
class WindowBoardEntry:
    __pydantic_config__: ClassVar = OUT
    window: str
    name: str
    open: Annotated[bool, Field(description="Staff signed on (window.sign_on)")]
    paused: bool
    pause_reason: PauseReason | None
    current: Annotated[str | None, Field(description="Number of the ticket called or served")]
    state: Annotated[
        Literal["called", "serving"] | None, Field(description="Of the current ticket, if any")
    ]


@dataclass
class WindowBoard:
    """Retained on ``windows``: every window of the hall config in its order, for the
    window displays (number, 暂停服务 while paused, blank when closed) and staff consoles.
    Published when a window changes."""

    __pydantic_config__: ClassVar = OUT
    windows: list[WindowBoardEntry]


@dataclass
class HallStatus:
    """Retained on ``status``: what a kiosk shows before anyone touches it. Published only
    when it changes (at most every 0.2 s)."""

    __pydantic_config__: ClassVar = OUT
    open: Annotated[bool, Field(description="Open for tickets now (opening hours, holidays)")]
    next_opening: Annotated[str | None, Field(description="ISO 8601 with offset, or null")]
    config_version: int
    waiting: Annotated[dict[str, int], Field(description="Waiting tickets per queue id")]


@dataclass
class ControllerState:
    """Retained controller presence: ``online`` on every connect, ``offline`` on a clean
    stop, ``lost`` from its Will (set before each connect, so its ``at`` is 0)."""

    __pydantic_config__: ClassVar = OUT
    state: Literal["online", "offline", "lost"]
    seq: Annotated[int, Field(description="Birth/death sequence number, growing")]
    at: Annotated[float, Field(description="Epoch seconds, hall time; 0 in the Will")]
    config_version: int


AlertKind = Literal[
    "helper", "unresolved", "rating", "device", "wait", "service", "terminal", "broker"
]


@dataclass
class Alert:
    """For staff: 帮办 requests, 办不成事 reports, bad ratings to follow up, red time limits
    (电子监察), device faults, lost terminals, broker restarts."""

    __pydantic_config__: ClassVar = OUT
    id: str
    kind: AlertKind
    level: LevelName
    terminal: str | None
    location: str | None
    ticket: Annotated[str | None, Field(description="A ticket's number")]
    message: Annotated[str, Field(description="Chinese, for the staff")]
    at: At


CommandName = Literal["reload_config", "set_mode", "print_test_page", "restart", "self_test"]


@dataclass
class Command:
    """Controller → terminal. Sent with MQTT MessageExpiryInterval too; a terminal drops a
    command past ``expires_at`` and executes each ``id`` at most once."""

    __pydantic_config__: ClassVar = OUT
    id: RequestId
    cmd: CommandName
    args: dict[str, str]
    expires_at: At

    def dumps(self) -> bytes:
        return orjson.dumps(self)


@dataclass
class DesiredConfig:
    """The hall config a terminal should run (without broker secrets), with its version."""

    __pydantic_config__: ClassVar = OUT
    version: int
    config: dict[str, Any]


# ----------------------------------------------------------------- terminal → controller
class TerminalMsg(BaseModel):
    """What terminals report. Unknown extra fields are ignored (forward compatibility)."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    def dumps(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class Presence(TerminalMsg):
    """Retained on ``t/{id}/state``. ``seq`` grows with every connect (birth); a death
    carries the seq of the birth it ends, so a late death never overwrites a newer birth.
    ``at`` may be left out (a Will is written before the connection it ends)."""

    state: Literal["online", "offline", "lost"]
    seq: int
    role: Literal["kiosk", "window", "display", "rater", "admin", "web", "tool"] = Field(
        "kiosk", description="Its role in the hall config; `tool` for the hall's own tools"
    )
    version: Annotated[str, _clip(40)] | None = None
    config_version: int | None = Field(
        None, description="The version of the desired config it runs (null: not known yet)"
    )
    at: TerminalAt | None = None


def presence_counts(state: str, seq: int, last_seq: int) -> bool:
    """Whether a presence message (a terminal's or the controller's) changes what is known:
    a birth always does, even with a lower number (the sender's clock went back, or it
    moved to another machine); a death only when it is not older than the last birth."""
    return state == "online" or seq >= last_seq


DeviceStateName = Literal["absent", "connecting", "ready", "busy", "degraded", "fault"]


class DeviceReport(TerminalMsg):
    device: Id
    state: DeviceStateName
    reason: Annotated[str, _clip(200)] = Field(
        "", description="Technician's words, cut to 200 characters"
    )
    at: TerminalAt


class Heartbeat(TerminalMsg):
    """Every ``heartbeat_s`` seconds (kiosk.yaml, default 15) while connected."""

    at: TerminalAt
    uptime_s: float = 0
    mode: Annotated[str, _clip(20)] | None = None


class CommandResult(TerminalMsg):
    id: RequestId
    ok: bool
    message: Annotated[str, _clip(200)] = ""


# --------------------------------------------------------------------- parsing input
#: Largest request payload accepted, in bytes (the biggest legitimate one, a mailing
#: request, is under 1 KB). Checked before parsing, so a huge payload costs nothing.
MAX_REQUEST_BYTES = 16_384


class Refusal(Exception):
    """The root of every refused request: becomes an error reply with this code, the
    words in Chinese and English, and the field at fault. The controller's engine raises
    its own (``EngineError``); the contract raises ``BadPayload``."""

    def __init__(
        self, code: ErrorCode, message: str, message_en: str, field: str | None = None
    ) -> None:
        super().__init__(message_en)
        self.code = code
        self.message = message
        self.message_en = message_en
        self.field = field

    def reply(self, rid: str) -> Reply[Any]:
        return error_reply(rid, self.code, self.message, self.message_en, self.field)


class BadPayload(Refusal):
    """A request that cannot be read or is not what the contract allows: ``bad_request``
    or ``unknown_op``."""


def decode_payload(payload: bytes) -> dict[str, Any]:
    """The JSON object of a request payload, or :class:`BadPayload` saying what is wrong.
    Bounded before it is parsed: at most ``MAX_REQUEST_BYTES``; orjson refuses nesting
    deeper than 1,024 and numbers it cannot represent, in linear time."""
    if len(payload) > MAX_REQUEST_BYTES:
        raise BadPayload(
            ErrorCode.BAD_REQUEST,
            f"请求过大（{len(payload)} 字节，最多 {MAX_REQUEST_BYTES}）",
            f"payload too large ({len(payload)} bytes, at most {MAX_REQUEST_BYTES})",
        )
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as err:
        why = str(err).split(":", 1)[0]
        raise BadPayload(
            ErrorCode.BAD_REQUEST, f"请求不是有效的 JSON：{why}", f"payload is not JSON: {why}"
        ) from None
    if not isinstance(data, dict):
        raise BadPayload(
            ErrorCode.BAD_REQUEST, "请求必须是一个 JSON 对象", "payload must be a JSON object"
        )
    return data


def _error_words(e: Any) -> tuple[str, str]:
    kind = e["type"]
    if kind == "extra_forbidden":
        return "不认识的字段", "unknown field"
    if kind == "missing":
        return "缺少必填字段", "field required"
    if kind == "value_error":
        msg = str(e.get("ctx", {}).get("error", e["msg"]))
        return f"请求内容不符合规定：{msg}", msg
    return f"字段取值不正确（{e['msg']}）", str(e["msg"])


_NAME = re.compile(r"[a-z_][a-z_.]{0,39}\Z|[0-9]{1,3}\Z")


def safe_name(text: str) -> str:
    """``text`` when it looks like an operation or field name (or a list index), else
    ``?``: what a sender chose as a name goes into replies and log lines only if it
    cannot be personal data."""
    return text if _NAME.match(text) else "?"


def problem(err: Exception) -> str:
    """What is wrong with a message, in words fit for a log line: the field and the rule
    it broke, never the value (pydantic's own text repeats the input)."""
    if isinstance(err, ValidationError):
        first = err.errors(include_url=False, include_input=False)[0]
        where = ".".join(safe_name(str(p)) for p in first["loc"]) or "payload"
        return f"{where}: {first['msg']}"[:200]
    return type(err).__name__


def validate_request(op: str, data: dict[str, Any]) -> Request:
    """Validate a decoded request. Raises :class:`BadPayload` naming the first field at
    fault, in Chinese and English (never echoing the payload, which may hold personal
    data)."""
    model = REQUESTS.get(op)
    if model is None:
        shown = safe_name(op)
        raise BadPayload(
            ErrorCode.UNKNOWN_OP, f"没有这个操作：{shown}", f"unknown operation {shown}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        # a field name comes from the sender, like the values: shown only when it looks
        # like a name (an ID number sent as a field name must not reach a log)
        where = ".".join(safe_name(str(p)) for p in first["loc"]) or None
        zh, en = _error_words(first)
        label = where or "payload"
        raise BadPayload(ErrorCode.BAD_REQUEST, f"{label}：{zh}", f"{label}: {en}", where) from None


def parse_request(op: str, payload: bytes) -> Request:
    return validate_request(op, decode_payload(payload))


_RID = re.compile(r"[A-Za-z0-9_.:-]{1,64}\Z")


def request_id_in(data: dict[str, Any]) -> str | None:
    """The id of a request, even one that fails validation, so its error reply has it
    (only an id that is itself valid, so the reply topic carries nothing odd)."""
    rid = data.get("id")
    return rid if isinstance(rid, str) and _RID.match(rid) is not None else None


# ------------------------------------------------------------------ consumers' side
T = TypeVar("T")


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def adapter(tp: Any) -> TypeAdapter[Any]:
    """The pydantic validator of a contract type (cached): for consumers reading what the
    controller publishes, and for tests."""
    a = _ADAPTERS.get(tp)
    if a is None:
        a = _ADAPTERS[tp] = TypeAdapter(tp)
    return a


def read(tp: type[T], payload: bytes | str) -> T:
    """``payload`` validated as ``tp`` (raises pydantic's ``ValidationError``)."""
    return adapter(tp).validate_json(payload)  # type: ignore[no-any-return]


def read_reply(op: str, payload: bytes | str) -> Reply[Any]:
    """A reply to ``op``, with its result validated as the operation's result type."""
    o = OPERATIONS.get(op)
    return adapter(Reply[o.result] if o else Reply[Any]).validate_json(payload)  # type: ignore[name-defined,no-any-return]


def reply_id(payload: bytes) -> str | None:
    """The id of a reply payload, without validating the rest (to find who waits for it)."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    rid = data.get("id") if isinstance(data, dict) else None
    return rid if isinstance(rid, str) else None
