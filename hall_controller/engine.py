"""The queue engine: pure decisions over the hall's state, recorded as events.

Every change goes through :meth:`Engine._emit`, which applies the event to the state and
collects it for the store. Rebuilding after a crash is replaying the same events through
:meth:`Engine.apply`, so what is served after a restart is exactly what was acknowledged
before it. The engine does no I/O and reads no clock: ``now`` (epoch seconds) is passed in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import secrets
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from hall_contract.hallconfig import (
    HallConfig,
    hours_on,
    is_open,
    next_opening,
    open_spans,
    service_day,
)
from hall_contract.messages import ErrorCode, Level, PriorityClass, TicketState

NORMAL = PriorityClass.NORMAL
_NORMAL = NORMAL.value
ACTIVE_STATES = (TicketState.WAITING, TicketState.CALLED, TicketState.SERVING, TicketState.SKIPPED)
_ACTIVE_VALUES = frozenset(x.value for x in ACTIVE_STATES)
#: A ticket number as staff type it: A001, a1, A 12.
_NUMBER = re.compile(r"^\s*([A-Za-z])\s*0*(\d{1,6})\s*$")


def _line_key(t: Ticket) -> tuple[float, float, int, str, str]:
    """A ticket's place in its line: waiting since, then issue time and number (A999
    before A1000), so tickets of one batch (the same instant) keep one order live, after
    a replay and after a snapshot."""
    return (t.waiting_since, t.issued_at, len(t.number), t.number, t.id)


def _first_untargeted(d: dict[str, Ticket] | None) -> Ticket | None:
    for t in (d or {}).values():
        if t.target_window is None:
            return t
    return None


class EngineError(Exception):
    """A request the hall cannot carry out; becomes an error reply."""

    def __init__(
        self, code: ErrorCode, message: str, message_en: str = "", field: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.message_en = message_en
        self.field = field


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
    state: str = TicketState.WAITING.value
    window: str | None = None
    target_window: str | None = None
    called_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    skipped_at: float | None = None
    recalls: int = 0
    rating_open: bool = False
    rated: bool = False
    wait_level: str = Level.NONE.value
    service_level: str = Level.NONE.value
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_priority(self) -> bool:
        return self.priority != _NORMAL


@dataclass
class WindowState:
    id: str
    paused: bool = False
    pause_reason: str | None = None
    current: str | None = None  # ticket id
    pri_streak: int = 0
    norm_streak: int = 0
    served: int = 0


@dataclass
class Case:
    case_no: str
    ticket: str
    service: str | None
    citizen_key: str | None
    accepted_at: float
    deadline: str  # ISO date
    promised_deadline: str
    state: str = "accepted"  # accepted, in_review, done, delivered, rejected


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
    tickets: dict[str, Ticket] = field(default_factory=dict)
    by_token: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)  # "{day}|{queue}" → last number
    issued_service: dict[str, int] = field(default_factory=dict)  # "{day}|{service}" → n
    issued_queue: dict[str, int] = field(default_factory=dict)  # "{day}|{queue}" → n
    windows: dict[str, WindowState] = field(default_factory=dict)
    avg_service_s: dict[str, float] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    case_counter: int = 0
    appointments: dict[str, Appointment] = field(default_factory=dict)
    ratings: int = 0
    alerts: int = 0
    # Derived indexes, never stored: rebuilt from ``tickets`` (see reindex).
    active: dict[str, Ticket] = field(default_factory=dict, repr=False, compare=False)
    waiting_pri: dict[str, dict[str, Ticket]] = field(
        default_factory=dict, repr=False, compare=False
    )
    waiting_norm: dict[str, dict[str, Ticket]] = field(
        default_factory=dict, repr=False, compare=False
    )
    targeted: dict[str, dict[str, Ticket]] = field(default_factory=dict, repr=False, compare=False)
    skipped: dict[str, Ticket] = field(default_factory=dict, repr=False, compare=False)
    #: Appointments by service day (the caps look at today's only).
    appts_by_day: dict[str, dict[str, Appointment]] = field(
        default_factory=dict, repr=False, compare=False
    )

    _DERIVED = ("active", "waiting_pri", "waiting_norm", "targeted", "skipped", "appts_by_day")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy. Hand-written because ``asdict`` deep-copies every field of
        every ticket, which made a snapshot of a busy day cost a noticeable pause."""
        d: dict[str, Any] = {}
        for f in fields(self):
            if f.name in self._DERIVED:
                continue
            v = getattr(self, f.name)
            if f.name == "tickets":
                v = {
                    k: {**t.__dict__, "history": [dict(h) for h in t.history]} for k, t in v.items()
                }
            elif f.name in ("windows", "cases", "appointments"):
                v = {k: dict(x.__dict__) for k, x in v.items()}
            elif isinstance(v, dict):
                v = dict(v)
            d[f.name] = v
        return d

    def reindex(self, t: Ticket) -> None:
        """Keep the derived indexes in step with one ticket's state and queue."""
        for idx in (self.waiting_pri, self.waiting_norm, self.targeted):
            for d in idx.values():
                d.pop(t.id, None)
        if t.state == TicketState.WAITING.value:
            idx = self.waiting_pri if t.is_priority else self.waiting_norm
            d = idx.setdefault(t.queue, {})
            last = next(reversed(d.values()), None)
            d[t.id] = t
            if last is not None and _line_key(last) > _line_key(t):
                # Keep each queue's dict in line order (a re-queued no-show comes back
                # behind a few), so its first entry is always the longest-waiting ticket.
                idx[t.queue] = dict(sorted(d.items(), key=lambda kv: _line_key(kv[1])))
            if t.target_window is not None:
                self.targeted.setdefault(t.target_window, {})[t.id] = t
        if t.state in _ACTIVE_VALUES:
            self.active[t.id] = t
        else:
            self.active.pop(t.id, None)
        if t.state == TicketState.SKIPPED.value:
            self.skipped[t.id] = t
        else:
            self.skipped.pop(t.id, None)

    def rebuild_index(self) -> None:
        self.active, self.waiting_pri, self.waiting_norm, self.targeted = {}, {}, {}, {}
        self.skipped = {}
        for t in self.tickets.values():
            self.reindex(t)
        self.appts_by_day = {}
        for a in self.appointments.values():
            self.appts_by_day.setdefault(a.day, {})[a.code] = a

    def waiting_count(self, queue: str) -> int:
        return len(self.waiting_pri.get(queue, ())) + len(self.waiting_norm.get(queue, ()))

    def waiting_in(self, queue: str) -> list[Ticket]:
        return [
            *self.waiting_pri.get(queue, {}).values(),
            *self.waiting_norm.get(queue, {}).values(),
        ]

    def all_waiting(self) -> list[Ticket]:
        return [
            t
            for idx in (self.waiting_pri, self.waiting_norm)
            for d in idx.values()
            for t in d.values()
        ]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HallState:
        s = cls(
            **{
                k: v
                for k, v in d.items()
                if k not in ("tickets", "windows", "cases", "appointments", *cls._DERIVED)
            }
        )
        s.tickets = {k: Ticket(**v) for k, v in d["tickets"].items()}
        s.windows = {k: WindowState(**v) for k, v in d["windows"].items()}
        s.cases = {k: Case(**v) for k, v in d["cases"].items()}
        s.appointments = {k: Appointment(**v) for k, v in d["appointments"].items()}
        s.rebuild_index()
        return s


