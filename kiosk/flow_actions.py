"""What the buttons of each flow do: the glue between the UI, the pure state machines of
:mod:`kiosk.flows`, the devices and the controller.

One class per flow (guides, ticket, check-in and case look-up, rating, help, mailing)
and one for what the devices deliver (a card read, a code scanned, a device state).
Each starts its flow in the session, moves it on and sends what it must through
:class:`kiosk.requests.Requests`; the state stays in the session and the kiosk's view.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from devices.state import DeviceState, DeviceStatus
from hall_contract.messages import PriorityClass
from kiosk import elderly as policy
from kiosk.catalogue import Entry, Notice
from kiosk.flows import (
    CaseFlow,
    CheckinFlow,
    ChoicePage,
    FlowError,
    HelpFlow,
    MailingFlow,
    RatingFlow,
    TicketFlow,
)
from kiosk.hardware import TicketPrint
from kiosk.privacy import mask_name
from kiosk.session import CardIdentity

if TYPE_CHECKING:
    from kiosk.core import Kiosk

log = logging.getLogger(__name__)


class Guides:
    """The catalogue, search and the printed 一次性告知 notice."""

    def __init__(self, k: Kiosk) -> None:
        self.k = k

    def open_catalogue(self, cat: str | None = None, page: int = 0) -> None:
        self.k.go("catalogue", cat=cat, page=page)

    def search(self, text: str) -> None:
        self.k.session.form["search"] = text
        self.k.go("search")

    def search_results(self) -> list[Entry]:
        return self.k.catalogue.search(self.k.session.form.get("search", ""))

    def open_guide(self, kind: str, eid: str) -> None:
        # the category it was opened from, for 返回
        self.k.go("guide", kind=kind, id=eid, printed=None, cat=self.k.params.get("cat"))

    def notice(self) -> Notice:
        return self.k.catalogue.notice(self.k.params["kind"], self.k.params["id"])

    def print_notice(self) -> None:
        k = self.k
        notice = self.notice()
        k.params["printed"] = "printing"
        k.changed()

        def done(_res: Any, err: BaseException | None) -> None:
            if k.screen != "guide":
                return
            if err is None:
                k.params["printed"] = "ok"
                k.speak(k.tr("printed"))
            else:
                k.params["printed"] = "failed"
                k.banner = ("printer_fault", {"reason": str(err)[:40]})
            k.changed()

        k._bg(
            lambda: k.hw.print_notice(
                notice,
                k.hall.hall.name,
                k.hall.hall.phone,
                k.now().astimezone(k.hall.tz),
            ),
            done,
        )


class Ticketing:
    """Taking a ticket: service choice, identification, priority, the printed ticket."""

    def __init__(self, k: Kiosk) -> None:
        self.k = k

    def _flow(self) -> TicketFlow:
        f = self.k.session.flow
        assert isinstance(f, TicketFlow)
        return f

    def start_ticket(self, kind: str | None = None, eid: str | None = None) -> None:
        k = self.k
        flow = TicketFlow()
        k.session.flow = flow
        if kind and eid:
            flow.choose(kind, eid)
            if k.session.identity is not None:
                flow.identified(k.session, k.now().date())
        k.go("ticket")

    def ticket_choices(self) -> ChoicePage:
        """The service choice as shown now (categories, one category, or search results)."""
        return self._flow().choices(self.k.catalogue, self.k.elderly, self.k.lang)

    def ticket_category(self, cat: str) -> None:
        self._flow().open_category(cat)
        self.k.go("ticket")

    def ticket_search(self) -> None:
        self._flow().open_search()
        self.k.go("ticket")

    def ticket_query(self, text: str) -> None:
        self._flow().set_query(text)
        self.k.touch()
        self.k.changed()

    def ticket_back(self) -> None:
        self._flow().back()
        self.k.go("ticket")

    def ticket_page(self, page: int) -> None:
        self._flow().turn(page)
        self.k.go("ticket")

    def ticket_choose(self, kind: str, eid: str) -> None:
        k = self.k
        f = self._flow()
        f.choose(kind, eid)
        if k.session.identity is not None:
            f.identified(k.session, k.now().date())
        k.go("ticket")

    def ticket_skip_identify(self) -> None:
        self._flow().skip_identify()
        self.k.go("ticket")

    def priority_options(self) -> list[PriorityClass]:
        return self._flow().priority_options(self.k.hall.priority)

    def ticket_priority(self, p: PriorityClass) -> None:
        k = self.k
        f = self._flow()
        f.choose_priority(p, k.hall.priority)
        body = f.payload(k.session, k.cfg.citizen_key_secret, k.lang)
        k.requests.request("ticket.issue", body, f, after=self._print_ticket)

    def _print_ticket(self) -> None:
        k = self.k
        f = k.session.flow
        if not isinstance(f, TicketFlow) or f.step != "done" or f.result is None:
            return
        r = f.result
        ticket = TicketPrint(
            hall_name=k.hall.hall.name,
            queue_name=r.queue_name,
            number=r.number,
            people_ahead=r.people_ahead,
            expected_wait_min=r.expected_wait_min,
            window_hint=r.window_hint or "",
            status_url=self.status_url(),
            masked_name=mask_name(k.session.identity.name) if k.session.identity else None,
            # the hall's time, in the hall's zone (the kiosk's own clock zone may be UTC)
            issued_at=dt.datetime.fromtimestamp(r.issued_at, k.hall.tz),
        )

        def done(_res: Any, err: BaseException | None) -> None:
            f.printed = err is None
            if err is not None:
                k.banner = ("printer_fault", {"reason": str(err)[:40]})
            k.changed()

        k._bg(lambda: k.hw.print_ticket(ticket), done)

    def status_url(self) -> str:
        """The ticket's status page, for its QR code: the lookup token goes in it."""
        f = self.k.flow
        r = f.result if isinstance(f, (TicketFlow, CheckinFlow)) else None
        token = (r.token or "") if r is not None else ""
        return self.k.hall.hall.status_url.replace("{token}", token)


