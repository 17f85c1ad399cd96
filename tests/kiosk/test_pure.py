"""Flow logic without Kivy: catalogue, flows, privacy, offers, elderly policy, contrast."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_contract import messages as m
from hall_contract.hallconfig import HallConfig, PriorityPolicy
from hall_contract.messages import ErrorCode, PriorityClass
from hall_contract.yamlconf import load_model
from kiosk import elderly
from kiosk.__main__ import parser, shifted_clock
from kiosk.catalogue import BUNDLES, Catalogue
from kiosk.contrast import contrast
from kiosk.flows import (
    FlowError,
    MailingFlow,
    RatingFlow,
    TicketFlow,
    code_from_scan,
    is_case_no,
)
from kiosk.home import HomeInfo, home_info, queue_text
from kiosk.offers import decide
from kiosk.privacy import citizen_key, mask_id, mask_name
from kiosk.session import Session
from tests.kiosk.helpers import (
    ELDER,
    MONDAY_10,
    SUNDAY_3AM,
    TZ,
    YOUNG,
    case_info,
    contract_reply,
    hall,
    hall_status,
    refuse,
)

ROOT = Path(__file__).resolve().parents[2]


def real_hall() -> HallConfig:
    """The hall's own config (40 services, 7 categories, 5 bundles)."""
    return load_model(HallConfig, ROOT / "config" / "hall.yaml")


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
    assert "masked_name" not in body  # the controller has no use for a name
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
    g.on_reply(refuse("rating.submit", "x", ErrorCode.CONFLICT))
    assert g.error == "already_rated"
    h = RatingFlow()
    h.use_ticket("tok9")
    h.choose_level(5)
    h.on_reply(contract_reply("rating.submit", "y", m.RatingAccepted("A001", 5)))
    assert h.step == "done" and h.result == m.RatingAccepted("A001", 5)
    h.wipe()
    assert h.result is None


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


def mail_ref(ref: str, hall_id: str = "yunxi") -> dict[str, str]:
    body = MailingFlow(hall_id=hall_id).submit(
        {"ref": ref, "recipient": "王", "phone": "13800000000", "address": "福州市鼓楼区五四路"}
    )
    return {k: v for k, v in body.items() if k in ("case_no", "ticket")}


def test_mailing_reference_is_a_case_number_only_in_this_halls_shape() -> None:
    # the controller's case numbers: hall id upper-case + YYYYMMDD + 5 digits
    assert mail_ref("YUNXI2026111800001") == {"case_no": "YUNXI2026111800001"}
    # typed on the touch keyboard in lower case: sent as the controller wrote it
    assert mail_ref("yunxi2026111800001") == {"case_no": "YUNXI2026111800001"}
    # scanned from the receipt's QR (a URL)
    url = "https://hall.example/case?case=YUNXI2026111800002"
    assert mail_ref(url) == {"case_no": "YUNXI2026111800002"}
    # ticket ids and lookup tokens, also ones the old rule took for case numbers
    for ref in ("20251118-A001", "2f9c1e7ab3", "CASE-tok", "d-A001", "A001"):
        assert mail_ref(ref) == {"ticket": ref}, ref
    # another hall's case, a wrong length, an impossible date: not this hall's case number
    assert mail_ref("OTHER2026111800001") == {"ticket": "OTHER2026111800001"}
    assert mail_ref("YUNXI202611180001") == {"ticket": "YUNXI202611180001"}
    assert mail_ref("YUNXI2026133200001") == {"ticket": "YUNXI2026133200001"}
    assert is_case_no("TESTHALL2025091500007", "testhall")
    assert not is_case_no("YUNXI2026111800001", "")


