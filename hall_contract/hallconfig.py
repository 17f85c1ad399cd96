"""The hall's configuration: queues, windows, schedule, service catalogue, terminals.

Shared by the controller (which owns it) and the kiosks (which receive it as retained
desired config or read the same file). Units are in the field names (``_min``, ``_days``).
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from hall_contract.yamlconf import LocatedError

Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
HHMM = Annotated[str, StringConstraints(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: The languages a citizen can choose at the kiosk; Chinese is the config's own language.
LANGS: tuple[str, ...] = ("zh", "en", "ug")
#: The languages the config translates into (``i18n:`` blocks and the ``glossary``):
#: English and Uyghur (Arabic script, in logical order: the kiosk shapes and orders it).
TrLang = Literal["en", "ug"]


class NameText(Strict):
    """A name in another language (queues, categories)."""

    name: str = ""


class WindowText(Strict):
    name: str = ""
    location: str = ""


class HallText(Strict):
    name: str = ""
    address: str = ""


class MaterialText(Strict):
    """One material in another language; an empty field is not translated (the
    ``glossary`` may still have it, else it is shown in Chinese and marked so)."""

    name: str = ""
    copies: str = ""
    note: str = ""


class ServiceText(Strict):
    """A service's notice in another language. Lists follow the Chinese ones item by item:
    ``conditions`` and ``materials`` have as many items as the service's own, in the same
    order (a material may be written as its name alone). Whatever is left out comes from
    the ``glossary`` when it has that exact Chinese text, else it is shown in Chinese."""

    name: str = ""
    conditions: list[str] | None = None
    materials: list[MaterialText] | None = None
    fees: str = ""
    window_hint: str = ""
    keywords: list[str] = Field(default_factory=list, description="More search words")

    @field_validator("materials", mode="before")
    @classmethod
    def _name_alone(cls, v: object) -> object:
        if isinstance(v, list):
            return [{"name": x} if isinstance(x, str) else x for x in v]
        return v


class BundleText(Strict):
    name: str = ""
    description: str = ""


def name_in(name: str, name_en: str, i18n: Mapping[Any, Any], lang: str) -> str | None:
    """``name`` in ``lang``, or None when it has no translation (``name_en`` is the
    English name when ``i18n`` has none: the field older configs use)."""
    if lang == "zh":
        return name
    text = getattr(i18n.get(lang), "name", "")
    if text:
        return str(text)
    return (name_en or None) if lang == "en" else None


class QueueConfig(Strict):
    id: Ident
    letter: Annotated[str, StringConstraints(pattern=r"^[A-Z]$")]
    name: str
    name_en: str = ""
    i18n: dict[TrLang, NameText] = Field(
        default_factory=dict, description="The name in English (en) and Uyghur (ug)"
    )
    persist_overnight: bool = Field(False, description="Keep waiting tickets past the day boundary")
    default_service_min: float = Field(
        8.0, gt=0, description="Expected service time before any is learned"
    )
    wait_yellow_min: float = Field(20, gt=0)
    wait_red_min: float = Field(40, gt=0)
    service_yellow_min: float = Field(20, gt=0)
    service_red_min: float = Field(40, gt=0)
    daily_cap: int | None = Field(None, ge=1, description="Tickets per day for the whole queue")

    def name_in(self, lang: str) -> str | None:
        return name_in(self.name, self.name_en, self.i18n, lang)

    @model_validator(mode="after")
    def _red_after_yellow(self) -> QueueConfig:
        if self.wait_red_min <= self.wait_yellow_min:
            raise ValueError("wait_red_min must be greater than wait_yellow_min")
        if self.service_red_min <= self.service_yellow_min:
            raise ValueError("service_red_min must be greater than service_yellow_min")
        return self


class WindowConfig(Strict):
    id: Ident
    name: str
    name_en: str = ""
    i18n: dict[TrLang, WindowText] = Field(default_factory=dict)
    queues: list[Ident] = Field(min_length=1, description="Queues served, highest priority first")
    location: str = ""
    display: str | None = Field(None, description="Window display terminal id or device address")

    def name_in(self, lang: str) -> str | None:
        return name_in(self.name, self.name_en, self.i18n, lang)


class Interleave(Strict):
    priority: int = Field(1, ge=1, description="Priority tickets called in a row ...")
    normal: int = Field(2, ge=0, description="... then this many normal ones (0 = strict priority)")


class PriorityPolicy(Strict):
    interleave: Interleave = Interleave()
    starvation_min: float = Field(
        30, gt=0, description="A ticket waiting longer than this is called before any other"
    )
    elderly_min_age: int = Field(60, ge=50, le=90)
    green_channel_groups: list[str] = ["军人", "消防救援", "医护人员"]
    transfer_is_priority: bool = True


class WindowPolicy(Strict):
    recall_limit: int = Field(3, ge=0)
    no_show_grace_min: float = Field(
        10, ge=0, description="A skipped ticket may come back within this"
    )
    requeue_after_no_show: bool = Field(
        False, description="Put a no-show back in the queue at once"
    )
    requeue_behind: int = Field(
        3,
        ge=0,
        description="A re-queued no-show comes back behind this many of the tickets "
        "waiting in its queue and class (0 = first in line again)",
    )


class AppointmentPolicy(Strict):
    early_min: float = Field(30, ge=0, description="Check-in accepted this long before the slot")
    late_min: float = Field(15, ge=0, description="... and this long after the slot starts")
    late_policy: Literal["normal", "reject"] = "normal"


class Material(Strict):
    name: str
    mark: Literal["required", "may_be_missing", "commitment"] = "required"
    copies: str = "原件1份"
    note: str = ""


class Service(Strict):
    id: Ident
    name: str
    name_en: str = ""
    queue: Ident
    department: str = ""
    conditions: list[str] = []
    materials: list[Material] = Field(min_length=1)
    fees: str = "不收费"
    legal_days: int = Field(ge=0, description="Legal time limit in working days (法定办结时限)")
    promised_days: int = Field(ge=0, description="Promised time limit (承诺办结时限)")
    window_hint: str = ""
    daily_cap: int | None = Field(None, ge=1)
    self_service: bool = Field(False, description="Can be completed at the kiosk itself")
    keywords: list[str] = []
    i18n: dict[TrLang, ServiceText] = Field(
        default_factory=dict, description="The notice in English (en) and Uyghur (ug)"
    )

    def name_in(self, lang: str) -> str | None:
        return name_in(self.name, self.name_en, self.i18n, lang)

    def text_in(self, lang: str) -> ServiceText | None:
        """The service's own ``i18n`` block for ``lang`` (None: it has none)."""
        texts: Mapping[Any, ServiceText] = self.i18n
        return texts.get(lang)

    @model_validator(mode="after")
    def _promise_within_law(self) -> Service:
        if self.promised_days > self.legal_days:
            raise ValueError("promised_days may not exceed legal_days")
        return self

    @model_validator(mode="after")
    def _translations_follow(self) -> Service:
        for lang, tr in self.i18n.items():
            for what, mine, theirs in (
                ("conditions", tr.conditions, self.conditions),
                ("materials", tr.materials, self.materials),
            ):
                if mine is not None and len(mine) != len(theirs):
                    raise LocatedError(
                        ("i18n", lang, what),
                        f"has {len(mine)} items but the service has {len(theirs)} {what}: "
                        "write one per Chinese item, in the same order (leave the list out "
                        "to show them in Chinese)",
                    )
        return self


