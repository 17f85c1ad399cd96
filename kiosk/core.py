"""The kiosk without its widgets: its state, and the parts that change it.

Everything here runs on one thread (Kivy's main thread in the app; the test's thread in
tests). Blocking work (MQTT requests, printing, self-tests) goes to a small thread pool and
comes back through ``post`` (``Clock.schedule_once`` in the app). The Kivy layer renders
:class:`Kiosk`'s state and calls its action methods; it keeps nothing of its own.

:class:`Kiosk` holds the state the UI renders (the session, the screen and its
parameters, message, prompt, countdown, mode, language) and composes the parts that act
on it, one per seam:

* :mod:`kiosk.nav` — navigation, timeouts and the wipe, modes, voice prompts;
* :mod:`kiosk.flow_actions` — each flow's actions, and what the devices deliver;
* :mod:`kiosk.requests` — requests to the controller and the outbox;
* :mod:`kiosk.remote` — the controller's commands and desired config;
* :mod:`kiosk.diagnostics` — the technicians' screen.

The UI, ``python -m kiosk`` and the tests call the parts' actions by the kiosk's own
names (``k.start_ticket``, ``k.go_home``, …): :meth:`Kiosk._facade` lists them.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from devices.state import DeviceStatus
from hall_contract.hallconfig import HallConfig
from kiosk import elderly as policy
from kiosk.catalogue import Catalogue
from kiosk.commands import CommandGate
from kiosk.diagnostics import Diagnostics
from kiosk.flow_actions import DeviceEvents, Guides, Help, Lookups, Mailing, Rating, Ticketing
from kiosk.flows import Flow
from kiosk.hardware import Hardware
from kiosk.home import HomeInfo, home_info
from kiosk.i18n import t
from kiosk.nav import Navigator
from kiosk.offers import Offer, decide
from kiosk.outbox import Outbox
from kiosk.remote import MODES, REMOTE_KEYS, Remote
from kiosk.requests import Requests
from kiosk.session import Session
from kiosk.settings import KioskConfig

log = logging.getLogger(__name__)

Post = Callable[[Callable[[], None]], None]

__all__ = ["MODES", "REMOTE_KEYS", "Kiosk", "data_path"]


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
        # the parts, one per seam
        self.nav = Navigator(self)
        self.guides = Guides(self)
        self.ticketing = Ticketing(self)
        self.lookups = Lookups(self)
        self.rating = Rating(self)
        self.help = Help(self)
        self.mailing = Mailing(self)
        self.devices = DeviceEvents(self)
        self.requests = Requests(self)
        self.remote = Remote(self)
        self.diag = Diagnostics(self)
        self._facade()
        self._reset_view()

    def _facade(self) -> None:
        """The parts' actions under the kiosk's names (what kiosk/ui calls)."""
        nav, guides, ticket, lookups = self.nav, self.guides, self.ticketing, self.lookups
        rating, help_, mailing, devices = self.rating, self.help, self.mailing, self.devices
        requests, remote, diag = self.requests, self.remote, self.diag
        # navigation, timeouts, modes, voice
        self.touch, self.go, self.go_home, self.wipe = nav.touch, nav.go, nav.go_home, nav.wipe
        self.dismiss_banner, self.more_time = nav.dismiss_banner, nav.more_time
        self.back, self.stay, self.leave_task = nav.back, nav.stay, nav.leave_task
        self.end_session = nav.end_session
        self.tick, self.offer_changed = nav.tick, nav.offer_changed
        self.toggle_elderly, self.set_elderly = nav.toggle_elderly, nav.set_elderly
        self.switch_lang, self.answer_offer = nav.switch_lang, nav.answer_offer
        self.set_lang = nav.set_lang
        self.announce, self.speak = nav.announce, nav.speak
        # the flows
        self.open_catalogue, self.search = guides.open_catalogue, guides.search
        self.search_results, self.open_guide = guides.search_results, guides.open_guide
        self.notice, self.print_notice = guides.notice, guides.print_notice
        self.start_ticket, self.ticket_choices = ticket.start_ticket, ticket.ticket_choices
        self.ticket_category, self.ticket_search = ticket.ticket_category, ticket.ticket_search
        self.ticket_query, self.ticket_back = ticket.ticket_query, ticket.ticket_back
        self.ticket_page, self.ticket_choose = ticket.ticket_page, ticket.ticket_choose
        self.ticket_skip_identify = ticket.ticket_skip_identify
        self.priority_options, self.ticket_priority = (
            ticket.priority_options,
            ticket.ticket_priority,
        )
        self.status_url = ticket.status_url
        self.start_checkin, self.start_case = lookups.start_checkin, lookups.start_case
        self.start_rating, self.rating_use_token = rating.start_rating, rating.rating_use_token
        self.rating_level, self.rating_reason = rating.rating_level, rating.rating_reason
        self.rating_text, self.rating_confirm = rating.rating_text, rating.rating_confirm
        self.start_help, self.help_choose = help_.start_help, help_.help_choose
        self.start_mailing, self.mail_field = mailing.start_mailing, mailing.mail_field
        self.mail_set, self.mail_submit = mailing.mail_set, mailing.mail_submit
        # what the devices, the link and the controller deliver (UI thread)
        self.on_identity, self.on_scan = devices.on_identity, devices.on_scan
        self.on_device_status = devices.on_device_status
        self.deliver_outbox, self.on_connection = requests.deliver_outbox, requests.on_connection
        self.on_hall_status = requests.on_hall_status
        self.on_command, self.reload_config = remote.on_command, remote.reload_config
        self.on_desired_config = remote.on_desired_config
        # diagnostics
        self.open_pin, self.pin_key, self.diagnostics = (
            diag.open_pin,
            diag.pin_key,
            diag.diagnostics,
        )
        self.diag_self_test, self.diag_test_page = diag.diag_self_test, diag.diag_test_page
        self.simulate_card, self.simulate_scan = diag.simulate_card, diag.simulate_scan
        self.diagnostic_rows = diag.diagnostic_rows

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

    @property
    def at_rest(self) -> bool:
        return self.screen == "home" and self.session.empty and self.prompt is None

    def location(self) -> str:
        return self.cfg.location or next(
            (x.location for x in self.hall.terminals if x.id == self.cfg.terminal_id),
            self.cfg.terminal_id,
        )

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

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def data_path(cfg: KioskConfig, name: str) -> Path:
    p = cfg.path(cfg.data_dir)
    p.mkdir(parents=True, exist_ok=True)
    return p / name