def test_ticket_choice_by_category_and_search_with_bundles_first() -> None:
    cat = Catalogue(real_hall())
    f = TicketFlow()
    top = f.choices(cat, elderly=False, lang="zh")
    assert top.where == "categories"
    names = [c.label for c in top.items]
    assert top.items[0] == top.items[0].__class__("category", BUNDLES, "一件事一次办")
    assert len(names) == len(set(names)) == 8  # 7 queues with services + bundles, no dupes
    assert "公安户政" in names and top.pages == 1
    # elderly: fewer choices a screen; the bundles stay on the first one
    old = f.choices(cat, elderly=True, lang="zh")
    assert len(old.items) == 6 and old.pages == 2 and old.items[0].id == BUNDLES
    # a category lists its services, to be taken
    f.open_category("police")
    v = f.choices(cat, elderly=False, lang="zh")
    assert v.where == "category" and v.title == "公安户政"
    assert [c.label for c in v.items][:2] == ["居民身份证换领", "居民身份证补领"]
    assert {c.kind for c in v.items} == {"service"}
    # the bundles' category offers the 一件事 bundles themselves
    f.open_category(BUNDLES)
    b = f.choices(cat, elderly=False, lang="en")
    assert {c.kind for c in b.items} == {"bundle"} and len(b.items) == 5
    assert all(c.label.isascii() for c in b.items)  # English names in English
    # pages: 9 social services are 2 pages in both modes (8 a page normally, 6 elderly)
    f.open_category("social")
    assert f.choices(cat, elderly=False, lang="zh").pages == 2
    f.turn(1)
    last = f.choices(cat, elderly=True, lang="zh")
    assert last.pages == 2 and last.page == 1 and len(last.items) == 3
    f.turn(99)  # clamped to the last page
    assert f.choices(cat, elderly=True, lang="zh").page == 1
    # search by pinyin initials, in the catalogue's order
    f.open_search()
    assert f.page == 0 and f.cat is None
    assert f.choices(cat, elderly=False, lang="zh").items == []
    f.set_query("sfz")
    found = f.choices(cat, elderly=False, lang="zh")
    assert found.where == "search" and found.query == "sfz"
    assert [c.id for c in found.items][:2] == ["id_card_renew", "id_card_reissue"]
    f.set_query("csyjs")  # 出生一件事: bundles are found too
    assert [(c.kind, c.id) for c in f.choices(cat, False, "zh").items] == [("bundle", "birth")]
    f.back()
    assert f.choices(cat, elderly=False, lang="zh").where == "categories" and f.query == ""
    # choosing a search result moves on, and leaves no search text behind
    f.open_search()
    f.set_query("sfz")
    f.choose("service", "id_card_reissue")
    assert (f.step, f.kind, f.target, f.query, f.searching) == (
        "identify",
        "service",
        "id_card_reissue",
        "",
        False,
    )


def test_clock_start_runs_at_real_speed_in_the_halls_zone() -> None:
    wall = [1_000_000.0]
    start = dt.datetime(2025, 9, 14, 20, 0, tzinfo=TZ)  # a Sunday evening
    now = shifted_clock(start, TZ, wall=lambda: wall[0])
    assert now() == start
    wall[0] += 90
    assert now() == start + dt.timedelta(seconds=90)
    assert now().tzinfo is TZ
    args = parser().parse_args(["run", "--clock-start", "2025-09-14T20:00:00+08:00"])
    assert args.clock_start == start
    assert parser().parse_args(["run"]).clock_start is None
    with pytest.raises(SystemExit):
        parser().parse_args(["run", "--clock-start", "Sunday evening"])


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
    status = decide(h, MONDAY_10, online=True, status=hall_status(open=False))
    assert not status.allows("ticket")
    # the controller says when it opens again (it may close early for the day)
    early = hall_status(open=False, next_opening="2025-09-16T08:30:00+08:00")
    closed = decide(h, MONDAY_10, online=True, status=early)
    assert closed.next_opening == dt.datetime(2025, 9, 16, 8, 30, tzinfo=TZ)
    assert decide(h, SUNDAY_3AM, online=False, status=hall_status(open=True)).open_now is False


def _home(
    when: dt.datetime,
    online: bool = True,
    status: m.HallStatus | m.HallStatusInfo | None = None,
    **kw: Any,
) -> HomeInfo:
    h = hall()
    return home_info(h, when, decide(h, when, online, status), status, **kw)


def test_home_open_today_with_hours_and_waiting_per_queue() -> None:
    status = hall_status({"id": 4, "ss": 0, "biz": 2})
    info = _home(MONDAY_10, status=status)
    assert info.title == "测试区政务服务中心" and info.state == "正在办公"
    assert info.hours == "今日办公时间 08:30–12:00 14:00–17:30"
    assert info.self_service is None and info.notes == []
    assert info.waiting_total == "当前等候 6 人"
    assert [queue_text(q, "zh") for q in info.queues] == [
        "户籍证照：等候 4 人",
        "社保医保：等候 0 人",
        "企业开办：等候 2 人",
    ]
    en = _home(MONDAY_10, status=status, lang="en")
    assert en.hours == "Open today 08:30–12:00, 14:00–17:30" and en.state == "Open now"
    assert en.waiting_total == "6 people waiting now"
    assert queue_text(en.queues[0], "en") == "ID and licences: 4 waiting"
    # the hall.status reply (a list of queue snapshots) reads the same
    snap = [snapshot("biz", "企业开办", 1), snapshot("id", "户籍证照", 5)]
    full = m.HallStatusInfo(open=True, next_opening=None, config_version=3, queues=snap)
    reply = contract_reply("hall.status", "s1", full).result
    assert isinstance(reply, m.HallStatusInfo)
    assert _home(MONDAY_10, status=reply).waiting_total == "当前等候 6 人"


