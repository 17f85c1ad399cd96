"""Applying events to the hall's state: one function per event type.

Used live (every decision of the engine is an event applied here) and when the state is
rebuilt from the store, so what a restarted controller knows is exactly what it had
acknowledged. A function may only read its event and the state: no clock, no config
that may have changed since the event was written (what a decision depended on is in
the event), no I/O. Old events were brought to today's shape by
``hall_contract.events.upgrade`` before they get here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hall_contract import events as ev
from hall_contract.messages import TicketStep
from hall_controller.state import (
    ACTIVE,
    AT_WINDOW,
    NONE,
    TRANSITIONS,
    Appointment,
    Ticket,
)

if TYPE_CHECKING:
    from hall_controller.engine import Engine

E = TypeVar("E", bound=ev.Event)
Applier = Callable[["Engine", float, Any], None]
#: event class → the function applying it.
APPLY: dict[type[ev.Event], Applier] = {}

EWMA_ALPHA = 0.2  #: weight of the latest service time in the learned average


def applies(cls: type[E]) -> Callable[[Callable[[Engine, float, E], None]], Applier]:
    def register(fn: Callable[[Engine, float, E], None]) -> Applier:
        APPLY[cls] = fn
        return fn

    return register


def _step(t: Ticket, at: float, what: str, **kw: Any) -> None:
    t.history.append(TicketStep(at, what, **kw))  # type: ignore[arg-type]


@applies(ev.DayRolled)
def _day_rolled(e: Engine, at: float, d: ev.DayRolled) -> None:
    s, ix = e.state, e.index
    s.day = d.day
    for tid in d.expired:
        t = s.tickets[tid]
        t.state = TRANSITIONS["day_end"].target
        _step(t, at, "expired")
        ix.update(t)
    for w in s.windows.values():
        if w.current is not None:
            cur = s.tickets.get(w.current)
            if cur is None or cur.state not in AT_WINDOW:
                w.current = None
        w.pri_streak = w.norm_streak = 0
    # Finished tickets of earlier days leave memory (to the store's archive: the
    # controller takes them with Engine.take_departed). Active ones stay.
    for tid, t in list(s.tickets.items()):
        if t.day != d.day and t.state not in ACTIVE:
            del s.tickets[tid]
            s.by_token.pop(t.token, None)
            ix.drop(t)
            e.departed.append(t)
    # Counters of earlier days are done with (a queue kept overnight counts by queue).
    for counts in (s.counters, s.issued_service, s.issued_queue):
        for k in [k for k in counts if "|" in k and k.split("|", 1)[0] < d.day]:
            del counts[k]
    # Appointments of days gone by can no longer be checked in (the list is in the
    # event: replaying it never depends on today's config).
    for code in d.dropped_appointments:
        a = s.appointments.pop(code, None)
        if a is not None:
            ix.appts_by_day.get(a.day, {}).pop(code, None)
    for day in [k for k in ix.appts_by_day if not ix.appts_by_day[k]]:
        del ix.appts_by_day[day]


@applies(ev.TicketIssued)
def _issued(e: Engine, at: float, d: ev.TicketIssued) -> None:
    s = e.state
    r = d.ticket
    t = Ticket(
        id=r.id,
        number=r.number,
        day=r.day,
        queue=r.queue,
        priority=r.priority,
        issued_at=r.issued_at,
        token=r.token,
        waiting_since=r.issued_at,
        service=r.service,
        bundle=r.bundle,
        citizen_key=r.citizen_key,
        appointment=r.appointment,
    )
    s.tickets[t.id] = t
    s.by_token[t.token] = t.id
    s.counters[d.counter] = d.n
    if t.service:
        k = f"{t.day}|{t.service}"
        s.issued_service[k] = s.issued_service.get(k, 0) + 1
    kq = f"{t.day}|{t.queue}"
    s.issued_queue[kq] = s.issued_queue.get(kq, 0) + 1
    _step(t, at, "issued", queue=t.queue)
    if t.appointment and t.appointment in s.appointments:
        s.appointments[t.appointment].ticket = t.id
    e.index.add(t)


@applies(ev.TicketCalled)
def _called(e: Engine, at: float, d: ev.TicketCalled) -> None:
    t = e.state.tickets[d.ticket]
    w = e.state.windows[d.window]
    t.state = TRANSITIONS["call"].target
    t.window = w.id
    t.called_at = at
    t.target_window = None
    t.recalls = 0  # each call has its own recall limit (after a re-queue, a transfer)
    w.current = t.id
    if d.pick == "priority":
        w.pri_streak += 1
        w.norm_streak = 0
    elif d.pick == "normal":
        w.norm_streak += 1
        if w.norm_streak >= e.config.priority.interleave.normal:
            w.pri_streak = 0
    _step(t, at, "called", window=w.id, staff=d.staff)
    e.index.update(t)


@applies(ev.TicketRecalled)
def _recalled(e: Engine, at: float, d: ev.TicketRecalled) -> None:
    t = e.state.tickets[d.ticket]
    t.recalls += 1
    _step(t, at, "recalled", window=t.window, staff=d.staff)


@applies(ev.TicketStarted)
def _started(e: Engine, at: float, d: ev.TicketStarted) -> None:
    t = e.state.tickets[d.ticket]
    t.state = TRANSITIONS["start"].target
    t.started_at = at
    _step(t, at, "started", window=t.window, staff=d.staff)
    e.index.update(t)


@applies(ev.TicketNoShow)
def _no_show(e: Engine, at: float, d: ev.TicketNoShow) -> None:
    t = e.state.tickets[d.ticket]
    w = e.state.windows[d.window]
    if w.current == t.id:
        w.current = None
    _step(t, at, "no_show", window=w.id, staff=d.staff)
    if d.requeue:
        t.state = TRANSITIONS["requeue"].target
        # where it re-enters the line, as decided (events older than requeue_behind
        # keep the ticket's earlier place)
        if d.waiting_since is not None:
            t.waiting_since = d.waiting_since
        _step(t, at, "requeued", queue=t.queue)
    else:
        t.state = TRANSITIONS["no_show"].target
        t.skipped_at = at
    e.index.update(t)


@applies(ev.TicketRequeued)
def _requeued(e: Engine, at: float, d: ev.TicketRequeued) -> None:
    t = e.state.tickets[d.ticket]
    t.state = TRANSITIONS["requeue"].target
    t.skipped_at = None
    if d.waiting_since is not None:
        t.waiting_since = d.waiting_since
    _step(t, at, "requeued", queue=t.queue)
    e.index.update(t)


@applies(ev.TicketTransferred)
def _transferred(e: Engine, at: float, d: ev.TicketTransferred) -> None:
    t = e.state.tickets[d.ticket]
    src = e.state.windows.get(d.from_window)
    if src is not None and src.current == t.id:
        src.current = None
    t.state = TRANSITIONS["transfer"].target
    t.queue = d.to_queue
    t.target_window = d.to_window
    t.priority = d.priority
    t.waiting_since = at
    t.wait_level = t.service_level = NONE
    _step(
        t,
        at,
        "transferred",
        window=d.to_window,
        queue=d.to_queue,
        note=d.sealed_note,
        staff=d.staff,
    )
    e.index.update(t)


@applies(ev.TicketFinished)
def _finished(e: Engine, at: float, d: ev.TicketFinished) -> None:
    s = e.state
    t = s.tickets[d.ticket]
    w = s.windows[d.window]
    if w.current == t.id:
        w.current = None
    w.served += 1
    t.state = TRANSITIONS["finish"].target
    t.finished_at = at
    t.rating_open = True
    if t.called_at is not None:
        dur = max(1.0, at - (t.started_at or t.called_at))
        q = t.queue
        old = s.avg_service_s.get(q, e.config.queue(q).default_service_min * 60)
        s.avg_service_s[q] = (1 - EWMA_ALPHA) * old + EWMA_ALPHA * dur
    _step(t, at, "finished", window=w.id, staff=d.staff)
    e.index.update(t)


@applies(ev.TicketExpired)
def _expired(e: Engine, at: float, d: ev.TicketExpired) -> None:
    t = e.state.tickets[d.ticket]
    t.state = TRANSITIONS["expire"].target
    _step(t, at, "expired")
    e.index.update(t)


@applies(ev.TicketWarning)
def _warning(e: Engine, at: float, d: ev.TicketWarning) -> None:
    t = e.state.tickets[d.ticket]
    if d.kind == "wait":
        t.wait_level = d.level
    else:
        t.service_level = d.level


@applies(ev.RatingSubmitted)
def _rated(e: Engine, at: float, d: ev.RatingSubmitted) -> None:
    e.state.ratings += 1
    t = e.state.tickets.get(d.ticket)
    if t is not None:  # else: a ticket of an earlier day, in the store's archive
        t.rated = True
        t.rating_open = False
        _step(t, at, "rated")


@applies(ev.WindowPaused)
def _paused(e: Engine, at: float, d: ev.WindowPaused) -> None:
    w = e.state.windows[d.window]
    w.paused = True
    w.pause_reason = d.reason


@applies(ev.WindowResumed)
def _resumed(e: Engine, at: float, d: ev.WindowResumed) -> None:
    w = e.state.windows[d.window]
    w.paused = False
    w.pause_reason = None


@applies(ev.WindowOpened)
def _opened(e: Engine, at: float, d: ev.WindowOpened) -> None:
    w = e.state.windows[d.window]
    w.open = True
    w.staff = d.staff


@applies(ev.WindowClosed)
def _closed(e: Engine, at: float, d: ev.WindowClosed) -> None:
    w = e.state.windows[d.window]
    w.open = False
    w.staff = None
    w.paused = False
    w.pause_reason = None


@applies(ev.CaseAccepted)
def _case_accepted(e: Engine, at: float, d: ev.CaseAccepted) -> None:
    # The case itself lives in the store (cases table), not in memory.
    e.state.case_counter = d.counter


@applies(ev.CaseUpdated)
def _case_updated(e: Engine, at: float, d: ev.CaseUpdated) -> None:
    pass  # the store's cases table follows it


@applies(ev.AppointmentBooked)
def _booked(e: Engine, at: float, d: ev.AppointmentBooked) -> None:
    s, ix = e.state, e.index
    r = d.appointment
    a = Appointment(
        code=r.code,
        service=r.service,
        queue=r.queue,
        start=r.start,
        end=r.end,
        citizen_key=r.citizen_key,
        day=r.day or e.service_day(r.start),  # (booked before the day was recorded)
    )
    old = s.appointments.get(a.code)
    if old is not None:  # booked again (moved): the old slot is gone
        ix.appts_by_day.get(old.day, {}).pop(a.code, None)
    s.appointments[a.code] = a
    ix.appts_by_day.setdefault(a.day, {})[a.code] = a


@applies(ev.HelpRequested)
def _help(e: Engine, at: float, d: ev.HelpRequested) -> None:
    e.state.alerts += 1


@applies(ev.MailingRequested)
def _mailing(e: Engine, at: float, d: ev.MailingRequested) -> None:
    e.state.alerts += 1


def _check() -> None:
    missing = [c.TYPE for c in ev.EVENT_CLASSES if c not in APPLY]
    if missing:
        raise RuntimeError(f"no applier for {missing}")


_check()
