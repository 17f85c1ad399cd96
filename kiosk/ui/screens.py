# mypy: disable-error-code="misc"
"""One function per screen: read the core's state, build widgets, wire buttons to the core's
actions. No state lives here; a re-render after ``wipe()`` leaves nothing behind."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from kivy.metrics import dp
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from hall_contract.messages import RATING_REASONS, PriorityClass
from kiosk import elderly as policy
from kiosk.core import Kiosk
from kiosk.flows import (
    BAD_LEVELS,
    RATING_LEVELS,
    CaseFlow,
    CheckinFlow,
    ChoicePage,
    HelpFlow,
    RatingFlow,
    TicketFlow,
)
from kiosk.home import queue_text
from kiosk.i18n import colon, join_list
from kiosk.privacy import mask_name
from kiosk.ui.keyboard import keyboard
from kiosk.ui.widgets import (
    DANGER,
    PRIMARY,
    TEXT,
    WARN_EDGE,
    Busy,
    HowTo,
    KButton,
    KCheck,
    KLabel,
    Panel,
    QrImage,
    Row,
    Steps,
    Symbol,
    WarnBox,
)


def scrub(w: Widget) -> None:
    """Blank every text (and QR) under ``w`` and drop button actions."""
    for x in w.walk(restrict=True):
        fn = getattr(x, "scrub", None)
        if fn is not None:
            fn()


class Slots:
    """The children of one container, reused in order from one render to the next.

    ``take(cls)`` returns the widget at the cursor when it has that class (refilled by the
    caller); otherwise a spare one (or a new one) takes its place. ``finish()`` detaches
    what this render did not use; detached widgets are scrubbed and kept as spares.
    """

    def __init__(self, box: Any, spare: defaultdict[type, list[Widget]]) -> None:
        self.box = box
        self.spare = spare
        self.items: list[Widget] = []
        self.i = 0

    def take(self, cls: type) -> Any:
        i = self.i
        self.i += 1
        if i < len(self.items) and type(self.items[i]) is cls:
            return self.items[i]
        pool = self.spare[cls]
        w = pool.pop() if pool else cls()
        if i < len(self.items):
            self._drop(self.items[i])
            self.items[i] = w
        else:
            self.items.append(w)
        self.box.add_widget(w, index=len(self.box.children) - i)
        return w

    def _drop(self, w: Widget) -> None:
        self.box.remove_widget(w)
        scrub(w)
        self.spare[type(w)].append(w)

    def finish(self) -> None:
        for w in self.items[self.i :]:
            self._drop(w)
        del self.items[self.i :]
        self.i = 0


class View:
    """One screen's content area (a scroll view), built once and refilled on each render."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.box = Panel(orientation="vertical", size_hint_y=None, padding=dp(16), spacing=dp(12))
        self.scroll = ScrollView(do_scroll_x=False, bar_width=dp(12))
        self.scroll.add_widget(self.box)
        self.spare: defaultdict[type, list[Widget]] = defaultdict(list)
        self.slots = Slots(self.box, self.spare)
        #: this render's content in the middle of the screen, not at its top (a result, a
        #: question with two answers, "put your card here"): set by ``Ctx.centre()``
        self.centred = False
        self.box.bind(minimum_height=self._fit)
        self.scroll.bind(height=self._fit)

    def _fit(self, *_: Any) -> None:
        """The box as high as its content; a centred one's content starts half the spare
        height down (it holds still: a screen's content does not change height while it
        is shown — see "What stays still" in docs/kiosk.md)."""
        top = dp(16)
        natural = self.box.minimum_height - self.box.padding[1] + top
        spare = self.scroll.height - natural
        pad = top + spare / 2 if self.centred and spare > 0 else top
        if abs(self.box.padding[1] - pad) > 0.5:
            self.box.padding = [dp(16), pad, dp(16), dp(16)]
        self.box.height = self.box.minimum_height

    def scrub(self) -> None:
        scrub(self.box)


