"""The kiosk core (no Kivy) with a fake link and fake devices."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from hall_contract.messages import PriorityClass
from kiosk.flows import CaseFlow, RatingFlow, TicketFlow
from kiosk.outbox import Outbox
from kiosk.session import CardIdentity
from tests.kiosk.helpers import (
    ELDER,
    MONDAY_10,
    SUNDAY_3AM,
    FakeLink,
    command,
    hall_status,
    make_kiosk,
)


def fresh(card: CardIdentity) -> CardIdentity:
    return CardIdentity(card.name, card.id_number, card.birth_date, card.address)


def state_text(obj: object, seen: set[int] | None = None, depth: int = 0) -> str:
    """Every string reachable from ``obj`` (attributes, dicts, lists, the contract's result
    dataclasses), for privacy checks."""
    seen = seen if seen is not None else set()
    if id(obj) in seen or depth > 6:
        return ""
    seen.add(id(obj))
    if isinstance(obj, str):
        return obj + "\n"
    if isinstance(obj, (int, float, bool, type(None), bytes)):
        return ""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append(state_text(k, seen, depth + 1))
            out.append(state_text(v, seen, depth + 1))
    elif isinstance(obj, (list, tuple, set, frozenset)):
        out += [state_text(v, seen, depth + 1) for v in obj]
    elif type(obj).__name__ == "FakeLink":
        pass  # the fake controller, not the app
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # typed results (TicketInfo, CaseList, …) are slotted: no __dict__ to walk
        out += [state_text(getattr(obj, f.name), seen, depth + 1) for f in dataclasses.fields(obj)]
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith(("kiosk", "tests")):
        out += [state_text(v, seen, depth + 1) for v in vars(obj).values()]
    return "".join(out)


def test_ticket_flow_with_elderly_card_then_wipe(tmp_path: Path) -> None:
    link = FakeLink()
    k, ui, hw = make_kiosk(tmp_path, link)
    k.start_ticket()
    k.ticket_choose("service", "idcard_reissue")
    hw.idcard.present_card(fresh(ELDER))
    ui.pump_until(lambda: isinstance(k.flow, TicketFlow) and k.flow.step == "priority")
    assert k.prompt == "offer_elderly"  # offered, not switched on
    assert not k.elderly
    k.answer_offer(True)
    assert k.elderly
    assert PriorityClass.ELDERLY in k.priority_options()
    k.ticket_priority(PriorityClass.ELDERLY)
    ui.pump_until(lambda: k.flow is not None and k.flow.step == "done")
    ui.pump_until(lambda: isinstance(k.flow, TicketFlow) and k.flow.printed is not None)
    assert k.flow.printed is True and hw.printer.printed == ["ticket"]
    op, body = link.sent[-1]
    assert op == "ticket.issue" and body["priority"] == "elderly"
    assert ELDER.id_number not in str(body)
    assert ELDER.name in state_text(k)  # the test can see it while in use
    assert "tok123" in state_text(k)  # and the ticket's typed result
    k.end_session()
    text = state_text(k)
    for secret in (ELDER.name, ELDER.id_number, ELDER.address, "A001", "tok123"):
        assert secret not in text
    assert not k.elderly and k.session.empty


def test_timeout_wipes_with_countdown_and_more_time(tmp_path: Path) -> None:
    k, ui, hw = make_kiosk(tmp_path, FakeLink())
    clock = k._clock  # type: ignore[attr-defined]
    k.start_case()
    hw.idcard.present_card(fresh(ELDER))
    ui.pump_until(lambda: isinstance(k.flow, CaseFlow) and k.flow.step == "done")
    k.answer_offer(True)  # elderly: timeouts doubled, more-time prompt
    k.open_catalogue()
    clock[0] += 100  # 120 s limit, 40 s warning in elderly mode
    k.tick()
    assert k.countdown == 20 and k.prompt == "more_time"
    k.more_time()
    assert k.countdown is None and k.prompt is None
    clock[0] += 119
    k.tick()
    assert k.screen == "catalogue"
    clock[0] += 2
    k.tick()
    assert k.screen == "home" and k.session.empty
    assert ELDER.name not in state_text(k) and ELDER.id_number not in state_text(k)


def test_late_reply_after_wipe_is_dropped(tmp_path: Path) -> None:
    link = FakeLink()
    import threading

    gate = threading.Event()
    base = link.default

    def slow(op: str, body: dict) -> object:
        gate.wait(5)
        return base(op, body)

    link.handler = slow  # type: ignore[assignment]
    k, ui, _ = make_kiosk(tmp_path, link)
    k.start_ticket("service", "idcard_reissue")
    k.ticket_skip_identify()
    k.ticket_priority(PriorityClass.NORMAL)
    k.end_session()
    gate.set()
    k.pool.shutdown(wait=True)
    while not ui.q.empty():
        ui.q.get()()
    assert k.session.empty and "A001" not in state_text(k)


def test_offline_rating_and_help_go_to_outbox_then_delivered_once(tmp_path: Path) -> None:
    link = FakeLink(online=False)
    k, _ui, _ = make_kiosk(tmp_path, link)
    k.start_rating()
    k.rating_use_token("tok5")
    k.rating_level(1)
    k.rating_reason("wait_long")
    k.rating_confirm()
    assert isinstance(k.flow, RatingFlow) and k.flow.queued and k.flow.step == "done"
    k.end_session()
    k.start_help("helper")
    assert k.flow is not None and k.flow.queued
    assert k.outbox.pending_count() == 2 and link.sent == []
    link.online = True
    k.on_connection(True)
    k.pool.shutdown(wait=True)
    assert k.outbox.pending_count() == 0
    assert [op for op, _ in link.sent] == ["rating.submit", "help.request"]
    assert link.refused == []
    # the controller knows where k01 stands: the note is only what the citizen typed
    help_body = link.sent[1][1]
    assert {x: v for x, v in help_body.items() if x != "id"} == {"kind": "helper"}
    # a second delivery run sends nothing again
    Outbox(tmp_path / "outbox.db").deliver(lambda op, p: link.request(op, p, 1))
    assert len(link.sent) == 2


def test_rating_twice_shows_already_rated(tmp_path: Path) -> None:
    k, ui, _ = make_kiosk(tmp_path, FakeLink())
    k.start_rating()
    k.on_scan("rated")
    k.rating_level(4)
    ui.pump_until(lambda: k.flow is not None and k.flow.step == "error")
    assert k.flow is not None and k.flow.error == "already_rated"


def test_night_hides_ticketing_keeps_guides(tmp_path: Path) -> None:
    k, _, _ = make_kiosk(tmp_path, FakeLink(), now=SUNDAY_3AM)
    offer = k.offer()
    assert not offer.allows("ticket") and offer.allows("guide")


def test_home_follows_the_day_and_the_controller(tmp_path: Path) -> None:
    """At midnight the hall stays closed, but today's hours change: home re-renders. The
    queue picture comes from the link's status and disappears when the controller is down."""
    link = FakeLink()
    k, _, _ = make_kiosk(tmp_path, link, now=MONDAY_10.replace(hour=23, minute=59))
    renders: list[int] = []
    k.listeners.append(lambda: renders.append(1))
    k.tick()
    k.tick()
    assert renders == [] and "08:30–12:00 14:00–17:30" in k.home_info().hours
    k._now = lambda: MONDAY_10.replace(day=16, hour=0, minute=1)  # Tuesday 00:01
    k.tick()
    assert renders == [1] and k.home_info().hours == "今日办公时间 08:30–17:30"
    link.hall_status = hall_status({"id": 3}, open=False)
    assert k.home_info().waiting_total == "当前等候 3 人"  # closed, but people still wait
    link.controller_state = "online"
    link.hall_status = hall_status({"id": 3}, open=True)
    k._now = lambda: MONDAY_10  # open
    assert k.offer().allows("ticket")
    link.controller_state = "lost"
    info = k.home_info()
    assert info.waiting_total is None and info.queue_note and "排队人数" in info.queue_note
    # The broker is up, the controller is not: no ticket to wait for in vain; guides go on.
    offer = k.offer()
    assert not offer.allows("ticket") and offer.why_not["ticket"] == "offline"
    assert offer.allows("guide")