class Bundle(Strict):
    id: Ident
    name: str
    name_en: str = ""
    description: str = ""
    services: list[Ident] = Field(min_length=2)
    queue: Ident
    i18n: dict[TrLang, BundleText] = Field(default_factory=dict)

    def name_in(self, lang: str) -> str | None:
        return name_in(self.name, self.name_en, self.i18n, lang)


class DaySpan(Strict):
    start: HHMM
    end: HHMM

    @field_validator("start", "end", mode="before")
    @classmethod
    def _sexagesimal(cls, v: object) -> object:
        # YAML 1.1 reads an unquoted 13:30 as the base-60 integer 810: read it back.
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 24 * 60:
            return f"{v // 60:02d}:{v % 60:02d}"
        return v

    @model_validator(mode="after")
    def _ordered(self) -> DaySpan:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


def _dates(days: list[DatedDay]) -> frozenset[dt.date]:
    return frozenset(d.date for d in days)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DatedDay(Strict):
    date: dt.date
    name: str = ""


class Schedule(Strict):
    weekly: dict[Weekday, list[DaySpan]] = Field(
        description="Opening hours of the staffed windows per weekday; a missing day is closed"
    )
    holidays: list[DatedDay] = Field(default_factory=list, description="Closed although a weekday")
    workdays: list[DatedDay] = Field(
        default_factory=list, description="调休: open although a weekend; uses the Monday hours"
    )
    self_service_24h: bool = True
    day_boundary: HHMM = Field("03:00", description="Ticket numbers restart at this local time")

    @property
    def holiday_dates(self) -> frozenset[dt.date]:
        return _dates(self.holidays)

    @property
    def workday_dates(self) -> frozenset[dt.date]:
        return _dates(self.workdays)

    @model_validator(mode="after")
    def _no_overlap(self) -> Schedule:
        hol = {d.date for d in self.holidays}
        for i, d in enumerate(self.workdays):
            if d.date in hol:
                raise LocatedError(
                    ("workdays", i),
                    f"{d.date} is listed both as a holiday and as a make-up workday",
                )
        return self


