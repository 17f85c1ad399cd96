"""Flow logic without Kivy: catalogue, flows, privacy, offers, elderly policy, contrast."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_contract.hallconfig import PriorityPolicy
from hall_contract.messages import ErrorCode, ErrorInfo, PriorityClass, Reply
from kiosk import elderly
from kiosk.catalogue import Catalogue
from kiosk.contrast import contrast
from kiosk.flows import FlowError, MailingFlow, RatingFlow, TicketFlow, code_from_scan
from kiosk.offers import decide
from kiosk.privacy import citizen_key, mask_address, mask_id, mask_name
from kiosk.session import Session
from tests.kiosk.helpers import ELDER, MONDAY_10, SUNDAY_3AM, YOUNG, hall


def test_search_by_pinyin_initials_text_and_english() -> None:
    c = Catalogue(hall())
    assert [e.id for e in c.search("sfz")] == ["idcard_reissue"]
    assert [e.id for e in c.search("SFZ")] == ["idcard_reissue"]
    assert c.search("shebao")[0].id == "sscard_apply"
    assert c.search("社保卡")[0].id == "sscard_apply"
    assert c.search("company")[0].id == "biz_open"
    assert [e.id for e in c.search("csyjs")] == ["birth"]
    assert c.search("补办")[0].id == "idcard_reissue"  # keyword
    assert c.search("zzzz") == []


def test_bundle_notice_merges_and_dedupes_materials_with_strictest_mark() -> None:
    c = Catalogue(hall())
    n = c.notice("bundle", "birth")
    names = [m.name for m in n.materials]
    assert len(names) == len(set(names))
    marks = {m.name: m.mark for m in n.materials}
    assert marks["户口簿"] == "required"  # may_be_missing + required + commitment
    assert n.services == ["新生儿落户", "新生儿医保参保", "社保卡申领"]
    s = c.notice("service", "idcard_reissue")
    lines = "\n".join(s.lines())
    assert "可容缺" in lines and "必交" in lines and "20元" in lines and "1号窗口" in lines


def test_masking() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳秀英") == "欧**英"
    assert mask_id("110101195003071234") == "1101**********1234"
    assert "景山" not in mask_address("北京市东城区景山前街4号")
    assert citizen_key("k", "11010119500307123x") == citizen_key("k", "11010119500307123X")
    assert len(citizen_key("k", "1")) == 32


@given(st.text(min_size=3, max_size=30))
def test_masked_name_never_shows_the_middle(name: str) -> None:
    m = mask_name(name)
    assert len(m) == len(name.strip()) or len(name.strip()) <= 1


def test_ticket_priority_offered_by_policy_never_assumed() -> None:
    pol = PriorityPolicy()
    s = Session()
    f = TicketFlow()
    f.choose("service", "idcard_reissue")
    s.set_identity(ELDER)
    f.identified(s, MONDAY_10.date())
    opts = f.priority_options(pol)
    assert PriorityClass.ELDERLY in opts and f.priority == PriorityClass.NORMAL
    f2 = TicketFlow()
    f2.choose("service", "idcard_reissue")
    f2.skip_identify()
    assert PriorityClass.ELDERLY not in f2.priority_options(pol)
    with pytest.raises(FlowError):
        f2.choose_priority(PriorityClass.ELDERLY, pol)
    f.choose_priority(PriorityClass.ELDERLY, pol)
    body = f.payload(s, "secret", "zh")
    assert body["priority"] == "elderly" and body["priority_reason"] == "id_card_age"
    assert body["masked_name"] == "欧**英"
    assert ELDER.id_number not in str(body) and ELDER.name not in str(body)


def test_young_person_gets_no_elderly_priority() -> None:
    s = Session()
    s.set_identity(YOUNG)
    f = TicketFlow()
    f.choose("bundle", "birth")
    f.identified(s, MONDAY_10.date())
    assert PriorityClass.ELDERLY not in f.priority_options(PriorityPolicy())


def test_rating_reasons_only_for_bad_levels_and_conflict() -> None:
    f = RatingFlow()
    f.scanned("https://zwfw.example.gov.cn/q/tok123")
    assert f.ticket == "tok123"
    f.choose_level(5)
    assert f.step == "sending" and "reasons" not in f.payload()
    with pytest.raises(FlowError):
        f.toggle_reason("attitude")
    g = RatingFlow()
    g.use_ticket("tok9")
    g.choose_level(1)
    assert g.step == "reasons"
    with pytest.raises(FlowError):
        g.confirm_reasons()
    g.toggle_reason("attitude")
    g.set_text("太慢")
    g.confirm_reasons()
    assert g.payload() == {"ticket": "tok9", "level": 1, "reasons": ["attitude"], "text": "太慢"}
    g.on_reply(Reply(id="x", ok=False, error=ErrorInfo(code=ErrorCode.CONFLICT, message="")))
    assert g.error == "already_rated"


def test_scan_codes() -> None:
    assert code_from_scan("A-1.b_2") == "A-1.b_2"
    assert code_from_scan("https://x.cn/a?code=ABC") == "ABC"
    with pytest.raises(FlowError):
        code_from_scan("二维码 with spaces")


def test_mailing_validation() -> None:
    f = MailingFlow()
    with pytest.raises(FlowError, match="bad_phone"):
        f.submit({"ref": "tok1", "recipient": "王", "phone": "x", "address": "福州市鼓楼区"})
    body = f.submit(
        {"ref": "tok1", "recipient": "王", "phone": "13800000000", "address": "福州市鼓楼区五四路"}
    )
    assert body["ticket"] == "tok1"


def test_offers_day_and_night() -> None:
    h = hall()
    day = decide(h, MONDAY_10, online=True)
    assert day.open_now and day.allows("ticket") and day.allows("guide")
    night = decide(h, SUNDAY_3AM, online=True)
    assert not night.open_now and not night.allows("ticket") and night.allows("guide")
    assert night.allows("case") and night.why_not["ticket"] == "closed"
    assert night.next_opening is not None and night.next_opening.hour == 8
    off = decide(h, MONDAY_10, online=False)
    assert not off.allows("ticket") and off.allows("rating") and off.allows("help")
    assert off.why_not["case"] == "offline"
    holiday = decide(h, dt.datetime(2025, 10, 1, 10, tzinfo=MONDAY_10.tzinfo), online=True)
    assert not holiday.open_now
    makeup = decide(h, dt.datetime(2025, 9, 28, 10, tzinfo=MONDAY_10.tzinfo), online=True)
    assert makeup.open_now  # 调休 Sunday uses Monday hours
    status = decide(h, MONDAY_10, online=True, status={"open": False})
    assert not status.allows("ticket")


def test_elderly_policy() -> None:
    assert elderly.ELDERLY.body_sp >= 32
    assert (
        elderly.ELDERLY.small_sp >= elderly.SCALE_MIN * elderly.NORMAL.small_sp - 1e-9
        or elderly.ELDERLY.body_sp >= elderly.SCALE_MIN * elderly.NORMAL.body_sp
    )
    assert elderly.should_offer(75, 60, False)
    assert not elderly.should_offer(75, 60, True)
    assert not elderly.should_offer(59, 60, False)
    items = list(range(10))
    assert elderly.page(items, True, 0) == ([0, 1, 2, 3], 3)
    assert elderly.page(items, False, 5) == ([8, 9], 2)
    assert elderly.inactivity_s(60, True) == 120


def test_contrast_maths() -> None:
    assert contrast((0, 0, 0, 1), (1, 1, 1, 1)) == pytest.approx(21)
    assert contrast((1, 1, 1, 1), (1, 1, 1, 1)) == pytest.approx(1)
    # #767676 on white is the classic 4.54:1
    g = 0x76 / 255
    assert contrast((g, g, g, 1), (1, 1, 1, 1)) == pytest.approx(4.54, abs=0.01)
    # half-transparent black on white is lighter
    assert contrast((0, 0, 0, 0.5), (1, 1, 1, 1)) < 5


def test_session_wipe_forgets_everything() -> None:
    from kiosk.session import CardIdentity

    s = Session()
    card = CardIdentity(ELDER.name, ELDER.id_number, ELDER.birth_date, ELDER.address)
    s.set_identity(card)
    s.add_scan("code1")
    s.form["address"] = "福州市"
    s.flow = TicketFlow()
    s.wipe()
    assert s.empty
    assert card.name == "" and card.id_number == "" and card.address == ""
