"""Typed payloads of the hall's MQTT contract (JSON, UTF-8).

Inbound payloads are validated here at the boundary. Unknown extra fields are ignored,
so an older controller accepts a newer terminal's messages (forward compatibility); a
field added later says so in its description.

Personal data: no payload here carries a name, ID number, address or photo, except
``MailingRequest`` (the address is the point of it; the controller keeps it sealed). Identity is referred to by ``citizen_key``: an HMAC of
the ID number under the hall's key, never the number itself.
"""

from __future__ import annotations

import enum
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

RequestId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
ShortText = Annotated[str, StringConstraints(max_length=500)]


class Msg(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    def dumps(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


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
    EXPIRED = "expired"  # left at the day boundary


class Level(enum.StrEnum):
    NONE = "none"
    YELLOW = "yellow"
    RED = "red"


# ---------------------------------------------------------------------------- requests
class Request(Msg):
    """Every request carries an id; a retried request with the same id gets the same reply
    and never does the work twice."""

    id: RequestId


#: The priority classes a terminal may ask for when issuing a ticket. Appointment priority
#: is given only by a check-in within the slot, transfer priority only by a window.
IssuablePriority = Literal["normal", "elderly", "disabled", "green"]


class TicketIssue(Request):
    service: Id | None = None
    bundle: Id | None = None
    queue: Id | None = None
    priority: IssuablePriority = Field(
        "normal",
        description="elderly, disabled or green (绿色通道) only when established at the kiosk; "
        "appointment priority comes from appointment.checkin, transfer from a window",
    )
    priority_reason: ShortText | None = Field(
        None, description="How the claim was established, e.g. 'id_card_age', 'declared'"
    )
    citizen_key: Id | None = None
    lang: Literal["zh", "en"] = "zh"


class AppointmentCheckin(Request):
    code: Id | None = None
    citizen_key: Id | None = None


class TicketLookup(Request):
    ticket: Id = Field(description="The ticket's lookup token printed in its QR code")


class CaseLookup(Request):
    case_no: Id | None = None
    citizen_key: Id | None = None


class RatingSubmit(Request):
    ticket: Id = Field(description="Ticket lookup token or ticket id")
    level: int = Field(
        ge=1, le=5, description="5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意"
    )
    reasons: list[Annotated[str, StringConstraints(max_length=50)]] = Field(
        default_factory=list, max_length=10
    )
    text: ShortText | None = None


class HelpRequest(Request):
    kind: Literal["helper", "unresolved"] = "helper"
    service: Id | None = None
    note: ShortText | None = None


class MailingRequest(Request):
    ticket: Id | None = None
    case_no: Id | None = None
    recipient: Annotated[str, StringConstraints(min_length=1, max_length=30)]
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+\- ]{5,20}$")]
    address: Annotated[str, StringConstraints(min_length=4, max_length=200)]


class HallStatusRequest(Request):
    pass


class AdminBookAppointment(Request):
    """Admin: an appointment booked elsewhere (online, by phone) becomes known to the hall."""

    code: Id = Field(description="The appointment code in the citizen's QR code")
    service: Id
    start: float = Field(description="Slot start, epoch seconds")
    end: float
    citizen_key: Id | None = None


class AdminUpdateCase(Request):
    case_no: Id
    state: Literal["accepted", "in_review", "done", "delivered", "rejected"]


class WindowRequest(Request):
    pass


class WindowTicketRequest(Request):
    ticket: Id | None = Field(None, description="Defaults to the window's current ticket")


class WindowTransfer(Request):
    ticket: Id | None = None
    to_queue: Id | None = None
    to_window: Id | None = None
    note: ShortText | None = None


class WindowNoShow(Request):
    ticket: Id | None = None
    requeue: bool = Field(False, description="Put it back at once instead of the grace list")


class WindowFinish(Request):
    ticket: Id | None = None
    accept_case: bool = Field(False, description="Open a case (办件) with its deadlines")


class WindowPause(Request):
    reason: ShortText | None = None


#: op name → request model. The op is the last topic segment: ``.../req/{op}``.
REQUESTS: dict[str, type[Request]] = {
    "ticket.issue": TicketIssue,
    "appointment.checkin": AppointmentCheckin,
    "ticket.lookup": TicketLookup,
    "case.lookup": CaseLookup,
    "rating.submit": RatingSubmit,
    "help.request": HelpRequest,
    "mailing.request": MailingRequest,
    "hall.status": HallStatusRequest,
    "admin.book_appointment": AdminBookAppointment,
    "admin.update_case": AdminUpdateCase,
    "window.call_next": WindowRequest,
    "window.recall": WindowTicketRequest,
    "window.start": WindowTicketRequest,
    "window.no_show": WindowNoShow,
    "window.requeue": WindowTicketRequest,
    "window.transfer": WindowTransfer,
    "window.finish": WindowFinish,
    "window.pause": WindowPause,
    "window.resume": WindowRequest,
    "window.status": WindowRequest,
}

KIOSK_OPS = frozenset(op for op in REQUESTS if op.split(".")[0] not in ("window", "admin"))
ADMIN_OPS = frozenset(op for op in REQUESTS if op.startswith("admin."))
WINDOW_OPS = frozenset(op for op in REQUESTS if op.startswith("window."))


# ----------------------------------------------------------------------------- replies
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


class ErrorInfo(Msg):
    code: ErrorCode
    message: str
    message_en: str | None = None
    field: str | None = None


class Reply(Msg):
    id: str
    ok: bool
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None


class TicketInfo(Msg):
    ticket_id: str = Field(description="Stable id: {day}-{number}, unique in the hall")
    number: str = Field(
        description="Letter + at least 3 digits, e.g. A001 (a queue kept overnight may pass 999)"
    )
    queue: str
    queue_name: str
    service: str | None = None
    priority: PriorityClass = PriorityClass.NORMAL
    state: TicketState = TicketState.WAITING
    issued_at: float
    people_ahead: int = 0
    expected_wait_min: int = 0
    token: str | None = Field(
        None,
        description="Opaque lookup token for the status QR code. Only in replies to the "
        "terminal that was issued the ticket (ticket.issue, appointment.checkin) or that "
        "presented the token (ticket.lookup): it is what lets a citizen look up and rate "
        "the ticket, and ticket ids and numbers are public",
    )
    window: str | None = None
    window_hint: str | None = None


# ------------------------------------------------------------------------------ events
class Event(Msg):
    seq: int
    type: str
    at: float
    data: dict[str, Any] = Field(default_factory=dict)


class CallBoardEntry(Msg):
    number: str
    window: str
    window_name: str
    queue: str
    at: float
    recall: int = 0


class CallBoard(Msg):
    calls: list[CallBoardEntry]


class QueueSnapshot(Msg):
    queue: str
    name: str
    letter: str
    waiting: int
    serving: list[str]
    last_called: str | None = None
    expected_wait_min: int
    open: bool
    at: float


# ---------------------------------------------------------------- presence and control
class Presence(Msg):
    """Retained on ``t/{id}/state``. ``seq`` grows with every connect (birth); a death
    carries the seq of the birth it ends, so a late death never overwrites a newer birth."""

    state: Literal["online", "offline", "lost"]
    seq: int
    role: Literal["kiosk", "window", "display", "rater", "admin", "controller", "tool"] = "kiosk"
    version: str | None = None
    config_version: int | None = None
    at: float


def presence_counts(state: str, seq: int, last_seq: int) -> bool:
    """Whether a presence message (a terminal's or the controller's) changes what is known:
    a birth always does, even with a lower number (the sender's clock went back, or it
    moved to another machine); a death only when it is not older than the last birth."""
    return state == "online" or seq >= last_seq


class DeviceReport(Msg):
    device: str
    state: Literal["absent", "connecting", "ready", "busy", "degraded", "fault"]
    reason: str = ""
    at: float


class Heartbeat(Msg):
    at: float
    uptime_s: float = 0
    mode: str | None = None


class Command(Msg):
    """Controller → terminal. Sent with MQTT MessageExpiryInterval too; a terminal drops a
    command past ``expires_at`` and executes each ``id`` at most once."""

    id: RequestId
    cmd: Literal["reload_config", "set_mode", "print_test_page", "restart", "self_test"]
    args: dict[str, Any] = Field(default_factory=dict)
    expires_at: float


class CommandResult(Msg):
    id: str
    ok: bool
    message: str = ""


class DesiredConfig(Msg):
    version: int
    config: dict[str, Any]


class Alert(Msg):
    id: str
    kind: Literal["helper", "unresolved", "device", "wait", "service", "terminal", "broker"]
    level: Level = Level.YELLOW
    terminal: str | None = None
    location: str | None = None
    ticket: str | None = None
    message: str
    at: float


def decode_payload(payload: bytes) -> dict[str, Any]:
    """The JSON object of a payload, or :class:`BadPayload` saying what is wrong."""
    try:
        data = json.loads(payload)
    except UnicodeDecodeError:
        raise BadPayload(ErrorCode.BAD_REQUEST, "payload is not JSON: not UTF-8") from None
    except json.JSONDecodeError as err:
        raise BadPayload(ErrorCode.BAD_REQUEST, f"payload is not JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise BadPayload(ErrorCode.BAD_REQUEST, "payload must be a JSON object")
    return data


def validate_request(op: str, data: dict[str, Any]) -> Request:
    """Validate a decoded request. Raises :class:`BadPayload` with a plain-words message
    (never echoing the payload, which may hold personal data)."""
    model = REQUESTS.get(op)
    if model is None:
        raise BadPayload(ErrorCode.UNKNOWN_OP, f"unknown operation {op!r}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise BadPayload(ErrorCode.BAD_REQUEST, f"{where}: {first['msg']}", field=where) from None


def parse_request(op: str, payload: bytes) -> Request:
    return validate_request(op, decode_payload(payload))


def request_id_in(data: dict[str, Any]) -> str | None:
    """The id of a request, even one that fails validation, so its error reply has it."""
    rid = data.get("id")
    return rid if isinstance(rid, str) and 0 < len(rid) <= 64 else None


class BadPayload(Exception):
    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def info(self) -> ErrorInfo:
        return ErrorInfo(code=self.code, message=self.message, field=self.field)