class Ctx:
    """What a screen function needs: the core, the mode's limits, a text function and
    the view to fill; ``spoken`` collects what elderly mode reads aloud."""

    def __init__(self, k: Kiosk, view: View) -> None:
        self.k = k
        self.lim = k.limits
        self.view = view
        self.box = view.box
        self.spoken: list[str] = []
        self._used: list[Slots] = [view.slots]
        view.centred = False

    def t(self, key: str, **fmt: Any) -> str:
        return self.k.tr(key, **fmt)

    def _slots(self, box: Any) -> Slots:
        if box is None:
            return self.view.slots
        assert isinstance(box, Row)
        return box.slots  # type: ignore[no-any-return]

    def label(
        self,
        text: str,
        size: str = "body",
        speak: bool = False,
        box: Any = None,
        **kw: Any,
    ) -> KLabel:
        w: KLabel = self._slots(box).take(KLabel)
        w.refill(text, self.lim, size=size, **kw)
        if speak:
            self.spoken.append(text)
        return w

    def button(
        self,
        text: str,
        action: Callable[[], Any] | None,
        kind: str = "primary",
        box: Any = None,
        size: str = "body",
        min_dp: float = 0,
        private: bool = False,
        one_line: int | None = None,
        icon: str = "",
    ) -> KButton:
        b: KButton = self._slots(box).take(KButton)
        b.refill(
            text,
            self.lim,
            kind=kind if action is not None else "disabled",
            on_press=action,
            size=size,
            min_dp=min_dp,
            private=private,
            one_line=one_line,
            icon=icon,
        )
        return b

    def check(self, text: str, checked: bool, action: Callable[[], Any], box: Any = None) -> KCheck:
        """A choice that can be ticked (a drawn box, a tick when chosen)."""
        b: KCheck = self._slots(box).take(KCheck)
        b.refill(text, self.lim, kind="primary" if checked else "secondary", on_press=action)
        b.set_checked(checked)
        return b

    def row(self, cols: int = 2, *, keep_ltr: bool = False) -> Row:
        """A grid row; in a right-to-left language its cells run from the right, except
        ``keep_ltr`` ones (the keyboard's QWERTY and digits)."""
        g: Row = self.view.slots.take(Row)
        g.cols = cols
        g.keep_ltr = keep_ltr
        if g.slots is None:
            g.slots = Slots(g, self.view.spare)
        g.slots.i = 0
        self._used.append(g.slots)
        return g

    def warn(self, text: str, *, speak: bool = True) -> None:
        w: WarnBox = self.view.slots.take(WarnBox)
        w.refill(text, self.lim)
        if speak:
            self.spoken.append(text)

    def steps(self, keys: list[str], current: int) -> None:
        """Step ``current`` (from 0) of a task's steps (their i18n keys)."""
        w: Steps = self.view.slots.take(Steps)
        w.refill([self.t(x) for x in keys], current, self.lim)

    def howto(self, what: str) -> None:
        """A drawn picture of what to do: ``card`` or ``code``."""
        w: HowTo = self.view.slots.take(HowTo)
        w.refill(what)

    def centre(self) -> None:
        """Put this screen's content in the middle of the screen (see ``View.centred``)."""
        self.view.centred = True

    def symbol(self, ok: bool = True) -> None:
        """A big sign over a result (a tick when it worked, a warning when it did not),
        the result in the middle of the screen."""
        self.centre()
        w: Symbol = self.view.slots.take(Symbol)
        w.refill("done" if ok else "warn", PRIMARY if ok else WARN_EDGE, self.lim.entry_dp * 0.7)

    @property
    def big(self) -> float:
        """The height of a choice that is the whole screen's question (a level, a category,
        a kind of help): large targets, and the screen's height used."""
        return self.lim.entry_dp * 0.55

    def busy(self) -> None:
        """Waiting for the hall: "please wait" (said once) and a moving bar."""
        b: Busy = self.view.slots.take(Busy)
        b.refill(self.t("sending"), self.lim)
        self.spoken.append(self.t("sending"))

    def qr(self, content: str) -> None:
        q: QrImage = self.view.slots.take(QrImage)
        q.refill(content)

    def finish(self) -> None:
        for s in reversed(self._used):
            s.finish()
        self.view._fit()


