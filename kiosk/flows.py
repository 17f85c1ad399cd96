"""Citizen flows as small state machines (pure Python, no Kivy, no I/O).

A flow holds *where* the person is and what they chose; the person's data itself (ID card,
scans, form input, answers about them) lives in :class:`kiosk.session.Session`, which owns
the flow and wipes it with everything else. A flow builds request payloads and digests
replies; the kiosk core sends them off the UI thread.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, get_args
from urllib.parse import parse_qs, urlsplit

from hall_contract.hallconfig import PriorityPolicy
from hall_contract.messages import (
    RATING_REASONS,
    CaseInfo,
    CaseList,
    CaseState,
    ErrorCode,
    HelpAccepted,
    LevelName,
    MailingAccepted,
    PriorityClass,
    RatingAccepted,
    Reply,
    TicketInfo,
)
from kiosk import elderly as policy
from kiosk.catalogue import BUNDLES, Catalogue, Entry
from kiosk.privacy import citizen_key
from kiosk.session import Session, age_of

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

#: 好差评 levels, best first (5 非常满意 … 1 非常不满意).
RATING_LEVELS = (5, 4, 3, 2, 1)
#: Levels that ask for reasons and text (the reasons: the contract's ``RATING_REASONS``).
BAD_LEVELS = frozenset({1, 2})
#: The operation's result type a flow holds once the controller said yes.
R = TypeVar("R")


class FlowError(ValueError):
    """The person's input cannot be used (the message key says why)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def code_from_scan(raw: str) -> str:
    """A scanned code as a contract ``Id``: the text itself, or the ``code``/``token``
    query parameter or last path segment of a URL. Raises FlowError('bad_code')."""
    raw = raw.strip()
    if _ID.match(raw):
        return raw
    parts = urlsplit(raw)
    if parts.scheme in ("http", "https"):
        q = parse_qs(parts.query)
        for key in ("code", "token", "t", "case"):
            if q.get(key) and _ID.match(q[key][0]):
                return q[key][0]
        last = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if _ID.match(last):
            return last
    raise FlowError("bad_code")


@dataclass
class Flow(Generic[R]):
    name: str = ""
    step: str = ""
    error: str | None = None  #: message key of the last error (never personal data)
    #: the operation's result (hall_contract.messages: TicketInfo, CaseList, …) once done
    result: R | None = None
    queued: bool = False  #: stored in the outbox, delivered later

    def wipe(self) -> None:
        self.result = None
        self.error = None
        self.step = ""

    def fail(self, reply: Reply[Any]) -> None:
        code = reply.error.code if reply.error is not None else ErrorCode.INTERNAL.value
        self.error = f"err_{code}"
        self.step = "error"

    def unreachable(self) -> None:
        self.error = "err_offline"
        self.step = "error"

    def on_reply(self, reply: Reply[R]) -> None:
        """The controller's reply, its result already checked against the contract (an
        ``ok`` without a result is not one: it fails as ``err_internal``)."""
        if reply.ok and reply.result is not None:
            self.result = reply.result
            self.step = "done"
        else:
            self.fail(reply)

    def on_queued(self) -> None:
        self.queued = True
        self.step = "done"


def _key_for(session: Session, secret: str) -> str | None:
    if session.identity is not None:
        return citizen_key(secret, session.identity.id_number)
    if session.scans:
        return citizen_key(secret, "code:" + session.scans[-1])
    return None


# ----------------------------------------------------------------------------- ticket
@dataclass(frozen=True)
class Choice:
    """One button of the service choice: a category to open, or a service/bundle to take."""

    kind: str  #: "category", "service" or "bundle"
    id: str
    label: str


@dataclass(frozen=True)
class ChoicePage:
    """What the service choice shows now (one page of it)."""

    where: str  #: "categories", "category" or "search"
    title: str  #: the category's name in "category"; else empty (the screen's own title)
    items: list[Choice]
    page: int
    pages: int
    query: str = ""