def snapshot(queue: str, name: str, waiting: int) -> m.QueueSnapshot:
    at = MONDAY_10.timestamp()
    return m.QueueSnapshot(queue, name, queue[0].upper(), waiting, [], None, 5, True, at)


def test_home_at_3am_says_when_it_opens_and_what_still_works() -> None:
    status = hall_status({"id": 0, "ss": 0, "biz": 0}, open=False)
    info = _home(SUNDAY_3AM, status=status)
    assert info.state == "现在非办公时间，窗口下次开放：明天 9月15日（周一）08:30"
    assert info.hours == "今日（周日）窗口不办公"
    assert info.self_service is not None and "办事指南" in info.self_service
    assert "取号" not in info.self_service  # not offered at night
    assert info.waiting_total is None  # nobody waits at 3 a.m.: no "0 people" line
    en = _home(SUNDAY_3AM, lang="en")
    assert en.state == "Windows closed now; they open tomorrow, Mon 15 Sep 08:30"
    assert en.hours == "Windows closed today (Sun)"
    # Saturday 3 a.m.: the windows open later the same day
    sat = _home(dt.datetime(2025, 9, 13, 3, tzinfo=TZ))
    assert sat.state.endswith("窗口下次开放：今天 09:00")


def test_home_holiday_and_makeup_notes_today_and_tomorrow() -> None:
    eve = _home(dt.datetime(2025, 9, 30, 10, tzinfo=TZ))
    assert eve.notes == ["温馨提示：明天 10月1日（周三）国庆节放假，窗口不办公"]
    eve_en = _home(dt.datetime(2025, 9, 30, 10, tzinfo=TZ), lang="en")
    assert eve_en.notes == ["Note: tomorrow, Wed 1 Oct is a holiday (National Day); windows closed"]
    day = _home(dt.datetime(2025, 10, 1, 10, tzinfo=TZ))
    assert day.hours == "今日国庆节放假，窗口不办公" and day.notes == []
    assert day.state == "现在非办公时间，窗口下次开放：明天 10月2日（周四）08:30"
    sat = _home(dt.datetime(2025, 9, 27, 20, tzinfo=TZ))  # Saturday before the 调休 Sunday
    assert sat.notes == ["温馨提示：明天 9月28日（周日）调休上班，办公时间 08:30–12:00 14:00–17:30"]
    sun = _home(dt.datetime(2025, 9, 28, 10, tzinfo=TZ))
    assert sun.hours == "今日办公时间 08:30–12:00 14:00–17:30"
    assert sun.notes == ["今日为调休上班日，窗口照常办公"] and sun.state == "正在办公"
    # an ordinary Monday has no notes
    assert _home(MONDAY_10).notes == []


def test_home_queue_only_when_the_controller_is_there() -> None:
    status = hall_status({"id": 4})
    offline = _home(MONDAY_10, online=False, status=status)  # stale status: not shown
    assert offline.waiting_total is None and offline.queues == []
    assert offline.self_service is None  # the offline banner speaks for the link
    down = _home(MONDAY_10, status=status, controller_up=False)
    assert down.waiting_total is None and down.queue_note and "排队人数" in down.queue_note
    assert _home(MONDAY_10, status=None).waiting_total is None  # not received yet
    assert _home(MONDAY_10, status=hall_status({"id": -1, "x": 3})).waiting_total is None
    lines = _home(MONDAY_10, status=status).lines()
    assert lines[:3] == ["测试区政务服务中心", "正在办公", "今日办公时间 08:30–12:00 14:00–17:30"]
    assert "当前等候 4 人" in lines and "户籍证照：等候 4 人" in lines


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
    assert elderly.page(items, True, 0) == ([0, 1, 2, 3, 4, 5], 2)
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


def test_missing_glyphs_are_found() -> None:
    from kiosk.glyphs import missing
    from kiosk.ui.boot import find_font

    font = find_font()
    assert missing("☐☑ 等待时间长", font) == ["☐", "☑"]  # tofu in WenQuanYi
    assert missing("✔ □ ★ ● ○ ◇ ▶ 【必交】", font) == []  # what the screens use