def test_printer_fault_reported_and_ticket_still_shown(tmp_path: Path) -> None:
    link = FakeLink()
    k, ui, hw = make_kiosk(tmp_path, link)
    hw.on_status = lambda st: ui.post(lambda: k.on_device_status(st))
    hw.printer.set_paper_out(True)
    ui.pump_until(lambda: ("printer", "fault", "paper out") in link.reports)
    k.start_ticket("service", "idcard_reissue")
    k.ticket_skip_identify()
    k.ticket_priority(PriorityClass.NORMAL)
    ui.pump_until(lambda: isinstance(k.flow, TicketFlow) and k.flow.printed is False)
    assert isinstance(k.flow, TicketFlow) and k.flow.result is not None
    assert k.flow.result.number == "A001"
    assert k.banner is not None
    assert "tok123" in k.status_url()


def test_commands_once_and_expiry(tmp_path: Path) -> None:
    link = FakeLink()
    k, ui, hw = make_kiosk(tmp_path, link)
    now = time.time()
    k.on_command(command("c1", "print_test_page", now + 60))
    k.on_command(command("c1", "print_test_page", now + 60))
    ui.pump_until(lambda: len(link.results) == 1)
    assert link.results[0].ok and hw.printer.printed == ["test page"]
    k.on_command(command("c2", "restart", now - 1))
    assert link.results[-1].message == "expired" and not k.restart_requested
    k.on_command(command("c3", "set_mode", now + 9, mode="elderly"))
    assert k.elderly and link.results[-1].ok
    k.on_command(command("c4", "reload_config", now + 9))
    assert link.results[-1].ok and "version 3" in link.results[-1].message
    k.on_command(command("c5", "self_test", now + 9))
    ui.pump_until(lambda: len(link.results) == 5)
    k.on_command(command("c6", "restart", now + 9))
    assert k.restart_requested
    ui.pump_until(lambda: True)
    hw.stop()


