"""The queue engine on its own: pure decisions, events, replay."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hall_contract import events
from hall_contract.hallconfig import HallConfig, Interleave, PriorityPolicy
from hall_contract.messages import ErrorCode, Level, PriorityClass, TicketState
from hall_controller.engine import RATING_WINDOW_DAYS, Engine, EngineError
from tests.conftest import OPEN_MORNING, SHANGHAI, load_hall

T0 = OPEN_MORNING.timestamp()
MIN = 60.0


def engine(cfg: HallConfig | None = None) -> Engine:
    return Engine(cfg or load_hall())


def replayed(e: Engine, events: list) -> Engine:
    fresh = Engine(e.config)
    for ev in events:
        fresh.apply(ev.at, ev.data)
    return fresh


def waiting_in(e: Engine, queue: str) -> list[str]:
    return [t.id for t in e.index.waiting_in(queue)]


# ------------------------------------------------------------------ numbering
def test_numbers_per_queue_with_letter() -> None:
    e = engine()
    nums = [e.issue(T0, service="id_card_renew").number for _ in range(3)]
    other = e.issue(T0, service="ss_proof_print").number
    assert nums == ["A001", "A002", "A003"]
    assert other == "B001"


def test_numbers_restart_at_the_day_boundary_not_at_midnight() -> None:
    e = engine()
    late = dt.datetime(2026, 11, 18, 16, 59, tzinfo=SHANGHAI).timestamp()
    e.issue(late, service="id_card_renew")
    a2 = e.issue(late, service="id_card_renew")
    # 02:30 the next day is still the same service day (boundary 03:00) ...
    night = dt.datetime(2026, 11, 19, 2, 30, tzinfo=SHANGHAI).timestamp()
    a3 = e.issue(night, service="id_card_renew", check_hours=False)
    # ... and the next morning starts again at 001; yesterday's waiting tickets expire.
    morning = dt.datetime(2026, 11, 19, 9, 5, tzinfo=SHANGHAI).timestamp()
    fresh = e.issue(morning, service="id_card_renew")
    assert (a2.number, a3.number, fresh.number) == ("A002", "A003", "A001")
    # yesterday's tickets left memory (for the store's archive), expired
    departed = {t.id: t for t in e.take_departed()}
    assert departed[a2.id].state == TicketState.EXPIRED.value
    assert set(e.state.tickets) == {fresh.id}
    assert fresh.id != a2.id


def test_persisting_queue_keeps_numbers_and_tickets_overnight() -> None:
    base = load_hall()
    queues = [
        q.model_copy(update={"persist_overnight": True}) if q.id == "social" else q
        for q in base.queues
    ]
    e = engine(base.model_copy(update={"queues": queues}))
    b1 = e.issue(T0, service="ss_proof_print")
    next_day = dt.datetime(2026, 11, 19, 9, 30, tzinfo=SHANGHAI).timestamp()
    b2 = e.issue(next_day, service="ss_proof_print")
    a1 = e.issue(next_day, service="id_card_renew")
    assert (b1.number, b2.number, a1.number) == ("B001", "B002", "A001")
    assert e.state.tickets[b1.id].state == TicketState.WAITING.value


def test_closed_hall_refuses_with_next_opening() -> None:
    e = engine()
    sunday = dt.datetime(2026, 11, 22, 10, 0, tzinfo=SHANGHAI).timestamp()
    with pytest.raises(EngineError) as err:
        e.issue(sunday, service="id_card_renew")
    assert err.value.code == ErrorCode.CLOSED
    assert "2026-11-23 09:00" in err.value.message


def test_holiday_closed_and_makeup_workday_open() -> None:
    e = engine()
    holiday = dt.datetime(2026, 10, 1, 10, 0, tzinfo=SHANGHAI).timestamp()
    makeup_saturday = dt.datetime(2026, 10, 10, 10, 0, tzinfo=SHANGHAI).timestamp()
    assert not e.is_open(holiday)
    assert e.is_open(makeup_saturday)
    assert e.issue(makeup_saturday, service="id_card_renew").number == "A001"


# ------------------------------------------------------------------ selection
def test_window_serves_its_queues_in_priority_order() -> None:
    e = engine()
    e.issue(T0, service="ss_proof_print")  # B001, social
    e.issue(T0 + 1, service="id_card_renew")  # A001, general
    # win01 = [general, social]: A first although B came earlier
    assert e.call_next("win01", T0 + 2).number == "A001"
    # win02 = [social, general]
    assert e.call_next("win02", T0 + 3).number == "B001"


def test_interleave_one_priority_two_normal() -> None:
    e = engine()
    for i in range(4):
        e.issue(T0 + i, service="id_card_renew")
    for i in range(3):
        e.issue(T0 + 10 + i, service="id_card_renew", priority=PriorityClass.ELDERLY)
    order = []
    for i in range(7):
        t = e.call_next("win01", T0 + 20 + i)
        order.append((t.number, t.priority))
        e.finish("win01", T0 + 20 + i)
    classes = ["P" if p != "normal" else "N" for _n, p in order]
    assert classes == ["P", "N", "N", "P", "N", "N", "P"]


def test_strict_priority_when_normal_share_is_zero() -> None:
    base = load_hall()
    cfg = base.model_copy(
        update={"priority": PriorityPolicy(interleave=Interleave(priority=1, normal=0))}
    )
    e = engine(cfg)
    e.issue(T0, service="id_card_renew")
    for i in range(3):
        e.issue(T0 + 1 + i, service="id_card_renew", priority=PriorityClass.GREEN)
    picks = []
    for i in range(4):
        picks.append(e.call_next("win01", T0 + 10 + i).priority)
        e.finish("win01", T0 + 10 + i)
    assert picks == ["green", "green", "green", "normal"]


def test_starvation_bound_beats_priority() -> None:
    e = engine()
    old = e.issue(T0, service="id_card_renew")
    later = T0 + e.config.priority.starvation_min * MIN + 1
    e.issue(later - 5, service="id_card_renew", priority=PriorityClass.ELDERLY)
    assert e.call_next("win01", later).id == old.id


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, int, list[tuple[str, int]]]:
    p = draw(st.integers(1, 3))
    n = draw(st.integers(0, 4))
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from(["normal", "priority", "call"]), st.integers(1, 400)),
            min_size=1,
            max_size=80,
        )
    )
    return p, n, steps


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_neither_side_waits_forever(sc: tuple[int, int, list[tuple[str, int]]]) -> None:
    """Property: while both classes wait, a window never calls more than P priority
    tickets in a row (when N > 0) nor more than N normal ones in a row; and a ticket past
    the starvation bound is called before every younger ticket."""
    p, n, steps = sc
    base = load_hall()
    cfg = base.model_copy(
        update={
            "priority": PriorityPolicy(
                interleave=Interleave(priority=p, normal=n), starvation_min=30
            )
        }
    )
    e = engine(cfg)
    now = T0
    pri_run = norm_run = 0
    for kind, dt_s in steps:
        now += dt_s
        if kind != "call":
            e.issue(
                now,
                service="id_card_renew",
                priority=PriorityClass.NORMAL if kind == "normal" else PriorityClass.DISABLED,
            )
            continue
        waiting = [t for t in e.state.tickets.values() if t.state == "waiting"]
        # the engine's derived index agrees with a full scan
        indexed = {t.id for q in e.index.wait_pri.values() for t in q.values()}
        indexed |= {t.id for q in e.index.wait_norm.values() for t in q.values()}
        assert indexed == {t.id for t in waiting}
        if not waiting:
            continue
        both = any(t.is_priority for t in waiting) and any(not t.is_priority for t in waiting)
        oldest = min(waiting, key=lambda t: t.waiting_since)
        starved = now - oldest.waiting_since >= 30 * MIN
        t = e.call_next("win01", now)
        e.finish("win01", now)
        if starved:
            assert t.waiting_since == oldest.waiting_since
            pri_run = norm_run = 0
            continue
        if not both:
            pri_run = norm_run = 0
            continue
        if t.is_priority:
            pri_run, norm_run = pri_run + 1, 0
        else:
            norm_run, pri_run = norm_run + 1, 0
        if n == 0:
            assert t.is_priority, "strict priority called a normal ticket"
        else:
            assert pri_run <= p, f"{pri_run} priority calls in a row with normals waiting"
            assert norm_run <= n, f"{norm_run} normal calls in a row with priority waiting"


# --------------------------------------------------------------- window ops
def test_transfer_keeps_number_and_history_and_raises_priority() -> None:
    e = engine()
    t = e.issue(T0, service="id_card_renew")
    e.issue(T0 + 1, service="ss_proof_print")
    e.issue(T0 + 2, service="ss_proof_print")
    e.call_next("win01", T0 + 10)
    e.start("win01", T0 + 20)
    e.transfer("win01", T0 + 30, to_queue="social", sealed_note="gAAAA-sealed")
    moved = e.state.tickets[t.id]
    assert moved.number == "A001" and moved.queue == "social"
    assert moved.priority == PriorityClass.TRANSFER.value
    assert [h.what for h in moved.history] == ["issued", "called", "started", "transferred"]
    assert moved.history[-1].queue == "social" and moved.history[-1].note == "gAAAA-sealed"
    # raised priority: served at win02 before the two B tickets that waited longer
    assert e.call_next("win02", T0 + 40).number == "A001"


def test_transfer_to_a_window_goes_only_there() -> None:
    e = engine()
    t = e.issue(T0, service="id_card_renew")
    e.call_next("win01", T0 + 1)
    e.transfer("win01", T0 + 2, to_window="win02")
    assert e.state.tickets[t.id].target_window == "win02"
    with pytest.raises(EngineError) as err:
        e.call_next("win01", T0 + 3)
    assert err.value.code == ErrorCode.EMPTY
    assert e.call_next("win02", T0 + 4).id == t.id


def test_recall_limit_and_no_show_grace() -> None:
    e = engine()
    t = e.issue(T0, service="id_card_renew")
    e.call_next("win01", T0 + 1)
    for _ in range(e.config.window_policy.recall_limit):
        e.recall("win01", T0 + 2)
    with pytest.raises(EngineError) as err:
        e.recall("win01", T0 + 3)
    assert err.value.code == ErrorCode.CONFLICT
    e.no_show("win01", T0 + 4)
    assert e.state.tickets[t.id].state == TicketState.SKIPPED.value
    e.requeue("win01", T0 + 5 * MIN, t.number)  # staff type the number
    assert e.state.tickets[t.id].state == TicketState.WAITING.value
    e.call_next("win01", T0 + 6 * MIN)
    e.no_show("win01", T0 + 7 * MIN)
    late = T0 + 7 * MIN + e.config.window_policy.no_show_grace_min * MIN + 1
    with pytest.raises(EngineError) as err:
        e.requeue("win01", late, t.id)
    assert err.value.code == ErrorCode.TOO_LATE
    e.tick(late)
    assert e.state.tickets[t.id].state == TicketState.EXPIRED.value


def with_policy(**kw: object) -> HallConfig:
    base = load_hall()
    return base.model_copy(update={"window_policy": base.window_policy.model_copy(update=kw)})


def test_a_requeued_no_show_comes_back_behind_the_next_in_line() -> None:
    e = engine(with_policy(requeue_behind=2))
    first = e.issue(T0, service="id_card_renew")
    others = [e.issue(T0 + i, service="id_card_renew") for i in range(1, 5)]
    assert e.call_next("win01", T0 + MIN).id == first.id
    e.no_show("win01", T0 + 2 * MIN, requeue=True)
    # Not the same absent person again: two others first, then the re-queued ticket.
    order = []
    for k in range(4):
        order.append(e.call_next("win01", T0 + (3 + k) * MIN).number)
        e.finish("win01", T0 + (3 + k) * MIN + 30)
    assert order == [others[0].number, others[1].number, first.number, others[2].number]


def test_requeue_after_skip_also_goes_behind_and_recalls_start_again() -> None:
    e = engine(with_policy(requeue_behind=1))
    first = e.issue(T0, service="id_card_renew")
    second = e.issue(T0 + 1, service="id_card_renew")
    third = e.issue(T0 + 2, service="id_card_renew")
    e.call_next("win01", T0 + MIN)
    for _ in range(e.config.window_policy.recall_limit):
        e.recall("win01", T0 + MIN + 10)
    e.no_show("win01", T0 + 2 * MIN)
    back = e.requeue("win01", T0 + 3 * MIN, "a1")  # as typed at the window
    assert back.id == first.id and back.state == TicketState.WAITING.value
    assert e.call_next("win01", T0 + 4 * MIN).id == second.id
    e.finish("win01", T0 + 5 * MIN)
    again = e.call_next("win01", T0 + 6 * MIN)
    assert again.id == first.id  # behind one, ahead of the third
    assert again.recalls == 0  # a new call has its own recall limit
    e.recall("win01", T0 + 6 * MIN + 5)
    assert e.state.tickets[first.id].recalls == 1
    assert e.people_ahead(third) == 0


def test_requeue_places_survive_a_replay() -> None:
    e = engine(with_policy(requeue_behind=1))
    ids = [e.issue(T0 + i, service="id_card_renew").id for i in range(3)]
    e.call_next("win01", T0 + MIN)
    e.no_show("win01", T0 + 2 * MIN, requeue=True)
    events = e.take_events()
    fresh = replayed(e, events)
    assert waiting_in(fresh, "general") == [ids[1], ids[0], ids[2]]
    assert waiting_in(e, "general") == [ids[1], ids[0], ids[2]]


def test_requeue_places_are_the_same_after_a_snapshot_even_in_one_batch() -> None:
    """Tickets of one batch share one instant; a re-queued ticket's place among them must
    not depend on whether the state was built live, replayed or loaded from a snapshot."""
    from hall_controller.engine import HallState

    for behind in (0, 1, 2, 5):
        e = engine(with_policy(requeue_behind=behind))
        first = e.issue(T0, service="id_card_renew")
        for _ in range(4):
            e.issue(T0 + MIN, service="id_card_renew")  # one batch: the same instant
        assert e.call_next("win01", T0 + 2 * MIN).id == first.id
        e.no_show("win01", T0 + 2 * MIN, requeue=True)
        live = waiting_in(e, "general")
        # behind 0: first again; otherwise behind at least that many (tickets of one
        # instant are not split: the re-queued one goes after all four)
        assert live.index(first.id) == (0 if behind == 0 else 4), (behind, live)
        snap = Engine(e.config)
        snap.load(HallState.loads(e.state.dumps()))
        assert waiting_in(snap, "general") == live
        assert waiting_in(replayed(e, e.take_events()), "general") == live


def test_a_busy_instant_keeps_issue_order_past_999() -> None:
    e = engine()
    issued = [e.issue(T0, service="id_card_renew").number for _ in range(1002)]
    assert issued[998:] == ["A999", "A1000", "A1001", "A1002"]
    line = [t.number for t in e.index.waiting_in("general")]
    assert line == issued
    snap = replayed(e, e.take_events())
    assert [t.number for t in snap.index.waiting_in("general")] == issued


def test_ticket_numbers_resolve_for_staff_but_lookups_need_the_token() -> None:
    e = engine()
    t = e.issue(T0, service="id_card_renew")
    for ref in ("A001", "a1", " A 001 ", t.id, t.token):
        assert e.ticket(ref).id == t.id
    found = e.ticket_by_token(t.token)
    assert found is not None and found.id == t.id
    for ref in ("A001", t.id):
        assert e.ticket_by_token(ref) is None
    with pytest.raises(EngineError):
        e.ticket("A002")


def test_a_number_means_todays_ticket_and_the_windows_own_first() -> None:
    e = engine()
    old = e.issue(T0, service="id_card_renew")
    tomorrow = dt.datetime(2026, 11, 19, 9, 30, tzinfo=SHANGHAI).timestamp()
    new = e.issue(tomorrow, service="id_card_renew")
    assert old.number == new.number == "A001"
    assert e.ticket("A001").id == new.id
    # Yesterday's A001 left memory with its day; a queue kept overnight keeps its number
    # going, so two tickets of one number are only ever today's and one still waiting.
    assert old.id not in e.state.tickets
    assert e.ticket("A001", "win01").id == new.id


def test_call_next_needs_a_free_unpaused_window() -> None:
    e = engine()
    e.issue(T0, service="id_card_renew")
    e.issue(T0, service="id_card_renew")
    e.call_next("win01", T0 + 1)
    with pytest.raises(EngineError) as err:
        e.call_next("win01", T0 + 2)
    assert err.value.code == ErrorCode.CONFLICT and "A001" in err.value.message
    e.finish("win01", T0 + 3)
    e.pause("win01", T0 + 4, "lunch")
    with pytest.raises(EngineError):
        e.call_next("win01", T0 + 5)
    e.resume("win01", T0 + 6)
    assert e.call_next("win01", T0 + 7).number == "A002"


def test_finish_opens_one_rating() -> None:
    e = engine()
    t = e.issue(T0, service="id_card_renew")
    with pytest.raises(EngineError) as err:
        e.rate(T0 + 1, t, 5, [])
    assert "办结后" in err.value.message
    e.call_next("win01", T0 + 2)
    e.finish("win01", T0 + 3)
    e.rate(T0 + 4, t, 2, ["wait_long"], "gAAAA-sealed")
    with pytest.raises(EngineError) as err:
        e.rate(T0 + 5, t, 5, [])
    assert err.value.code == ErrorCode.CONFLICT
    assert e.state.ratings == 1 and t.history[-1].what == "rated"


def test_a_ticket_of_an_earlier_day_is_rated_within_the_window_only() -> None:
    e = engine()
    t = e.issue(T0, service="id_card_renew")
    e.call_next("win01", T0 + 1)
    e.finish("win01", T0 + 2)
    day = 24 * 60 * MIN
    e.issue(T0 + day, service="id_card_renew")  # the next day: t leaves memory
    (gone,) = e.take_departed()
    assert gone.id == t.id and gone.rating_open and t.id not in e.state.tickets
    late = T0 + (RATING_WINDOW_DAYS + 1) * day
    with pytest.raises(EngineError) as err:
        e.rate(late, gone, 5, [])
    assert err.value.code == ErrorCode.TOO_LATE
    e.rate(T0 + 2 * day, gone, 4, [])  # from the archive, within the window
    assert e.state.ratings == 1


def test_reasons_only_for_bad_ratings() -> None:
    e = engine()
    t = e.issue(T0, service="id_card_renew")
    e.call_next("win01", T0 + 1)
    e.finish("win01", T0 + 2)
    with pytest.raises(EngineError) as err:
        e.rate(T0 + 3, t, 5, ["attitude"])
    assert err.value.field == "reasons"


# -------------------------------------------------------- caps and estimates
def test_daily_cap_per_service_resets_next_day() -> None:
    base = load_hall()
    services = [
        s.model_copy(update={"daily_cap": 2}) if s.id == "id_card_renew" else s
        for s in base.services
    ]
    e = engine(base.model_copy(update={"services": services}))
    e.issue(T0, service="id_card_renew")
    e.issue(T0, service="id_card_renew")
    with pytest.raises(EngineError) as err:
        e.issue(T0, service="id_card_renew")
    assert err.value.code == ErrorCode.CAP_REACHED
    assert e.issue(T0, service="ss_proof_print").number == "B001"  # other services go on
    tomorrow = dt.datetime(2026, 11, 19, 9, 30, tzinfo=SHANGHAI).timestamp()
    assert e.issue(tomorrow, service="id_card_renew").number == "A001"


def test_estimate_learns_from_recent_service_times() -> None:
    e = engine()
    default = e.config.queue("general").default_service_min
    for i in range(6):
        e.issue(T0 + i, service="id_card_renew")
    ahead_ticket = e.issue(T0 + 10, service="id_card_renew")
    assert e.people_ahead(ahead_ticket) == 6
    # two windows serve "general": 6 ahead × default / 2
    assert e.expected_wait_min("general", 6) == int(6 * default / 2 + 0.999)
    now = T0 + 100
    for _ in range(5):  # services take 20 minutes each now
        e.call_next("win01", now)
        e.finish("win01", now + 20 * MIN)
        now += 20 * MIN
    assert e.state.avg_service_s["general"] > default * MIN
    assert e.expected_wait_min("general", 6) > int(6 * default / 2 + 0.999)


def test_paused_windows_do_not_count_in_estimate() -> None:
    e = engine()
    both = e.expected_wait_min("general", 4)
    e.pause("win02", T0)
    assert e.expected_wait_min("general", 4) == 2 * both


# --------------------------------------------------------------- warnings
def test_wait_and_service_warnings_rise_once_per_level() -> None:
    e = engine()
    q = e.config.queue("general")
    t = e.issue(T0, service="id_card_renew")
    e.take_events()
    e.tick(T0 + q.wait_yellow_min * MIN)
    e.tick(T0 + q.wait_yellow_min * MIN + 30)
    e.tick(T0 + q.wait_red_min * MIN)
    warnings = [
        (ev.data.kind, ev.data.level) for ev in e.take_events() if ev.type == "ticket.warning"
    ]
    assert warnings == [("wait", "yellow"), ("wait", "red")]
    start = T0 + q.wait_red_min * MIN + 1
    e.call_next("win01", start)
    e.tick(start + q.service_red_min * MIN)
    assert [
        (ev.data.kind, ev.data.level) for ev in e.take_events() if ev.type == "ticket.warning"
    ] == [("service", "red")]
    assert e.state.tickets[t.id].service_level == Level.RED.value


def test_lunch_break_and_nights_do_not_count_as_waiting() -> None:
    base = load_hall()
    weekly = {
        d: [{"start": "09:00", "end": "12:00"}, {"start": "13:30", "end": "17:00"}]
        for d in ("mon", "tue", "wed", "thu", "fri")
    }
    cfg = HallConfig.model_validate(
        {
            **base.model_dump(mode="json"),
            "schedule": {**base.schedule.model_dump(mode="json"), "weekly": weekly},
        }
    )
    e = engine(cfg)
    q = cfg.queue("general")
    before_lunch = dt.datetime(2026, 11, 18, 11, 55, tzinfo=SHANGHAI).timestamp()
    t = e.issue(before_lunch, service="id_card_renew")
    e.take_events()
    after_lunch = dt.datetime(2026, 11, 18, 13, 30, tzinfo=SHANGHAI).timestamp()
    assert e.open_seconds(before_lunch, after_lunch) == 5 * MIN
    e.tick(after_lunch)  # 95 minutes on the clock, 5 of them open: no warning
    assert not [ev for ev in e.take_events() if ev.type == "ticket.warning"]
    e.tick(after_lunch + (q.wait_yellow_min - 5) * MIN)
    assert [ev.data.level for ev in e.take_events() if ev.type == "ticket.warning"] == ["yellow"]
    assert e.state.tickets[t.id].wait_level == Level.YELLOW.value
    # Friday 16:50 to Monday 09:10 is 20 open minutes (the weekend is closed).
    fri = dt.datetime(2026, 11, 20, 16, 50, tzinfo=SHANGHAI).timestamp()
    mon = dt.datetime(2026, 11, 23, 9, 10, tzinfo=SHANGHAI).timestamp()
    assert e.open_seconds(fri, mon) == 20 * MIN


# ------------------------------------------------------------ appointments
def test_appointment_window_gives_priority_early_refused_late_becomes_normal() -> None:
    e = engine()
    slot = T0 + 60 * MIN
    e.book(T0, "AP1", None, "id_card_renew", slot, slot + 30 * MIN, citizen_key="ck1")
    e.book(T0, "AP2", None, "id_card_renew", slot, slot + 30 * MIN)
    e.book(T0, "AP3", None, "id_card_renew", T0 - 60 * MIN, T0 - 30 * MIN)
    pol = e.config.appointments
    with pytest.raises(EngineError) as err:
        e.checkin(slot - pol.early_min * MIN - 60, "AP1", None)
    assert err.value.code == ErrorCode.TOO_EARLY
    t1 = e.checkin(slot - 10 * MIN, None, "ck1")  # by ID card
    assert t1.priority == PriorityClass.APPOINTMENT.value and t1.appointment == "AP1"
    assert e.checkin(slot - 5 * MIN, "AP1", None).id == t1.id  # twice: same ticket
    t3 = e.checkin(slot - 5 * MIN, "AP3", None)  # 65 minutes late
    assert t3.priority == PriorityClass.NORMAL.value
    with pytest.raises(EngineError) as err:
        e.checkin(T0, "NOPE", None)
    assert err.value.code == ErrorCode.NOT_FOUND


def test_appointment_checkin_only_on_its_day() -> None:
    e = engine()
    day = 24 * 60 * MIN
    e.roll_day(T0 - day)  # the hall ran yesterday
    e.book(T0 - 8 * day, "LASTWEEK", None, "id_card_renew", T0 - 7 * day, T0 - 7 * day + MIN)
    e.book(T0 - 2 * day, "YESTERDAY", None, "id_card_renew", T0 - day, T0 - day + 30 * MIN)
    e.book(T0, "NEXTWEEK", None, "id_card_renew", T0 + 7 * day, T0 + 7 * day + 30 * MIN)
    with pytest.raises(EngineError) as err:
        e.checkin(T0, "YESTERDAY", None)
    assert err.value.code == ErrorCode.TOO_LATE and "11月17日" in err.value.message
    with pytest.raises(EngineError) as err:
        e.checkin(T0, "NEXTWEEK", None)
    assert err.value.code == ErrorCode.TOO_EARLY and "11月25日" in err.value.message
    # Appointments of days gone by are forgotten when the day rolls.
    with pytest.raises(EngineError) as err:
        e.checkin(T0, "LASTWEEK", None)
    assert err.value.code == ErrorCode.NOT_FOUND
    assert set(e.state.appointments) == {"YESTERDAY", "NEXTWEEK"}
    tomorrow = dt.datetime(2026, 11, 19, 9, 30, tzinfo=SHANGHAI).timestamp()
    e.issue(tomorrow, service="id_card_renew")
    assert set(e.state.appointments) == {"NEXTWEEK"}
    # The event says what was dropped: a replay does not depend on today's config.
    rolled = [ev for ev in e.take_events() if ev.type == "day.rolled"]
    assert rolled[-1].data.dropped_appointments == ["YESTERDAY"]
    stored = orjson.loads(rolled[-1].data.dumps())
    del stored["dropped_appointments"]  # as written before the list was kept
    fresh = engine()
    fresh.book(T0, "YESTERDAY", None, "id_card_renew", T0 - day, T0 - day + 30 * MIN)
    fresh.apply(tomorrow, events.load("day.rolled", stored))
    assert "YESTERDAY" in fresh.state.appointments


def test_booked_slots_hold_their_tickets_against_the_daily_cap() -> None:
    base = load_hall()
    services = [
        s.model_copy(update={"daily_cap": 3}) if s.id == "id_card_renew" else s
        for s in base.services
    ]
    e = engine(base.model_copy(update={"services": services}))
    slot = T0 + 60 * MIN
    e.book(T0, "AP1", None, "id_card_renew", slot, slot + 30 * MIN)
    e.book(T0, "AP2", None, "id_card_renew", slot, slot + 30 * MIN)
    e.issue(T0, service="id_card_renew")  # 1 walk-in + 2 held = the cap
    with pytest.raises(EngineError) as err:
        e.issue(T0 + 1, service="id_card_renew")
    assert err.value.code == ErrorCode.CAP_REACHED
    # The booked citizens still get theirs, past the cap's count of walk-ins.
    assert e.checkin(slot - 5 * MIN, "AP1", None).priority == PriorityClass.APPOINTMENT.value
    with pytest.raises(EngineError):
        e.issue(slot - 4 * MIN, service="id_card_renew")  # AP2 still held
    # AP2 never came: once its check-in window has passed, its ticket is free again.
    after = slot + e.config.appointments.late_min * MIN + 1
    assert e.issue(after, service="id_card_renew").number == "A003"
    with pytest.raises(EngineError):
        e.issue(after + 1, service="id_card_renew")
    # ... and AP2 coming late now counts like a walk-in: no ticket past the cap.
    with pytest.raises(EngineError) as err:
        e.checkin(after + 2, "AP2", None)
    assert err.value.code == ErrorCode.CAP_REACHED


def test_late_appointment_rejected_when_policy_says_so() -> None:
    base = load_hall()
    cfg = base.model_copy(
        update={"appointments": base.appointments.model_copy(update={"late_policy": "reject"})}
    )
    e = engine(cfg)
    e.book(T0, "AP", None, "id_card_renew", T0 - 60 * MIN, T0 - 30 * MIN)
    with pytest.raises(EngineError) as err:
        e.checkin(T0, "AP", None)
    assert err.value.code == ErrorCode.TOO_LATE


# ------------------------------------------------------------------ cases
def test_case_deadlines_skip_non_working_days_and_turn_yellow_then_red() -> None:
    e = engine()
    e.issue(T0, service="id_card_renew")
    e.call_next("win01", T0)
    _t, case = e.finish("win01", T0 + 60, accept_case=True)
    assert case is not None
    svc = e.config.service("id_card_renew")
    promised = dt.date.fromisoformat(case.promised_deadline)
    # 15 working days from Wed 2026-11-18 = Wed 2026-12-09 (weekends skipped)
    assert svc.promised_days == 15 and promised == dt.date(2026, 12, 9)
    assert e.case_level(case, T0) == Level.NONE
    near = dt.datetime(2026, 12, 8, 10, tzinfo=SHANGHAI).timestamp()
    past = dt.datetime(2026, 12, 10, 10, tzinfo=SHANGHAI).timestamp()
    assert e.case_level(case, near) == Level.YELLOW
    assert e.case_level(case, past) == Level.RED
    done = e.update_case(case, "done", past)
    assert done.state == "done" and e.case_level(done, past) == Level.NONE


# ------------------------------------------------------------------ replay
def test_replaying_the_events_rebuilds_the_same_state() -> None:
    e = engine()
    events = []
    e.issue(T0, service="id_card_renew")
    e.issue(T0 + 1, service="ss_proof_print", priority=PriorityClass.ELDERLY)
    e.issue(T0 + 2, service="id_card_renew")
    e.call_next("win01", T0 + 3)
    e.transfer("win01", T0 + 4, to_queue="social")
    e.call_next("win02", T0 + 5)
    e.finish("win02", T0 + 6, accept_case=True)
    e.pause("win01", T0 + 7)
    e.tick(T0 + 45 * MIN)
    events += e.take_events()
    again = replayed(e, events)
    assert again.state.dumps() == e.state.dumps()
    # and a snapshot round trip
    from hall_controller.engine import HallState

    assert HallState.loads(e.state.dumps()).dumps() == e.state.dumps()
