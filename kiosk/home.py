"""The home (attract) screen's words, from the hall config, the clock and the hall status.

Pure: :func:`home_info` turns the schedule (today's hours, holidays, 调休), the offer
(open now, next opening, what still works) and the controller's retained
``hall/{hall}/status`` (waiting per queue) into plain sentences in one language. The
screen only lays them out; the tests read them without Kivy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from hall_contract.hallconfig import DayKind, DaySpan, HallConfig, day_kind, hours_on
from hall_contract.messages import HallStatus, HallStatusInfo
from kiosk.i18n import join_list, t
from kiosk.offers import ENTRIES, Offer

WEEKDAY_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
WEEKDAY_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAY_UG = ("دۈشەنبە", "سەيشەنبە", "چارشەنبە", "پەيشەنبە", "جۈمە", "شەنبە", "يەكشەنبە")
WEEKDAYS = {"zh": WEEKDAY_ZH, "en": WEEKDAY_EN, "ug": WEEKDAY_UG}
MONTH_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: English names of the statutory holidays (the hall config names them in Chinese; its
#: ``glossary`` may name them otherwise), and Xinjiang's regional ones.
HOLIDAY_EN = {
    "元旦": "New Year's Day",
    "春节": "Spring Festival",
    "清明节": "Qingming Festival",
    "劳动节": "Labour Day",
    "端午节": "Dragon Boat Festival",
    "中秋节": "Mid-Autumn Festival",
    "国庆节": "National Day",
    "古尔邦节": "Eid al-Adha (Corban Festival)",
    "肉孜节": "Eid al-Fitr (Rozi Festival)",
}
HOLIDAY_UG = {
    "元旦": "يېڭى يىل",
    "春节": "باھار بايرىمى",
    "清明节": "چىڭمىڭ بايرىمى",
    "劳动节": "ئەمگەكچىلەر بايرىمى",
    "端午节": "دۇەنۋۇ بايرىمى",
    "中秋节": "ئوتتۇرا كۈز بايرىمى",
    "国庆节": "دۆلەت بايرىمى",
    "古尔邦节": "قۇربان ھېيت",
    "肉孜节": "روزا ھېيت",
}
_HOLIDAYS = {"en": HOLIDAY_EN, "ug": HOLIDAY_UG}
_SOME_HOLIDAY = {"zh": "法定节假日", "en": "public holiday", "ug": "دۆلەت بەلگىلىگەن بايرام"}


@dataclass(frozen=True)
class QueueLine:
    name: str
    waiting: int


@dataclass(frozen=True)
class HomeInfo:
    """What the home screen says, top to bottom (``None``/empty: that part is not shown)."""

    title: str
    state: str  #: open now / closed and when the windows open next
    hours: str  #: today's opening hours in words (or "closed today" and why)
    notes: list[str] = field(default_factory=list)  #: holiday / 调休 today or tomorrow
    self_service: str | None = None  #: when closed: what still works
    waiting_total: str | None = None  #: "当前等候 N 人"
    queues: list[QueueLine] = field(default_factory=list)
    queue_note: str | None = None  #: why the queue picture is missing (controller down)

    def lines(self, lang: str = "zh") -> list[str]:
        """Every sentence in display order (tests, ``--exit-when-ready``)."""
        out = [self.title, self.state, self.hours, *self.notes]
        out += [x for x in (self.self_service, self.waiting_total) if x]
        out += [queue_text(q, lang) for q in self.queues]
        out += [self.queue_note] if self.queue_note else []
        return out


def queue_text(q: QueueLine, lang: str) -> str:
    return t("queue_waiting", lang, name=q.name, n=q.waiting)


def spans_text(spans: list[DaySpan], lang: str) -> str:
    """``09:00–12:00 13:30–17:30`` (English and Uyghur: comma separated)."""
    sep = {"zh": " ", "ug": "، "}.get(lang, ", ")
    return sep.join(f"{s.start}–{s.end}" for s in spans)


def day_words(day: dt.date, today: dt.date, lang: str) -> str:
    """A day a citizen reads at a glance: 今天 / 明天 9月15日（周一） / 10月8日（周四）;
    today / tomorrow, Mon 15 Sep; بۈگۈن / ئەتە 9-ئاينىڭ 15-كۈنى (دۈشەنبە)."""
    delta = (day - today).days
    wd = day.weekday()
    if lang == "zh":
        date = f"{day.month}月{day.day}日（{WEEKDAY_ZH[wd]}）"
        return "今天" if delta == 0 else f"明天 {date}" if delta == 1 else date
    if lang == "ug":
        date = f"{day.month}-ئاينىڭ {day.day}-كۈنى ({WEEKDAY_UG[wd]})"
        return "بۈگۈن" if delta == 0 else f"ئەتە {date}" if delta == 1 else date
    date = f"{WEEKDAY_EN[wd]} {day.day} {MONTH_EN[day.month - 1]}"
    return "today" if delta == 0 else f"tomorrow, {date}" if delta == 1 else date


def when_words(when: dt.datetime, now: dt.datetime, lang: str) -> str:
    day = day_words(when.date(), now.date(), lang)
    return f"{day}{'' if day.endswith('）') else ' '}{when:%H:%M}"


def _holiday_name(hall: HallConfig, day: dt.date, lang: str) -> str:
    """The holiday's name in ``lang``: the config's glossary, else the kiosk's own names."""
    zh = next((d.name for d in hall.schedule.holidays if d.date == day), "")
    if lang == "zh":
        return zh or _SOME_HOLIDAY["zh"]
    own = hall.tr(zh, lang) if zh else None
    return own or _HOLIDAYS.get(lang, HOLIDAY_EN).get(zh) or _SOME_HOLIDAY.get(lang, "")