@dataclass(frozen=True)
class Emitted:
    type: str
    at: float
    data: dict[str, Any]


def _level(minutes: float, yellow: float, red: float) -> Level:
    if minutes >= red:
        return Level.RED
    if minutes >= yellow:
        return Level.YELLOW
    return Level.NONE


_RED = Level.RED.value
_LEVEL_RANK = {Level.NONE.value: 0, Level.YELLOW.value: 1, Level.RED.value: 2}


class Engine:
    """The hall's queues. Not thread-safe: one writer (the controller's worker)."""

    EWMA_ALPHA = 0.2

    def __init__(self, config: HallConfig) -> None:
        self.config = config
        self.tz = config.tz
        self.state = HallState()
        self._pending: list[Emitted] = []
        #: Time of the latest event applied: hall time never runs backwards past it.
        self.last_at = 0.0
        self._open_cache: tuple[int, bool] = (-1, False)
        self._day_checked = -1
        #: Services by id (several look-ups per ticket).
        self.services = {s.id: s for s in config.services}
        #: Windows serving each queue (config order), for the waiting estimates.
        self._serving: dict[str, list[Any]] = {
            q.id: [w for w in config.windows if q.id in w.queues] for q in config.queues
        }
        self._window_queues = {w.id: w.queues for w in config.windows}
        self._queue_index = {q.id: q for q in config.queues}
        self._spans: dict[dt.date, list[tuple[float, float]]] = {}
        self._span: tuple[float, float] = (0.0, 0.0)
        for w in config.windows:
            self.state.windows[w.id] = WindowState(w.id)

    # ------------------------------------------------------------------ events
    def take_events(self) -> list[Emitted]:
        out, self._pending = self._pending, []
        return out

    def _emit(self, type_: str, now: float, **data: Any) -> None:
        ev = Emitted(type_, now, data)
        self.apply(ev.type, ev.at, ev.data)
        self._pending.append(ev)

    def apply(self, type_: str, at: float, data: dict[str, Any]) -> None:
        """Apply one event to the state (used live and for replay)."""
        self._apply(type_, at, data)
        self.last_at = max(self.last_at, at)
        s = self.state
        ref = data.get("ticket")
        if type_ == "day.rolled":
            s.rebuild_index()
        elif isinstance(ref, dict):
            s.reindex(s.tickets[ref["id"]])
        elif isinstance(ref, str) and ref in s.tickets:
            s.reindex(s.tickets[ref])

    def _apply(self, type_: str, at: float, data: dict[str, Any]) -> None:
        s = self.state
        if type_ == "day.rolled":
            s.day = data["day"]
            for tid in data["expired"]:
                t = s.tickets[tid]
                t.state = TicketState.EXPIRED.value
                t.history.append({"at": at, "what": "expired"})
            for w in s.windows.values():
                if w.current is not None and s.tickets[w.current].state not in (
                    TicketState.CALLED.value,
                    TicketState.SERVING.value,
                ):
                    w.current = None
                w.pri_streak = w.norm_streak = 0
            # Finished tickets of earlier days are only kept while a rating may come.
            keep = {
                k: t
                for k, t in s.tickets.items()
                if t.day >= data["prev_day"] or t.state in ACTIVE_STATES
            }
            s.tickets = keep
            s.by_token = {t.token: t.id for t in keep.values()}
            # Appointments of days gone by can no longer be checked in (the list is in the
            # event: replaying it never depends on today's config).
            for code in data.get("dropped_appointments", ()):
                a = s.appointments.pop(code, None)
                if a is not None:
                    s.appts_by_day.get(a.day, {}).pop(code, None)
        elif type_ == "ticket.issued":
            t = Ticket(**data["ticket"])
            s.tickets[t.id] = t
            s.by_token[t.token] = t.id
            s.counters[data["counter"]] = data["n"]
            if t.service:
                k = f"{t.day}|{t.service}"
                s.issued_service[k] = s.issued_service.get(k, 0) + 1
            kq = f"{t.day}|{t.queue}"
            s.issued_queue[kq] = s.issued_queue.get(kq, 0) + 1
            t.history.append({"at": at, "what": "issued", "queue": t.queue})
            if t.appointment and t.appointment in s.appointments:
                s.appointments[t.appointment].ticket = t.id
        elif type_ == "ticket.called":
            t = s.tickets[data["ticket"]]
            w = s.windows[data["window"]]
            t.state = TicketState.CALLED.value
            t.window = w.id
            t.called_at = at
            t.target_window = None
            t.recalls = 0  # each call has its own recall limit (after a re-queue, a transfer)
            w.current = t.id
            if data.get("class") == "priority":
                w.pri_streak += 1
                w.norm_streak = 0
            elif data.get("class") == "normal":
                w.norm_streak += 1
                if w.norm_streak >= self.config.priority.interleave.normal:
                    w.pri_streak = 0
            t.history.append({"at": at, "what": "called", "window": w.id})
        elif type_ == "ticket.recalled":
            t = s.tickets[data["ticket"]]
            t.recalls += 1
            t.history.append({"at": at, "what": "recalled", "window": t.window})
        elif type_ == "ticket.started":
            t = s.tickets[data["ticket"]]
            t.state = TicketState.SERVING.value
            t.started_at = at
            t.history.append({"at": at, "what": "started", "window": t.window})
        elif type_ == "ticket.no_show":
            t = s.tickets[data["ticket"]]
            w = s.windows[data["window"]]
            if w.current == t.id:
                w.current = None
            if data["requeue"]:
                t.state = TicketState.WAITING.value
                # Where it re-enters the line (decided by the engine, recorded in the event);
                # events written before requeue_behind existed keep the old place.
                t.waiting_since = data.get("waiting_since", t.waiting_since)
            else:
                t.state = TicketState.SKIPPED.value
                t.skipped_at = at
            t.history.append(
                {"at": at, "what": "no_show", "window": w.id, "requeue": data["requeue"]}
            )
        elif type_ == "ticket.requeued":
            t = s.tickets[data["ticket"]]
            t.state = TicketState.WAITING.value
            t.skipped_at = None
            t.waiting_since = data.get("waiting_since", t.waiting_since)
            t.history.append({"at": at, "what": "requeued"})
        elif type_ == "ticket.transferred":
            t = s.tickets[data["ticket"]]
            src = s.windows.get(data.get("from_window") or "")
            if src is not None and src.current == t.id:
                src.current = None
            t.state = TicketState.WAITING.value
            t.queue = data["to_queue"]
            t.target_window = data.get("to_window")
            t.priority = data["priority"]
            t.waiting_since = at
            t.wait_level = Level.NONE.value
            t.service_level = Level.NONE.value
            t.history.append(
                {
                    "at": at,
                    "what": "transferred",
                    "from_queue": data["from_queue"],
                    "to_queue": t.queue,
                    "from_window": data.get("from_window"),
                    "to_window": t.target_window,
                    "note": data.get("note"),
                }
            )
        elif type_ == "ticket.finished":
            t = s.tickets[data["ticket"]]
            w = s.windows[data["window"]]
            if w.current == t.id:
                w.current = None
            w.served += 1
            t.state = TicketState.FINISHED.value
            t.finished_at = at
            t.rating_open = True
            if t.called_at is not None:
                dur = max(1.0, at - (t.started_at or t.called_at))
                q = t.queue
                old = s.avg_service_s.get(q, self.config.queue(q).default_service_min * 60)
                s.avg_service_s[q] = (1 - self.EWMA_ALPHA) * old + self.EWMA_ALPHA * dur
            t.history.append({"at": at, "what": "finished", "window": w.id})
        elif type_ == "ticket.expired":
            t = s.tickets[data["ticket"]]
            t.state = TicketState.EXPIRED.value
            t.history.append({"at": at, "what": "expired"})
        elif type_ == "ticket.warning":
            t = s.tickets[data["ticket"]]
            if data["kind"] == "wait":
                t.wait_level = data["level"]
            else:
                t.service_level = data["level"]
        elif type_ == "rating.submitted":
            t = s.tickets[data["ticket"]]
            t.rated = True
            t.rating_open = False
            s.ratings += 1
        elif type_ == "window.paused":
            w = s.windows[data["window"]]
            w.paused = True
            w.pause_reason = data.get("reason")
        elif type_ == "window.resumed":
            w = s.windows[data["window"]]
            w.paused = False
            w.pause_reason = None
        elif type_ == "case.accepted":
            c = Case(**data["case"])
            s.cases[c.case_no] = c
            s.case_counter = data["counter"]
        elif type_ == "case.updated":
            s.cases[data["case_no"]].state = data["state"]
        elif type_ == "appointment.booked":
            a = Appointment(**data["appointment"])
            a.day = a.day or self._day(a.start)  # (booked before the day was recorded)
            if a.code in s.appointments:  # booked again (moved): the old slot is gone
                s.appts_by_day.get(s.appointments[a.code].day, {}).pop(a.code, None)
            s.appointments[a.code] = a
            s.appts_by_day.setdefault(a.day, {})[a.code] = a
        elif type_ in ("help.requested", "mailing.requested"):
            s.alerts += 1
        else:
            raise ValueError(f"unknown event type {type_!r}")

    # ----------------------------------------------------------------- helpers
    def _day(self, now: float) -> str:
        return service_day(self.config.schedule, self._dt(now), self.tz).isoformat()

    def _dt(self, now: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(now, self.tz)

    def roll_day(self, now: float) -> None:
        """At the day boundary, tickets of non-persisting queues expire."""
        # The boundary is on a whole minute: one calendar look-up per minute.
        minute = int(now // 60)
        if minute == self._day_checked and self.state.day:
            return
        day = self._day(now)
        self._day_checked = minute
        if day == self.state.day:
            return
        prev = self.state.day or day
        expired = [
            t.id
            for t in self.state.active.values()
            if t.state
            in (
                TicketState.WAITING.value,
                TicketState.SKIPPED.value,
                TicketState.CALLED.value,
                TicketState.SERVING.value,
            )
            and not self._queue_index[t.queue].persist_overnight
        ]
        dropped = [a.code for a in self.state.appointments.values() if a.day < prev]
        self._emit(
            "day.rolled", now, day=day, prev_day=prev, expired=expired, dropped_appointments=dropped
        )

    def load(self, state: HallState) -> None:
        """Take over a state loaded from a snapshot."""
        for a in state.appointments.values():
            a.day = a.day or self._day(a.start)  # (snapshots from before the day was kept)
        state.rebuild_index()
        self.state = state

    def is_open(self, now: float) -> bool:
        # Opening hours change on whole minutes: one calendar look-up per minute.
        minute = int(now // 60)
        if self._open_cache[0] != minute:
            self._open_cache = (minute, is_open(self.config.schedule, self._dt(now), self.tz))
        return self._open_cache[1]

    def next_opening(self, now: float) -> dt.datetime | None:
        return next_opening(self.config.schedule, self._dt(now), self.tz)

    def ticket(self, ref: str, window: str | None = None) -> Ticket:
        """A ticket by id, by lookup token (staff may scan the ticket's QR) or by its
        number as staff type it (``A001``, ``a1``): today's ticket of that number, the
        one at ``window`` first, then one still in the hall, then the latest."""
        s = self.state
        t = s.tickets.get(ref) or s.tickets.get(s.by_token.get(ref, ""))
        if t is None:
            m = _NUMBER.match(ref)
            if m is not None:
                number = f"{m[1].upper()}{int(m[2]):03d}"
                same = [o for o in s.tickets.values() if o.number == number]
                if same:
                    t = max(
                        same,
                        key=lambda o: (
                            o.day == s.day,
                            window is not None and o.window == window,
                            o.state in _ACTIVE_VALUES,
                            o.issued_at,
                        ),
                    )
        if t is None:
            raise EngineError(ErrorCode.NOT_FOUND, f"没有找到号票 {ref}", f"no ticket {ref}")
        return t

    def ticket_by_token(self, token: str) -> Ticket:
        """A ticket by the lookup token printed in its QR code: what a citizen holds.
        Never by id or number, which are public (displays and events show them)."""
        t = self.state.tickets.get(self.state.by_token.get(token, ""))
        if t is None:
            raise EngineError(ErrorCode.NOT_FOUND, "没有找到这张号票", "no such ticket", "ticket")
        return t

    # ------------------------------------------------------------ open time
    def _open_spans(self, day: dt.date) -> list[tuple[float, float]]:
        spans = self._spans.get(day)
        if spans is None:
            if len(self._spans) > 400:
                self._spans.clear()
            spans = self._spans[day] = open_spans(self.config.schedule, day, self.tz)
        return spans

    def open_seconds(self, since: float, now: float) -> float:
        """Seconds the hall was open between ``since`` and ``now``. Waits and service
        times are judged on these (限时): a lunch break or a night does not turn a waiting
        ticket red, and the starvation bound counts only time the windows could serve."""
        if now <= since:
            return 0.0
        a, b = self._span
        if not a <= now < b:  # the opening span holding ``now``, found once per span
            a, b = self._span = next(
                ((x, y) for x, y in self._open_spans(self._dt(now).date()) if x <= now < y),
                (now, now),
            )
        if a <= since and a < b:
            return now - since  # open all along (the common case: no calendar arithmetic)
        day = self._dt(since).date()
        last = self._dt(now).date()
        total = 0.0
        while day <= last:
            for a, b in self._open_spans(day):
                if b > since and a < now:
                    total += min(b, now) - max(a, since)
            day += dt.timedelta(days=1)
        return total

    def _closed_error(self, now: float) -> EngineError:
        nxt = self.next_opening(now)
        when = nxt.strftime("%Y-%m-%d %H:%M") if nxt else "另行通知"
        return EngineError(
            ErrorCode.CLOSED,
            f"大厅已下班，下次开放时间 {when}",
            f"The hall is closed; it opens at {when}",
        )

    def _new_token(self, number: str, day: str) -> str:
        # Random, so a status QR cannot be guessed from a neighbour's ticket.
        return hashlib.blake2s(
            f"{day}{number}{secrets.token_hex(8)}".encode(), digest_size=8
        ).hexdigest()

    # ---------------------------------------------------------------- tickets
    def issue(
        self,
        now: float,
        *,
        service: str | None = None,
        bundle: str | None = None,
        queue: str | None = None,
        priority: PriorityClass | str = NORMAL,
        citizen_key: str | None = None,
        appointment: str | None = None,
        check_hours: bool = True,
        cap_exempt: bool = False,
    ) -> Ticket:
        """A new ticket. ``cap_exempt``: an appointment checked in within its slot, whose
        ticket the daily caps held for it (see _held_for_appointments)."""
        self.roll_day(now)
        cfg = self.config
        if check_hours and not self.is_open(now):
            raise self._closed_error(now)
        if service is not None:
            try:
                svc = self.services[service]
            except KeyError:
                raise EngineError(
                    ErrorCode.NOT_FOUND,
                    f"没有这个事项: {service}",
                    f"unknown service {service}",
                    "service",
                ) from None
            queue = svc.queue
            cap = svc.daily_cap
            if (
                cap is not None
                and not cap_exempt
                and self.state.issued_service.get(f"{self.state.day}|{service}", 0)
                + self._held_for_appointments(now, service=service)
                >= cap
            ):
                raise EngineError(
                    ErrorCode.CAP_REACHED,
                    f"“{svc.name}”今日号源已满（{cap} 个），请改日或网上预约",
                    f"today's {cap} tickets for this service are gone",
                )
        elif bundle is not None:
            try:
                queue = cfg.bundle(bundle).queue
            except KeyError:
                raise EngineError(
                    ErrorCode.NOT_FOUND,
                    f"没有这个一件事: {bundle}",
                    f"unknown bundle {bundle}",
                    "bundle",
                ) from None
        if queue is None:
            raise EngineError(
                ErrorCode.BAD_REQUEST,
                "请选择事项或队列",
                "choose a service, bundle or queue",
                "service",
            )
        qcfg = self._queue_index.get(queue)
        if qcfg is None:
            raise EngineError(
                ErrorCode.NOT_FOUND, f"没有这个队列: {queue}", f"unknown queue {queue}", "queue"
            )
        day = self.state.day
        if (
            qcfg.daily_cap is not None
            and not cap_exempt
            and self.state.issued_queue.get(f"{day}|{queue}", 0)
            + self._held_for_appointments(now, queue=queue)
            >= qcfg.daily_cap
        ):
            raise EngineError(
                ErrorCode.CAP_REACHED,
                f"“{qcfg.name}”今日号源已满",
                f"today's tickets for {qcfg.name_en or queue} are gone",
            )
        counter = queue if qcfg.persist_overnight else f"{day}|{queue}"
        n = self.state.counters.get(counter, 0) + 1
        number = f"{qcfg.letter}{n:03d}"
        ticket = Ticket(
            id=f"{day}-{number}" if not qcfg.persist_overnight else f"{day}-{number}-{n}",
            number=number,
            day=day,
            queue=queue,
            priority=PriorityClass(priority).value,
            issued_at=now,
            token=self._new_token(number, day),
            waiting_since=now,
            service=service,
            bundle=bundle,
            citizen_key=citizen_key,
            appointment=appointment,
        )
        # A shallow copy: asdict() deep-copies every field and was a third of the cost.
        data = dict(ticket.__dict__)
        data.pop("history")
        self._emit("ticket.issued", now, ticket=data, counter=counter, n=n)
        return self.state.tickets[ticket.id]

    def _held_for_appointments(
        self, now: float, *, service: str | None = None, queue: str | None = None
    ) -> int:
        """Today's booked slots not checked in yet and still within their check-in window:
        walk-ins cannot take the tickets these are owed (a daily cap counts them)."""
        late = self.config.appointments.late_min * 60
        return sum(
            1
            for a in self.state.appts_by_day.get(self.state.day, {}).values()
            if a.ticket is None
            and now <= a.start + late
            and (service is None or a.service == service)
            and (queue is None or a.queue == queue)
        )

    # ------------------------------------------------------------- selection
    def _candidates(self, wid: str) -> list[Ticket]:
        queues = set(self.config.window(wid).queues)
        s = self.state
        out = []
        for idx in (s.waiting_pri, s.waiting_norm):
            for q, d in idx.items():
                mine = q in queues
                out += [
                    t
                    for t in d.values()
                    if t.target_window == wid or (mine and t.target_window is None)
                ]
        return out

    def _order(self, wid: str, t: Ticket) -> tuple[int, int, float, float, int, str, str]:
        queues = self._window_queues[wid]
        qi = queues.index(t.queue) if t.queue in queues else -1
        return (0 if t.target_window == wid else 1, qi, *_line_key(t))

    def pick(self, wid: str, now: float) -> tuple[Ticket, str] | None:
        """Choose the next ticket for a window: (ticket, class) or None.

        1. Any ticket waiting longer than the starvation bound goes first, oldest first.
        2. Otherwise priority and normal tickets interleave P:N per window
           (N = 0 means strict priority); within a class, tickets transferred to this
           window first, then by the window's queue order, then by waiting time.
        """
        # Only the head of each queue can be next: the per-queue dicts are in waiting
        # order, so this looks at one ticket per queue, not at every waiting ticket.
        s = self.state
        queues = self._window_queues[wid]
        targeted = list(s.targeted.get(wid, {}).values())
        pri = [t for t in targeted if t.is_priority]
        nor = [t for t in targeted if not t.is_priority]
        for q in queues:
            for idx, out in ((s.waiting_pri, pri), (s.waiting_norm, nor)):
                head = _first_untargeted(idx.get(q))
                if head is not None:
                    out.append(head)
        if not pri and not nor:
            return None
        bound = self.config.priority.starvation_min * 60
        starved = [t for t in (*pri, *nor) if self.open_seconds(t.waiting_since, now) >= bound]
        if starved:
            t = min(starved, key=_line_key)
            return t, "starved"
        il = self.config.priority.interleave
        w = self.state.windows[wid]
        if pri and nor:
            take_pri = il.normal == 0 or w.pri_streak < il.priority
            pool, cls = (pri, "priority") if take_pri else (nor, "normal")
        elif pri:
            pool, cls = pri, "priority"
        else:
            pool, cls = nor, "normal"
        return min(pool, key=lambda t: self._order(wid, t)), cls

    def people_ahead(self, t: Ticket) -> int:
        """Waiting tickets of the same queue that will be called before this one."""
        s = self.state
        pri = s.waiting_pri.get(t.queue, {})
        same = pri if t.is_priority else s.waiting_norm.get(t.queue, {})
        if t.id in same and next(reversed(same)) == t.id and t.history[-1]["what"] == "issued":
            n = len(same) - 1  # just issued: everyone of its class is ahead (the common case)
        else:
            key = _line_key(t)
            n = sum(1 for o in same.values() if o is not t and _line_key(o) < key)
        if not t.is_priority:
            n += len(pri)
        return n

    def expected_wait_min(self, queue: str, ahead: int) -> int:
        avg_s = self.state.avg_service_s.get(
            queue, self.config.queue(queue).default_service_min * 60
        )
        serving = self._serving.get(queue, [])
        windows = [w for w in serving if not self.state.windows[w.id].paused] or serving
        return math.ceil(ahead * avg_s / 60 / max(1, len(windows)))

    # ---------------------------------------------------------- window ops
    def _window(self, wid: str) -> WindowState:
        if wid not in self.state.windows:
            raise EngineError(ErrorCode.NOT_FOUND, f"没有 {wid} 号窗口", f"no window {wid}")
        return self.state.windows[wid]

    def _current(self, wid: str, ref: str | None) -> Ticket:
        w = self._window(wid)
        if ref is None:
            if w.current is None:
                raise EngineError(
                    ErrorCode.CONFLICT, "本窗口当前没有号票", "this window has no current ticket"
                )
            return self.state.tickets[w.current]
        t = self.ticket(ref, wid)
        if t.window != wid:
            raise EngineError(
                ErrorCode.FORBIDDEN, f"{t.number} 不在本窗口", f"{t.number} is not at this window"
            )
        return t

    def call_next(self, wid: str, now: float) -> Ticket:
        self.roll_day(now)
        w = self._window(wid)
        if w.paused:
            raise EngineError(ErrorCode.CONFLICT, "窗口已暂停，请先恢复", "window is paused")
        if w.current is not None:
            cur = self.state.tickets[w.current]
            raise EngineError(
                ErrorCode.CONFLICT,
                f"请先办结或转出当前号 {cur.number}",
                f"finish or transfer {cur.number} first",
            )
        picked = self.pick(wid, now)
        if picked is None:
            raise EngineError(ErrorCode.EMPTY, "没有等候的号", "nobody is waiting")
        t, cls = picked
        self._emit(
            "ticket.called",
            now,
            ticket=t.id,
            number=t.number,
            window=wid,
            queue=t.queue,
            **{"class": cls},
        )
        return t

    def recall(self, wid: str, now: float, ref: str | None = None) -> Ticket:
        t = self._current(wid, ref)
        if t.state != TicketState.CALLED.value:
            raise EngineError(
                ErrorCode.CONFLICT, f"{t.number} 不在呼叫中", f"{t.number} is not being called"
            )
        limit = self.config.window_policy.recall_limit
        if t.recalls >= limit:
            raise EngineError(
                ErrorCode.CONFLICT,
                f"已重呼 {limit} 次，请按过号处理",
                f"recalled {limit} times already; mark it as no-show",
            )
        self._emit(
            "ticket.recalled", now, ticket=t.id, number=t.number, window=wid, recall=t.recalls + 1
        )
        return t

    def start(self, wid: str, now: float, ref: str | None = None) -> Ticket:
        t = self._current(wid, ref)
        if t.state != TicketState.CALLED.value:
            raise EngineError(
                ErrorCode.CONFLICT, f"{t.number} 不在呼叫中", f"{t.number} is not being called"
            )
        self._emit("ticket.started", now, ticket=t.id, number=t.number, window=wid)
        return t

    def no_show(
        self, wid: str, now: float, ref: str | None = None, requeue: bool = False
    ) -> Ticket:
        t = self._current(wid, ref)
        if t.state != TicketState.CALLED.value:
            raise EngineError(
                ErrorCode.CONFLICT, f"{t.number} 已在办理，不能过号", f"{t.number} is being served"
            )
        requeue = requeue or self.config.window_policy.requeue_after_no_show
        extra = {"waiting_since": self._requeue_place(t, now)} if requeue else {}
        self._emit(
            "ticket.no_show",
            now,
            ticket=t.id,
            number=t.number,
            window=wid,
            requeue=requeue,
            **extra,
        )
        return t

    def _requeue_place(self, t: Ticket, now: float) -> float:
        """Where a no-show re-enters its line, as a waiting-since time: behind the first
        ``requeue_behind`` tickets waiting in its queue and class (so the next call is
        not the same absent person again), or last when fewer are waiting."""
        behind = self.config.window_policy.requeue_behind
        s = self.state
        line = [
            o.waiting_since
            for o in (s.waiting_pri if t.is_priority else s.waiting_norm).get(t.queue, {}).values()
            if o.id != t.id and o.target_window is None
        ]
        # Never the very time of another ticket (tickets of one batch share one): a tie
        # would leave the place to the tie-break of _line_key instead of this rule.
        if behind == 0:
            return min(t.waiting_since, line[0] - 0.001) if line else t.waiting_since
        ahead = line[behind - 1] if behind <= len(line) else None
        after = [w for w in line[behind:] if ahead is not None and w > ahead]
        if ahead is None or not after:
            return max(now, line[-1] + 0.001) if line else now
        return (ahead + after[0]) / 2

    def requeue(self, wid: str, now: float, ref: str | None) -> Ticket:
        if ref is None:
            raise EngineError(ErrorCode.BAD_REQUEST, "请给出号票", "which ticket?", "ticket")
        self._window(wid)
        t = self.ticket(ref, wid)
        if t.state != TicketState.SKIPPED.value or t.skipped_at is None:
            raise EngineError(
                ErrorCode.CONFLICT, f"{t.number} 不是过号状态", f"{t.number} was not skipped"
            )
        grace = self.config.window_policy.no_show_grace_min * 60
        if now - t.skipped_at > grace:
            raise EngineError(
                ErrorCode.TOO_LATE,
                f"{t.number} 已超过过号保留时间，请重新取号",
                f"{t.number} is past the no-show grace period",
            )
        self._emit(
            "ticket.requeued",
            now,
            ticket=t.id,
            number=t.number,
            window=wid,
            waiting_since=self._requeue_place(t, now),
        )
        return t

    def transfer(
        self,
        wid: str,
        now: float,
        ref: str | None = None,
        to_queue: str | None = None,
        to_window: str | None = None,
        note: str | None = None,
    ) -> Ticket:
        t = self._current(wid, ref)
        if t.state not in (TicketState.CALLED.value, TicketState.SERVING.value):
            raise EngineError(
                ErrorCode.CONFLICT,
                f"{t.number} 不在本窗口办理",
                f"{t.number} is not at this window",
            )
        if to_window is not None:
            if to_window not in self.state.windows:
                raise EngineError(
                    ErrorCode.NOT_FOUND,
                    f"没有 {to_window} 号窗口",
                    f"no window {to_window}",
                    "to_window",
                )
            if to_window == wid:
                raise EngineError(
                    ErrorCode.CONFLICT,
                    "不能转给本窗口",
                    "cannot transfer to the same window",
                    "to_window",
                )
            to_queue = to_queue or t.queue
        if to_queue is None:
            raise EngineError(
                ErrorCode.BAD_REQUEST,
                "请选择转到的队列或窗口",
                "give to_queue or to_window",
                "to_queue",
            )
        if to_queue not in self._queue_index:
            raise EngineError(
                ErrorCode.NOT_FOUND,
                f"没有这个队列: {to_queue}",
                f"unknown queue {to_queue}",
                "to_queue",
            )
        prio = t.priority
        if prio == NORMAL.value and self.config.priority.transfer_is_priority:
            prio = PriorityClass.TRANSFER.value
        self._emit(
            "ticket.transferred",
            now,
            ticket=t.id,
            number=t.number,
            from_window=wid,
            from_queue=t.queue,
            to_queue=to_queue,
            to_window=to_window,
            priority=prio,
            note=note,
        )
        return t

    def finish(
        self, wid: str, now: float, ref: str | None = None, accept_case: bool = False
    ) -> tuple[Ticket, Case | None]:
        t = self._current(wid, ref)
        if t.state not in (TicketState.CALLED.value, TicketState.SERVING.value):
            raise EngineError(
                ErrorCode.CONFLICT,
                f"{t.number} 不在本窗口办理",
                f"{t.number} is not at this window",
            )
        self._emit("ticket.finished", now, ticket=t.id, number=t.number, window=wid, queue=t.queue)
        case = self._accept_case(t, now) if accept_case else None
        return t, case

    def pause(self, wid: str, now: float, reason: str | None = None) -> WindowState:
        w = self._window(wid)
        if not w.paused:
            self._emit("window.paused", now, window=wid, reason=reason)
        return w

    def resume(self, wid: str, now: float) -> WindowState:
        w = self._window(wid)
        if w.paused:
            self._emit("window.resumed", now, window=wid)
        return w

    # ------------------------------------------------------------------ cases
    def _working_days_after(self, start: dt.date, days: int) -> dt.date:
        d = start
        left = days
        while left > 0:
            d += dt.timedelta(days=1)
            if hours_on(self.config.schedule, d):
                left -= 1
        return d

    def _accept_case(self, t: Ticket, now: float) -> Case:
        svc = self.config.service(t.service) if t.service else None
        legal = svc.legal_days if svc else 20
        promised = svc.promised_days if svc else legal
        today = self._dt(now).date()
        n = self.state.case_counter + 1
        case = Case(
            case_no=f"{self.config.hall.id.upper()}{today:%Y%m%d}{n:05d}",
            ticket=t.id,
            service=t.service,
            citizen_key=t.citizen_key,
            accepted_at=now,
            deadline=self._working_days_after(today, legal).isoformat(),
            promised_deadline=self._working_days_after(today, promised).isoformat(),
        )
        self._emit("case.accepted", now, case=asdict(case), counter=n)
        return self.state.cases[case.case_no]

    def update_case(self, case_no: str, state: str, now: float) -> Case:
        if case_no not in self.state.cases:
            raise EngineError(ErrorCode.NOT_FOUND, f"没有办件 {case_no}", f"no case {case_no}")
        self._emit("case.updated", now, case_no=case_no, state=state)
        return self.state.cases[case_no]

    def case_level(self, c: Case, now: float) -> Level:
        """Yellow when the promised deadline is within 2 days, red once it has passed."""
        if c.state in ("done", "delivered", "rejected"):
            return Level.NONE
        today = self._dt(now).date()
        deadline = dt.date.fromisoformat(c.promised_deadline)
        if today > deadline:
            return Level.RED
        if (deadline - today).days <= 2:
            return Level.YELLOW
        return Level.NONE

    def find_cases(self, case_no: str | None, citizen_key: str | None) -> list[Case]:
        if case_no:
            c = self.state.cases.get(case_no)
            return [c] if c else []
        if citizen_key:
            return sorted(
                (c for c in self.state.cases.values() if c.citizen_key == citizen_key),
                key=lambda c: c.accepted_at,
                reverse=True,
            )
        return []

    # ---------------------------------------------------------- appointments
    def book(
        self,
        now: float,
        code: str,
        queue: str | None,
        service: str | None,
        start: float,
        end: float,
        citizen_key: str | None = None,
    ) -> Appointment:
        if service is not None:
            queue = self.config.service(service).queue
        if queue is None or queue not in self._queue_index:
            raise EngineError(
                ErrorCode.NOT_FOUND,
                "预约的事项或队列不存在",
                "unknown service or queue for appointment",
            )
        a = Appointment(
            code=code,
            service=service,
            queue=queue,
            start=start,
            end=end,
            citizen_key=citizen_key,
            day=self._day(start),
        )
        self._emit("appointment.booked", now, appointment=asdict(a))
        return self.state.appointments[code]

    def checkin(self, now: float, code: str | None, citizen_key: str | None) -> Ticket:
        self.roll_day(now)
        appt = None
        if code:
            appt = self.state.appointments.get(code)
        elif citizen_key:
            today = self.state.appts_by_day.get(self.state.day, {}).values()
            mine = [a for a in today if a.citizen_key == citizen_key]
            appt = min(mine, key=lambda a: abs(a.start - now)) if mine else None
        if appt is None:
            raise EngineError(
                ErrorCode.NOT_FOUND, "没有找到您今天的预约", "no appointment found for today"
            )
        if appt.ticket is not None and appt.ticket in self.state.tickets:
            return self.state.tickets[appt.ticket]  # checking in twice gives the same ticket
        booked_day = appt.day
        if booked_day != self.state.day:
            when = self._dt(appt.start)
            if booked_day > self.state.day:
                raise EngineError(
                    ErrorCode.TOO_EARLY,
                    f"您的预约是 {when:%m月%d日 %H:%M}，请当天再来签到",
                    f"your appointment is on {when:%Y-%m-%d %H:%M}; check in that day",
                    "code",
                )
            raise EngineError(
                ErrorCode.TOO_LATE,
                f"您的预约（{when:%m月%d日}）已过期，请重新预约或取号",
                f"your appointment was on {when:%Y-%m-%d}; book again or take a ticket",
                "code",
            )
        pol = self.config.appointments
        if now < appt.start - pol.early_min * 60:
            at = dt.datetime.fromtimestamp(appt.start - pol.early_min * 60, self.tz)
            raise EngineError(
                ErrorCode.TOO_EARLY, f"预约签到请在 {at:%H:%M} 以后", f"check in after {at:%H:%M}"
            )
        prio = PriorityClass.APPOINTMENT
        if now > appt.start + pol.late_min * 60:
            if pol.late_policy == "reject":
                raise EngineError(
                    ErrorCode.TOO_LATE,
                    "已超过预约签到时间，请重新预约或取号",
                    "too late for this appointment",
                )
            prio = NORMAL
        return self.issue(
            now,
            service=appt.service,
            queue=None if appt.service else appt.queue,
            priority=prio,
            citizen_key=appt.citizen_key,
            appointment=appt.code,
            cap_exempt=prio == PriorityClass.APPOINTMENT,
        )

    # ----------------------------------------------------------------- rating
    def rate(
        self, now: float, ref: str, level: int, reasons: list[str], text: str | None
    ) -> Ticket:
        t = self.ticket(ref)
        if t.rated:
            raise EngineError(
                ErrorCode.CONFLICT,
                "这张号已经评价过了，感谢您",
                "this ticket has been rated already",
            )
        if not t.rating_open:
            raise EngineError(
                ErrorCode.CONFLICT,
                "办结后才能评价",
                "a ticket can be rated once its service is finished",
            )
        if level >= 3 and (reasons or text):
            raise EngineError(
                ErrorCode.BAD_REQUEST,
                "只有不满意的评价需要填写原因",
                "reasons and text are only for bad ratings",
                "reasons",
            )
        self._emit(
            "rating.submitted",
            now,
            ticket=t.id,
            number=t.number,
            window=t.window,
            service=t.service,
            level=level,
            reasons=reasons,
            text=text,
        )
        return t

    # ---------------------------------------------------------------- warnings
    def tick(self, now: float) -> None:
        """Raise yellow/red warnings (限时 / 电子监察) and expire old no-shows.

        Waits count from when a ticket (re-)entered its queue: a transferred ticket starts
        a new wait, with raised priority. Each queue's waiting tickets are kept in waiting
        order, so the scan stops at the first one still under its yellow limit."""
        self.roll_day(now)
        s = self.state
        for idx in (s.waiting_pri, s.waiting_norm):
            for qid, d in list(idx.items()):
                q = self._queue_index[qid]
                due = []  # found first, emitted after: emitting re-sorts the dict
                for t in d.values():  # oldest first: no copy of a long queue
                    if t.wait_level == _RED:
                        continue  # nothing higher to raise
                    waited = self.open_seconds(t.waiting_since, now) / 60
                    if waited < q.wait_yellow_min:
                        break
                    lvl = _level(waited, q.wait_yellow_min, q.wait_red_min)
                    if _LEVEL_RANK[lvl.value] > _LEVEL_RANK[t.wait_level]:
                        due.append((t, lvl))
                for t, lvl in due:
                    self._emit(
                        "ticket.warning",
                        now,
                        ticket=t.id,
                        number=t.number,
                        queue=t.queue,
                        kind="wait",
                        level=lvl.value,
                    )
        for w in s.windows.values():
            cur = s.tickets.get(w.current or "")
            if cur is None or cur.state not in (
                TicketState.CALLED.value,
                TicketState.SERVING.value,
            ):
                continue
            t = cur
            q = self._queue_index[t.queue]
            since = t.started_at or t.called_at or now
            lvl = _level(
                self.open_seconds(since, now) / 60, q.service_yellow_min, q.service_red_min
            )
            if _LEVEL_RANK[lvl.value] > _LEVEL_RANK[t.service_level]:
                self._emit(
                    "ticket.warning",
                    now,
                    ticket=t.id,
                    number=t.number,
                    queue=t.queue,
                    window=t.window,
                    kind="service",
                    level=lvl.value,
                )
        grace = self.config.window_policy.no_show_grace_min * 60
        for t in list(s.skipped.values()):
            if t.skipped_at is not None and now - t.skipped_at > grace:
                self._emit("ticket.expired", now, ticket=t.id, number=t.number, queue=t.queue)

    def record(self, type_: str, now: float, **data: Any) -> None:
        """Events that only need recording (help requests, mailing requests)."""
        self._emit(type_, now, **data)
