"""The controller's rules, without I/O: a batch of requests in, what to store and send out.

:meth:`HallCore.handle` takes what arrived (requests, and alerts raised by the terminal
registry or the broker supervisor) and the hall time, and returns the events to store,
the replies to send, the alerts to raise and the tickets leaving memory. It never
touches the network and never writes; it reads the store's archive (a ticket of an
earlier day, a case) and its stored replies (a retried request) through the small
``Lookups`` interface. The runner (``hall_controller.service``) does the I/O around it:
commit → events → fsync → replies.

Who may call what is :data:`hall_contract.messages.OPERATIONS`' role table, checked here
once, before a request is read; each operation's handler is a method in ``_HANDLERS``.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from hall_contract import events as ev
from hall_contract import messages as m
from hall_contract.hallconfig import HallConfig
from hall_contract.messages import ErrorCode
from hall_controller import views
from hall_controller.engine import Emitted, Engine, EngineError
from hall_controller.sealing import Sealer
from hall_controller.state import Ticket
from hall_controller.terminals import AlertSignal

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Inbound:
    """A request as it came off the wire: ``t/{terminal}/req/{op}``."""

    terminal: str
    op: str
    payload: bytes
    correlation: bytes | None = None
    response_topic: str | None = None


@dataclass(slots=True)
class OutReply:
    terminal: str
    body: bytes
    correlation: bytes | None
    #: the idempotency key to store it under (a success that changed something), or None
    key: str | None = None
    #: what to store, when not ``body`` itself (a reply with a staff note: sealed)
    stored: bytes | None = None


@dataclass(slots=True)
class Outgoing:
    events: list[Emitted] = field(default_factory=list)
    replies: list[OutReply] = field(default_factory=list)
    alerts: list[m.Alert] = field(default_factory=list)
    #: tickets that left memory (a day boundary): for the store's archive
    departed: list[Ticket] = field(default_factory=list)


class Lookups(Protocol):
    """What the rules read from the store."""

    def get_reply(self, ref: int) -> bytes | None: ...
    def archived_ticket(
        self, *, token: str | None = None, tid: str | None = None
    ) -> dict[str, Any] | None: ...
    def case(self, case_no: str) -> ev.CaseRecord | None: ...
    def cases_of(self, citizen_key: str, limit: int) -> list[ev.CaseRecord]: ...


class RateLimitedLog:
    """One log line per rejected message, at most ``per_minute`` a minute; then one line
    saying how many more were rejected (a flood of garbage does not flood the log)."""

    def __init__(
        self,
        logger: logging.Logger,
        per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.per_minute = per_minute
        self.clock = clock
        self._minute = -1
        self._count = 0
        self._dropped = 0

    def warning(self, msg: str, *args: object) -> None:
        minute = int(self.clock() // 60)
        if minute != self._minute:
            if self._dropped:
                self.logger.warning(
                    "... and %d more rejected messages in the last minute", self._dropped
                )
            self._minute, self._count, self._dropped = minute, 0, 0
        self._count += 1
        if self._count <= self.per_minute:
            self.logger.warning(msg, *args)
        else:
            self._dropped += 1


def _safe(text: str) -> str:
    """An operation name fit for a log line (it comes from a topic anybody may write)."""
    return m.safe_name(text)


#: A stored reply that holds free text (a staff note) is kept sealed, behind this mark.
SEALED_REPLY = b"sealed:"


@dataclass(slots=True)
class _Ctx:
    terminal: str
    role: str | None
    now: float
    alerts: list[m.Alert]
    #: the reply carries free text in clear (a transfer note for the staff)
    private: bool = False


class HallCore:
    """The hall's request handling over one engine. Not thread-safe (the runner's thread)."""

    def __init__(
        self,
        config: HallConfig,
        engine: Engine,
        lookups: Lookups,
        *,
        sealer: Sealer | None = None,
        reply_keys: dict[str, int] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.lookups = lookups
        self.sealer = sealer
        # Replies kept for retries: the newest in memory, every key of the last day known
        # (key → stored reply reference), so a new request id costs no database look-up.
        self.replies: dict[str, bytes] = {}
        self.reply_keys: dict[str, int] = reply_keys or {}
        self.rejected = RateLimitedLog(log)
        self._role_of: dict[str, str] = {t.id: t.role for t in config.terminals}
        self._window_of = {t.id: t.window for t in config.terminals if t.window}
        self._location_of = {t.id: t.location for t in config.terminals if t.location}

    # ------------------------------------------------------------------ who
    def role_of(self, tid: str) -> str:
        """A terminal's role: from the hall config. A terminal the config does not name
        can only exist on a broker without passwords (with auth on, it cannot log in): it
        counts as a kiosk, or as window W's terminal when its id is ``window-W`` (the
        staff CLI's fallback)."""
        role = self._role_of.get(tid)
        if role is not None:
            return role
        if tid.startswith("window-") and tid.removeprefix("window-") in self.engine.state.windows:
            return "window"
        return "kiosk"

    def window_of(self, tid: str) -> str:
        wid = self._window_of.get(tid)
        if wid is None and tid.startswith("window-") and tid not in self._role_of:
            wid = tid.removeprefix("window-")
        if wid is None or wid not in self.engine.state.windows:
            raise EngineError(
                ErrorCode.FORBIDDEN,
                f"终端 {tid} 没有配置窗口",
                f"terminal {tid} has no window in the hall config",
            )
        return wid

    def acting_window(self, c: _Ctx, r: m.WindowRequest) -> str:
        """The window a window operation acts for. A window terminal acts for its own;
        the web server names the window and the staff member in every request."""
        if c.role == "web":
            if r.window is None or r.staff is None:
                raise EngineError(
                    ErrorCode.BAD_REQUEST,
                    "网页服务须注明窗口和工作人员",
                    "the web server must name the window and the staff member",
                    "window" if r.window is None else "staff",
                )
            if r.window not in self.engine.state.windows:
                raise EngineError(
                    ErrorCode.NOT_FOUND,
                    f"没有 {r.window} 号窗口",
                    f"no window {r.window}",
                    "window",
                )
            return r.window
        wid = self.window_of(c.terminal)
        if r.window is not None and r.window != wid:
            raise EngineError(
                ErrorCode.FORBIDDEN,
                f"终端 {c.terminal} 只能操作自己的窗口",
                f"terminal {c.terminal} may act for its own window only",
                "window",
            )
        return wid

    # ---------------------------------------------------------------- sealing
    def seal(self, text: str | None) -> str | None:
        """Free text as it may be stored: sealed, or not at all (no key set up)."""
        if not text:
            return None
        if self.sealer is None:
            return None
        return self.sealer.seal(text.encode())

    def unseal(self, token: str) -> str | None:
        if self.sealer is None:
            return None
        try:
            return self.sealer.unseal(token).decode()
        except ValueError:
            return None

    # ----------------------------------------------------------------- handle
    def handle(
        self,
        batch: Iterable[Inbound | AlertSignal],
        now: float,
        *,
        tick: bool = False,
    ) -> Outgoing:
        """Everything that arrived together, decided at hall time ``now``."""
        out = Outgoing()
        e = self.engine
        if tick:
            e.tick(now)
            for x in e.pending:
                d = x.data
                if isinstance(d, ev.TicketWarning) and d.level == "red":
                    # 电子监察: a red limit reaches the hall manager at once.
                    what = "等候" if d.kind == "wait" else "办理"
                    out.alerts.append(
                        self.alert(
                            d.kind,
                            f"{d.number} {what}超时（红牌）",
                            now,
                            level="red",
                            ticket=d.number,
                        )
                    )
        for item in batch:
            if isinstance(item, AlertSignal):
                out.alerts.append(
                    self.alert(
                        item.kind, item.message, now, level=item.level, terminal=item.terminal
                    )
                )
                continue
            ctx = _Ctx(item.terminal, None, now, out.alerts)
            body, key = self._one(item, ctx)
            stored = None
            if key is not None and ctx.private and self.sealer is not None:
                stored = SEALED_REPLY + self.sealer.seal(body).encode()
            out.replies.append(OutReply(item.terminal, body, item.correlation, key, stored))
        out.events = e.take_events()
        out.departed = e.take_departed()
        if len(self.replies) > 20_000:
            self.replies.clear()  # the store still has them
        return out

    def _one(self, item: Inbound, ctx: _Ctx) -> tuple[bytes, str | None]:
        """One request: its reply body, and the key to store it under (or None)."""
        rid: str | None = None
        key: str | None = None
        try:
            data = m.decode_payload(item.payload)
            rid = m.request_id_in(data)
            if rid is not None:
                key = f"{item.terminal}:{rid}"
                cached = self.replies.get(key)
                if cached is None and key in self.reply_keys:
                    cached = self._stored_reply(self.reply_keys[key])
                if cached is not None:
                    return cached, None  # a retry: the very reply it had
            op = m.OPERATIONS.get(item.op)
            if op is None:
                raise m.BadPayload(
                    ErrorCode.UNKNOWN_OP,
                    f"没有这个操作：{_safe(item.op)}",
                    f"unknown operation {_safe(item.op)}",
                )
            ctx.role = self.role_of(item.terminal)
            if ctx.role not in op.roles:
                raise EngineError(
                    ErrorCode.FORBIDDEN,
                    f"{ctx.role} 终端不能调用 {op.name}",
                    f"a {ctx.role} terminal may not call {op.name}",
                )
            req = m.validate_request(item.op, data)
        except m.Refusal as err:  # unreadable, unknown, not this role's, not the contract's
            self.rejected.warning(
                "rejected %s from %s: %s", _safe(item.op), item.terminal, err.message_en
            )
            return err.reply(rid or "").dumps(), None
        before = len(self.engine.pending)
        staff = req.staff if isinstance(req, m.WindowRequest) else None
        try:
            with self.engine.acting(staff):
                result = _HANDLERS[item.op](self, ctx, req)
        except m.Refusal as err:
            return err.reply(req.id).dumps(), None
        except Exception:
            log.exception("internal error handling %s from %s", _safe(item.op), item.terminal)
            return (
                m.error_reply(
                    req.id,
                    ErrorCode.INTERNAL,
                    "系统内部错误，请联系工作人员",
                    "internal error; please ask staff",
                ).dumps(),
                None,
            )
        # The m.Reply schema, serialised directly (orjson of the result dataclass).
        body = orjson.dumps({"id": req.id, "ok": True, "result": result, "error": None})
        if key is not None and len(self.engine.pending) > before:
            self.replies[key] = body  # a retry in this very batch gets it too
            return body, key
        return body, None

    def _stored_reply(self, ref: int) -> bytes | None:
        body = self.lookups.get_reply(ref)
        if body is not None and body.startswith(SEALED_REPLY):
            if self.sealer is None:
                return None  # cannot be opened here: the request is decided again
            try:
                return self.sealer.unseal(body[len(SEALED_REPLY) :].decode())
            except ValueError:
                return None
        return body

    def alert(
        self,
        kind: str,
        message: str,
        now: float,
        *,
        level: str = "yellow",
        terminal: str | None = None,
        ticket: str | None = None,
    ) -> m.Alert:
        self.engine.state.alerts += 1
        return m.Alert(
            id=f"al{int(now * 1000)}-{self.engine.state.alerts}",
            kind=kind,  # type: ignore[arg-type]
            level=level,  # type: ignore[arg-type]
            terminal=terminal,
            location=self._location_of.get(terminal or ""),
            ticket=ticket,
            message=message,
            at=now,
        )

    # ------------------------------------------------------------- tickets
    def _by_token(self, token: str) -> Ticket | None:
        """A ticket by its lookup token: in memory, else in the store's archive."""
        t = self.engine.ticket_by_token(token)
        if t is None:
            d = self.lookups.archived_ticket(token=token)
            t = Ticket.from_dict(d) if d is not None else None
        return t

    def _ticket_issue(self, c: _Ctx, r: m.TicketIssue) -> m.TicketInfo:
        t = self.engine.issue(
            c.now,
            service=r.service,
            bundle=r.bundle,
            queue=r.queue,
            priority=r.priority,
            citizen_key=r.citizen_key,
        )
        return views.ticket_info(self.engine, t, token=True)

    def _appointment_checkin(self, c: _Ctx, r: m.AppointmentCheckin) -> m.TicketInfo:
        t = self.engine.checkin(c.now, r.code, r.citizen_key)
        return views.ticket_info(self.engine, t, token=True)

    def _ticket_lookup(self, c: _Ctx, r: m.TicketLookup) -> m.TicketInfo:
        # By the token only: ids and numbers are public, the token is what the citizen
        # holds (and what rating a ticket requires).
        t = self._by_token(r.ticket)
        if t is None:
            raise EngineError(ErrorCode.NOT_FOUND, "没有找到这张号票", "no such ticket", "ticket")
        return views.ticket_info(self.engine, t, token=True)

    def _case_lookup(self, c: _Ctx, r: m.CaseLookup) -> m.CaseList:
        if r.case_no is not None:
            one = self.lookups.case(r.case_no)
            cases = [one] if one is not None else []
        else:
            cases = self.lookups.cases_of(r.citizen_key or "", 10)
        if not cases:
            raise EngineError(ErrorCode.NOT_FOUND, "没有查到办件", "no case found")
        return m.CaseList([views.case_info(self.engine, x, c.now) for x in cases])

    def _rating_submit(self, c: _Ctx, r: m.RatingSubmit) -> m.RatingAccepted:
        forbidden = EngineError(
            ErrorCode.FORBIDDEN,
            "请扫描号票上的二维码进行评价",
            "rate with the QR code on the ticket",
            "ticket",
        )
        t = self._by_token(r.ticket)
        if t is not None and not hmac.compare_digest(r.ticket, t.token):
            t = None
        if t is None:
            if c.role == "rater":
                pad_window = self._window_of.get(c.terminal)
            elif c.role == "web" and r.window is not None:
                pad_window = r.window  # a rating pad paired with the web server
            else:
                raise forbidden
            # The rating device at a window rates that window's ticket, by its id.
            t = self.engine.state.tickets.get(r.ticket)
            if t is None:
                d = self.lookups.archived_ticket(tid=r.ticket)
                t = Ticket.from_dict(d) if d is not None else None
            if t is None or pad_window is None or t.window != pad_window:
                raise forbidden
        self.engine.rate(c.now, t, r.level, list(r.reasons), self.seal(r.text))
        if r.level <= 2:
            c.alerts.append(
                self.alert(
                    "rating",
                    f"差评 {t.number}（{r.level} 星）需整改回访",
                    c.now,
                    terminal=c.terminal,
                    ticket=t.number,
                )
            )
        return m.RatingAccepted(t.number, r.level)

    def _help_request(self, c: _Ctx, r: m.HelpRequest) -> m.HelpAccepted:
        where = self._location_of.get(c.terminal) or c.terminal
        what = "帮办代办" if r.kind == "helper" else "办不成事反映"
        a = self.alert(r.kind, f"{what}：{where}", c.now, level="red", terminal=c.terminal)
        self.engine.record(
            c.now, ev.HelpRequested(a.id, r.kind, c.terminal, r.service, self.seal(r.note))
        )
        c.alerts.append(a)
        return m.HelpAccepted(a.id, where)

    def _mailing_request(self, c: _Ctx, r: m.MailingRequest) -> m.MailingAccepted:
        if self.sealer is None:
            raise EngineError(ErrorCode.INTERNAL, "邮寄服务未启用", "mailing is not set up")
        ticket_id: str | None = None
        if r.ticket is not None:
            t = self._by_token(r.ticket)
            if t is None:
                raise EngineError(
                    ErrorCode.NOT_FOUND, "没有找到这张号票", "no such ticket", "ticket"
                )
            ticket_id = t.id
        elif self.lookups.case(r.case_no or "") is None:
            raise EngineError(ErrorCode.NOT_FOUND, "没有查到办件", "no case found", "case_no")
        body = {"recipient": r.recipient, "phone": r.phone, "address": r.address}
        sealed = self.sealer.seal(orjson.dumps(body))
        self.engine.record(c.now, ev.MailingRequested(ticket_id, r.case_no, sealed, c.terminal))
        c.alerts.append(
            self.alert("helper", "新的免费邮寄申请", c.now, level="yellow", terminal=c.terminal)
        )
        return m.MailingAccepted(True)

    def _hall_status(self, c: _Ctx, r: m.HallStatusRequest) -> m.HallStatusInfo:
        return views.hall_status_info(self.engine, c.now)

    def _book_appointment(self, c: _Ctx, r: m.AdminBookAppointment) -> m.AppointmentBooked:
        a = self.engine.book(c.now, r.code, None, r.service, r.start, r.end, r.citizen_key)
        return m.AppointmentBooked(a.code, r.service, a.queue, a.start, a.end, a.day)

    def _update_case(self, c: _Ctx, r: m.AdminUpdateCase) -> m.CaseInfo:
        case = self.lookups.case(r.case_no)
        if case is None:
            raise EngineError(
                ErrorCode.NOT_FOUND, f"没有办件 {r.case_no}", f"no case {r.case_no}", "case_no"
            )
        return views.case_info(self.engine, self.engine.update_case(case, r.state, c.now), c.now)

    # ---------------------------------------------------------------- windows
    def _staff(self, c: _Ctx, t: Ticket) -> m.TicketInfo:
        """A ticket as window staff see it: with their colleagues' transfer notes."""
        if any(s.note for s in t.history):
            c.private = True
        return views.ticket_info(self.engine, t, unseal=self.unseal)

    def _call_next(self, c: _Ctx, r: m.WindowRequest) -> m.TicketInfo:
        return self._staff(c, self.engine.call_next(self.acting_window(c, r), c.now))

    def _recall(self, c: _Ctx, r: m.WindowTicketRequest) -> m.TicketInfo:
        return self._staff(c, self.engine.recall(self.acting_window(c, r), c.now, r.ticket))

    def _start(self, c: _Ctx, r: m.WindowTicketRequest) -> m.TicketInfo:
        return self._staff(c, self.engine.start(self.acting_window(c, r), c.now, r.ticket))

    def _no_show(self, c: _Ctx, r: m.WindowNoShow) -> m.TicketInfo:
        wid = self.acting_window(c, r)
        return self._staff(c, self.engine.no_show(wid, c.now, r.ticket, r.requeue))

    def _requeue(self, c: _Ctx, r: m.WindowRequeue) -> m.TicketInfo:
        return self._staff(c, self.engine.requeue(self.acting_window(c, r), c.now, r.ticket))

    def _transfer(self, c: _Ctx, r: m.WindowTransfer) -> m.TicketInfo:
        t = self.engine.transfer(
            self.acting_window(c, r),
            c.now,
            r.ticket,
            r.to_queue,
            r.to_window,
            self.seal(r.note),
        )
        return self._staff(c, t)

    def _finish(self, c: _Ctx, r: m.WindowFinish) -> m.TicketFinished:
        t, case = self.engine.finish(self.acting_window(c, r), c.now, r.ticket, r.accept_case)
        info = views.case_info(self.engine, case, c.now) if case is not None else None
        return m.TicketFinished(self._staff(c, t), info)

    def _pause(self, c: _Ctx, r: m.WindowPause) -> m.WindowStatus:
        wid = self.acting_window(c, r)
        self.engine.pause(wid, c.now, r.reason, self.seal(r.note))
        return views.window_status(self.engine, wid)

    def _resume(self, c: _Ctx, r: m.WindowRequest) -> m.WindowStatus:
        wid = self.acting_window(c, r)
        self.engine.resume(wid, c.now)
        return views.window_status(self.engine, wid)

    def _sign_on(self, c: _Ctx, r: m.WindowRequest) -> m.WindowStatus:
        wid = self.acting_window(c, r)
        self.engine.sign_on(wid, c.now)
        return views.window_status(self.engine, wid)

    def _sign_off(self, c: _Ctx, r: m.WindowRequest) -> m.WindowStatus:
        wid = self.acting_window(c, r)
        self.engine.sign_off(wid, c.now)
        return views.window_status(self.engine, wid)

    def _window_status(self, c: _Ctx, r: m.WindowRequest) -> m.WindowStatus:
        return views.window_status(self.engine, self.acting_window(c, r))