class Lookups:
    """Appointment check-in and case look-up: identify (card or scan), then ask."""

    def __init__(self, k: Kiosk) -> None:
        self.k = k

    def start_checkin(self) -> None:
        self.k.session.flow = CheckinFlow()
        self.k.go("checkin")
        if self.k.session.identity is not None:
            self.k.devices.identity_into_flow()

    def start_case(self) -> None:
        self.k.session.flow = CaseFlow()
        self.k.go("case")
        if self.k.session.identity is not None:
            self.k.devices.identity_into_flow()

    def send_lookup(self) -> None:
        k = self.k
        f = k.flow
        secret = k.cfg.citizen_key_secret
        if isinstance(f, CheckinFlow):
            k.requests.request("appointment.checkin", f.payload(k.session, secret), f)
        elif isinstance(f, CaseFlow):
            k.requests.request("case.lookup", f.payload(k.session, secret), f)


class Rating:
    """Rating a finished ticket: through the outbox (delivered later when offline)."""

    def __init__(self, k: Kiosk) -> None:
        self.k = k

    def _flow(self) -> RatingFlow:
        f = self.k.session.flow
        assert isinstance(f, RatingFlow)
        return f

    def start_rating(self) -> None:
        self.k.session.flow = RatingFlow()
        self.k.go("rating")

    def rating_use_token(self, token: str) -> None:
        self._flow().use_ticket(token)
        self.k.go("rating")

    def rating_level(self, level: int) -> None:
        f = self._flow()
        f.choose_level(level)
        if f.step == "sending":
            self.k.requests.submit_outbox("rating.submit", f.payload(), f)
        else:
            self.k.go("rating")

    def rating_reason(self, reason: str) -> None:
        self._flow().toggle_reason(reason)
        self.k.touch()
        self.k.changed()

    def rating_text(self, text: str) -> None:
        self._flow().set_text(text)
        self.k.session.form["rating_text"] = text
        self.k.touch()
        self.k.changed()

    def rating_confirm(self) -> None:
        f = self._flow()
        try:
            f.confirm_reasons()
        except FlowError as err:
            self.k.banner = (err.key, {})
            self.k.changed()
            return
        self.k.requests.submit_outbox("rating.submit", f.payload(), f)