def _label(e: Entry, lang: str) -> str:
    return e.label(lang)


@dataclass
class TicketFlow(Flow[TicketInfo]):
    """choose (categories → category | search) → identify → priority → sending → done | error.

    The service choice reuses the catalogue: its categories (the 一件事 bundles first), and
    its search (text, English, pinyin, initials such as ``sfz``); pages hold fewer choices
    in elderly mode."""

    name: str = "ticket"
    step: str = "choose"
    kind: str = ""
    target: str = ""
    age: int | None = None
    priority: PriorityClass = PriorityClass.NORMAL
    priority_reason: str | None = None
    printed: bool | None = None  #: None = printing, False = printer failed
    cat: str | None = None  #: the open category while choosing
    searching: bool = False
    query: str = ""  #: search text typed while choosing
    page: int = 0

    # ------------------------------------------------------------ choosing a service
    def open_category(self, cat: str) -> None:
        self.cat, self.searching, self.page = cat, False, 0

    def open_search(self) -> None:
        self.cat, self.searching, self.query, self.page = None, True, "", 0

    def set_query(self, text: str) -> None:
        self.query, self.page = text[:40], 0

    def back(self) -> None:
        """From a category or the search back to the list of categories."""
        self.cat, self.searching, self.query, self.page = None, False, "", 0

    def turn(self, page: int) -> None:
        self.page = max(0, page)

    def choices(self, catalogue: Catalogue, elderly: bool, lang: str) -> ChoicePage:
        """The current page of the service choice (pure: no widgets)."""
        title = ""
        if self.searching:
            where = "search"
            items = [Choice(e.kind, e.id, _label(e, lang)) for e in catalogue.search(self.query)]
        elif self.cat is not None:
            where = "category"
            title = dict(catalogue.categories(lang)).get(self.cat, self.cat)
            items = [Choice(e.kind, e.id, _label(e, lang)) for e in catalogue.in_category(self.cat)]
        else:
            where = "categories"
            cats = catalogue.categories(lang)
            # the 一件事 bundles first: one ticket for a whole life event
            cats.sort(key=lambda c: c[0] != BUNDLES)
            items = [Choice("category", cid, name) for cid, name in cats]
        shown, pages = policy.page(items, elderly, self.page)
        self.page = max(0, min(self.page, pages - 1))
        return ChoicePage(where, title, shown, self.page, pages, self.query)

    def choose(self, kind: str, target: str) -> None:
        if kind not in ("service", "bundle"):
            raise FlowError("bad_choice")
        self.kind, self.target, self.step = kind, target, "identify"
        self.cat, self.searching, self.query, self.page = None, False, "", 0

    def identified(self, session: Session, today: dt.date) -> None:
        self.age = age_of(session.identity, today) if session.identity else None
        self.step = "priority"

    def skip_identify(self) -> None:
        self.age = None
        self.step = "priority"

    def priority_options(self, policy: PriorityPolicy) -> list[PriorityClass]:
        """Offered where policy allows: elderly only when the ID card shows the age;
        disability and green channel are declared and checked at the window."""
        opts = [PriorityClass.NORMAL]
        if self.age is not None and self.age >= policy.elderly_min_age:
            opts.append(PriorityClass.ELDERLY)
        opts.append(PriorityClass.DISABLED)
        if policy.green_channel_groups:
            opts.append(PriorityClass.GREEN)
        return opts

    def choose_priority(self, p: PriorityClass, policy: PriorityPolicy) -> None:
        if p not in self.priority_options(policy):
            raise FlowError("priority_not_allowed")
        self.priority = p
        self.priority_reason = {
            PriorityClass.NORMAL: None,
            PriorityClass.ELDERLY: "id_card_age",
        }.get(p, "declared")
        self.step = "sending"

    def payload(self, session: Session, secret: str, lang: str) -> dict[str, Any]:
        body: dict[str, Any] = {"priority": self.priority.value, "lang": lang}
        body[self.kind] = self.target
        if self.priority_reason:
            body["priority_reason"] = self.priority_reason
        key = _key_for(session, secret)
        if key:
            body["citizen_key"] = key
        # No name (not even masked): the controller has no use for it (contract TicketIssue).
        return body

    def wipe(self) -> None:
        super().wipe()
        self.back()