#: The hall controller's MQTT user name on the managed broker. ``gen-auth`` gives it read
#: and write on the whole hall (``hall/{hall}/#``), so no terminal may use it as its id.
CONTROLLER_USER = "controller"
#: The technicians' tools' MQTT user name (``python -m hall_controller command``): it may
#: send commands to terminals and read their results, nothing else. Its own login, not the
#: controller's: with ``auth`` a login is bound to one connection (the broker uses the user
#: name as the client id), so a tool logging in as the controller would throw it off.
TOOLS_USER = "tools"
#: Terminal ids that are broker logins of the hall itself, with what they are.
RESERVED_USERS = {
    CONTROLLER_USER: "the hall controller's broker login, which may read and write the whole hall",
    TOOLS_USER: "the broker login of the technicians' tools (python -m hall_controller "
    "command), which may send commands to every terminal",
}


class Terminal(Strict):
    id: Ident
    role: Literal["kiosk", "window", "display", "rater", "admin", "web"] = Field(
        description="admin: the hall manager's console (appointments, case states); web: "
        "the hall's web server (hall display, staff console, rating pads, phone pages)"
    )
    location: str = ""
    window: Ident | None = Field(None, description="For window and rater terminals")

    @field_validator("id")
    @classmethod
    def _not_the_controller(cls, v: str) -> str:
        if v in RESERVED_USERS:
            raise ValueError(
                f"terminal id {v!r} is reserved: it is {RESERVED_USERS[v]}; "
                "give the terminal another id"
            )
        return v


