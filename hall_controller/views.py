"""What terminals are told: the contract's result and state types built from the engine.

Pure reads of the engine's state (no I/O, no clock): the request handler answers with
these, and the runner publishes the retained ones (queue snapshots, call board, hall
status).
"""

from __future__ import annotations

from collections.abc import Callable

from hall_contract import events as ev
from hall_contract import messages as m
from hall_controller.engine import Engine
from hall_controller.state import WAITING, Ticket

CALL_BOARD_SIZE = 10
Unseal = Callable[[str], str | None]


def ticket_info(
    e: Engine, t: Ticket, *, token: bool = False, unseal: Unseal | None = None
) -> m.TicketInfo:
    """The TicketInfo of a ticket. ``token`` only for the terminal that was issued the
    ticket or presented its token: whoever has it may look the ticket up and rate it.
    ``unseal`` (window replies only) opens the staff's transfer notes in the history; a
    citizen's kiosk never sees them."""
    ahead = e.people_ahead(t) if t.state == WAITING else 0
    hint: str | None = None
    if t.window:
        hint = e.window_names.get(t.window, t.window)
    elif t.service and t.service in e.services:
        hint = e.services[t.service].window_hint or None
    history = [
        m.TicketStep(
            s.at,
            s.what,
            s.window,
            s.queue,
            unseal(s.note) if unseal is not None and s.note else None,
            s.staff,
        )
        for s in t.history
    ]
    return m.TicketInfo(
        ticket_id=t.id,
        number=t.number,
        queue=t.queue,
        queue_name=e.queue_names.get(t.queue, t.queue),  # (a queue removed since)
        service=t.service,
        bundle=t.bundle,
        priority=t.priority,  # type: ignore[arg-type]
        state=t.state,  # type: ignore[arg-type]
        issued_at=t.issued_at,
        people_ahead=ahead,
        expected_wait_min=e.expected_wait_min(t.queue, ahead),
        window=t.window,
        window_hint=hint,
        rating_open=t.rating_open and not t.rated,
        token=t.token if token else None,
        history=history,
    )


def case_info(e: Engine, c: ev.CaseRecord, now: float) -> m.CaseInfo:
    svc = e.services.get(c.service) if c.service else None
    return m.CaseInfo(
        case_no=c.case_no,
        service=c.service,
        service_name=svc.name if svc else None,
        state=c.state,
        accepted_at=c.accepted_at,
        deadline=c.deadline,
        promised_deadline=c.promised_deadline,
        level=e.case_level(c, now).value,  # type: ignore[arg-type]
    )


def window_status(e: Engine, wid: str) -> m.WindowStatus:
    w = e.state.windows[wid]
    cur = e.state.tickets.get(w.current or "")
    name = e.window_names.get(wid, wid)
    return m.WindowStatus(
        window=wid,
        name=name,
        paused=w.paused,
        pause_reason=w.pause_reason,  # type: ignore[arg-type]
        current=cur.number if cur else None,
        current_state=cur.state if cur else None,  # type: ignore[arg-type]
        served=w.served,
        waiting=e.candidates(wid),
        open=w.open,
        staff=w.staff if w.open else None,
    )


def window_board(e: Engine) -> m.WindowBoard:
    """Every window of the config, in its order (retained on ``windows``)."""
    out = []
    for wc in e.config.windows:
        w = e.state.windows[wc.id]
        cur = e.state.tickets.get(w.current or "")
        out.append(
            m.WindowBoardEntry(
                window=wc.id,
                name=wc.name,
                open=w.open,
                paused=w.paused,
                pause_reason=w.pause_reason,  # type: ignore[arg-type]
                current=cur.number if cur else None,
                state=("serving" if cur.state == "serving" else "called") if cur else None,
            )
        )
    return m.WindowBoard(out)


def at_windows(e: Engine) -> list[Ticket]:
    """Tickets being called or served now: each window's current one."""
    s = e.state
    return [s.tickets[w.current] for w in s.windows.values() if w.current in s.tickets]


def queue_snapshot(e: Engine, qid: str, now: float) -> m.QueueSnapshot:
    q = e.config.queue(qid)
    waiting = e.index.waiting_count(qid)
    serving = sorted((t for t in at_windows(e) if t.queue == qid), key=lambda t: t.called_at or 0)
    return m.QueueSnapshot(
        queue=qid,
        name=q.name,
        letter=q.letter,
        waiting=waiting,
        serving=[t.number for t in serving],
        last_called=serving[-1].number if serving else None,
        expected_wait_min=e.expected_wait_min(qid, waiting),
        open=e.is_open(now),
        at=now,
    )


def hall_status_info(e: Engine, now: float) -> m.HallStatusInfo:
    nxt = e.next_opening(now)
    return m.HallStatusInfo(
        open=e.is_open(now),
        next_opening=nxt.isoformat() if nxt else None,
        config_version=e.config.version,
        queues=[queue_snapshot(e, q.id, now) for q in e.config.queues],
    )


def call_board(e: Engine) -> m.CallBoard:
    called = sorted(
        (t for t in at_windows(e) if t.called_at is not None),
        key=lambda t: t.called_at or 0,
        reverse=True,
    )[:CALL_BOARD_SIZE]
    names = e.window_names
    return m.CallBoard(
        calls=[
            m.CallBoardEntry(
                number=t.number,
                window=t.window or "",
                window_name=names.get(t.window or "", t.window or ""),
                queue=t.queue,
                at=t.called_at or 0,
                recall=t.recalls,
                state="serving" if t.state == "serving" else "called",
            )
            for t in called
        ]
    )