# ---------------------------------------------------------------------------- check-in
@dataclass
class ScanOrCardFlow(Flow[R]):
    """identify (scan a code or read the ID card) → sending → done | error.

    The scanned code goes out as ``code_field``; without one, the ID card's citizen key."""

    step: str = "identify"
    ref: str | None = None
    code_field = "code"

    def scanned(self, raw: str) -> None:
        self.ref = code_from_scan(raw)
        self.step = "sending"

    def identified(self) -> None:
        self.step = "sending"

    def payload(self, session: Session, secret: str) -> dict[str, Any]:
        if self.ref:
            return {self.code_field: self.ref}
        if session.identity is None:
            raise FlowError("need_identity")
        return {"citizen_key": citizen_key(secret, session.identity.id_number)}

    def wipe(self) -> None:
        super().wipe()
        self.ref = None


@dataclass
class CheckinFlow(ScanOrCardFlow[TicketInfo]):
    """Appointment check-in by the appointment QR code or the ID card."""

    name: str = "checkin"


# ------------------------------------------------------------------------- case lookup
LEVEL_KEYS: dict[LevelName, str] = {lv: f"level_{lv}" for lv in get_args(LevelName)}
CASE_STATE_KEYS: dict[CaseState, str] = {s: f"case_{s}" for s in get_args(CaseState)}


@dataclass
class CaseFlow(ScanOrCardFlow[CaseList]):
    """Case lookup (办件查询) by the receipt barcode or the ID card."""

    name: str = "case"
    code_field = "case_no"

    @staticmethod
    def state_key(case: CaseInfo) -> str:
        """The words for a case's state (the contract's values are English ids)."""
        return CASE_STATE_KEYS[case.state]

    @staticmethod
    def level_key(case: CaseInfo) -> str:
        """The words for a case's deadline level (never colour alone)."""
        return LEVEL_KEYS[case.level]


# ------------------------------------------------------------------------------ rating
@dataclass
class RatingFlow(Flow[RatingAccepted]):
    """ticket (scan the ticket QR) → level → [reasons for bad levels] → sending → done."""

    name: str = "rating"
    step: str = "ticket"
    ticket: str | None = None
    level: int | None = None
    reasons: list[str] = field(default_factory=list)
    text: str = ""

    def scanned(self, raw: str) -> None:
        self.ticket = code_from_scan(raw)
        self.step = "level"

    def use_ticket(self, token: str) -> None:
        self.ticket = code_from_scan(token)
        self.step = "level"

    def choose_level(self, level: int) -> None:
        if level not in RATING_LEVELS:
            raise FlowError("bad_choice")
        self.level = level
        if level in BAD_LEVELS:
            self.step = "reasons"
        else:
            self.reasons, self.text = [], ""
            self.step = "sending"

    def toggle_reason(self, reason: str) -> None:
        if self.level not in BAD_LEVELS or reason not in RATING_REASONS:
            raise FlowError("bad_choice")
        if reason in self.reasons:
            self.reasons.remove(reason)
        else:
            self.reasons.append(reason)

    def set_text(self, text: str) -> None:
        if self.level not in BAD_LEVELS:
            raise FlowError("bad_choice")
        self.text = text[:500]

    def confirm_reasons(self) -> None:
        if not self.reasons:
            raise FlowError("need_reason")
        self.step = "sending"

    def payload(self) -> dict[str, Any]:
        if self.ticket is None or self.level is None:
            raise FlowError("bad_choice")
        body: dict[str, Any] = {"ticket": self.ticket, "level": self.level}
        if self.level in BAD_LEVELS:
            body["reasons"] = list(self.reasons)
            if self.text.strip():
                body["text"] = self.text.strip()
        return body

    def on_reply(self, reply: Reply[RatingAccepted]) -> None:
        if not reply.ok and reply.error is not None and reply.error.code == ErrorCode.CONFLICT:
            self.error = "already_rated"
            self.step = "error"
        else:
            super().on_reply(reply)

    def on_queued(self) -> None:
        self.queued = True
        self.step = "done"

    def wipe(self) -> None:
        super().wipe()
        self.ticket, self.level, self.text = None, None, ""
        self.reasons.clear()