class BrokerConfig(Strict):
    """The broker. Without ``url`` the controller runs its own mosquitto (the managed
    broker): a plain listener on ``bind:port`` and, with ``tls_cert``/``tls_key``/
    ``tls_port``, a TLS listener on ``bind:tls_port``; when that TLS listener is on a
    network address, the plain one stays on 127.0.0.1 so passwords never cross the
    network unencrypted. ``tls_ca`` is the CA that clients using this file (the
    controller on an ``mqtts://`` url, the ``hall_controller`` tools) trust; kiosks name
    their own in kiosk.yaml. File paths are checked where they are used (``run``,
    ``check-config``), not here: kiosks validate this model too, on other machines."""

    url: str | None = Field(
        None,
        description="mqtt://host:port or mqtts://host:port (TLS) of an existing broker; "
        "none = start our own mosquitto",
    )
    port: int = Field(
        1883, ge=0, le=65535, description="Port of the managed mosquitto (0 = any free)"
    )
    bind: str = "127.0.0.1"
    auth: bool = Field(False, description="Password file + ACL generated from this config")
    tls_ca: str | None = Field(
        None,
        description="CA certificate (PEM): the managed broker's cafile, and the CA that "
        "clients of this file trust on mqtts:// (none = the system's trusted CAs)",
    )
    tls_cert: str | None = Field(None, description="The managed broker's server certificate")
    tls_key: str | None = Field(None, description="The managed broker's private key")
    tls_port: int | None = Field(
        None, ge=0, le=65535, description="The managed broker's TLS listener (usually 8883)"
    )
    tls_client_cert: str | None = Field(
        None, description="Client certificate the controller presents to an mqtts:// url"
    )
    tls_client_key: str | None = Field(None, description="Its private key")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from urllib.parse import urlsplit

        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts", "tcp") or not parts.hostname:
            raise ValueError(
                "must be mqtt://HOST:PORT, or mqtts://HOST:PORT for TLS "
                "(null: the controller starts its own mosquitto)"
            )
        try:
            _ = parts.port
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        return v

    @model_validator(mode="after")
    def _tls(self) -> BrokerConfig:
        if self.tls_cert and not self.tls_key:
            raise LocatedError(
                ("tls_cert",), "tls_cert needs tls_key (the broker's private key) with it"
            )
        if self.tls_key and not self.tls_cert:
            raise LocatedError(
                ("tls_key",), "tls_key needs tls_cert (the broker's certificate) with it"
            )
        if self.tls_cert and self.tls_port is None:
            raise LocatedError(
                ("tls_cert",), "the TLS listener needs its port: set tls_port (usually 8883)"
            )
        if self.tls_port is not None and not self.tls_cert:
            raise LocatedError(
                ("tls_port",),
                "a TLS listener needs tls_cert and tls_key (the broker's certificate and key)",
            )
        if self.tls_port and self.tls_port == self.port:
            raise LocatedError(("tls_port",), f"tls_port must differ from port ({self.port})")
        if self.tls_client_key and not self.tls_client_cert:
            raise LocatedError(("tls_client_key",), "tls_client_key needs tls_client_cert with it")
        return self

    @model_validator(mode="after")
    def _no_anonymous_network_broker(self) -> BrokerConfig:
        """The managed broker never lets anonymous clients in from beyond this computer:
        anyone on that network could publish as any terminal (issue tickets, call
        numbers, rate windows) and read the whole hall. TLS alone does not help: it hides
        the traffic, not who sends it."""
        if self.url is None and not self.auth and not self.is_loopback(self.bind):
            listener = "its TLS listener" if self.managed_tls else "the broker"
            port = self.tls_port if self.managed_tls else self.port
            raise LocatedError(
                ("auth",),
                f"{listener} would be open to the network on {self.bind}:{port} without "
                "passwords: any machine there could publish as any terminal. Set "
                "broker.auth: true (each terminal then logs in with its own password; "
                "docs/technician.md, section 4), or bind: 127.0.0.1 to keep the broker on "
                "this computer",
            )
        return self

    @property
    def managed_tls(self) -> bool:
        """The managed broker has a TLS listener."""
        return self.url is None and self.tls_port is not None and bool(self.tls_cert)

    @staticmethod
    def is_loopback(host: str) -> bool:
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def plain_bind(self) -> str:
        """Where the managed broker's plain (unencrypted) listener listens: ``bind``, but
        127.0.0.1 when a TLS listener is exposed on a network address."""
        if self.managed_tls and not self.is_loopback(self.bind):
            return "127.0.0.1"
        return self.bind

    @property
    def local_host(self) -> str:
        """The address a client on the controller's machine uses for the plain listener."""
        return connectable(self.plain_bind)