def test_diagnostics_pin(tmp_path: Path) -> None:
    k, _, _ = make_kiosk(tmp_path, FakeLink())
    k.open_pin()
    for d in "1111":
        k.pin_key(d)
    k.pin_key("ok")
    assert k.screen == "pin" and k.banner == ("pin_bad", {})
    for d in k.cfg.diagnostics_pin:
        k.pin_key(d)
    k.pin_key("ok")
    assert k.screen == "diag"
    diag = k.diagnostics()
    assert diag["device printer"].startswith("ready") and diag["network"] == "broker connected"
    assert diag["controller"] == "no status yet"
    # the screen's rows: in the kiosk's language, a fault marked as one
    rows = {r.what: r for r in k.diagnostic_rows()}
    assert rows["打印机"].value.startswith("正常") and rows["打印机"].ok
    assert rows["大厅系统"].value == "尚未收到状态" and not rows["大厅系统"].ok


def test_hall_opening_rerenders_home_and_bad_commands_refused(tmp_path: Path) -> None:
    from tests.kiosk.helpers import MONDAY_10

    link = FakeLink()
    k, _ui, _ = make_kiosk(tmp_path, link, now=SUNDAY_3AM)
    when = [SUNDAY_3AM]
    k._now = lambda: when[0]
    renders: list[int] = []
    k.listeners.append(lambda: renders.append(1))
    k.tick()
    k.tick()
    assert renders == [] and not k.offer().allows("ticket")
    when[0] = MONDAY_10
    k.tick()
    assert renders == [1] and k.offer().allows("ticket")
    now = time.time()
    k.on_command(command("m1", "set_mode", now + 9, mode="sideways"))
    assert not link.results[-1].ok and k.mode == "service"