# -------------------------------------------------------------------------------- help
@dataclass
class HelpFlow(Flow[HelpAccepted]):
    """choose (helper | unresolved) → sending → done (reached or queued).

    The controller knows where each terminal stands (the hall config): the reply says where
    staff will come to, and the note carries only what the citizen typed, if anything."""

    name: str = "help"
    step: str = "choose"
    kind: str = "helper"
    note: str = ""
    service: str | None = None

    def choose(self, kind: str, note: str = "") -> None:
        if kind not in ("helper", "unresolved"):
            raise FlowError("bad_choice")
        self.kind, self.note, self.step = kind, note[:500], "sending"

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": self.kind}
        note = self.note.strip()
        if note:
            body["note"] = note[:500]
        if self.service:
            body["service"] = self.service
        return body

    def on_queued(self) -> None:
        self.queued = True
        self.step = "done"


# ----------------------------------------------------------------------------- mailing
MAIL_FIELDS = ("ref", "recipient", "phone", "address")


def is_case_no(code: str, hall_id: str) -> bool:
    """True when ``code`` is one of this hall's case numbers: the hall id in upper case, the
    acceptance date (YYYYMMDD) and a 5-digit serial, e.g. ``YUNXI2026111800001`` (the
    controller's ``_accept_case``). Letter case is ignored (typed on the touch keyboard).
    Ticket ids and lookup tokens never have that shape."""
    prefix = hall_id.upper()
    up = code.upper()
    if not prefix or not up.startswith(prefix):
        return False
    rest = up[len(prefix) :]
    if len(rest) != 13 or not rest.isascii() or not rest.isdigit():
        return False
    try:
        dt.datetime.strptime(rest[:8], "%Y%m%d")
    except ValueError:
        return False
    return True


_PHONE = re.compile(r"^[0-9+\- ]{5,20}$")


@dataclass
class MailingFlow(Flow[MailingAccepted]):
    """form (ref, recipient, phone, address on the touch keyboard) → sending → done.

    Online only: an address never goes into the on-disk outbox."""

    name: str = "mailing"
    step: str = "form"
    field_: str = "ref"
    hall_id: str = ""  #: this hall's id: case numbers start with it

    def validate(self, form: dict[str, str]) -> dict[str, Any]:
        ref = form.get("ref", "").strip()
        recipient = form.get("recipient", "").strip()
        phone = form.get("phone", "").strip()
        address = form.get("address", "").strip()
        if not ref:
            raise FlowError("need_ref")
        if not (1 <= len(recipient) <= 30):
            raise FlowError("need_recipient")
        if not _PHONE.match(phone):
            raise FlowError("bad_phone")
        if not (4 <= len(address) <= 200):
            raise FlowError("need_address")
        body: dict[str, Any] = {"recipient": recipient, "phone": phone, "address": address}
        code = code_from_scan(ref)
        if is_case_no(code, self.hall_id):
            body["case_no"] = code.upper()  # as the controller issued it (typed in any case)
        else:
            body["ticket"] = code
        return body

    def submit(self, form: dict[str, str]) -> dict[str, Any]:
        body = self.validate(form)
        self.step = "sending"
        return body