# ------------------------------------------------------------------------------ screens
def home(c: Ctx) -> None:
    """Attract screen: the hall, open or closed (and when it opens), today's hours and
    holiday notes, the queue now, then the big entries. Words from ``k.home_info()``."""
    k = c.k
    offer = k.offer()
    info = k.home_info()
    c.label(info.title, "title", speak=True)
    c.label(info.state, "title", bold=True, speak=True)
    c.label(info.hours, speak=True)
    for note in info.notes:
        c.label(note, speak=True)
    if info.self_service:
        c.label(info.self_service, speak=True)
    if not offer.online:
        c.warn(c.t("offline"))
    if info.waiting_total:
        c.label(info.waiting_total, "title", bold=True, speak=True)
        grid = c.row(2)  # short lines: two columns in both modes
        for q in info.queues:
            c.label(queue_text(q, k.lang), box=grid)
    if info.queue_note:
        c.warn(info.queue_note)
    actions: dict[str, Callable[[], Any]] = {
        "guide": lambda: k.open_catalogue(),
        "ticket": lambda: k.start_ticket(),
        "checkin": k.start_checkin,
        "case": k.start_case,
        "rating": k.start_rating,
        "help": lambda: k.start_help(),
        "mailing": k.start_mailing,
    }
    # every entry on one page in both modes (paging them at 4 hid 好差评 and 帮办代办 from
    # the elderly while a quarter of the screen stayed empty): two columns of big targets
    grid = c.row(2)
    for e in actions:
        enabled = offer.allows(e)
        why = c.t("why_" + offer.why_not.get(e, "closed"))
        label = (
            c.t(e) if enabled else (f"{c.t(e)}（{why}）" if k.lang == "zh" else f"{c.t(e)} ({why})")
        )
        c.button(
            label,
            actions[e] if enabled else None,
            box=grid,
            size="title",
            min_dp=c.lim.entry_dp,
            icon=e,
        )


def _pager(c: Ctx, pages: int, go: Callable[[int], None], current: int | None = None) -> None:
    if pages <= 1:
        return
    i = int(c.k.params.get("page", 0)) if current is None else current
    r = c.row(3)
    # an unavailable direction says so in words, not only by its grey colour
    first, last = i <= 0, i >= pages - 1
    c.button(
        c.t("first_page" if first else "prev_page"),
        None if first else (lambda: go(i - 1)),
        "secondary",
        box=r,
    )
    c.label(c.t("page", i=i + 1, n=pages), halign="center", box=r)
    c.button(
        c.t("last_page" if last else "next_page"),
        None if last else (lambda: go(i + 1)),
        "secondary",
        box=r,
    )


def catalogue(c: Ctx) -> None:
    k = c.k
    cat = k.params.get("cat")
    if cat is None:
        c.label(c.t("categories"), "title", speak=True)
        c.button(c.t("search_btn") + " 🔍".strip(" 🔍"), lambda: k.go("search"), "secondary")
        cats = k.catalogue.categories(k.lang)
        items, pages = policy.page(cats, k.elderly, int(k.params.get("page", 0)))
        grid = c.row(1 if k.elderly else 2)
        for cid, name in items:
            c.button(name, lambda cid=cid: k.open_catalogue(cid), box=grid, min_dp=c.big)
        _pager(c, pages, lambda i: k.open_catalogue(None, i))
        return
    entries = k.catalogue.in_category(cat)
    c.label(dict(k.catalogue.categories(k.lang)).get(cat, cat), "title", speak=True)
    items, pages = policy.page(entries, k.elderly, int(k.params.get("page", 0)))
    for e in items:
        c.button(
            e.label(k.lang),
            lambda e=e: k.open_guide(e.kind, e.id),
            "secondary",
        )
    _pager(c, pages, lambda i: k.open_catalogue(cat, i))