def test_ticket_payload_carries_no_name(tmp_path: Path) -> None:
    link = FakeLink()
    k, ui, hw = make_kiosk(tmp_path, link)
    k.start_ticket("service", "idcard_reissue")
    hw.idcard.present_card(fresh(ELDER))
    ui.pump_until(lambda: isinstance(k.flow, TicketFlow) and k.flow.step == "priority")
    k.ticket_priority(PriorityClass.NORMAL)
    ui.pump_until(lambda: link.sent != [])
    body = str(link.sent[-1][1])
    assert "masked_name" not in body and "欧" not in body and ELDER.id_number not in body


def test_mailing_sends_this_halls_case_number_as_case_no(tmp_path: Path) -> None:
    link = FakeLink()
    k, ui, _ = make_kiosk(tmp_path, link)
    sent = []
    for ref in ("testhall2025091500003", "tok123"):
        k.start_mailing()
        for name, value in (
            ("ref", ref),
            ("recipient", "王秀"),
            ("phone", "13800138000"),
            ("address", "福州市鼓楼区五四路100号"),
        ):
            k.mail_set(name, value)
        k.mail_submit()
        ui.pump_until(lambda: k.flow is not None and k.flow.step == "done")
        op, body = link.sent[-1]
        assert op == "mailing.request"
        sent.append({x: body.get(x) for x in ("case_no", "ticket")})
        k.end_session()
    assert sent == [
        {"case_no": "TESTHALL2025091500003", "ticket": None},
        {"case_no": None, "ticket": "tok123"},
    ]


def test_ticket_choice_through_the_core(tmp_path: Path) -> None:
    k, _, _ = make_kiosk(tmp_path, FakeLink())
    k.start_ticket()
    assert k.ticket_choices().where == "categories"
    k.ticket_search()
    k.ticket_query("sfz")
    v = k.ticket_choices()
    assert [c.id for c in v.items] == ["idcard_reissue"]
    k.ticket_choose(v.items[0].kind, v.items[0].id)
    assert isinstance(k.flow, TicketFlow) and k.flow.step == "identify"
    assert k.flow.target == "idcard_reissue"


def test_clock_start_sunday_evening_hides_ticketing(tmp_path: Path) -> None:
    import datetime as dt

    from kiosk.__main__ import shifted_clock

    start = dt.datetime(2025, 9, 14, 20, 0, tzinfo=SUNDAY_3AM.tzinfo)
    k, _, _ = make_kiosk(tmp_path, FakeLink())
    k._now = shifted_clock(start, k.hall.tz)
    offer = k.offer()
    assert not offer.open_now and not offer.allows("ticket") and offer.allows("guide")
    assert offer.next_opening is not None
    assert offer.next_opening.strftime("%m-%d %H:%M") == "09-15 08:30"


def test_every_name_the_ui_calls_is_on_the_kiosk(tmp_path: Path) -> None:
    """The kiosk is split into parts (nav, flow actions, requests, remote, diagnostics);
    the UI keeps calling them by the kiosk's names (``k.start_ticket``, ``k.go_home``…)."""
    import re

    root = Path(__file__).resolve().parents[2]
    names: set[str] = set()
    for path in (root / "kiosk" / "ui").glob("*.py"):
        names |= set(re.findall(r"\bk\.([A-Za-z_]\w*)", path.read_text(encoding="utf-8")))
    k, _, hw = make_kiosk(tmp_path, FakeLink())
    assert len(names) > 50
    assert sorted(n for n in names if not hasattr(k, n)) == []
    k.close()
    hw.stop()