def test_case_state_in_words() -> None:
    from typing import get_args

    from kiosk.flows import CaseFlow
    from kiosk.i18n import T

    assert CaseFlow.state_key(case_info()) == "case_in_review"
    assert CaseFlow.level_key(case_info(level="red")) == "level_red"
    # every state and level the contract has, in words in both languages
    for state in get_args(m.CaseState):
        key = CaseFlow.state_key(dataclasses.replace(case_info(), state=state))
        assert all(T[key]), state
    for level in get_args(m.LevelName):
        assert all(T[CaseFlow.level_key(case_info(level=level))]), level


def test_outbox_erases_a_delivered_payload_and_keeps_a_passing_error(tmp_path: Path) -> None:
    from kiosk.outbox import Outbox

    box = Outbox(tmp_path / "outbox.db")
    comment = "王小明 13800000000 窗口态度不好"
    box.add("rating.submit", {"id": "r1", "ticket": "tok1", "level": 1, "text": comment})
    box.add("rating.submit", {"id": "r2", "ticket": "tok2", "level": 2, "text": "慢"})
    busy = refuse("rating.submit", "r2", ErrorCode.INTERNAL)
    assert box.settle("r2", busy) is False  # a passing error: still queued for a retry
    done = contract_reply("rating.submit", "r1", m.RatingAccepted("A001", 1))
    assert box.settle("r1", done) is True
    assert [e.id for e in box.pending()] == ["r2"]
    assert box.result("r1") == "ok"
    box.close()
    db = sqlite3.connect(tmp_path / "outbox.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert db.execute("SELECT payload FROM outbox WHERE id='r1'").fetchone()[0] == "{}"
    db.close()
    assert comment.encode() not in (tmp_path / "outbox.db").read_bytes()


def test_rating_reasons_are_the_contracts_in_the_kiosks_words() -> None:
    from kiosk.i18n import T

    f = RatingFlow()
    f.use_ticket("tok9")
    f.choose_level(2)
    for code in m.RATING_REASONS:  # every reason the controller accepts can be chosen
        f.toggle_reason(code)
        zh, en = T[code]  # with the kiosk's own labels
        assert zh and en
    assert f.reasons == list(m.RATING_REASONS)
    with pytest.raises(FlowError):
        f.toggle_reason("too_cold")  # not a contract code


def test_flow_payloads_are_requests_the_controller_accepts() -> None:
    """Every body a flow builds validates as its contract request (strict: no unknown
    field, no coercion, citizen_key of 32 hex digits, one target)."""
    from kiosk.flows import CaseFlow, CheckinFlow, HelpFlow

    def ok(op: str, body: dict[str, Any]) -> Any:
        return m.validate_request(op, {"id": "k01.t.1", **body})

    s = Session()
    s.set_identity(ELDER)
    t = TicketFlow()
    t.choose("bundle", "birth")
    t.identified(s, MONDAY_10.date())
    t.choose_priority(PriorityClass.ELDERLY, PriorityPolicy())
    issue = ok("ticket.issue", t.payload(s, "secret", "en"))
    assert isinstance(issue, m.TicketIssue)
    assert issue.bundle == "birth" and issue.priority_reason == "id_card_age"
    assert issue.citizen_key == citizen_key("secret", ELDER.id_number)
    t2 = TicketFlow()
    t2.choose("service", "idcard_reissue")
    t2.skip_identify()
    t2.choose_priority(PriorityClass.DISABLED, PriorityPolicy())
    assert ok("ticket.issue", t2.payload(Session(), "secret", "zh")).priority_reason == "declared"
    c = CheckinFlow()
    c.scanned("https://zwfw.example.gov.cn/a?code=APPT0001")
    assert ok("appointment.checkin", c.payload(s, "secret")).code == "APPT0001"
    by_card = ok("appointment.checkin", CheckinFlow().payload(s, "secret"))
    assert by_card.citizen_key is not None
    case = CaseFlow()
    case.scanned("TESTHALL2025091500003")
    assert ok("case.lookup", case.payload(s, "secret")).case_no == "TESTHALL2025091500003"
    r = RatingFlow()
    r.use_ticket("tok9")
    r.choose_level(1)
    r.toggle_reason("come_again")
    r.set_text("  跑了两次  ")
    r.confirm_reasons()
    rating = ok("rating.submit", r.payload())
    assert rating.reasons == ["come_again"] and rating.text == "跑了两次"
    h = HelpFlow()
    h.choose("unresolved")
    assert ok("help.request", h.payload()).note is None
    mail = MailingFlow(hall_id="testhall")
    body = mail.submit(
        {"ref": "tok1", "recipient": "王", "phone": "13800000000", "address": "福州市鼓楼区五四路"}
    )
    assert ok("mailing.request", body).ticket == "tok1"


def test_help_note_is_only_what_the_citizen_typed() -> None:
    from kiosk.flows import HelpFlow

    f = HelpFlow()
    f.choose("helper")
    assert f.payload() == {"kind": "helper"}  # the controller knows where we stand
    g = HelpFlow()
    g.choose("unresolved", "  材料不全，窗口让我回家拿  ")
    assert g.payload() == {"kind": "unresolved", "note": "材料不全，窗口让我回家拿"}


def test_typed_results_only() -> None:
    """A flow holds the operation's result dataclass; an ok without a result is no
    answer; a case list comes as the contract's CaseList and nothing else."""
    from kiosk.flows import CaseFlow, HelpFlow

    f = CaseFlow()
    f.scanned("TESTHALL2025091500003")
    f.on_reply(contract_reply("case.lookup", "c1", m.CaseList([case_info(level="red")])))
    assert f.step == "done" and f.result is not None
    assert [c.level for c in f.result.cases] == ["red"]
    # one case instead of the list: the contract refuses it before any flow sees it
    with pytest.raises(ValueError):
        contract_reply("case.lookup", "c2", case_info())
    h = HelpFlow()
    h.choose("helper")
    h.on_reply(contract_reply("help.request", "h1", None))
    assert h.step == "error" and h.error == "err_internal"
    h2 = HelpFlow()
    h2.choose("helper")
    h2.on_reply(contract_reply("help.request", "h2", m.HelpAccepted("al-9", "一楼大厅东侧")))
    assert h2.result is not None and h2.result.location == "一楼大厅东侧"
    t = TicketFlow()
    t.on_reply(refuse("ticket.issue", "t1", ErrorCode.CAP_REACHED))
    assert t.step == "error" and t.error == "err_cap_reached"


def test_link_reads_the_contract_and_ignores_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    """Commands, desired config, hall status and the controller's presence are read as
    their contract types; anything else is logged (without its content) and ignored."""
    import orjson

    from hall_contract.client import BrokerSettings
    from hall_contract.topics import Topics
    from kiosk.link import ControllerLink

    got: dict[str, list[Any]] = {"cmd": [], "cfg": [], "status": []}
    link = ControllerLink(
        Topics("testhall"),
        "k01",
        BrokerSettings(port=9),
        on_command=got["cmd"].append,
        on_config=got["cfg"].append,
        on_status=got["status"].append,
    )
    cmd = m.Command("c1", "set_mode", {"mode": "elderly"}, 4_000_000_000.0)
    link._cmd("t", cmd.dumps(), None)
    assert got["cmd"] == [cmd]
    secret = "110101195003071234"
    for bad in (
        b"{",
        orjson.dumps({"id": "c2", "cmd": "format_disk", "args": {}, "expires_at": 1.0}),
        orjson.dumps({"id": "c3", "cmd": "restart", "args": {}, "expires_at": 1, "x": secret}),
    ):
        link._cmd("t", bad, None)
    assert len(got["cmd"]) == 1
    link._config("t", orjson.dumps(m.DesiredConfig(4, {"language": "en"})), None)
    link._config("t", orjson.dumps({"version": "four", "config": {}}), None)
    link._config("t", b"", None)
    assert got["cfg"] == [m.DesiredConfig(4, {"language": "en"})]
    status = hall_status({"id": 2})
    link._status("t", orjson.dumps(status), None)
    link._status("t", orjson.dumps({"open": True, "waiting": {"id": secret}}), None)
    link._status("t", b"", None)
    assert link.hall_status == status and got["status"] == [status]
    assert isinstance(link.hall_status, m.HallStatus)

    def presence(state: str, seq: int) -> bytes:
        return orjson.dumps(m.ControllerState(state, seq, 0.0, 3))  # type: ignore[arg-type]

    link._controller("t", presence("online", 100), None)
    assert link.controller_state == "online"
    link._controller("t", presence("lost", 99), None)  # a late Will of an older connection
    assert link.controller_state == "online"
    link._controller("t", orjson.dumps({"state": "gone", "seq": 101}), None)
    assert link.controller_state == "online"
    link._controller("t", presence("offline", 100), None)
    assert link.controller_state == "offline"
    link._controller("t", presence("online", 5), None)  # a new machine, its clock behind
    assert link.controller_state == "online"
    assert got["status"][-1] == status  # re-rendered with the last hall status
    logged = caplog.text
    assert "malformed command" in logged and "malformed hall status" in logged
    assert "malformed desired config" in logged and "malformed controller state" in logged
    assert secret not in logged and "format_disk" not in logged