def search(c: Ctx) -> None:
    k = c.k
    c.label(c.t("search"), "title", speak=True)
    text = k.session.form.get("search", "")
    c.label(f"[ {text} ]", private=True)
    # the keyboard first, the results under it: however many there are, no key moves
    keyboard(c, text, lambda s: k.search(s), letters_only=True)
    results = k.search_results()
    for e in results[: k.limits.max_choices]:
        c.button(e.label(k.lang), lambda e=e: k.open_guide(e.kind, e.id), "secondary")
    if text and not results:
        c.label(c.t("no_results"), speak=True)


def guide(c: Ctx) -> None:
    k = c.k
    n = k.notice()
    c.label(n.title_in(k.lang), "title", speak=True)
    # content the hall has not translated stays Chinese, and the screen says so once,
    # in the citizen's language, before the first such part
    said = False
    for sec in n.sections(k.lang):
        if sec.zh_only and not said:
            c.warn(c.t("content_zh_only"), speak=False)
            said = True
        if sec.key == "includes":
            c.label(f"{sec.heading}{colon(k.lang)}" + join_list(sec.items, k.lang))
        elif sec.key in ("conditions", "materials"):
            c.label(sec.heading, "title", bold=True, speak=sec.key == "materials")
            for x in sec.items:
                c.label(x if sec.key == "materials" else f"· {x}", speak=sec.key == "materials")
        else:
            c.label(f"{sec.heading}{colon(k.lang)}" + join_list(sec.items, k.lang))
    state = k.params.get("printed")
    # one line kept for the printer's answer, empty until there is one: it moves nothing
    status = {"printing": "printing", "ok": "printed", "failed": "print_failed"}.get(state or "")
    c.label(
        c.t(status) if status else "\u3000",  # an ideographic space: one blank line
        speak=status is not None,
        color=DANGER if state == "failed" else TEXT,
    )
    r = c.row(1 if k.elderly else 2)
    c.button(c.t("print"), k.print_notice if state != "printing" else None, box=r)
    c.button(
        c.t("take_ticket_for"),
        (lambda: k.start_ticket(n.kind, n.id)) if k.offer().allows("ticket") else None,
        "secondary",
        box=r,
    )


TICKET_STEPS = ["step_choose", "step_identify", "step_priority", "step_ticket"]
RATING_STEPS = ["step_scan", "step_rate", "step_reasons", "step_done"]


def ticket(c: Ctx) -> None:
    k = c.k
    f = k.flow
    assert isinstance(f, TicketFlow)
    at = {"choose": 0, "identify": 1, "priority": 2}.get(f.step, 3)
    c.steps(TICKET_STEPS, at)
    if f.step == "choose":
        _ticket_choose(c, k.ticket_choices())
    elif f.step == "identify":
        c.label(c.t("identify"), "title", speak=True)
        c.howto("card")
        c.button(c.t("skip"), k.ticket_skip_identify, "secondary")
    elif f.step == "priority":
        if k.session.identity is not None:
            c.label(c.t("identified_as", name=mask_name(k.session.identity.name)))
        c.label(c.t("priority_q"), "title", speak=True)
        groups = join_list(
            [k.hall.tr(g, k.lang) or g for g in k.hall.priority.green_channel_groups], k.lang
        )
        for p in k.priority_options():
            key = {
                PriorityClass.NORMAL: "prio_normal",
                PriorityClass.ELDERLY: "prio_elderly",
                PriorityClass.DISABLED: "prio_disabled",
                PriorityClass.GREEN: "prio_green",
            }[p]
            c.button(
                c.t(key, groups=groups),
                lambda p=p: k.ticket_priority(p),
                "primary" if p == PriorityClass.NORMAL else "secondary",
                size="title",
                min_dp=c.big,
            )
    elif f.step == "sending":
        c.busy()
    elif f.step == "done" and f.result is not None:
        r = f.result
        c.label(c.t("your_ticket"), speak=True)
        c.label(r.number, "huge", bold=True, halign="center", speak=True)
        c.label(c.t("people_ahead", n=r.people_ahead), "title", bold=True, speak=True)
        c.label(c.t("expected_wait", n=r.expected_wait_min), speak=True)
        if r.window_hint:
            c.label(
                c.t("go_window", w=k.hall.tr(r.window_hint, k.lang) or r.window_hint), speak=True
            )
        c.qr(k.status_url())
        c.label(c.t("qr_hint"), "small")
        # the printer's answer in a line of its own from the start: nothing moves when
        # it comes (~100 ms after the number)
        status = {True: "ticket_printed", False: "print_failed", None: "printing"}[f.printed]
        c.label(c.t(status), speak=True, color=DANGER if f.printed is False else TEXT)
        c.button(c.t("done"), k.end_session)
    else:
        _error(c, f.error)


