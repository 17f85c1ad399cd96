"""A simulated SMS platform: a small HTTP server on loopback for the demo and the tests.

It accepts exactly what :class:`hall_web.notify.HttpSmsGateway` sends under the same
:class:`~hall_web.notify.SmsSettings` (the body template, JSON or form; the auth: bearer
token or HMAC-SHA256 of the body, checked, with the body's timestamp at most 5 minutes
off), answers ``{"code": 0, "msg": "OK"}`` and keeps the messages in memory. Whatever it
logs or prints shows a number masked (138****0000). Tests can make it slow
(:meth:`SimulatedSmsGateway.hold`) or failing (:meth:`SimulatedSmsGateway.fail`).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from hall_web.notify import MOBILE_RE, SmsSettings, mask_phone

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
CLOCK_SKEW_S = 300


@dataclass(frozen=True)
class SmsMessage:
    """One message the gateway accepted. ``phone`` is left out of its repr."""

    phone: str = field(repr=False)
    text: str
    sign: str | None
    at: float

    @property
    def masked(self) -> str:
        return mask_phone(self.phone)

    def __str__(self) -> str:
        return f"{self.masked}: {self.text}"


def _paths(obj: Any, needle: str, path: tuple[str | int, ...] = ()) -> list[tuple[Any, ...]]:
    """Where in the template a string equal to ``needle`` sits."""
    if isinstance(obj, str):
        return [path] if obj == needle else []
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _paths(v, needle, (*path, k))]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _paths(v, needle, (*path, i))]
    return []


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        try:
            doc = doc[key]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


class _Refused(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


class SimulatedSmsGateway:
    """The simulated platform on ``host:port`` (port 0: a free one, see :attr:`url`)."""

    def __init__(self, settings: SmsSettings, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings = settings
        self._host = host
        self._port = port
        self._fields = {}
        for name in ("phone", "text", "sign", "timestamp"):
            found = _paths(settings.template, "{" + name + "}")
            if found:
                self._fields[name] = found[0]
        if "phone" not in self._fields or "text" not in self._fields:
            raise ValueError("the simulated gateway needs {phone} and {text} as whole values")
        self._cond = threading.Condition()
        self._messages: list[SmsMessage] = []
        self.requests = 0  #: requests received (accepted, refused or failed on purpose)
        self.refused = 0  #: requests refused (bad auth, bad body)
        self._fail: list[int] = []  #: statuses to answer the next requests with
        self._fail_always: int | None = None
        self._open = threading.Event()
        self._open.set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life --------------------------------------------------------------------------

    def start(self) -> Self:
        gw = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "SimulatedSms/1"

            def do_POST(self) -> None:
                gw._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                # the path and status only: nothing of the body
                log.debug("simulated SMS gateway: %s", format % args)

        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sim-sms", daemon=True
        )
        self._thread.start()
        log.info("simulated SMS gateway at %s", self.url)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}/sms/send"

    def close(self) -> None:
        self._open.set()  # a held request finishes
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what tests see and do ---------------------------------------------------------

    @property
    def messages(self) -> list[SmsMessage]:
        with self._cond:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[SmsMessage]:
        """Until ``count`` messages were accepted (raises TimeoutError otherwise)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"{len(self._messages)} SMS received, not {count}")
            return list(self._messages)

    def wait_requests(self, count: int, timeout: float = 5.0) -> int:
        """Until ``count`` requests arrived, whatever became of them."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.requests >= count, timeout):
                raise TimeoutError(f"{self.requests} requests received, not {count}")
            return self.requests

    def hold(self) -> None:
        """Requests wait (a slow platform) until :meth:`release`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def fail(self, *statuses: int, always: int | None = None) -> None:
        """Answer the next requests with these HTTP statuses (or every one with
        ``always``; ``always=None`` and no statuses: back to normal)."""
        with self._cond:
            self._fail = list(statuses)
            self._fail_always = always

    # --- serving ----------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        with self._cond:
            self.requests += 1
            self._cond.notify_all()
        self._open.wait(30)
        try:
            length = int(req.headers.get("Content-Length") or 0)
            if not 0 <= length <= MAX_BODY:
                raise _Refused(413, 413, "body too large")
            body = req.rfile.read(length)
            with self._cond:
                status = self._fail.pop(0) if self._fail else self._fail_always
            if status is not None:
                raise _Refused(status, status, "simulated failure")
            self._check_auth(req, body)
            msg = self._parse(req, body)
        except _Refused as r:
            if r.status < 500:
                with self._cond:
                    self.refused += 1
                log.warning("simulated SMS gateway: refused (%d %s)", r.status, r.msg)
            self._reply(req, r.status, {"code": r.code, "msg": r.msg})
            return
        with self._cond:
            self._messages.append(msg)
            self._cond.notify_all()
        log.info("simulated SMS gateway: %s", msg)
        self._reply(req, 200, {"code": 0, "msg": "OK"})

    def _check_auth(self, req: BaseHTTPRequestHandler, body: bytes) -> None:
        s = self.settings
        if s.auth == "none":
            return
        got = req.headers.get(s.header_name) or ""
        want = s.auth_value(body) or ""
        if not hmac.compare_digest(got.encode(), want.encode()):
            raise _Refused(401, 401, "bad token" if s.auth == "bearer" else "bad signature")

    def _parse(self, req: BaseHTTPRequestHandler, body: bytes) -> SmsMessage:
        s = self.settings
        try:
            if s.body == "form":
                doc: Any = dict(urllib.parse.parse_qsl(body.decode(), strict_parsing=True))
            else:
                doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise _Refused(400, 400, "body cannot be read") from None
        values = {name: _at(doc, path) for name, path in self._fields.items()}
        phone, text = values["phone"], values["text"]
        if not isinstance(phone, str) or not MOBILE_RE.fullmatch(phone):
            raise _Refused(400, 1001, "bad phone number")
        if not isinstance(text, str) or not text or len(text) > 500:
            raise _Refused(400, 1002, "bad text")
        ts = values.get("timestamp")
        if ts is not None:
            try:
                off = abs(time.time() - float(ts))
            except (TypeError, ValueError):
                raise _Refused(400, 1003, "bad timestamp") from None
            if off > CLOCK_SKEW_S:
                raise _Refused(401, 1004, "timestamp too far off")
        sign = values.get("sign")
        return SmsMessage(phone, text, sign if isinstance(sign, str) else None, time.time())

    @staticmethod
    def _reply(req: BaseHTTPRequestHandler, status: int, doc: dict[str, Any]) -> None:
        data = json.dumps(doc).encode()
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data)
        except OSError:
            pass  # the client gave up
