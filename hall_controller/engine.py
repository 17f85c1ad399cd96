"""The queue engine: pure decisions over the hall's state, recorded as events.

Every decision is an event (``hall_contract.events``): :meth:`Engine._emit` applies it
to the state (``hall_controller.apply``, one function per event type) and collects it
for the store. Rebuilding after a crash is applying the same events again, so what is
served after a restart is exactly what was acknowledged before it. The engine does no
I/O and reads no clock: ``now`` (epoch seconds) is passed in. What it needs of the
store's archive (a ticket of an earlier day, a case) the caller looks up and hands in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import math
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from hall_contract import events as ev
from hall_contract.hallconfig import (
    HallConfig,
    hours_on,
    is_open,
    next_opening,
    open_spans,
    service_day,
)
from hall_contract.messages import ErrorCode, Level, PriorityClass, Refusal
from hall_controller.apply import APPLY
from hall_controller.state import (
    ACTIVE,
    AT_WINDOW,
    SKIPPED,
    TRANSITIONS,
    HallState,
    Index,
    Ticket,
    WindowState,
    line_key,
)

NORMAL = PriorityClass.NORMAL.value
#: A ticket number as staff type it: A001, a1, A 12.
_NUMBER = re.compile(r"^\s*([A-Za-z])\s*0*(\d{1,6})\s*$")
_RED = Level.RED.value
_LEVEL_RANK = {Level.NONE.value: 0, Level.YELLOW.value: 1, Level.RED.value: 2}
#: Days after the service day it was finished that a ticket may still be rated (一次一评).
RATING_WINDOW_DAYS = 7


class EngineError(Refusal):
    """A request the hall cannot carry out (closed, nobody waiting, not at this window,
    …); becomes an error reply, Chinese first, with the same in English."""


@dataclass(slots=True)
class Emitted:
    """An event as decided: its hall time and the event."""

    at: float
    data: ev.Event

    @property
    def type(self) -> str:
        return self.data.TYPE


class CaseLike(Protocol):
    state: str
    promised_deadline: str


def _first_untargeted(d: dict[str, Ticket] | None) -> Ticket | None:
    for t in (d or {}).values():
        if t.target_window is None:
            return t
    return None


def _level(minutes: float, yellow: float, red: float) -> Level:
    if minutes >= red:
        return Level.RED
    if minutes >= yellow:
        return Level.YELLOW
    return Level.NONE


class Engine:
    """The hall's queues. Not thread-safe: one writer (the controller's thread)."""

    def __init__(self, config: HallConfig) -> None:
        self.config = config
        self.tz = config.tz
        self.state = HallState()
        self.index = Index()
        self._pending: list[Emitted] = []
        #: Tickets that left memory at a day boundary, for the store's archive.
        self.departed: list[Ticket] = []
        #: Time of the latest event applied: hall time never runs backwards past it.
        self.last_at = 0.0
        #: Events applied so far (a snapshot in the making is abandoned when it moves).
        self.version = 0
        self._open_cache: tuple[int, bool] = (-1, False)
        self._staff: str | None = None
        self._day_checked = -1
        self.services = {s.id: s for s in config.services}
        #: Windows serving each queue (config order), for the waiting estimates.
        self._serving: dict[str, list[Any]] = {
            q.id: [w for w in config.windows if q.id in w.queues] for q in config.queues
        }
        self._window_queues = {w.id: w.queues for w in config.windows}
        self._queue_index = {q.id: q for q in config.queues}
        #: names as shown (the views look them up for every reply)
        self.queue_names = {q.id: q.name for q in config.queues}
        self.window_names = {w.id: w.name for w in config.windows}
        self._spans: dict[dt.date, list[tuple[float, float]]] = {}
        self._span: tuple[float, float] = (0.0, 0.0)
        self._add_windows()

    def _add_windows(self) -> None:
        """Windows of the config the state does not know yet (added since a snapshot)."""
        for w in self.config.windows:
            self.state.windows.setdefault(w.id, WindowState(w.id))

    # ------------------------------------------------------------------ events
    def take_events(self) -> list[Emitted]:
        out, self._pending = self._pending, []
        return out

    @property
    def pending(self) -> list[Emitted]:
        """Events decided since the last ``take_events`` (read only)."""
        return self._pending

    def take_departed(self) -> list[Ticket]:
        out, self.departed = self.departed, []
        return out

    @contextlib.contextmanager
    def acting(self, staff: str | None) -> Iterator[None]:
        """Within it, the events of window actions record ``staff`` as who did them."""
        self._staff = staff
        try:
            yield
        finally:
            self._staff = None

    def _emit(self, now: float, event: ev.Event) -> None:
        if self._staff is not None and getattr(event, "staff", "-") is None:
            event.staff = self._staff  # type: ignore[attr-defined]
        self.apply(now, event)
        self._pending.append(Emitted(now, event))

    def apply(self, at: float, event: ev.Event) -> None:
        """Apply one event to the state (live and for replay)."""
        APPLY[type(event)](self, at, event)
        self.version += 1
        if at > self.last_at:
            self.last_at = at

    def load(self, state: HallState) -> None:
        """Take over a state loaded from a snapshot."""
        for a in state.appointments.values():
            a.day = a.day or self.service_day(a.start)
        self.state = state
        self.index = Index.of(state)
        self._add_windows()

    # ----------------------------------------------------------------- helpers
    def service_day(self, now: float) -> str:
        return service_day(self.config.schedule, self._dt(now), self.tz).isoformat()

    def _dt(self, now: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(now, self.tz)

    def roll_day(self, now: float) -> None:
        """At the day boundary, tickets of non-persisting queues expire and the day's
        finished tickets leave memory."""
        # The boundary is on a whole minute: one calendar look-up per minute.
        minute = int(now // 60)
        if minute == self._day_checked and self.state.day:
            return
        day = self.service_day(now)
        self._day_checked = minute
        if day == self.state.day:
            return
        prev = self.state.day or day
        expired = [
            t.id
            for t in self.index.active.values()
            if not self._queue_index[t.queue].persist_overnight
        ]
        dropped = [a.code for a in self.state.appointments.values() if a.day < prev]
        self._emit(now, ev.DayRolled(day, prev, expired, dropped))

    def is_open(self, now: float) -> bool:
        # Opening hours change on whole minutes: one calendar look-up per minute.
        minute = int(now // 60)
        if self._open_cache[0] != minute:
            self._open_cache = (minute, is_open(self.config.schedule, self._dt(now), self.tz))
        return self._open_cache[1]

    def next_opening(self, now: float) -> dt.datetime | None:
        return next_opening(self.config.schedule, self._dt(now), self.tz)

    def ticket(self, ref: str, window: str | None = None) -> Ticket:
        """A ticket in memory by id, by lookup token (staff may scan the ticket's QR) or
        by its number as staff type it (``A001``, ``a1``): today's ticket of that number,
        the one at ``window`` first, then one still in the hall, then the latest."""
        s = self.state
        t = s.tickets.get(ref) or s.tickets.get(s.by_token.get(ref, ""))
        if t is None:
            m = _NUMBER.match(ref)
            if m is not None:
                number = f"{m[1].upper()}{int(m[2]):03d}"
                same = [s.tickets[i] for i in self.index.by_number.get(number, ())]
                if same:
                    t = max(
                        same,
                        key=lambda o: (
                            o.day == s.day,
                            window is not None and o.window == window,
                            o.state in ACTIVE,
                            o.issued_at,
                        ),
                    )
        if t is None:
            raise EngineError(
                ErrorCode.NOT_FOUND, f"没有找到号票 {ref}", f"no ticket {ref}", "ticket"
            )
        return t

    def ticket_by_token(self, token: str) -> Ticket | None:
        """A ticket in memory by the lookup token printed in its QR code: what a citizen
        holds. Never by id or number, which are public (displays and events show them)."""
        return self.state.tickets.get(self.state.by_token.get(token, ""))

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
        when_en = nxt.strftime("%Y-%m-%d %H:%M") if nxt else "a date to be announced"
        return EngineError(
            ErrorCode.CLOSED,
            f"大厅已下班，下次开放时间 {when}",
            f"The hall is closed; it opens at {when_en}",
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
        """A new ticket, for a service (its queue), else a bundle (its queue), else a
        queue. ``cap_exempt``: an appointment checked in within its slot, whose ticket the
        daily caps held for it (see _held_for_appointments)."""
        self.roll_day(now)
        cfg = self.config
        if check_hours and not self.is_open(now):
            raise self._closed_error(now)
        if service is not None:
            svc = self._service(service)
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
        tid = f"{day}-{number}" if not qcfg.persist_overnight else f"{day}-{number}-{n}"
        issued = ev.IssuedTicket(
            id=tid,
            number=number,
            day=day,
            queue=queue,
            priority=PriorityClass(priority).value,  # type: ignore[arg-type]
            issued_at=now,
            token=self._new_token(number, day),
            service=service,
            bundle=bundle,
            citizen_key=citizen_key,
            appointment=appointment,
        )
        self._emit(now, ev.TicketIssued(issued, counter, n))
        return self.state.tickets[tid]

    def _service(self, sid: str) -> Any:
        svc = self.services.get(sid)
        if svc is None:
            raise EngineError(
                ErrorCode.NOT_FOUND, f"没有这个事项: {sid}", f"unknown service {sid}", "service"
            )
        return svc

    def _held_for_appointments(
        self, now: float, *, service: str | None = None, queue: str | None = None
    ) -> int:
        """Today's booked slots not checked in yet and still within their check-in window:
        walk-ins cannot take the tickets these are owed (a daily cap counts them)."""
        late = self.config.appointments.late_min * 60
        return sum(
            1
            for a in self.index.appts_by_day.get(self.state.day, {}).values()
            if a.ticket is None
            and now <= a.start + late
            and (service is None or a.service == service)
            and (queue is None or a.queue == queue)
        )

    # ------------------------------------------------------------- selection
    def candidates(self, wid: str) -> int:
        """How many waiting tickets this window may call now."""
        queues = set(self._window_queues[wid])
        n = 0
        for idx in (self.index.wait_pri, self.index.wait_norm):
            for q, d in idx.items():
                mine = q in queues
                n += sum(
                    1
                    for t in d.values()
                    if t.target_window == wid or (mine and t.target_window is None)
                )
        return n

    def _order(self, wid: str, t: Ticket) -> tuple[int, int, float, float, int, str, str]:
        queues = self._window_queues[wid]
        qi = queues.index(t.queue) if t.queue in queues else -1
        return (0 if t.target_window == wid else 1, qi, *line_key(t))

    def pick(self, wid: str, now: float) -> tuple[Ticket, str] | None:
        """Choose the next ticket for a window: (ticket, why) or None.

        1. Any ticket waiting longer than the starvation bound goes first, oldest first.
        2. Otherwise priority and normal tickets interleave P:N per window
           (N = 0 means strict priority); within a class, tickets transferred to this
           window first, then by the window's queue order, then by waiting time.
        """
        # Only the head of each queue can be next: the per-queue dicts are in waiting
        # order, so this looks at one ticket per queue, not at every waiting ticket.
        ix = self.index
        queues = self._window_queues[wid]
        targeted = list(ix.targeted.get(wid, {}).values())
        pri = [t for t in targeted if t.is_priority]
        nor = [t for t in targeted if not t.is_priority]
        for q in queues:
            for idx, out in ((ix.wait_pri, pri), (ix.wait_norm, nor)):
                head = _first_untargeted(idx.get(q))
                if head is not None:
                    out.append(head)
        if not pri and not nor:
            return None
        bound = self.config.priority.starvation_min * 60
        starved = [t for t in (*pri, *nor) if self.open_seconds(t.waiting_since, now) >= bound]
        if starved:
            return min(starved, key=line_key), "starved"
        il = self.config.priority.interleave
        w = self.state.windows[wid]
        if pri and nor:
            take_pri = il.normal == 0 or w.pri_streak < il.priority
            pool, why = (pri, "priority") if take_pri else (nor, "normal")
        elif pri:
            pool, why = pri, "priority"
        else:
            pool, why = nor, "normal"
        return min(pool, key=lambda t: self._order(wid, t)), why

    def people_ahead(self, t: Ticket) -> int:
        """Waiting tickets of the same queue that will be called before this one."""
        ix = self.index
        pri = ix.wait_pri.get(t.queue, {})
        same = pri if t.is_priority else ix.wait_norm.get(t.queue, {})
        if t.id in same and next(reversed(same)) == t.id and t.history[-1].what == "issued":
            n = len(same) - 1  # just issued: everyone of its class is ahead (the common case)
        else:
            key = line_key(t)
            n = sum(1 for o in same.values() if o is not t and line_key(o) < key)
        if not t.is_priority:
            n += len(pri)
        return n

    def expected_wait_min(self, queue: str, ahead: int) -> int:
        q = self._queue_index.get(queue)
        if q is None:
            return 0  # a queue removed from the config since (an archived ticket)
        avg_s = self.state.avg_service_s.get(queue, q.default_service_min * 60)
        serving = self._serving.get(queue, [])
        windows = [w for w in serving if not self.state.windows[w.id].paused] or serving
        return math.ceil(ahead * avg_s / 60 / max(1, len(windows)))

    # ---------------------------------------------------------- window ops
    def _window(self, wid: str) -> WindowState:
        w = self.state.windows.get(wid)
        if w is None:
            raise EngineError(ErrorCode.NOT_FOUND, f"没有 {wid} 号窗口", f"no window {wid}")
        return w

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

    def _require_free(self, w: WindowState) -> None:
        """Refuse while the window still has a ticket called or being served."""
        if w.current is not None:
            cur = self.state.tickets[w.current]
            raise EngineError(
                ErrorCode.CONFLICT,
                f"请先办结或转出当前号 {cur.number}",
                f"finish or transfer {cur.number} first",
            )

    @staticmethod
    def _require(t: Ticket, action: str) -> None:
        """Refuse an action the ticket-state machine does not allow from its state."""
        tr = TRANSITIONS[action]
        if t.state not in tr.sources:
            raise EngineError(
                ErrorCode.CONFLICT, tr.refusal.format(n=t.number), tr.refusal_en.format(n=t.number)
            )

    def call_next(self, wid: str, now: float) -> Ticket:
        self.roll_day(now)
        w = self._window(wid)
        if w.paused:
            raise EngineError(ErrorCode.CONFLICT, "窗口已暂停，请先恢复", "window is paused")
        self._require_free(w)
        picked = self.pick(wid, now)
        if picked is None:
            raise EngineError(ErrorCode.EMPTY, "没有等候的号", "nobody is waiting")
        t, why = picked
        self._require(t, "call")
        self._emit(now, ev.TicketCalled(t.id, t.number, wid, t.queue, why))  # type: ignore[arg-type]
        return t

    def recall(self, wid: str, now: float, ref: str | None = None) -> Ticket:
        t = self._current(wid, ref)
        self._require(t, "recall")
        limit = self.config.window_policy.recall_limit
        if t.recalls >= limit:
            raise EngineError(
                ErrorCode.CONFLICT,
                f"已重呼 {limit} 次，请按过号处理",
                f"recalled {limit} times already; mark it as no-show",
            )
        self._emit(now, ev.TicketRecalled(t.id, t.number, wid, t.recalls + 1))
        return t

    def start(self, wid: str, now: float, ref: str | None = None) -> Ticket:
        t = self._current(wid, ref)
        self._require(t, "start")
        self._emit(now, ev.TicketStarted(t.id, t.number, wid))
        return t

    def no_show(
        self, wid: str, now: float, ref: str | None = None, requeue: bool = False
    ) -> Ticket:
        t = self._current(wid, ref)
        self._require(t, "no_show")
        requeue = requeue or self.config.window_policy.requeue_after_no_show
        place = self._requeue_place(t, now) if requeue else None
        self._emit(now, ev.TicketNoShow(t.id, t.number, wid, requeue, place))
        return t

    def _requeue_place(self, t: Ticket, now: float) -> float:
        """Where a no-show re-enters its line, as a waiting-since time: behind the first
        ``requeue_behind`` tickets waiting in its queue and class (so the next call is
        not the same absent person again), or last when fewer are waiting."""
        behind = self.config.window_policy.requeue_behind
        ix = self.index
        line = [
            o.waiting_since
            for o in (ix.wait_pri if t.is_priority else ix.wait_norm).get(t.queue, {}).values()
            if o.id != t.id and o.target_window is None
        ]
        # Never the very time of another ticket (tickets of one batch share one): a tie
        # would leave the place to the tie-break of line_key instead of this rule.
        if behind == 0:
            return min(t.waiting_since, line[0] - 0.001) if line else t.waiting_since
        ahead = line[behind - 1] if behind <= len(line) else None
        after = [w for w in line[behind:] if ahead is not None and w > ahead]
        if ahead is None or not after:
            return max(now, line[-1] + 0.001) if line else now
        return (ahead + after[0]) / 2

    def requeue(self, wid: str, now: float, ref: str) -> Ticket:
        self._window(wid)
        t = self.ticket(ref, wid)
        self._require(t, "requeue")
        grace = self.config.window_policy.no_show_grace_min * 60
        if t.skipped_at is None or now - t.skipped_at > grace:
            raise EngineError(
                ErrorCode.TOO_LATE,
                f"{t.number} 已超过过号保留时间，请重新取号",
                f"{t.number} is past the no-show grace period",
            )
        self._emit(now, ev.TicketRequeued(t.id, t.number, wid, self._requeue_place(t, now)))
        return t

    def transfer(
        self,
        wid: str,
        now: float,
        ref: str | None = None,
        to_queue: str | None = None,
        to_window: str | None = None,
        sealed_note: str | None = None,
    ) -> Ticket:
        """转号. ``sealed_note``: the staff's note, sealed by the caller (free text is never
        stored in clear)."""
        t = self._current(wid, ref)
        self._require(t, "transfer")
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
        if prio == NORMAL and self.config.priority.transfer_is_priority:
            prio = PriorityClass.TRANSFER.value
        self._emit(
            now,
            ev.TicketTransferred(
                t.id,
                t.number,
                wid,
                t.queue,
                to_queue,
                to_window,
                prio,  # type: ignore[arg-type]
                sealed_note,
            ),
        )
        return t

    def finish(
        self, wid: str, now: float, ref: str | None = None, accept_case: bool = False
    ) -> tuple[Ticket, ev.CaseRecord | None]:
        t = self._current(wid, ref)
        self._require(t, "finish")
        self._emit(now, ev.TicketFinished(t.id, t.number, wid, t.queue))
        case = self._accept_case(t, now) if accept_case else None
        return t, case

    def pause(
        self, wid: str, now: float, reason: str = "other", sealed_note: str | None = None
    ) -> WindowState:
        w = self._window(wid)
        if not w.paused:
            self._emit(now, ev.WindowPaused(wid, reason, sealed_note))  # type: ignore[arg-type]
        return w

    def resume(self, wid: str, now: float) -> WindowState:
        w = self._window(wid)
        if w.paused:
            self._emit(now, ev.WindowResumed(wid))
        return w

    def sign_on(self, wid: str, now: float) -> WindowState:
        """Staff sign on: the window is open. Again by someone else: they take it over."""
        w = self._window(wid)
        if not w.open or w.staff != self._staff:
            self._emit(now, ev.WindowOpened(wid))
        return w

    def sign_off(self, wid: str, now: float) -> WindowState:
        w = self._window(wid)
        self._require_free(w)
        if w.open or w.paused:
            self._emit(now, ev.WindowClosed(wid))
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

    def _accept_case(self, t: Ticket, now: float) -> ev.CaseRecord:
        svc = self.services.get(t.service) if t.service else None
        legal = svc.legal_days if svc else 20
        promised = svc.promised_days if svc else legal
        today = self._dt(now).date()
        n = self.state.case_counter + 1
        case = ev.CaseRecord(
            case_no=f"{self.config.hall.id.upper()}{today:%Y%m%d}{n:05d}",
            ticket=t.id,
            service=t.service,
            citizen_key=t.citizen_key,
            accepted_at=now,
            deadline=self._working_days_after(today, legal).isoformat(),
            promised_deadline=self._working_days_after(today, promised).isoformat(),
        )
        self._emit(now, ev.CaseAccepted(case, n))
        return case

    def update_case(self, case: ev.CaseRecord, state: str, now: float) -> ev.CaseRecord:
        """Move a case (as the store has it) on; returns it as it is now."""
        self._emit(now, ev.CaseUpdated(case.case_no, state))  # type: ignore[arg-type]
        return dataclasses.replace(case, state=state)  # type: ignore[arg-type]

    def case_level(self, c: CaseLike, now: float) -> Level:
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
    ) -> ev.AppointmentRecord:
        if service is not None:
            queue = self._service(service).queue
        if queue is None or queue not in self._queue_index:
            raise EngineError(
                ErrorCode.NOT_FOUND,
                "预约的事项或队列不存在",
                "unknown service or queue for appointment",
                "service",
            )
        a = ev.AppointmentRecord(
            code=code,
            service=service,
            queue=queue,
            start=start,
            end=end,
            citizen_key=citizen_key,
            day=self.service_day(start),
        )
        self._emit(now, ev.AppointmentBooked(a))
        return a

    def checkin(self, now: float, code: str | None, citizen_key: str | None) -> Ticket:
        self.roll_day(now)
        appt = None
        if code:
            appt = self.state.appointments.get(code)
        elif citizen_key:
            today = self.index.appts_by_day.get(self.state.day, {}).values()
            mine = [a for a in today if a.citizen_key == citizen_key]
            appt = min(mine, key=lambda a: abs(a.start - now)) if mine else None
        if appt is None:
            raise EngineError(
                ErrorCode.NOT_FOUND, "没有找到您今天的预约", "no appointment found for today"
            )
        if appt.ticket is not None and appt.ticket in self.state.tickets:
            return self.state.tickets[appt.ticket]  # checking in twice gives the same ticket
        if appt.day != self.state.day:
            when = self._dt(appt.start)
            if appt.day > self.state.day:
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
            at = self._dt(appt.start - pol.early_min * 60)
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
            prio = PriorityClass.NORMAL
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
        self,
        now: float,
        t: Ticket,
        level: int,
        reasons: list[str],
        sealed_text: str | None = None,
    ) -> Ticket:
        """一次一评 of a finished ticket: ``t`` from memory or, for a ticket of an earlier
        day, from the store's archive. ``sealed_text``: the comment, sealed by the caller."""
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
        finished = self.service_day(t.finished_at or now)
        if dt.date.fromisoformat(finished) + dt.timedelta(
            days=RATING_WINDOW_DAYS
        ) < dt.date.fromisoformat(self.service_day(now)):
            raise EngineError(
                ErrorCode.TOO_LATE,
                f"办结 {RATING_WINDOW_DAYS} 天后不能再评价",
                f"ratings close {RATING_WINDOW_DAYS} days after the service",
                "ticket",
            )
        if level >= 3 and (reasons or sealed_text):
            raise EngineError(
                ErrorCode.BAD_REQUEST,
                "只有不满意的评价需要填写原因",
                "reasons and text are only for bad ratings",
                "reasons",
            )
        self._emit(
            now,
            ev.RatingSubmitted(t.id, t.number, t.window, t.service, level, reasons, sealed_text),  # type: ignore[arg-type]
        )
        return t

    # ---------------------------------------------------------------- warnings
    def tick(self, now: float) -> None:
        """Raise yellow/red warnings (限时 / 电子监察) and expire old no-shows.

        Waits count from when a ticket (re-)entered its queue: a transferred ticket starts
        a new wait, with raised priority. Each queue's waiting tickets are kept in waiting
        order, so the scan stops at the first one still under its yellow limit."""
        self.roll_day(now)
        ix = self.index
        for idx in (ix.wait_pri, ix.wait_norm):
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
                        now,
                        ev.TicketWarning(t.id, t.number, t.queue, "wait", lvl.value),  # type: ignore[arg-type]
                    )
        for w in self.state.windows.values():
            t = self.state.tickets.get(w.current or "")  # type: ignore[assignment]
            if t is None or t.state not in AT_WINDOW:
                continue
            q = self._queue_index[t.queue]
            since = t.started_at or t.called_at or now
            lvl = _level(
                self.open_seconds(since, now) / 60, q.service_yellow_min, q.service_red_min
            )
            if _LEVEL_RANK[lvl.value] > _LEVEL_RANK[t.service_level]:
                self._emit(
                    now,
                    ev.TicketWarning(t.id, t.number, t.queue, "service", lvl.value, t.window),  # type: ignore[arg-type]
                )
        grace = self.config.window_policy.no_show_grace_min * 60
        for t in list(ix.skipped.values()):
            if t.state == SKIPPED and t.skipped_at is not None and now - t.skipped_at > grace:
                self._emit(now, ev.TicketExpired(t.id, t.number, t.queue))

    def record(self, now: float, event: ev.Event) -> None:
        """Events that only need recording (help requests, mailing requests)."""
        self._emit(now, event)