def _ticket_choose(c: Ctx, v: ChoicePage) -> None:
    """The service choice: categories (一件事 first) and a search, or one category's
    services, or search results; what to show comes from the flow (``k.ticket_choices``)."""
    k = c.k
    if v.where == "categories":
        c.label(c.t("choose_service"), "title", speak=True)
        c.button(c.t("search_btn"), k.ticket_search, "secondary")
        grid = c.row(1 if k.elderly else 2)
        for ch in v.items:
            c.button(ch.label, lambda ch=ch: k.ticket_category(ch.id), box=grid, min_dp=c.big)
    else:
        if v.where == "category":
            c.label(v.title, "title", speak=True)
        else:
            c.label(c.t("search"), "title", speak=True)
            c.label(f"[ {v.query} ]", private=True)
            # the keyboard above the results: however many there are, no key moves
            keyboard(c, v.query, k.ticket_query, letters_only=True)
        for ch in v.items:
            c.button(ch.label, lambda ch=ch: k.ticket_choose(ch.kind, ch.id), "secondary")
        if v.where == "search" and v.query and not v.items:
            c.label(c.t("no_results"), speak=True)
    _pager(c, v.pages, k.ticket_page, v.page)


def _error(c: Ctx, key: str | None) -> None:
    c.symbol(ok=False)
    c.warn(c.t(key or "err_internal"))
    c.button(c.t("help"), lambda: c.k.start_help("helper"), "secondary", min_dp=c.big)
    c.button(c.t("home"), c.k.go_home, min_dp=c.big)


def checkin(c: Ctx) -> None:
    f = c.k.flow
    assert isinstance(f, CheckinFlow)
    if f.step == "identify":
        c.centre()
        c.label(c.t("scan_appointment"), "title", speak=True, halign="center")
        c.howto("code")
    elif f.step == "sending":
        c.busy()
    elif f.step == "done" and f.result is not None:
        c.symbol()
        c.label(c.t("checked_in"), "title", speak=True, halign="center")
        r = f.result
        c.label(r.number, "huge", bold=True, halign="center", speak=True)
        c.label(c.t("people_ahead", n=r.people_ahead), "title", bold=True, speak=True)
        if r.window_hint:
            c.label(
                c.t("go_window", w=c.k.hall.tr(r.window_hint, c.k.lang) or r.window_hint),
                speak=True,
            )
        c.button(c.t("done"), c.k.end_session, size="title", min_dp=c.big)
    else:
        _error(c, f.error)


