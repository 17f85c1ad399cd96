"""Going back and going home (issue 11, item 4): 返回 on every inner screen keeps the
session; 首页 asks before it drops what was typed; elderly mode stays on until the
session ends (完成, or the person walks away)."""

from __future__ import annotations

from pathlib import Path

from kiosk.flows import TicketFlow
from tests.kiosk.helpers import ELDER, FakeLink, make_kiosk
from tests.kiosk.test_core import fresh


def test_back_from_a_category_and_a_guide_keeps_the_session(tmp_path: Path) -> None:
    k, _ui, hw = make_kiosk(tmp_path, FakeLink())
    try:
        k.set_elderly(True)
        cat = k.hall.services[0].queue
        k.open_catalogue(cat)
        k.open_guide("service", k.hall.services[0].id)
        k.back()
        assert (k.screen, k.params.get("cat")) == ("catalogue", cat)  # the list it came from
        k.back()
        assert (k.screen, k.params.get("cat")) == ("catalogue", None)  # all categories
        k.back()
        assert k.screen == "home" and k.elderly  # elderly mode stays on
    finally:
        hw.stop()


def test_back_through_the_ticket_steps(tmp_path: Path) -> None:
    k, _ui, hw = make_kiosk(tmp_path, FakeLink())
    try:
        k.start_ticket()
        f = k.flow
        assert isinstance(f, TicketFlow)
        k.ticket_category(k.hall.services[0].queue)
        k.back()
        assert f.step == "choose" and f.cat is None  # from a category to the categories
        k.ticket_choose("service", k.hall.services[0].id)
        k.ticket_skip_identify()
        assert f.step == "priority"
        k.back()
        assert f.step == "identify"
        k.back()
        assert f.step == "choose" and k.screen == "ticket"
    finally:
        hw.stop()


def test_home_asks_before_dropping_what_was_typed(tmp_path: Path) -> None:
    k, ui, hw = make_kiosk(tmp_path, FakeLink())
    try:
        k.set_elderly(True)
        hw.idcard.present_card(fresh(ELDER))
        ui.pump_until(lambda: k.session.identity is not None)
        k.start_mailing()
        k.mail_set("phone", "13800000000")
        k.go_home()
        assert k.prompt == "leave_confirm" and k.screen == "mailing"  # asked, nothing lost
        assert k.session.form.get("phone") == "13800000000"
        k.stay()
        assert k.prompt is None and k.session.form.get("phone") == "13800000000"
        k.go_home()
        k.leave_task()
        assert k.screen == "home" and not k.session.form  # the typed number is gone
        assert k.elderly and k.session.identity is not None  # the session goes on
        k.end_session()
        assert not k.elderly and k.session.identity is None  # 完成: everything goes
    finally:
        hw.stop()


def test_home_from_an_untouched_screen_does_not_ask(tmp_path: Path) -> None:
    k, _ui, hw = make_kiosk(tmp_path, FakeLink())
    try:
        k.open_catalogue()
        k.go_home()
        assert k.prompt is None and k.screen == "home"
    finally:
        hw.stop()