def connectable(host: str) -> str:
    """An address to reach a listener bound to ``host`` from this machine."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


class HallInfo(Strict):
    id: Ident
    name: str
    name_en: str = ""
    i18n: dict[TrLang, HallText] = Field(default_factory=dict)
    address: str = ""
    phone: str = ""
    timezone: str = "Asia/Shanghai"
    status_url: str = Field(
        "https://zwfw.example.gov.cn/q/{token}",
        description="QR link printed on tickets; {token} is replaced",
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (e.g. Asia/Shanghai)") from None
        return v

    def name_in(self, lang: str) -> str | None:
        return name_in(self.name, self.name_en, self.i18n, lang)


class Category(Strict):
    id: Ident
    name: str
    name_en: str = ""
    i18n: dict[TrLang, NameText] = Field(default_factory=dict)


class HallConfig(Strict):
    version: int = Field(1, ge=1, description="Bump on every change; terminals report it")
    hall: HallInfo
    broker: BrokerConfig = BrokerConfig()
    schedule: Schedule
    queues: list[QueueConfig] = Field(min_length=1)
    windows: list[WindowConfig] = Field(min_length=1)
    priority: PriorityPolicy = PriorityPolicy()
    window_policy: WindowPolicy = WindowPolicy()
    appointments: AppointmentPolicy = AppointmentPolicy()
    services: list[Service] = []
    bundles: list[Bundle] = []
    terminals: list[Terminal] = []
    data_dir: str = Field("var", description="Event store, generated broker files, outboxes")
    glossary: dict[str, dict[TrLang, str]] = Field(
        default_factory=dict,
        description="Chinese text → its English (en) and Uyghur (ug) translation, used "
        "wherever exactly that text appears in the catalogue (material names, copies, notes, "
        "fees, conditions, window hints, holiday names) and no i18n block translates it",
    )

    @model_validator(mode="after")
    def _references(self) -> HallConfig:
        def unique(items: list, what: str, where: str) -> set[str]:  # type: ignore[type-arg]
            seen: set[str] = set()
            for i, it in enumerate(items):
                if it.id in seen:
                    raise LocatedError((where, i, "id"), f"{what} id {it.id!r} is used twice")
                seen.add(it.id)
            return seen

        queues = unique(self.queues, "queue", "queues")
        letters: dict[str, str] = {}
        for i, q in enumerate(self.queues):
            if q.letter in letters:
                raise LocatedError(
                    ("queues", i, "letter"),
                    f"queue letter {q.letter!r} is already used by queue {letters[q.letter]!r}",
                )
            letters[q.letter] = q.id
        windows = unique(self.windows, "window", "windows")
        services = unique(self.services, "service", "services")
        unique(self.bundles, "bundle", "bundles")
        unique(self.terminals, "terminal", "terminals")
        for i, w in enumerate(self.windows):
            for j, qid in enumerate(w.queues):
                if qid not in queues:
                    raise LocatedError(
                        ("windows", i, "queues", j),
                        f"window {w.id!r} serves unknown queue {qid!r}",
                    )
        for i, s in enumerate(self.services):
            if s.queue not in queues:
                raise LocatedError(
                    ("services", i, "queue"), f"service {s.id!r} goes to unknown queue {s.queue!r}"
                )
        for i, b in enumerate(self.bundles):
            if b.queue not in queues:
                raise LocatedError(
                    ("bundles", i, "queue"), f"bundle {b.id!r} goes to unknown queue {b.queue!r}"
                )
            for j, sid in enumerate(b.services):
                if sid not in services:
                    raise LocatedError(
                        ("bundles", i, "services", j),
                        f"bundle {b.id!r} lists unknown service {sid!r}",
                    )
        for i, t in enumerate(self.terminals):
            if t.window is not None and t.window not in windows:
                raise LocatedError(
                    ("terminals", i, "window"),
                    f"terminal {t.id!r} is at unknown window {t.window!r}",
                )
            if t.role in ("window", "rater") and t.window is None:
                raise LocatedError(
                    ("terminals", i), f"terminal {t.id!r} ({t.role}) needs its window"
                )
        served = {q for w in self.windows for q in w.queues}
        for i, q in enumerate(self.queues):
            if q.id not in served:
                raise LocatedError(("queues", i, "id"), f"no window serves queue {q.id!r}")
        if self.glossary:
            used = self.translatable_texts()
            for zh in self.glossary:
                if zh not in used:
                    raise LocatedError(
                        ("glossary", zh),
                        f"{zh!r} appears nowhere in the catalogue or the holidays: the "
                        "glossary translates exact texts (a typo, or an extra space?)",
                    )
        return self

    def translatable_texts(self) -> set[str]:
        """Every Chinese text of the config that the ``glossary`` may translate."""
        out: set[str] = {d.name for d in self.schedule.holidays + self.schedule.workdays}
        for s in self.services:
            out.update(s.conditions)
            out.update((s.fees, s.window_hint, s.department))
            for m in s.materials:
                out.update((m.name, m.copies, m.note))
        for b in self.bundles:
            out.add(b.description)
        for w in self.windows:
            out.add(w.location)
        out.add(self.hall.address)
        out.discard("")
        return out

    def tr(self, zh: str, lang: str) -> str | None:
        """The glossary's ``lang`` text for the Chinese ``zh`` (``zh`` itself in Chinese;
        None when the glossary has none)."""
        if lang == "zh":
            return zh
        texts: Mapping[Any, str] = self.glossary.get(zh, {})
        return texts.get(lang)

    # ------------------------------------------------------------------ look-ups
    def queue(self, qid: str) -> QueueConfig:
        for q in self.queues:
            if q.id == qid:
                return q
        raise KeyError(qid)

    def window(self, wid: str) -> WindowConfig:
        for w in self.windows:
            if w.id == wid:
                return w
        raise KeyError(wid)

    def service(self, sid: str) -> Service:
        for s in self.services:
            if s.id == sid:
                return s
        raise KeyError(sid)

    def bundle(self, bid: str) -> Bundle:
        for b in self.bundles:
            if b.id == bid:
                return b
        raise KeyError(bid)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.hall.timezone)

    def bundle_materials(self, bid: str) -> list[Material]:
        """One merged material list for a 一件事 bundle: de-duplicated by name, keeping the
        strictest mark (required > commitment > may_be_missing)."""
        rank = {"required": 0, "commitment": 1, "may_be_missing": 2}
        merged: dict[str, Material] = {}
        for sid in self.bundle(bid).services:
            for m in self.service(sid).materials:
                old = merged.get(m.name)
                if old is None or rank[m.mark] < rank[old.mark]:
                    merged[m.name] = m
        return list(merged.values())


class DayKind(enum.StrEnum):
    WORKDAY = "workday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    MAKEUP = "makeup"  # 调休 working day


def day_kind(schedule: Schedule, day: dt.date) -> DayKind:
    if day in schedule.holiday_dates:
        return DayKind.HOLIDAY
    if day in schedule.workday_dates:
        return DayKind.MAKEUP
    return DayKind.WEEKEND if day.weekday() >= 5 else DayKind.WORKDAY


def hours_on(schedule: Schedule, day: dt.date) -> list[DaySpan]:
    kind = day_kind(schedule, day)
    if kind == DayKind.HOLIDAY:
        return []
    if kind == DayKind.MAKEUP:
        return schedule.weekly.get("mon", [])
    return schedule.weekly.get(WEEKDAYS[day.weekday()], [])


def _at(day: dt.date, hhmm: str, tz: ZoneInfo) -> dt.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(0, 0), tz) + dt.timedelta(hours=h, minutes=m)


def open_spans(schedule: Schedule, day: dt.date, tz: ZoneInfo) -> list[tuple[float, float]]:
    """The opening spans of ``day`` as (start, end) epoch seconds."""
    return [
        (_at(day, s.start, tz).timestamp(), _at(day, s.end, tz).timestamp())
        for s in hours_on(schedule, day)
    ]


def is_open(schedule: Schedule, when: dt.datetime, tz: ZoneInfo) -> bool:
    local = when.astimezone(tz)
    return any(
        _at(local.date(), s.start, tz) <= local < _at(local.date(), s.end, tz)
        for s in hours_on(schedule, local.date())
    )


def next_opening(
    schedule: Schedule, when: dt.datetime, tz: ZoneInfo, horizon_days: int = 60
) -> dt.datetime | None:
    local = when.astimezone(tz)
    for i in range(horizon_days):
        day = local.date() + dt.timedelta(days=i)
        for s in hours_on(schedule, day):
            start = _at(day, s.start, tz)
            if start > local:
                return start
    return None


def service_day(schedule: Schedule, when: dt.datetime, tz: ZoneInfo) -> dt.date:
    """The hall's ticket day: local date, shifted back before the day boundary."""
    local = when.astimezone(tz)
    h, m = (int(x) for x in schedule.day_boundary.split(":"))
    return (local - dt.timedelta(hours=h, minutes=m)).date()


def around_the_clock(config: HallConfig) -> HallConfig:
    """The hall open 24 hours every day, holidays ignored: the demo hall's calendar, so a
    newcomer sees a working hall at any hour (the screens say so)."""
    days: list[Weekday] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    schedule = config.schedule.model_copy(
        update={
            "weekly": {d: [DaySpan(start="00:00", end="24:00")] for d in days},
            "holidays": [],
            "workdays": [],
        }
    )
    return config.model_copy(update={"schedule": schedule})
