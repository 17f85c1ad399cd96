"""Silent calling (静默叫号 / 短信提醒): a text message when a citizen's turn is near.

On the phone page behind the ticket's QR code a citizen may leave a mobile number to be
told by SMS when ``N`` tickets are ahead, or when called, whichever comes first. The number

* is checked (mainland mobile, ``1[3-9]`` and 9 digits) and refused without being echoed;
* is kept sealed (:class:`hall_controller.sealing.Sealer`, Fernet) in a SQLite file of mode
  0600, one subscription per ticket;
* is used once: deleted from the file the moment its message is queued, overwritten on
  disk (``secure_delete``) and the WAL truncated; a ticket finished, cancelled or expired
  deletes it unsent, and :meth:`SilentCalls.end_of_day` deletes what is left (VACUUM);
* never reaches a log, a metric, an MQTT payload or an error message (:class:`NotifyError`
  says what failed, never to whom or what).

Messages go out through a :class:`Notifier`: :class:`HttpSmsGateway` speaks to an SMS
platform over HTTP (URL, JSON or form body template, no auth / bearer token / HMAC-SHA256
of the body; :class:`SmsSettings`); the demo and the tests point it at
:class:`hall_web.smsgw.SimulatedSmsGateway`, a real HTTP server on loopback that checks the
same auth. Sending happens on a worker thread of :class:`SilentCalls`, so a slow gateway
never holds up whoever reports a ticket's change; failed sends are retried with backoff,
then dropped and counted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import re
import sqlite3
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from hall_controller.sealing import Sealer
from hall_controller.store import private_file

if TYPE_CHECKING:
    from hall_web.smsgw import SimulatedSmsGateway

log = logging.getLogger(__name__)

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_AHEAD = 20
SWEEP_S = 300.0  #: how often the worker deletes subscriptions past ``max_keep_h``
#: States after which a ticket is never called: its subscription is deleted unsent.
DONE_STATES = frozenset({"finished", "cancelled", "expired"})
#: Placeholders of the body template (values of the template's strings).
PLACEHOLDERS = ("phone", "text", "sign", "timestamp", "nonce")
_PLACEHOLDER_RE = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")

DEFAULT_TEMPLATE: dict[str, Any] = {
    "phone": "{phone}",
    "content": "{text}",
    "sign": "{sign}",
    "timestamp": "{timestamp}",
    "nonce": "{nonce}",
}


# --- settings ------------------------------------------------------------------------


class SmsSettings(BaseModel):
    """How the hall sends text messages (``sms:`` in ``web.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    driver: Literal["http", "simulated", "none"] = Field(
        "none",
        description="http: an SMS platform at `url`; simulated: a loopback gateway that "
        "records the messages (demo, tests); none: silent calling is not offered",
    )
    url: str | None = Field(None, description="The platform's send URL (driver http)")
    auth: Literal["none", "bearer", "hmac-sha256"] = Field(
        "none",
        description="bearer: `auth_header: Bearer <token>`; hmac-sha256: `auth_header: "
        "hex(HMAC-SHA256(secret, body))`",
    )
    auth_header: str | None = Field(
        None,
        min_length=1,
        description="The header carrying the auth; none = Authorization (bearer) or "
        "X-Signature (hmac-sha256)",
    )
    token: SecretStr | None = Field(None, description="The bearer token (auth bearer)")
    secret: SecretStr | None = Field(None, description="The HMAC key (auth hmac-sha256)")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Further fixed headers (an app id, an API version)"
    )
    sign_name: str = Field(
        "", max_length=20, description="短信签名 as registered, e.g. 云溪县政务服务中心"
    )
    sign_in_text: bool = Field(
        True, description="Start the text with 【sign_name】 (off if the platform adds it)"
    )
    body: Literal["json", "form"] = Field("json", description="How the template is sent")
    template: dict[str, Any] = Field(
        default_factory=lambda: dict(DEFAULT_TEMPLATE),
        description="The request body; string values may hold {phone} {text} {sign} "
        "{timestamp} {nonce}",
    )
    ok_json: dict[str, Any] | None = Field(
        None,
        description='Fields a 2xx reply must hold for success, e.g. {"code": 0}; none = any 2xx',
    )
    timeout_s: float = Field(5.0, gt=0, le=60, description="Per HTTP request")
    retry_delay_s: float = Field(
        0.5, ge=0, le=10, description="Before the one immediate retry (5xx, no connection)"
    )
    proxy: str | None = Field(None, description="HTTP proxy to the platform (none: direct)")
    send_attempts: int = Field(
        4, ge=1, le=10, description="Tries of one message before it is dropped"
    )
    backoff_s: float = Field(
        5.0, ge=0, le=600, description="Wait after a failed try, doubled after each"
    )
    text_ahead: str = Field("您的{number}号前面还有{ahead}人，请回到大厅等候叫号。", max_length=120)
    text_next: str = Field("您的{number}号即将叫到，请回到大厅等候叫号。", max_length=120)
    text_called: str = Field("请{number}号到{window}办理。", max_length=120)
    window_unknown: str = Field("窗口", max_length=20, description="{window} without a name")
    max_keep_h: float = Field(
        20,
        ge=1,
        le=72,
        description="A number is deleted this long after it was left, whatever else happens "
        "(a safety net under end_of_day)",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.driver == "http" and not self.url:
            raise ValueError("driver http needs a url")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must be http:// or https://")
        if self.auth == "bearer" and self.token is None:
            raise ValueError("auth bearer needs a token")
        if self.auth == "hmac-sha256" and self.secret is None:
            raise ValueError("auth hmac-sha256 needs a secret")
        strings = list(_strings(self.template))
        for need in ("{phone}", "{text}"):
            if not any(need in s for s in strings):
                raise ValueError(f"the template must hold {need}")
        if self.body == "form" and any(isinstance(v, dict | list) for v in self.template.values()):
            raise ValueError("a form body is flat: no objects or lists in the template")
        sample = {"number": "A001", "ahead": 2, "window": "3号窗口"}
        for name in ("text_ahead", "text_next", "text_called"):
            try:
                getattr(self, name).format_map(sample)
            except (KeyError, ValueError, IndexError) as err:
                raise ValueError(
                    f"{name}: only {{number}} {{ahead}} {{window}} may be used ({err})"
                ) from None
        return self

    @property
    def header_name(self) -> str:
        if self.auth_header:
            return self.auth_header
        return "Authorization" if self.auth == "bearer" else "X-Signature"

    def signature(self, body: bytes) -> str:
        """hex(HMAC-SHA256(secret, body)): what ``auth hmac-sha256`` sends."""
        assert self.secret is not None
        return hmac.new(self.secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()

    def auth_value(self, body: bytes) -> str | None:
        """The auth header's value for ``body``, or None (auth none)."""
        if self.auth == "bearer":
            assert self.token is not None
            return f"Bearer {self.token.get_secret_value()}"
        if self.auth == "hmac-sha256":
            return self.signature(body)
        return None

    def full_text(self, text: str) -> str:
        return f"【{self.sign_name}】{text}" if self.sign_name and self.sign_in_text else text

    def render_body(self, phone: str, text: str) -> tuple[bytes, str]:
        """The request body for one message and its content type."""
        values = {
            "phone": phone,
            "text": self.full_text(text),
            "sign": self.sign_name,
            "timestamp": str(int(time.time())),
            "nonce": uuid.uuid4().hex,
        }
        doc = _fill(self.template, values)
        if self.body == "form":
            flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in doc.items()}
            return urllib.parse.urlencode(flat).encode(), "application/x-www-form-urlencoded"
        return (
            json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(),
            "application/json; charset=utf-8",
        )


def _strings(obj: Any) -> Any:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _fill(obj: Any, values: dict[str, str]) -> Any:
    """The template with placeholders replaced in its string values (never re-parsed as
    JSON, so a value cannot change the body's structure)."""
    if isinstance(obj, str):
        # one pass: a value holding "{sign}" stays as it is
        return _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], obj)
    if isinstance(obj, dict):
        return {k: _fill(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill(v, values) for v in obj]
    return obj


def mask_phone(phone: str) -> str:
    """138****0000: what may be shown or printed of a number."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "****"


def normalize_phone(raw: str) -> str:
    """Digits only, without a +86 / 0086 / 86 prefix (not checked here)."""
    s = re.sub(r"[\s\-()]", "", raw)
    for prefix in ("+86", "0086"):
        if s.startswith(prefix):
            s = s[len(prefix) :]
    if len(s) == 13 and s.startswith("86"):
        s = s[2:]
    return s


# --- notifiers -----------------------------------------------------------------------


class NotifyError(Exception):
    """A message that did not go out. The message is safe to log: it never holds the
    phone number or the text. ``retryable``: trying again later may work."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Notifier(Protocol):
    def send(self, phone: str, text: str) -> None:
        """Send ``text`` to ``phone`` now, or raise :class:`NotifyError`."""
        ...


class HttpSmsGateway:
    """An SMS platform over HTTP: one POST per message, retried once at once on a 5xx
    reply or no connection."""

    def __init__(self, settings: SmsSettings, *, url: str | None = None) -> None:
        self.settings = settings
        self.url = url or settings.url
        if not self.url:
            raise ValueError("HttpSmsGateway needs a url")
        self._client = httpx.Client(
            timeout=settings.timeout_s, trust_env=False, proxy=settings.proxy
        )

    def send(self, phone: str, text: str) -> None:
        s = self.settings
        body, ctype = s.render_body(phone, text)
        headers = {**s.headers, "Content-Type": ctype}
        auth = s.auth_value(body)
        if auth is not None:
            headers[s.header_name] = auth
        assert self.url is not None
        for attempt in (1, 2):
            try:
                r = self._client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as err:
                # the exception's own text is not passed on: it is httpx's, not ours
                error = NotifyError(f"SMS gateway not reached ({type(err).__name__})")
                if attempt == 1:
                    time.sleep(s.retry_delay_s)
                    continue
                raise error from None
            if r.status_code >= 500:
                if attempt == 1:
                    time.sleep(s.retry_delay_s)
                    continue
                raise NotifyError(f"SMS gateway failed: HTTP {r.status_code}")
            if r.status_code >= 400:
                raise NotifyError(
                    f"SMS gateway refused the message: HTTP {r.status_code}",
                    retryable=r.status_code in (408, 429),
                )
            if s.ok_json:
                self._check_reply(r)
            return

    def _check_reply(self, r: httpx.Response) -> None:
        assert self.settings.ok_json is not None
        try:
            doc = r.json()
        except ValueError:
            raise NotifyError("SMS gateway reply is not JSON", retryable=False) from None
        if not isinstance(doc, dict):
            raise NotifyError("SMS gateway reply is not a JSON object", retryable=False)
        for key, want in self.settings.ok_json.items():
            got = doc.get(key)
            if got != want:
                # only the status field, bounded: the platform's message may quote the text
                shown = str(got)[:20] if isinstance(got, int | str | bool | None) else "?"
                raise NotifyError(
                    f"SMS gateway did not accept the message: {key}={shown}", retryable=False
                )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SimulatedSms:
    """The demo's notifier: a :class:`~hall_web.smsgw.SimulatedSmsGateway` on loopback and
    an :class:`HttpSmsGateway` speaking to it (the product's own HTTP path)."""

    def __init__(self, settings: SmsSettings, *, port: int = 0) -> None:
        from hall_web.smsgw import SimulatedSmsGateway

        self.gateway: SimulatedSmsGateway = SimulatedSmsGateway(settings, port=port).start()
        try:
            self.client = HttpSmsGateway(settings, url=self.gateway.url)
        except BaseException:
            self.gateway.close()
            raise

    def send(self, phone: str, text: str) -> None:
        self.client.send(phone, text)

    def close(self) -> None:
        self.client.close()
        self.gateway.close()


def build_notifier(settings: SmsSettings) -> HttpSmsGateway | SimulatedSms | None:
    """The notifier ``settings`` asks for (close it when done); None for driver none."""
    if settings.driver == "http":
        return HttpSmsGateway(settings)
    if settings.driver == "simulated":
        return SimulatedSms(settings)
    return None


# --- subscriptions -------------------------------------------------------------------


class SubscribeError(ValueError):
    """A subscription refused: the words in Chinese and English and the field at fault
    (never the number itself)."""

    def __init__(self, message: str, message_en: str, field: str) -> None:
        super().__init__(message_en)
        self.message = message
        self.message_en = message_en
        self.field = field

    @property
    def message_zh(self) -> str:
        return self.message


@dataclass(frozen=True)
class Subscription:
    """What the phone page may show of a subscription."""

    ticket_id: str
    number: str
    masked_phone: str  #: 138****0000
    when_ahead: int


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    ticket_id: str = ""
    number: str = ""
    phone: str = ""
    text: str = ""
    attempt: int = 1


SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    ticket_id  TEXT PRIMARY KEY,
    number     TEXT NOT NULL,
    day        TEXT NOT NULL,
    phone      TEXT NOT NULL,          -- sealed (Fernet), bound to ticket_id
    when_ahead INTEGER NOT NULL,
    created    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_day ON subscriptions(day);
-- tickets whose message went out: never a second one (no number kept)
CREATE TABLE IF NOT EXISTS notified (
    ticket_id TEXT PRIMARY KEY,
    day       TEXT NOT NULL
);
"""


class SilentCalls:
    """The subscriptions and the worker that sends their messages.

    Thread-safe: :meth:`update` may be called from any thread (the MQTT thread, the event
    loop) on every change of a ticket and returns at once. The notifier is the caller's
    (close it after :meth:`close`).
    """

    def __init__(
        self,
        path: str | Path,
        sealer: Sealer,
        notifier: Notifier,
        settings: SmsSettings,
        *,
        today: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.settings = settings
        self._sealer = sealer
        self._notifier = notifier
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        private_file(self.path)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._ids = {r[0] for r in self._db.execute("SELECT ticket_id FROM subscriptions")}
        self._counts = dict.fromkeys(
            ("subscribed", "replaced", "sent", "send_failures", "dropped", "deleted_unsent"), 0
        )
        self._count_lock = threading.Lock()
        self._closed = False
        self._cond = threading.Condition()
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._inflight = 0
        self._stop = False
        if today is not None:
            self.end_of_day(_day_before(today))
        self.purge_stale()
        self._next_sweep = time.monotonic() + SWEEP_S
        self._worker = threading.Thread(target=self._run, name="silent-calls", daemon=True)
        self._worker.start()

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        secrets_dir: str | Path,
        notifier: Notifier,
        settings: SmsSettings,
        **kw: Any,
    ) -> SilentCalls:
        """``data_dir/silent-calls.db``, sealed under the key in ``secrets_dir``."""
        sealer = Sealer.from_dir(Path(secrets_dir))
        return cls(Path(data_dir) / "silent-calls.db", sealer, notifier, settings, **kw)

    # --- the phone page ---------------------------------------------------------------

    def subscribe(
        self,
        ticket_id: str,
        number: str,
        day: str,
        phone: str,
        when_ahead: int,
        *,
        people_ahead: int | None = None,
    ) -> None:
        """Text ``phone`` when ``when_ahead`` or fewer tickets are ahead of ``ticket_id``,
        or when it is called. Replaces the ticket's subscription if it has one. Raises
        :class:`SubscribeError` (a ValueError). With ``people_ahead`` (the ticket waiting)
        it is checked at once, as by :meth:`update`."""
        p = normalize_phone(phone) if isinstance(phone, str) else ""
        if not MOBILE_RE.fullmatch(p):
            raise SubscribeError(
                "手机号码格式不正确，请输入11位大陆手机号码。",
                "Not a valid mobile number: 11 digits of a mainland number, please.",
                "phone",
            )
        if isinstance(when_ahead, bool) or not isinstance(when_ahead, int):
            when_ahead = -1
        if not 0 <= when_ahead <= MAX_AHEAD:
            raise SubscribeError(
                f"提醒人数应在0到{MAX_AHEAD}之间。",
                f"Remind when 0 to {MAX_AHEAD} people are ahead.",
                "when_ahead",
            )
        if not ticket_id or not number or len(ticket_id) > 64 or len(number) > 16:
            raise SubscribeError("票号无效。", "Not a valid ticket.", "ticket_id")
        if not DAY_RE.fullmatch(day):
            raise SubscribeError("日期无效。", "Not a valid day.", "day")
        sealed = self._sealer.seal(f"{ticket_id}\n{p}".encode())
        with self._lock:
            done = self._db.execute(
                "SELECT 1 FROM notified WHERE ticket_id = ?", (ticket_id,)
            ).fetchone()
            if done:
                raise SubscribeError(
                    "本号的短信提醒已经发送过了。",
                    "The reminder for this ticket was already sent.",
                    "ticket_id",
                )
            replaced = ticket_id in self._ids
            self._db.execute(
                "INSERT OR REPLACE INTO subscriptions VALUES (?, ?, ?, ?, ?, ?)",
                (ticket_id, number, day, sealed, when_ahead, self._clock()),
            )
            if replaced:
                self._count("replaced", 1)
                self._wipe_wal()  # the replaced number's sealed bytes
            self._ids.add(ticket_id)
            self._count("subscribed", 1)
        log.info("silent call: ticket %s subscribed (when %d ahead)", number, when_ahead)
        if people_ahead is not None:
            self.update(ticket_id, people_ahead=people_ahead, state="waiting", window_name=None)

    def has(self, ticket_id: str) -> bool:
        with self._lock:
            return ticket_id in self._ids

    def get(self, ticket_id: str) -> Subscription | None:
        """The ticket's subscription as the phone page may show it (number masked)."""
        with self._lock:
            if ticket_id not in self._ids:
                return None
            row = self._db.execute(
                "SELECT number, phone, when_ahead FROM subscriptions WHERE ticket_id = ?",
                (ticket_id,),
            ).fetchone()
        if row is None:
            return None
        phone = self._unseal(ticket_id, row[1])
        return Subscription(ticket_id, row[0], mask_phone(phone) if phone else "****", row[2])

    def cancel(self, ticket_id: str) -> bool:
        """The citizen withdraws the number; whether there was one."""
        with self._lock:
            return self._delete(ticket_id)

    # --- the hall's side --------------------------------------------------------------

    def update(
        self, ticket_id: str, *, people_ahead: int, state: str, window_name: str | None
    ) -> bool:
        """A ticket changed. Queues its one message if it is due (``people_ahead`` at or
        under the subscription's N while waiting, or called), deleting the number; deletes
        it unsent if the ticket is finished, cancelled or expired (or being served).
        Returns whether a message was queued. Never waits for the gateway."""
        with self._lock:
            if self._closed or ticket_id not in self._ids:
                return False
            state = str(state)
            if state in DONE_STATES or state == "serving":
                self._delete(ticket_id)
                return False
            row = self._db.execute(
                "SELECT number, day, phone, when_ahead FROM subscriptions WHERE ticket_id = ?",
                (ticket_id,),
            ).fetchone()
            if row is None:
                self._ids.discard(ticket_id)
                return False
            number, day, sealed, when_ahead = row
            s = self.settings
            if state == "called":
                text = s.text_called.format_map(
                    {"number": number, "window": window_name or s.window_unknown, "ahead": 0}
                )
            elif state == "waiting" and people_ahead <= when_ahead:
                tpl = s.text_next if people_ahead <= 0 else s.text_ahead
                text = tpl.format_map(
                    {"number": number, "ahead": max(people_ahead, 0), "window": ""}
                )
            else:
                return False
            phone = self._unseal(ticket_id, sealed)
            self._delete(ticket_id, sent=True)
            self._db.execute("INSERT OR REPLACE INTO notified VALUES (?, ?)", (ticket_id, day))
        if phone is None:
            return False
        self._enqueue(_Job(time.monotonic(), next(self._seq), ticket_id, number, phone, text))
        return True

    def purge_stale(self) -> int:
        """Delete subscriptions left more than ``max_keep_h`` ago (by the clock); how
        many. Done at start and every few minutes by the worker."""
        cutoff = self._clock() - self.settings.max_keep_h * 3600
        with self._lock:
            if self._closed:
                return 0
            rows = self._db.execute(
                "SELECT ticket_id FROM subscriptions WHERE created < ?", (cutoff,)
            ).fetchall()
            for (tid,) in rows:
                self._delete(tid)
        if rows:
            log.info(
                "silent call: %d subscriptions past %g h deleted",
                len(rows),
                self.settings.max_keep_h,
            )
        return len(rows)

    def end_of_day(self, day: str) -> int:
        """Delete every subscription of ``day`` and earlier (VACUUM: their sealed bytes
        leave the file); how many there were."""
        with self._lock:
            rows = self._db.execute(
                "SELECT ticket_id FROM subscriptions WHERE day <= ?", (day,)
            ).fetchall()
            self._db.execute("DELETE FROM subscriptions WHERE day <= ?", (day,))
            self._db.execute("DELETE FROM notified WHERE day <= ?", (day,))
            for (tid,) in rows:
                self._ids.discard(tid)
            self._count("deleted_unsent", len(rows))
            self._db.execute("VACUUM")
            self._wipe_wal()
        if rows:
            log.info("silent call: %d subscriptions of %s and earlier deleted", len(rows), day)
        return len(rows)

    # --- metrics and life -------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters (no personal data): subscribed, replaced, sent, send_failures,
        dropped, deleted_unsent; active subscriptions and pending messages."""
        with self._count_lock:
            out = dict(self._counts)
        with self._lock:
            out["active"] = len(self._ids)
        with self._cond:
            out["pending"] = len(self._heap) + self._inflight
        return out

    def wait_idle(self, timeout: float) -> bool:
        """Until no message is queued, waiting for a retry or being sent."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._heap and not self._inflight, timeout)

    def close(self, drain_s: float = 2.0) -> None:
        """Stop the worker (after up to ``drain_s`` for queued messages; the rest are
        dropped, counted) and close the file."""
        if drain_s > 0:
            self.wait_idle(drain_s)
        with self._cond:
            self._stop = True
            left = len(self._heap)
            self._heap.clear()
            self._cond.notify_all()
        self._worker.join(self.settings.timeout_s * 2 + self.settings.retry_delay_s + 1)
        self._count("dropped", left)
        with self._lock:
            if not self._closed:
                self._closed = True
                self._ids.clear()
                self._db.close()
        if left:
            log.warning("silent call: %d messages not sent before closing", left)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- inside -----------------------------------------------------------------------

    def _count(self, name: str, n: int = 1) -> None:
        with self._count_lock:
            self._counts[name] += n

    def _unseal(self, ticket_id: str, sealed: str) -> str | None:
        try:
            tid, _, phone = self._sealer.unseal(sealed).decode().partition("\n")
        except ValueError:
            log.error("silent call: the number of ticket %s cannot be unsealed", ticket_id)
            return None
        if tid != ticket_id:
            log.error("silent call: the sealed number of ticket %s is another's", ticket_id)
            return None
        return phone

    def _delete(self, ticket_id: str, *, sent: bool = False) -> bool:
        """Delete a subscription (under the lock): overwritten in the file, WAL emptied."""
        cur = self._db.execute("DELETE FROM subscriptions WHERE ticket_id = ?", (ticket_id,))
        had = ticket_id in self._ids or cur.rowcount > 0
        self._ids.discard(ticket_id)
        if cur.rowcount:
            self._wipe_wal()
            if not sent:
                self._count("deleted_unsent", 1)
        return had

    def _wipe_wal(self) -> None:
        # secure_delete zeroed the row in the newest page; older page images with the
        # sealed number stay in the WAL until it is checkpointed and truncated
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _enqueue(self, job: _Job) -> None:
        with self._cond:
            if self._stop:
                self._count("dropped", 1)
                return
            heapq.heappush(self._heap, job)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            job: _Job | None = None
            with self._cond:
                while not self._stop:
                    now = time.monotonic()
                    if self._heap and self._heap[0].due <= now:
                        job = heapq.heappop(self._heap)
                        self._inflight += 1
                        break
                    if now >= self._next_sweep:
                        break
                    until = self._heap[0].due if self._heap else self._next_sweep
                    self._cond.wait(min(until, self._next_sweep) - now)
                if self._stop:
                    return  # (a job is only taken when not stopping)
            if job is None:  # not under the condition: purge_stale takes the file's lock
                self._next_sweep = time.monotonic() + SWEEP_S
                try:
                    self.purge_stale()
                except sqlite3.Error:
                    log.exception("silent call: purging old subscriptions failed")
                continue
            error: NotifyError | None = None
            try:
                self._notifier.send(job.phone, job.text)
            except NotifyError as err:
                error = err
            except Exception as err:  # a notifier's bug: its message might quote the input
                error = NotifyError(f"notifier failed ({type(err).__name__})")
            self._done(job, error)

    def _done(self, job: _Job, error: NotifyError | None) -> None:
        s = self.settings
        with self._cond:
            self._inflight -= 1
            if error is None:
                self._count("sent", 1)
                log.info("silent call: message for ticket %s sent", job.number)
            else:
                self._count("send_failures", 1)
                if error.retryable and job.attempt < s.send_attempts and not self._stop:
                    delay = s.backoff_s * 2 ** (job.attempt - 1)
                    log.warning(
                        "silent call: message for ticket %s not sent (try %d of %d, again in "
                        "%.1f s): %s",
                        job.number,
                        job.attempt,
                        s.send_attempts,
                        delay,
                        error,
                    )
                    job.attempt += 1
                    job.due = time.monotonic() + delay
                    job.seq = next(self._seq)
                    heapq.heappush(self._heap, job)
                else:
                    self._count("dropped", 1)
                    log.error(
                        "silent call: message for ticket %s dropped after %d tries: %s",
                        job.number,
                        job.attempt,
                        error,
                    )
            self._cond.notify_all()


def _day_before(day: str) -> str:
    return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()