class Help:
    """帮办代办 / 办不成事: a request for a helper, through the outbox."""

    def __init__(self, k: Kiosk) -> None:
        self.k = k

    def start_help(self, kind: str | None = None) -> None:
        self.k.session.flow = HelpFlow()
        self.k.go("help")
        if kind:
            self.help_choose(kind)

    def help_choose(self, kind: str) -> None:
        f = self.k.session.flow
        assert isinstance(f, HelpFlow)
        f.choose(kind)
        # No location in the note: the controller knows where this terminal stands.
        self.k.requests.submit_outbox("help.request", f.payload(), f)


class Mailing:
    """Mailing the result home: a form typed on the kiosk, sent online only."""

    def __init__(self, k: Kiosk) -> None:
        self.k = k

    def start_mailing(self) -> None:
        k = self.k
        f = MailingFlow(hall_id=k.hall.hall.id)
        k.session.flow = f
        k.session.form.setdefault("ref", "")
        k.go("mailing", field=f.field_)

    def mail_field(self, name: str) -> None:
        k = self.k
        f = k.session.flow
        assert isinstance(f, MailingFlow)
        f.field_ = name
        k.session.form.pop("_kbd", None)  # each field starts in its own input mode
        k.session.form.pop("_pinyin", None)
        k.go("mailing", field=name)

    def mail_set(self, name: str, text: str) -> None:
        self.k.touch()
        self.k.session.form[name] = text[:200]
        self.k.changed()

    def mail_submit(self) -> None:
        k = self.k
        f = k.session.flow
        assert isinstance(f, MailingFlow)
        try:
            body = f.submit(k.session.form)
        except FlowError as err:
            k.banner = (err.key, {})
            k.changed()
            return
        k.requests.request("mailing.request", body, f)


class DeviceEvents:
    """What the devices deliver (UI thread): a card, a code, a device state."""

    def __init__(self, k: Kiosk) -> None:
        self.k = k

    def on_identity(self, card: CardIdentity) -> None:
        """A card was read. Personal data goes into the session only."""
        k = self.k
        k.touch()
        k.session.set_identity(card)
        age = card.age_on(k.now().date())
        if policy.should_offer(age, k.cfg.elderly_age, k.elderly):
            k.prompt = "offer_elderly"
        self.identity_into_flow()
        k.changed()

    def identity_into_flow(self) -> None:
        k = self.k
        f = k.flow
        if isinstance(f, TicketFlow) and f.step == "identify":
            f.identified(k.session, k.now().date())
        elif isinstance(f, (CheckinFlow, CaseFlow)) and f.step == "identify":
            f.identified()
            k.lookups.send_lookup()

    def on_scan(self, code: str) -> None:
        k = self.k
        k.touch()
        f = k.flow
        k.session.add_scan(code)
        try:
            if isinstance(f, TicketFlow) and f.step == "identify":
                f.skip_identify()
            elif isinstance(f, (CheckinFlow, CaseFlow)) and f.step == "identify":
                f.scanned(code)
                k.lookups.send_lookup()
            elif isinstance(f, RatingFlow) and f.step == "ticket":
                f.scanned(code)
            elif isinstance(f, MailingFlow):
                k.session.form["ref"] = code
        except FlowError as err:
            k.banner = (err.key, {})
        k.changed()

    def on_device_status(self, st: DeviceStatus) -> None:
        k = self.k
        k.device_status[st.device] = st
        if k.link is not None:
            try:
                k.link.report_device(st.device, st.state.value, st.reason)
            except Exception:
                log.warning("could not report %s", st.device)
        if st.device == "idcard" and st.state == DeviceState.FAULT:
            k.banner = ("idcard_fault", {})
        k.changed()