def case(c: Ctx) -> None:
    f = c.k.flow
    assert isinstance(f, CaseFlow)
    if f.step == "identify":
        c.centre()
        c.label(c.t("scan_receipt"), "title", speak=True, halign="center")
        c.howto("code")
    elif f.step == "sending":
        c.busy()
    elif f.step == "done" and f.result is not None:
        cases = f.result.cases
        c.centre()
        if not cases:
            c.label(c.t("no_cases"), speak=True)
        k = c.k
        for x in cases[: c.lim.max_choices]:
            own = next((s for s in k.hall.services if s.id == x.service), None)
            service = (own.name_in(k.lang) if own else None) or x.service_name or x.service or ""
            col = colon(k.lang)
            c.label(f"{c.t('case_no')}{col}{x.case_no}  {service}", speak=True)
            c.label(f"{c.t('case_state')}{col}{c.t(CaseFlow.state_key(x))}", speak=True)
            deadline = x.promised_deadline or x.deadline
            c.label(f"{c.t('deadline')}{col}{deadline}", speak=True)
            level = CaseFlow.level_key(x)
            if level == "level_none":
                c.label(c.t(level), speak=True)
            else:
                c.warn(c.t(level))
        c.button(c.t("done"), c.k.end_session, size="title", min_dp=c.big)
    else:
        _error(c, f.error)


def rating(c: Ctx) -> None:
    k = c.k
    f = k.flow
    assert isinstance(f, RatingFlow)
    # the reasons are a step only after a bad rating
    good = f.level is not None and f.level not in BAD_LEVELS
    keys = [x for x in RATING_STEPS if not (good and x == "step_reasons")]
    at = {"ticket": 0, "level": 1, "reasons": 2}.get(f.step, len(keys) - 1)
    c.steps(keys, at)
    if f.step == "ticket":
        c.label(c.t("scan_ticket"), "title", speak=True)
        c.howto("code")
    elif f.step == "level":
        c.label(c.t("rate_q"), "title", speak=True)
        for lvl in RATING_LEVELS:
            c.button(
                f"{'★' * lvl}  {c.t(f'lvl{lvl}')}",
                lambda lvl=lvl: k.rating_level(lvl),
                "secondary",
                size="title",
                min_dp=c.big,
            )
    elif f.step == "reasons":
        c.label(c.t("reasons_q"), "title", speak=True)
        grid = c.row(1 if k.elderly else 2)
        for r in RATING_REASONS:
            # the tick in its box, not the colour, says what is chosen
            c.check(c.t(r), r in f.reasons, lambda r=r: k.rating_reason(r), box=grid)
        # 提交 before the comment's keyboard: on the screen without scrolling in every
        # mode (the comment is optional)
        c.button(c.t("submit"), k.rating_confirm)
        c.label(c.t("comment") + colon(k.lang) + f.text, private=True)
        keyboard(c, f.text, k.rating_text)
    elif f.step == "sending":
        c.busy()
    elif f.step == "done":
        c.symbol()
        c.label(c.t("rated_queued" if f.queued else "rated"), "title", speak=True, halign="center")
        c.button(c.t("done"), k.end_session, size="title", min_dp=c.big)
    else:
        _error(c, f.error)


def help_(c: Ctx) -> None:
    k = c.k
    f = k.flow
    assert isinstance(f, HelpFlow)
    if f.step == "choose":
        c.centre()
        c.label(c.t("help_q"), "title", speak=True, halign="center")
        c.button(
            c.t("help_helper"),
            lambda: k.help_choose("helper"),
            size="title",
            min_dp=c.lim.entry_dp,
            icon="help",
        )
        c.button(
            c.t("help_unresolved"),
            lambda: k.help_choose("unresolved"),
            "secondary",
            size="title",
            min_dp=c.lim.entry_dp,
            icon="unresolved",
        )
    elif f.step == "sending":
        c.busy()
    elif f.step == "done":
        c.symbol()
        if f.queued:
            c.warn(c.t("help_queued", phone=k.hall.hall.phone))
        else:
            # where this kiosk stands, by its own config (the person reads it here)
            c.label(c.t("help_done", loc=k.location()), "title", speak=True, halign="center")
        c.button(c.t("done"), k.end_session, size="title", min_dp=c.big)
    else:
        _error(c, f.error)