Handler = Callable[[HallCore, _Ctx, Any], Any]
#: op → its handler. Every operation of the contract has exactly one.
_HANDLERS: dict[str, Handler] = {
    "ticket.issue": HallCore._ticket_issue,
    "appointment.checkin": HallCore._appointment_checkin,
    "ticket.lookup": HallCore._ticket_lookup,
    "case.lookup": HallCore._case_lookup,
    "rating.submit": HallCore._rating_submit,
    "help.request": HallCore._help_request,
    "mailing.request": HallCore._mailing_request,
    "hall.status": HallCore._hall_status,
    "admin.book_appointment": HallCore._book_appointment,
    "admin.update_case": HallCore._update_case,
    "window.call_next": HallCore._call_next,
    "window.recall": HallCore._recall,
    "window.start": HallCore._start,
    "window.no_show": HallCore._no_show,
    "window.requeue": HallCore._requeue,
    "window.transfer": HallCore._transfer,
    "window.finish": HallCore._finish,
    "window.pause": HallCore._pause,
    "window.resume": HallCore._resume,
    "window.sign_on": HallCore._sign_on,
    "window.sign_off": HallCore._sign_off,
    "window.status": HallCore._window_status,
}
assert set(_HANDLERS) == set(m.OPERATIONS), set(_HANDLERS) ^ set(m.OPERATIONS)
