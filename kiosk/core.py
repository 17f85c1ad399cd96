"""The kiosk without its widgets: screens, flows, timeouts, privacy wipe, commands, outbox.

Everything here runs on one thread (Kivy's main thread in the app; the test's thread in
tests). Blocking work (MQTT requests, printing, self-tests) goes to a small thread pool and
comes back through ``post`` (``Clock.schedule_once`` in the app). The Kivy layer renders
:class:`Kiosk`'s state and calls its action methods; it keeps nothing of its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from devices.errors import DeviceError
from devices.state import DeviceState, DeviceStatus
from hall_contract.hallconfig import HallConfig
from hall_contract.messages import (
    Command,
    CommandResult,
    DesiredConfig,
    HallStatus,
    PriorityClass,
    Reply,
)
from hall_contract.yamlconf import load_model
from kiosk import elderly as policy
from kiosk.catalogue import Catalogue, Entry, Notice
from kiosk.commands import CommandGate
from kiosk.flows import (
    CaseFlow,
    CheckinFlow,
    ChoicePage,
    Flow,
    FlowError,
    HelpFlow,
    MailingFlow,
    RatingFlow,
    TicketFlow,
)
from kiosk.hardware import Hardware, TicketPrint
from kiosk.home import HomeInfo, home_info
from kiosk.i18n import t
from kiosk.offers import Offer, decide
from kiosk.outbox import Outbox
from kiosk.privacy import mask_name
from kiosk.session import CardIdentity, Session
from kiosk.settings import KioskConfig

log = logging.getLogger(__name__)
OUTBOX_RETRY_S = 60.0

Post = Callable[[Callable[[], None]], None]

#: Desired-config keys the controller may change remotely.
REMOTE_KEYS = frozenset({"elderly_age", "language", "location", "rotation"})
#: ``set_mode`` arguments: default display mode, or out of service / back in service.
MODES = frozenset({"normal", "elderly", "maintenance", "service"})


class Kiosk:
    def __init__(
        self,
        cfg: KioskConfig,
        hall: HallConfig,
        *,
        hw: Hardware,
        link: Any = None,
        outbox: Outbox,
        gate: CommandGate,
        post: Post,
        now: Callable[[], dt.datetime] | None = None,
        mono: Callable[[], float] = time.monotonic,
        workers: int = 3,
    ) -> None:
        self.cfg = cfg
        self.hall = hall
        self.catalogue = Catalogue(hall)
        self.hw = hw
        self.link = link
        self.outbox = outbox
        self.gate = gate
        self.post = post
        self._now = now
        self.mono = mono
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kiosk-io")
        self.session = Session()
        self.gen = 0  #: bumps on every wipe; late results of an older session are dropped
        self.listeners: list[Callable[[], None]] = []
        self.restart_requested = False
        self.mode = "service"  #: or "maintenance" (out of service screen)
        self.default_elderly = False
        self.config_version: int | None = hall.version
        self.self_test_result: dict[str, str] = {}
        self.device_status: dict[str, DeviceStatus] = dict(hw.statuses())
        self._offer_seen: tuple[bool, frozenset[str], dt.date] | None = None
        self._reset_view()

    # ================================================================ state
    def _reset_view(self) -> None:
        self.screen = "home"
        self.params: dict[str, Any] = {}
        self.elderly = self.default_elderly
        self.lang = self.cfg.language
        self.banner: tuple[str, dict[str, Any]] | None = None
        self.prompt: str | None = None
        self.countdown: int | None = None
        self._next_outbox_retry = 0.0
        self.busy = False
        self.diag_unlocked = False
        self.pin = ""
        self._dialect_read: str | None = None  #: ticket number already read in dialect
        self._greeted = False  #: the attract voice prompt was played for this visitor
        self.last_touch = self.mono()

    def now(self) -> dt.datetime:
        return self._now() if self._now else dt.datetime.now(self.hall.tz)

    @property
    def online(self) -> bool:
        return bool(self.link is not None and self.link.online)

    @property
    def controller_up(self) -> bool | None:
        """The controller's own presence (retained, with a Will): None when not known yet."""
        state = getattr(self.link, "controller_state", None)
        return None if state is None else state == "online"

    def offer(self) -> Offer:
        status = self.link.hall_status if self.link is not None else None
        # With the broker up but the controller stopped or lost, what needs the controller
        # (tickets, check-in, look-ups) is not offered: a citizen would only wait for a
        # time-out. Guides and printing go on.
        reachable = self.online and self.controller_up is not False
        return decide(self.hall, self.now(), reachable, status)

    def home_info(self) -> HomeInfo:
        """The home screen's sentences now (hours, holidays, next opening, waiting)."""
        link = self.link
        status = link.hall_status if link is not None else None
        return home_info(
            self.hall, self.now(), self.offer(), status, self.lang, controller_up=self.controller_up
        )

    @property
    def flow(self) -> Flow[Any] | None:
        f = self.session.flow
        return f if isinstance(f, Flow) else None

    @property
    def limits(self) -> policy.ModeLimits:
        return policy.limits(self.elderly)

    def tr(self, key: str, **fmt: Any) -> str:
        return t(key, self.lang, **fmt)

    def changed(self) -> None:
        for fn in list(self.listeners):
            fn()

    def _bg(
        self,
        fn: Callable[[], Any],
        done: Callable[[Any, BaseException | None], None],
        *,
        keep_session: bool = True,
    ) -> None:
        """Run ``fn`` off the UI thread; ``done(result, error)`` runs on it afterwards
        (dropped when the session was wiped meanwhile and ``keep_session``)."""
        gen = self.gen

        def work() -> None:
            try:
                res, err = fn(), None
            except BaseException as e:  # delivered to done()
                res, err = None, e

            def back() -> None:
                if keep_session and gen != self.gen:
                    return
                done(res, err)

            self.post(back)

        self.pool.submit(work)

    # ================================================================ navigation
    def touch(self) -> None:
        if not self._greeted and self.at_rest:
            # The first touch of a visitor: a voice prompt tells how to get large text and
            # speech (for someone who cannot read the screen); once per visitor.
            self._greeted = True
            self.announce(self.tr("attract_voice"))
        self.last_touch = self.mono()
        if self.prompt == "more_time":
            self.prompt = None
        if self.countdown is not None:
            self.countdown = None
            self.changed()

    def go(self, screen: str, **params: Any) -> None:
        self.touch()
        self.screen = screen
        self.params = params
        self.banner = None
        self.changed()

    def dismiss_banner(self) -> None:
        """The person has read the message (it is shown over the screen)."""
        self.banner = None
        self.touch()
        self.changed()

    def go_home(self) -> None:
        """End whatever the person was doing: wipe everything and show home."""
        self.wipe()

    def wipe(self) -> None:
        self.gen += 1
        self.session.wipe()
        self._reset_view()
        self.changed()

    @property
    def at_rest(self) -> bool:
        return self.screen == "home" and self.session.empty and self.prompt is None

    def offer_changed(self) -> bool:
        """True when what is offered changed since the last call (the hall opened or
        closed, the link went up or down, the day changed: today's hours and holiday
        notes): the home screen must be re-rendered."""
        o = self.offer()
        sig = (o.open_now, o.enabled, self.now().astimezone(self.hall.tz).date())
        changed = self._offer_seen is not None and sig != self._offer_seen
        self._offer_seen = sig
        return changed

    def tick(self) -> None:
        """Once a second: day/night changes, countdown, wipe on expiry; once a minute, a
        retry of what the outbox still holds (a passing error while online)."""
        if self.offer_changed():
            self.changed()
        if self.mono() >= self._next_outbox_retry:
            self._next_outbox_retry = self.mono() + OUTBOX_RETRY_S
            self.deliver_outbox()
        idle = self.mono() - self.last_touch
        if self.at_rest:
            if self.countdown is not None:
                self.countdown = None
                self.changed()
            return
        factor = self.limits.timeout_factor
        limit = self.cfg.timeouts.inactivity_s * factor
        f = self.flow
        if f is not None and f.step in ("done", "error") and self.screen == f.name:
            limit = min(limit, self.cfg.timeouts.result_s * factor)
        remaining = limit - idle
        if remaining <= 0:
            log.info("inactivity timeout: session wiped")
            self.wipe()
            return
        warn = self.cfg.timeouts.warn_s * factor
        if remaining <= warn:
            n = math.ceil(remaining)
            changed = n != self.countdown
            self.countdown = n
            if self.elderly and self.prompt is None:
                self.prompt = "more_time"
                self.speak(self.tr("more_time_q"))
                changed = True
            if changed:
                self.changed()

    def more_time(self) -> None:
        self.prompt = None
        self.touch()
        self.changed()

    # ================================================================ modes
    def toggle_elderly(self) -> None:
        self.elderly = not self.elderly
        self.prompt = None if self.prompt == "offer_elderly" else self.prompt
        self.go(self.screen, **self.params)

    def set_elderly(self, on: bool) -> None:
        if on != self.elderly:
            self.toggle_elderly()

    def switch_lang(self) -> None:
        self.lang = "en" if self.lang == "zh" else "zh"
        self.go(self.screen, **self.params)

    def answer_offer(self, yes: bool) -> None:
        self.prompt = None
        if yes:
            self.elderly = True
        self.touch()
        self.changed()

    def announce(self, text: str) -> None:
        """Read ``text`` aloud in any mode (the attract prompt). Never blocks."""
        if text:
            self.pool.submit(self._say, text, self.lang, None)

    def speak(self, text: str) -> None:
        """Elderly mode: read ``text`` aloud (a ticket result is then also read from the
        dialect voice pack, once). Never blocks the caller."""
        if self.elderly and text:
            then = None
            f = self.flow
            r = f.result if isinstance(f, TicketFlow) and f.step == "done" else None
            if r is not None and self.screen == "ticket" and r.number != self._dialect_read:
                self._dialect_read = r.number
                then = (r.number, r.window_hint or "")
            self.pool.submit(self._say, text, self.lang, then)

    def _say(self, text: str, lang: str, then: tuple[str, str] | None) -> None:
        try:
            self.hw.say(text, lang, then)
        except DeviceError as err:
            log.warning("voice: %s", err)

    # ================================================================ catalogue
    def open_catalogue(self, cat: str | None = None, page: int = 0) -> None:
        self.go("catalogue", cat=cat, page=page)

    def search(self, text: str) -> None:
        self.session.form["search"] = text
        self.go("search")

    def search_results(self) -> list[Entry]:
        return self.catalogue.search(self.session.form.get("search", ""))

    def open_guide(self, kind: str, eid: str) -> None:
        self.go("guide", kind=kind, id=eid, printed=None)

    def notice(self) -> Notice:
        return self.catalogue.notice(self.params["kind"], self.params["id"])

    def print_notice(self) -> None:
        notice = self.notice()
        self.params["printed"] = "printing"
        self.changed()

        def done(_res: Any, err: BaseException | None) -> None:
            if self.screen != "guide":
                return
            if err is None:
                self.params["printed"] = "ok"
                self.speak(self.tr("printed"))
            else:
                self.params["printed"] = "failed"
                self.banner = ("printer_fault", {"reason": str(err)[:40]})
            self.changed()

        self._bg(
            lambda: self.hw.print_notice(
                notice,
                self.hall.hall.name,
                self.hall.hall.phone,
                self.now().astimezone(self.hall.tz),
            ),
            done,
        )

    # ================================================================ ticket
    def start_ticket(self, kind: str | None = None, eid: str | None = None) -> None:
        flow = TicketFlow()
        self.session.flow = flow
        if kind and eid:
            flow.choose(kind, eid)
            if self.session.identity is not None:
                flow.identified(self.session, self.now().date())
        self.go("ticket")

    def _ticket_flow(self) -> TicketFlow:
        f = self.session.flow
        assert isinstance(f, TicketFlow)
        return f

    def ticket_choices(self) -> ChoicePage:
        """The service choice as shown now (categories, one category, or search results)."""
        return self._ticket_flow().choices(self.catalogue, self.elderly, self.lang)

    def ticket_category(self, cat: str) -> None:
        self._ticket_flow().open_category(cat)
        self.go("ticket")

    def ticket_search(self) -> None:
        self._ticket_flow().open_search()
        self.go("ticket")

    def ticket_query(self, text: str) -> None:
        self._ticket_flow().set_query(text)
        self.touch()
        self.changed()

    def ticket_back(self) -> None:
        self._ticket_flow().back()
        self.go("ticket")

    def ticket_page(self, page: int) -> None:
        self._ticket_flow().turn(page)
        self.go("ticket")

    def ticket_choose(self, kind: str, eid: str) -> None:
        f = self.session.flow
        assert isinstance(f, TicketFlow)
        f.choose(kind, eid)
        if self.session.identity is not None:
            f.identified(self.session, self.now().date())
        self.go("ticket")

    def ticket_skip_identify(self) -> None:
        f = self.session.flow
        assert isinstance(f, TicketFlow)
        f.skip_identify()
        self.go("ticket")

    def priority_options(self) -> list[PriorityClass]:
        f = self.session.flow
        assert isinstance(f, TicketFlow)
        return f.priority_options(self.hall.priority)

    def ticket_priority(self, p: PriorityClass) -> None:
        f = self.session.flow
        assert isinstance(f, TicketFlow)
        f.choose_priority(p, self.hall.priority)
        body = f.payload(self.session, self.cfg.citizen_key_secret, self.lang)
        self._request("ticket.issue", body, f, after=self._print_ticket)

    def _print_ticket(self) -> None:
        f = self.session.flow
        if not isinstance(f, TicketFlow) or f.step != "done" or f.result is None:
            return
        r = f.result
        ticket = TicketPrint(
            hall_name=self.hall.hall.name,
            queue_name=r.queue_name,
            number=r.number,
            people_ahead=r.people_ahead,
            expected_wait_min=r.expected_wait_min,
            window_hint=r.window_hint or "",
            status_url=self.status_url(),
            masked_name=mask_name(self.session.identity.name) if self.session.identity else None,
            # the hall's time, in the hall's zone (the kiosk's own clock zone may be UTC)
            issued_at=dt.datetime.fromtimestamp(r.issued_at, self.hall.tz),
        )

        def done(_res: Any, err: BaseException | None) -> None:
            f.printed = err is None
            if err is not None:
                self.banner = ("printer_fault", {"reason": str(err)[:40]})
            self.changed()

        self._bg(lambda: self.hw.print_ticket(ticket), done)

    def status_url(self) -> str:
        """The ticket's status page, for its QR code: the lookup token goes in it."""
        f = self.flow
        r = f.result if isinstance(f, (TicketFlow, CheckinFlow)) else None
        token = (r.token or "") if r is not None else ""
        return self.hall.hall.status_url.replace("{token}", token)

    # ================================================================ check-in / case
    def start_checkin(self) -> None:
        self.session.flow = CheckinFlow()
        self.go("checkin")
        if self.session.identity is not None:
            self._identity_into_flow()

    def start_case(self) -> None:
        self.session.flow = CaseFlow()
        self.go("case")
        if self.session.identity is not None:
            self._identity_into_flow()

    def _send_lookup(self) -> None:
        f = self.flow
        secret = self.cfg.citizen_key_secret
        if isinstance(f, CheckinFlow):
            self._request("appointment.checkin", f.payload(self.session, secret), f)
        elif isinstance(f, CaseFlow):
            self._request("case.lookup", f.payload(self.session, secret), f)

    # ================================================================ rating
    def start_rating(self) -> None:
        f = RatingFlow()
        self.session.flow = f
        self.go("rating")

    def rating_use_token(self, token: str) -> None:
        f = self.session.flow
        assert isinstance(f, RatingFlow)
        f.use_ticket(token)
        self.go("rating")

    def rating_level(self, level: int) -> None:
        f = self.session.flow
        assert isinstance(f, RatingFlow)
        f.choose_level(level)
        if f.step == "sending":
            self._submit_outbox("rating.submit", f.payload(), f)
        else:
            self.go("rating")

    def rating_reason(self, reason: str) -> None:
        f = self.session.flow
        assert isinstance(f, RatingFlow)
        f.toggle_reason(reason)
        self.touch()
        self.changed()

    def rating_text(self, text: str) -> None:
        f = self.session.flow
        assert isinstance(f, RatingFlow)
        f.set_text(text)
        self.session.form["rating_text"] = text
        self.touch()
        self.changed()

    def rating_confirm(self) -> None:
        f = self.session.flow
        assert isinstance(f, RatingFlow)
        try:
            f.confirm_reasons()
        except FlowError as err:
            self.banner = (err.key, {})
            self.changed()
            return
        self._submit_outbox("rating.submit", f.payload(), f)

    # ================================================================ help
    def start_help(self, kind: str | None = None) -> None:
        f = HelpFlow()
        self.session.flow = f
        self.go("help")
        if kind:
            self.help_choose(kind)

    def help_choose(self, kind: str) -> None:
        f = self.session.flow
        assert isinstance(f, HelpFlow)
        f.choose(kind)
        # No location in the note: the controller knows where this terminal stands.
        self._submit_outbox("help.request", f.payload(), f)

    def location(self) -> str:
        return self.cfg.location or next(
            (x.location for x in self.hall.terminals if x.id == self.cfg.terminal_id),
            self.cfg.terminal_id,
        )

    # ================================================================ mailing
    def start_mailing(self) -> None:
        f = MailingFlow(hall_id=self.hall.hall.id)
        self.session.flow = f
        self.session.form.setdefault("ref", "")
        self.go("mailing", field=f.field_)

    def mail_field(self, name: str) -> None:
        f = self.session.flow
        assert isinstance(f, MailingFlow)
        f.field_ = name
        self.session.form.pop("_kbd", None)  # each field starts in its own input mode
        self.session.form.pop("_pinyin", None)
        self.go("mailing", field=name)

    def mail_set(self, name: str, text: str) -> None:
        self.touch()
        self.session.form[name] = text[:200]
        self.changed()

    def mail_submit(self) -> None:
        f = self.session.flow
        assert isinstance(f, MailingFlow)
        try:
            body = f.submit(self.session.form)
        except FlowError as err:
            self.banner = (err.key, {})
            self.changed()
            return
        self._request("mailing.request", body, f)

    # ================================================================ device events
    def on_identity(self, card: CardIdentity) -> None:
        """A card was read (UI thread). Personal data goes into the session only."""
        self.touch()
        self.session.set_identity(card)
        age = card.age_on(self.now().date())
        if policy.should_offer(age, self.cfg.elderly_age, self.elderly):
            self.prompt = "offer_elderly"
        self._identity_into_flow()
        self.changed()

    def _identity_into_flow(self) -> None:
        f = self.flow
        if isinstance(f, TicketFlow) and f.step == "identify":
            f.identified(self.session, self.now().date())
        elif isinstance(f, (CheckinFlow, CaseFlow)) and f.step == "identify":
            f.identified()
            self._send_lookup()

    def on_scan(self, code: str) -> None:
        self.touch()
        f = self.flow
        self.session.add_scan(code)
        try:
            if isinstance(f, TicketFlow) and f.step == "identify":
                f.skip_identify()
            elif isinstance(f, (CheckinFlow, CaseFlow)) and f.step == "identify":
                f.scanned(code)
                self._send_lookup()
            elif isinstance(f, RatingFlow) and f.step == "ticket":
                f.scanned(code)
            elif isinstance(f, MailingFlow):
                self.session.form["ref"] = code
        except FlowError as err:
            self.banner = (err.key, {})
        self.changed()

    def on_device_status(self, st: DeviceStatus) -> None:
        self.device_status[st.device] = st
        if self.link is not None:
            try:
                self.link.report_device(st.device, st.state.value, st.reason)
            except Exception:
                log.warning("could not report %s", st.device)
        if st.device == "idcard" and st.state == DeviceState.FAULT:
            self.banner = ("idcard_fault", {})
        self.changed()

    # ================================================================ requests
    def _request(
        self,
        op: str,
        body: dict[str, Any],
        flow: Flow[Any],
        after: Callable[[], None] | None = None,
    ) -> None:
        """Send ``body`` to the controller off the UI thread; the reply goes to ``flow``."""
        if self.link is None or not self.online:
            flow.unreachable()
            self.go(self.screen, **self.params)
            return
        body.setdefault("id", self.link.new_id())
        self.busy = True
        self.go(self.screen, **self.params)

        def done(reply: Reply[Any] | None, err: BaseException | None) -> None:
            self.busy = False
            if err is not None or reply is None:
                log.info("%s: %s", op, type(err).__name__)
                flow.unreachable()
            else:
                flow.on_reply(reply)
            self.changed()
            if after is not None:
                after()

        timeout = self.cfg.timeouts.request_s
        self._bg(lambda: self.link.request(op, body, timeout), done)

    def _submit_outbox(self, op: str, body: dict[str, Any], flow: Flow[Any]) -> None:
        """Ratings and help requests: stored on disk first, then sent; delivered later if
        the controller cannot be reached now."""
        body["id"] = (
            self.link.new_id() if self.link is not None else _local_id(self.cfg.terminal_id)
        )
        self.outbox.add(op, body)
        if self.link is None or not self.online:
            flow.on_queued()
            self.go(self.screen, **self.params)
            return
        self.busy = True
        self.go(self.screen, **self.params)
        rid = body["id"]

        def send() -> Reply[Any]:
            reply: Reply[Any] = self.link.request(op, dict(body), self.cfg.timeouts.request_s)
            return reply

        def done(reply: Reply[Any] | None, err: BaseException | None) -> None:
            self.busy = False
            if isinstance(reply, Reply):
                self.outbox.settle(rid, reply)  # a passing error stays queued for a retry
            if self.gen != gen:
                return
            if reply is None:
                flow.on_queued()
            else:
                flow.on_reply(reply)
            self.changed()

        gen = self.gen
        self._bg(send, done, keep_session=False)

    def deliver_outbox(self) -> None:
        if self.link is None or not self.online or self.outbox.pending_count() == 0:
            return
        timeout = self.cfg.timeouts.request_s
        self.pool.submit(
            self.outbox.deliver, lambda op, payload: self.link.request(op, payload, timeout)
        )

    def on_connection(self, up: bool) -> None:
        if up:
            self.deliver_outbox()
        self.changed()

    def on_hall_status(self, _status: HallStatus | None) -> None:
        self.changed()

    # ================================================================ commands
    def on_command(self, cmd: Command) -> None:
        res = self.gate.admit(cmd, time.time())
        if res is not None:
            if res.message != "duplicate: already executed":
                self._cmd_result(res)
            return
        log.info("command %s %s", cmd.cmd, cmd.id)

        def finish(ok: bool, message: str) -> None:
            self._cmd_result(CommandResult(id=cmd.id, ok=ok, message=message[:200]))

        if cmd.cmd == "reload_config":
            ok, msg = self.reload_config()
            finish(ok, msg)
        elif cmd.cmd == "set_mode":
            mode = str(cmd.args.get("mode"))
            if mode not in MODES:
                finish(False, f"unknown mode {mode!r}; one of {', '.join(sorted(MODES))}")
            elif mode in ("elderly", "normal"):
                self.default_elderly = mode == "elderly"
                self.set_elderly(self.default_elderly)
            else:
                self.mode = mode
                self.wipe()
            finish(True, f"mode {mode}")
        elif cmd.cmd == "print_test_page":
            self._bg(
                self.hw.print_test_page,
                lambda _r, e: finish(e is None, "printed" if e is None else str(e)),
                keep_session=False,
            )
        elif cmd.cmd == "self_test":

            def st_done(r: Any, e: BaseException | None) -> None:
                if e is None:
                    self.self_test_result = r
                    finish(
                        all(v.startswith(("OK", "ready")) for v in r.values()),
                        "; ".join(f"{k}: {v}" for k, v in r.items()),
                    )
                else:
                    finish(False, str(e))
                self.changed()

            self._bg(self.hw.self_test, st_done, keep_session=False)
        elif cmd.cmd == "restart":
            finish(True, "restarting")
            self.wipe()
            self.restart_requested = True
            self.changed()
        else:
            finish(False, f"unknown command {cmd.cmd!r}")

    def _cmd_result(self, res: CommandResult) -> None:
        if self.link is not None:
            self.link.command_result(res)

    def reload_config(self) -> tuple[bool, str]:
        path = self.cfg.path(self.cfg.hall_config)
        try:
            hall = load_model(HallConfig, path)
        except Exception as err:
            return False, str(err).splitlines()[0][:200]
        self.hall = hall
        self.catalogue = Catalogue(hall)
        self.config_version = hall.version
        if self.link is not None:
            self.link.set_config_version(hall.version)
        self.wipe()
        return True, f"hall config version {hall.version}"

    def on_desired_config(self, desired: DesiredConfig) -> None:
        update = {k: v for k, v in desired.config.items() if k in REMOTE_KEYS}
        try:
            self.cfg = type(self.cfg).model_validate(
                {**self.cfg.model_dump(), **update, "base_dir": self.cfg.base_dir}
            )
        except Exception as err:
            log.warning("desired config %s rejected: %s", desired.version, err)
            return
        self.cfg = self.cfg.model_copy(update={"base_dir": self.cfg.base_dir})
        self.config_version = desired.version
        if self.link is not None:
            self.link.set_config_version(desired.version)
        self.changed()

    # ================================================================ diagnostics
    def open_pin(self) -> None:
        self.pin = ""
        self.go("pin")

    def pin_key(self, key: str) -> None:
        self.touch()
        if key == "del":
            self.pin = self.pin[:-1]
        elif key == "ok":
            if self.pin == self.cfg.diagnostics_pin:
                self.pin = ""
                self.diag_unlocked = True
                self.go("diag")
                return
            self.pin = ""
            self.banner = ("pin_bad", {})
        elif key.isdigit() and len(self.pin) < 8:
            self.pin += key
        self.changed()

    def diag_self_test(self) -> None:
        def done(r: Any, e: BaseException | None) -> None:
            self.self_test_result = r if e is None else {"error": str(e)}
            self.changed()

        self._bg(self.hw.self_test, done)

    def diag_test_page(self) -> None:
        def done(_r: Any, e: BaseException | None) -> None:
            self.self_test_result = {"test_page": "printed" if e is None else str(e)}
            self.changed()

        self._bg(self.hw.print_test_page, done)

    def simulate_card(self) -> None:
        """The technician's "simulate card": a sample card on the reader, where the config
        runs a simulated or fake one (``kiosk.fakes``); a real reader has no such hand."""
        present = getattr(self.hw.idcard, "present_card", None)
        if present is None:
            log.info("simulate card: the ID card reader is not a simulator")
            return
        self.pool.submit(present, 0)

    def simulate_scan(self) -> None:
        """The technician's "simulate scan": a demo code on a simulated or fake scanner."""
        inject = getattr(self.hw.scanner, "inject_scan", None)
        if inject is None:
            log.info("simulate scan: the scanner is not a simulator")
            return
        inject("tok-demo")

    def diagnostics(self) -> dict[str, str]:
        from kiosk.link import VERSION

        out = {
            f"device {d}": f"{s.state.value} {s.reason}".strip()
            for d, s in sorted(self.hw.statuses().items())
        }
        out.update({f"last error {d}": e for d, e in sorted(self.hw.last_error.items())})
        out["network"] = "broker connected" if self.online else "broker unreachable"
        status = self.link.hall_status if self.link is not None else None
        out["controller"] = "status received" if status is not None else "no status yet"
        out["outbox pending"] = str(self.outbox.pending_count())
        out["software"] = VERSION
        out["hall config"] = f"{self.hall.hall.id} v{self.hall.version}"
        out["desired config"] = str(self.config_version)
        out["terminal"] = f"{self.cfg.terminal_id} @ {self.location()}"
        out.update({f"self-test {k}": v for k, v in self.self_test_result.items()})
        return out

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _local_id(tid: str) -> str:
    import uuid

    return f"{tid}.{uuid.uuid4().hex[:12]}"


def data_path(cfg: KioskConfig, name: str) -> Path:
    p = cfg.path(cfg.data_dir)
    p.mkdir(parents=True, exist_ok=True)
    return p / name