def mailing(c: Ctx) -> None:
    from kiosk.flows import MAIL_FIELDS

    k = c.k
    f = k.flow
    assert f is not None
    if f.step == "form":
        c.label(c.t("mail_title"), "title", speak=True)
        cur = k.params.get("field", "ref")
        for name in MAIL_FIELDS:
            value = k.session.form.get(name, "")
            # the colon only before a value: alone, its blank half put the name off centre
            head = f"{'▶ ' if name == cur else ''}{c.t(name)}{colon(k.lang) if value else ''}"
            c.button(
                head + value,
                lambda name=name: k.mail_field(name),
                "primary" if name == cur else "secondary",
                private=True,
                # one line, its end shown: a long address moves nothing below it
                one_line=len(head),
            )
        keyboard(
            c,
            k.session.form.get(cur, ""),
            lambda s: k.mail_set(cur, s),
            digits_only=cur == "phone",
            abc_first=cur == "ref",  # ticket codes and case numbers: letters as typed
        )
        c.button(c.t("submit"), k.mail_submit)
    elif f.step == "sending":
        c.busy()
    elif f.step == "done":
        c.symbol()
        c.label(
            c.t("mail_done", name=mask_name(k.session.form.get("recipient", ""))),
            "title",
            speak=True,
            halign="center",
        )
        c.button(c.t("done"), k.end_session, size="title", min_dp=c.big)
    else:
        _error(c, f.error)


def pin(c: Ctx) -> None:
    k = c.k
    c.centre()
    c.label(c.t("pin_q"), "title", halign="center")
    c.label("●" * len(k.pin) or " ", "title", halign="center")
    grid = c.row(3)
    for key in "123456789":
        c.button(
            key, lambda key=key: k.pin_key(key), "secondary", box=grid, size="title", min_dp=c.big
        )
    c.button(c.t("del"), lambda: k.pin_key("del"), "secondary", box=grid, min_dp=c.big)
    c.button("0", lambda: k.pin_key("0"), "secondary", box=grid, size="title", min_dp=c.big)
    c.button(c.t("ok"), lambda: k.pin_key("ok"), box=grid, min_dp=c.big)


def diag(c: Ctx) -> None:
    k = c.k
    if not k.diag_unlocked:
        k.go_home()
        return
    c.label(c.t("diag"), "title")
    rows = k.diagnostic_rows()
    bad = [r for r in rows if not r.ok]
    if bad:  # what needs attention first, in a box of its own, not like an OK line
        col = colon(k.lang)
        c.warn(
            c.t("diag_attention") + col + "\n" + "\n".join(f"▲ {r.what}{col}{r.value}" for r in bad)
        )
    grid = c.row(2)
    for r in rows:
        c.label(r.what, "small", box=grid)
        c.label(
            ("" if r.ok else "▲ ") + r.value, "small", box=grid, bold=not r.ok,
            color=TEXT if r.ok else DANGER,
        )  # fmt: skip
    r = c.row(2)
    c.button(c.t("self_test"), k.diag_self_test, box=r)
    c.button(c.t("test_page"), k.diag_test_page, box=r)
    c.button(c.t("simulate_card"), k.simulate_card, "secondary", box=r)
    c.button(c.t("simulate_scan"), k.simulate_scan, "secondary", box=r)


def maintenance(c: Ctx) -> None:
    c.label("设备维护中，暂停服务 / Out of service for maintenance", "title", speak=True)


SCREENS: dict[str, Callable[[Ctx], None]] = {
    "home": home,
    "catalogue": catalogue,
    "search": search,
    "guide": guide,
    "ticket": ticket,
    "checkin": checkin,
    "case": case,
    "rating": rating,
    "help": help_,
    "mailing": mailing,
    "pin": pin,
    "diag": diag,
    "maintenance": maintenance,
}