def _day_notes(hall: HallConfig, today: dt.date, lang: str) -> list[str]:
    """Holiday and 调休 notes for today and tomorrow (tomorrow's holiday only when today is
    not already one: the next opening says when the holiday ends)."""
    sch = hall.schedule
    notes: list[str] = []
    kind = day_kind(sch, today)
    if kind == DayKind.MAKEUP:
        notes.append(t("makeup_today", lang))
    tomorrow = today + dt.timedelta(days=1)
    tk = day_kind(sch, tomorrow)
    day = day_words(tomorrow, today, lang)
    if tk == DayKind.HOLIDAY and kind != DayKind.HOLIDAY:
        notes.append(t("holiday_tomorrow", lang, day=day, name=_holiday_name(hall, tomorrow, lang)))
    elif tk == DayKind.MAKEUP:
        hours = spans_text(hours_on(sch, tomorrow), lang)
        notes.append(t("makeup_tomorrow", lang, day=day, hours=hours))
    return notes


def waiting_by_queue(
    hall: HallConfig, status: HallStatus | HallStatusInfo, lang: str
) -> list[QueueLine]:
    """Waiting per queue from the retained status (``waiting: {queue: n}``) or the
    ``hall.status`` reply (``queues: [QueueSnapshot]``), in the hall's queue order."""
    if isinstance(status, HallStatusInfo):
        raw = {q.queue: q.waiting for q in status.queues}
    else:
        raw = status.waiting
    counts = {q: n for q, n in raw.items() if n >= 0}
    out = []
    for q in hall.queues:
        if q.id in counts:
            out.append(QueueLine(q.name_in(lang) or q.name, counts[q.id]))
    return out


def home_info(
    hall: HallConfig,
    now: dt.datetime,
    offer: Offer,
    status: HallStatus | HallStatusInfo | None,
    lang: str = "zh",
    *,
    controller_up: bool | None = None,
) -> HomeInfo:
    """The home screen's sentences at ``now`` (in the hall's zone).

    ``status`` is the controller's last hall status (ignored unless ``offer.online``);
    ``controller_up`` is the controller's retained presence (``False``: it is down, so the
    queue picture would be stale and is not shown)."""
    local = now.astimezone(hall.tz)
    today = local.date()
    h = hall.hall
    title = h.name_in(lang) or h.name
    if offer.open_now:
        state = t("open_now", lang)
    elif offer.next_opening is not None:
        when = when_words(offer.next_opening.astimezone(hall.tz), local, lang)
        state = t("closed_now", lang, when=when)
    else:
        state = t("closed_no_next", lang)
    spans = hours_on(hall.schedule, today)
    kind = day_kind(hall.schedule, today)
    if spans:
        hours = t("hours_today", lang, hours=spans_text(spans, lang))
    elif kind == DayKind.HOLIDAY:
        hours = t("holiday_today", lang, name=_holiday_name(hall, today, lang))
    else:
        wd = WEEKDAYS.get(lang, WEEKDAY_EN)[today.weekday()]
        hours = t("closed_today", lang, day=wd)
    self_service = None
    if not offer.open_now:
        still = [t(e, lang) for e in ENTRIES if offer.allows(e)]
        if still:
            self_service = t("self_service_note", lang, what=join_list(still, lang))
    waiting_total = None
    queues: list[QueueLine] = []
    queue_note = None
    if controller_up is False:  # (then ``offer.online`` is false too: see Kiosk.offer)
        queue_note = t("controller_down", lang)
    elif offer.online and status is not None:
        queues = waiting_by_queue(hall, status, lang)
        total = sum(q.waiting for q in queues)
        if queues and (offer.open_now or total > 0):
            waiting_total = t("waiting_total", lang, n=total)
        else:
            queues = []
    return HomeInfo(
        title=title,
        state=state,
        hours=hours,
        notes=_day_notes(hall, today, lang),
        self_service=self_service,
        waiting_total=waiting_total,
        queues=queues,
        queue_note=queue_note,
    )
