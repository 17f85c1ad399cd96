"""The hall's web server: hall display, window displays, staff console, rating pads, the
citizen's phone page, and their REST API (OpenAPI at ``/docs`` and ``/openapi.json``).

It is a terminal of the hall (role ``web``) like any other: it reads the retained state and
the call events over MQTT (:mod:`hall_web.live`) and sends the staff's and the pads'
requests to the controller, naming the window and the staff member. Browsers get live
state over Server-Sent Events. Every asset is served from this package: halls have no
internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hall_contract import messages as m
from hall_contract.client import HallClient, RequestTimeout
from hall_contract.hallconfig import HallConfig
from hall_contract.topics import Topics
from hall_web.auth import AccountError, LoginRefused
from hall_web.fanout import Fanout
from hall_web.live import Hub, LiveHall
from hall_web.settings import WebSettings
from hall_web.voice import CallAudio

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
SESSION_COOKIE = "hallkit_session"
PAD_COOKIE = "hallkit_pad"
KEEPALIVE_S = 15.0

COUNTER_OPS = {
    "call_next": "window.call_next",
    "recall": "window.recall",
    "start": "window.start",
    "no_show": "window.no_show",
    "requeue": "window.requeue",
    "transfer": "window.transfer",
    "finish": "window.finish",
    "pause": "window.pause",
    "resume": "window.resume",
    "status": "window.status",
}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(Body):
    account: str = Field(max_length=64)
    password: str = Field(max_length=200)


class WindowBody(Body):
    window: str = Field(max_length=64)


class ActionBody(Body):
    """A staff action's fields, as in the contract's window requests (without id,
    window and staff, which the server fills in)."""

    ticket: str | None = Field(None, max_length=64)
    requeue: bool | None = None
    to_queue: str | None = Field(None, max_length=64)
    to_window: str | None = Field(None, max_length=64)
    note: str | None = Field(None, max_length=500)
    accept_case: bool | None = None
    reason: m.PauseReason | None = None


class RatingBody(Body):
    ticket: str = Field(max_length=64)
    level: int = Field(ge=1, le=5)
    reasons: list[m.RatingReason] = Field(default_factory=list, max_length=6)


class NotifyBody(Body):
    phone: str = Field(max_length=20)
    when_ahead: int = Field(3, ge=0, le=20)


class PlaybackBody(Body):
    seq: int
    event: Literal["start", "end", "error"]
    page: str = Field(max_length=64)


def sse_frame(event: str, data: bytes) -> bytes:
    """One Server-Sent Event, framed (``data`` is JSON: one line)."""
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def event_stream(events: AsyncIterator[bytes | None]) -> StreamingResponse:
    """Server-Sent Events from framed events (:func:`sse_frame`); ``None`` sends a
    keep-alive comment.

    Written here rather than with sse-starlette: that library keeps one process-wide
    "shutting down" flag, so once any server in the process stops (the tests start many)
    every later stream ends at once. Starlette ends the generator when the browser goes."""

    async def body() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        async for item in events:
            yield b": keep-alive\n\n" if item is None else item

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class Problem(Exception):
    """An error answered as ``{"error": {code, message, message_en}}`` with a status."""

    def __init__(self, status: int, code: str, message: str, message_en: str) -> None:
        super().__init__(message_en)
        self.status, self.code, self.message, self.message_en = status, code, message, message_en


STATUS_OF = {
    "bad_request": 400,
    "unknown_op": 400,
    "not_found": 404,
    "forbidden": 403,
    "closed": 409,
    "cap_reached": 409,
    "conflict": 409,
    "too_early": 409,
    "too_late": 409,
    "empty": 409,
    "internal": 502,
}


class WebServer:
    """Everything the routes share: the hall link, live view, voice, accounts."""

    def __init__(
        self, settings: WebSettings, hall: HallConfig, *, client: HallClient | None = None
    ) -> None:
        self.settings = settings
        self.hall = hall
        self.topics = Topics(hall.hall.id)
        self.live = LiveHall(hall, self.topics)
        self.hub = Hub(self.live)
        self.fanout = Fanout(self.state_frame, self.hub.wait_newer, KEEPALIVE_S)
        dialect = settings.path(settings.voice_dialect) if settings.voice_dialect else None
        self.audio = CallAudio(settings.voice, dialect)
        self.client = client or HallClient(
            self.topics,
            settings.terminal_id,
            settings.broker_settings(hall),
            role="web",
        )
        self.data_dir = settings.path(settings.data_dir)
        self.accounts: Any = None
        self.silent: Any = None
        self.notifier: Any = None
        self._state_cache: tuple[int, bytes] = (-1, b"")
        self._frame_cache: tuple[int, bytes] = (-1, b"")
        #: what each hall display page reported playing: (page, seq, event, at)
        self.playback: list[tuple[str, int, str, float]] = []
        #: tickets with a silent-call subscription: ticket id → (token, its queue)
        self._silent_tokens: dict[str, tuple[str, str]] = {}
        self.windows = {w.id: w for w in hall.windows}

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        from hall_web.auth import Accounts

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self.accounts = Accounts(self.data_dir / "accounts.db")
        self.silent = self._silent_calls()
        self.live.attach(self.client)  # before start: the subscriptions go out on connect
        self.client.start(wait=None)
        self.live.on_change.append(self._queue_changed)
        if self.silent is not None:
            self.client.subscribe(self.topics.event("day.rolled"), self._day_rolled)

    def _day_rolled(self, topic: str, payload: bytes, _msg: Any) -> None:
        """At the end of a service day every silent-call number of it is deleted."""
        try:
            prev = str(orjson.loads(payload)["data"]["prev_day"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("ignored a day.rolled event that breaks the contract")
            return
        if prev and self.silent is not None:
            self.silent.end_of_day(prev)

    def _silent_calls(self) -> Any:
        from hall_web.notify import SilentCalls, build_notifier

        sms = self.settings.sms
        self.notifier = build_notifier(sms)
        if self.notifier is None:
            return None  # silent calling is not offered
        today = dt.datetime.now(self.hall.tz).date().isoformat()
        return SilentCalls.open(
            self.data_dir, self.data_dir / "secrets", self.notifier, sms, today=today
        )

    def silent_status(self, ticket_id: str) -> dict[str, Any] | None:
        """The phone page's view of a subscription: the masked number and N."""
        sub = self.silent.get(ticket_id) if self.silent is not None else None
        return None if sub is None else {"phone": sub.masked_phone, "when_ahead": sub.when_ahead}

    def stop(self) -> None:
        self.client.stop()
        self.audio.close()
        if self.silent is not None:
            self.silent.close()
        if self.notifier is not None:
            self.notifier.close()
        if self.accounts is not None:
            self.accounts.close()

    # --------------------------------------------------------------- the hall
    async def ask(self, op: str, payload: dict[str, Any], timeout: float = 5.0) -> Any:
        """A request to the controller; its result, or a :class:`Problem`."""
        try:
            reply = await run_in_threadpool(self.client.request, op, payload, timeout=timeout)
        except RequestTimeout:
            raise Problem(
                503,
                "offline",
                "暂时连接不上叫号系统，请稍后再试",
                "the hall controller is not answering",
            ) from None
        if not reply.ok:
            e = reply.error
            assert e is not None
            raise Problem(STATUS_OF.get(e.code, 400), e.code, e.message, e.message_en)
        return reply.result

    def state_bytes(self) -> tuple[int, bytes]:
        """The live state as JSON, built once per version however many browsers watch."""
        if self._state_cache[0] != self.live.version:
            self._state_cache = self.live.state_json()
        return self._state_cache

    def state_frame(self) -> tuple[int, bytes]:
        """The live state framed as one SSE ``state`` event, once per version for every
        connection (each then costs one write of the same bytes)."""
        v, body = self.state_bytes()
        if self._frame_cache[0] != v:
            self._frame_cache = (v, sse_frame("state", body))
        return self._frame_cache

    # ------------------------------------------------------------ silent calls
    def _queue_changed(self, queue: str) -> None:
        """A queue's snapshot changed: only its subscribed tickets are looked up again."""
        loop = self.hub.loop
        if loop is None or not any(q == queue for _t, q in self._silent_tokens.values()):
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._update_silent(queue)))

    async def _update_silent(self, queue: str) -> None:
        for tid, (token, q) in list(self._silent_tokens.items()):
            if q != queue:
                continue
            try:
                t = await self.ask("ticket.lookup", {"ticket": token}, timeout=3.0)
            except Problem:
                continue
            done = t.state not in ("waiting", "called")
            await run_in_threadpool(
                self.silent.update,
                tid,
                people_ahead=t.people_ahead,
                state=t.state,
                window_name=t.window_hint if t.state == "called" else None,
            )
            if done or not self.silent.has(tid):
                self._silent_tokens.pop(tid, None)
            elif t.queue != q:
                self._silent_tokens[tid] = (token, t.queue)  # transferred


def phone_view(t: m.TicketInfo) -> dict[str, Any]:
    """What the phone page shows: nothing personal (no token, no history, no staff)."""
    return {
        "number": t.number,
        "queue_name": t.queue_name,
        "state": t.state,
        "people_ahead": t.people_ahead,
        "expected_wait_min": t.expected_wait_min,
        "window_hint": t.window_hint,
        "rating_open": t.rating_open,
        "issued_at": t.issued_at,
    }


def create_app(
    settings: WebSettings, hall: HallConfig, *, client: HallClient | None = None
) -> FastAPI:
    srv = WebServer(settings, hall, client=client)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        srv.hub.bind(asyncio.get_running_loop())
        await run_in_threadpool(srv.start)
        try:
            yield
        finally:
            srv.fanout.close()
            await run_in_threadpool(srv.stop)

    app = FastAPI(
        title=f"hallkit web · {hall.hall.name}",
        version="1.0",
        summary="The hall display, window displays, staff console, rating pads and the "
        "citizen's phone page of a hallkit service hall.",
        lifespan=lifespan,
        # FastAPI's own docs pages load Swagger UI from a CDN, which a hall network cannot
        # reach: /docs is our own page listing /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.srv = srv
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
    )

    def page(name: str, **ctx: Any) -> HTMLResponse:
        html = env.get_template(name).render(
            hall=hall.hall,
            screen=settings.screen,
            windows=hall.windows,
            queues=hall.queues,
            statics=srv.live.statics(),
            **ctx,
        )
        return HTMLResponse(
            html,
            headers={
                "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                "media-src 'self' blob:; style-src 'self'; script-src 'self'; "
                "connect-src 'self'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    @app.exception_handler(Problem)
    async def _problem(_req: Request, exc: Problem) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message, "message_en": exc.message_en}},
            status_code=exc.status,
        )

    # ------------------------------------------------------------------ pages
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return page("index.html")

    @app.get("/screen", response_class=HTMLResponse, include_in_schema=False)
    async def screen() -> HTMLResponse:
        return page("screen.html", audio_parts=srv.audio.parts)

    @app.get("/window-display/{window}", response_class=HTMLResponse, include_in_schema=False)
    async def window_display(window: str) -> HTMLResponse:
        if window not in srv.windows:
            raise HTTPException(404, "no such window")
        return page("window.html", window=srv.windows[window])

    @app.get("/q/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def phone(token: str) -> HTMLResponse:
        return page("phone.html", token=token)

    @app.get("/counter", response_class=HTMLResponse, include_in_schema=False)
    async def counter(request: Request) -> HTMLResponse:
        return page(
            "counter.html",
            windows_json=[{"id": w.id, "name": w.name, "queues": w.queues} for w in hall.windows],
            queues_json=[{"id": q.id, "name": q.name, "letter": q.letter} for q in hall.queues],
        )

    @app.get("/rate/{window}", response_class=HTMLResponse, include_in_schema=False)
    async def rate(window: str) -> HTMLResponse:
        if window not in srv.windows:
            raise HTTPException(404, "no such window")
        return page(
            "rate.html",
            window=srv.windows[window],
            idle_s=settings.pad_idle_s,
            reasons=list(m.RATING_REASONS.items()),
        )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return page("docs.html")

    @app.get("/healthz", tags=["system"])
    async def healthz() -> dict[str, Any]:
        """The server runs; ``online``: it reaches the broker and the controller is up."""
        return {"ok": True, "broker": srv.live.view.broker, "online": srv.live.view.online}

    # ------------------------------------------------------------------- live
    @app.get("/api/hall", tags=["hall"])
    async def hall_state() -> Response:
        """The live state of the hall faces: calls, windows, queues, hours, online."""
        return Response(srv.state_bytes()[1], media_type="application/json")

    @app.get("/live/hall", tags=["hall"], response_class=StreamingResponse)
    async def live_hall() -> Response:
        """Server-Sent Events: a ``state`` event (the ``/api/hall`` JSON) on every change
        (a browser that falls behind gets the newest state, not every one)."""
        return srv.fanout.response()

    @app.get("/audio/call/{seq}.wav", tags=["hall"])
    async def call_audio(seq: int, part: int = 0, repeat: int | None = None) -> Response:
        """The announcement of the call with event sequence ``seq`` (recent calls only);
        ``part`` 1 is its dialect version when a dialect pack is configured; ``repeat``
        (1-5) overrides the configured repeats (the page says a call once while others
        wait behind it)."""
        with srv.live.lock:
            a = next((x for x in srv.live.view.announce if x.seq == seq), None)
        if a is None or not 0 <= part < srv.audio.parts:
            raise HTTPException(404, "no such recent call")
        if repeat is not None and not 1 <= repeat <= 5:
            raise HTTPException(400, "repeat must be 1-5")
        data = await run_in_threadpool(
            srv.audio.wav, a.seq, a.number, a.spoken_window, part, repeat
        )
        return Response(data, media_type="audio/wav", headers={"Cache-Control": "max-age=600"})

    @app.post("/api/playback", tags=["hall"], status_code=204)
    async def playback(body: PlaybackBody) -> Response:
        """The hall display page reports each announcement it starts and ends: the
        playback log a technician (and the tests) read to see every call heard once."""
        srv.playback.append((body.page, body.seq, body.event, time.time()))
        del srv.playback[:-2000]
        return Response(status_code=204)

    @app.get("/api/playback", tags=["hall"])
    async def playback_log() -> list[dict[str, Any]]:
        return [{"page": p, "seq": s, "event": e, "at": at} for p, s, e, at in srv.playback]

    # --------------------------------------------------------------- phone page
    @app.get("/api/tickets/{token}", tags=["citizen"])
    async def ticket(token: str) -> dict[str, Any]:
        """A ticket by its lookup token (the QR code): number, people ahead, expected wait,
        state and where to go. Nothing personal."""
        t = await srv.ask("ticket.lookup", {"ticket": token})
        out = phone_view(t)
        out["silent"] = srv.silent_status(t.ticket_id)
        out["silent_offered"] = srv.silent is not None
        return out

    @app.get("/live/tickets/{token}", tags=["citizen"])
    async def live_ticket(token: str) -> StreamingResponse:
        """SSE: a ``ticket`` event whenever the ticket's place changes."""
        first = await srv.ask("ticket.lookup", {"ticket": token})

        async def stream() -> AsyncIterator[bytes | None]:
            last = orjson.dumps(phone_view(first))
            yield sse_frame("ticket", last)
            seen = srv.live.version
            while True:
                newer = await srv.hub.wait_newer(seen, KEEPALIVE_S)
                if newer == seen:
                    yield None
                    continue
                seen = newer
                try:
                    t = await srv.ask("ticket.lookup", {"ticket": token}, timeout=3.0)
                except Problem:
                    continue
                body = orjson.dumps(phone_view(t))
                if body != last:
                    last = body
                    yield sse_frame("ticket", body)
                if t.state not in ("waiting", "called", "serving", "skipped"):
                    return
                await asyncio.sleep(1.0)  # at most one look-up a second per phone

        return event_stream(stream())

    @app.post("/api/tickets/{token}/notify", tags=["citizen"])
    async def notify(token: str, body: NotifyBody) -> dict[str, Any]:
        """静默叫号: text this phone once when ``when_ahead`` tickets are ahead (or at the
        call). The number is sealed, used once and deleted at the end of the day."""
        if srv.silent is None:
            raise Problem(404, "not_found", "本大厅未开通短信提醒", "SMS reminders are not set up")
        t = await srv.ask("ticket.lookup", {"ticket": token})
        if t.state not in ("waiting",):
            raise Problem(409, "conflict", "这张号已不在等候", "this ticket is no longer waiting")
        try:
            await run_in_threadpool(
                srv.silent.subscribe,
                t.ticket_id,
                t.number,
                t.ticket_id[:10],  # ids are {day}-{number}[-n]: the ticket's service day
                body.phone,
                body.when_ahead,
            )
        except ValueError as err:
            zh = getattr(err, "message_zh", None) or "手机号码不正确"
            en = getattr(err, "message_en", None) or str(err)
            raise Problem(400, "bad_request", zh, en) from None
        srv._silent_tokens[t.ticket_id] = (token, t.queue)
        await srv._update_silent(t.queue)
        return {"ok": True, "silent": srv.silent_status(t.ticket_id)}

    # ---------------------------------------------------------------- staff
    def session_of(request: Request) -> Any:
        token = request.cookies.get(SESSION_COOKIE)
        s = srv.accounts.session(token) if token else None
        if s is None:
            raise Problem(401, "login", "请先登录", "please sign in")
        return s

    def with_csrf(request: Request, x_csrf_token: Annotated[str | None, Header()] = None) -> Any:
        s = session_of(request)
        if not srv.accounts.check_csrf(s, x_csrf_token):
            raise Problem(403, "csrf", "页面已过期，请刷新", "stale page: reload it")
        return s

    def me(s: Any) -> dict[str, Any]:
        a = s.account
        return {
            "account": a.id,
            "name": a.name,
            "roles": list(a.roles),
            "windows": [w.id for w in hall.windows if not a.windows or w.id in a.windows],
            "window": s.window,
            "csrf": s.csrf,
        }

    async def sign_in(body: LoginBody, request: Request) -> Any:
        """A staff member's password checked (argon2, off the event loop), or a Problem:
        401, or 429 while the account or this address is locked."""
        client = request.client.host if request.client else "?"
        try:
            return await run_in_threadpool(
                srv.accounts.login, body.account, body.password, client=client
            )
        except LoginRefused as err:
            raise Problem(
                429 if err.reason == "locked" else 401, err.reason, err.message_zh, err.message_en
            ) from None

    @app.post("/api/counter/login", tags=["staff"])
    async def login(body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
        """Sign in. Five wrong passwords lock the account for 15 minutes."""
        s = await sign_in(body, request)
        response.set_cookie(
            SESSION_COOKIE,
            s.token,
            httponly=True,
            samesite="strict",
            secure=settings.secure_cookies,
            path="/",
        )
        return me(s)

    @app.get("/api/counter/me", tags=["staff"])
    async def whoami(request: Request) -> dict[str, Any]:
        return me(session_of(request))

    @app.post("/api/counter/logout", tags=["staff"])
    async def logout(
        request: Request, response: Response, s: Any = Depends(with_csrf)
    ) -> dict[str, bool]:
        """Sign off the window (when one is picked and free) and end the session."""
        if s.window:
            with contextlib.suppress(Problem):
                await srv.ask("window.sign_off", {"window": s.window, "staff": s.account.id})
        srv.accounts.logout(request.cookies.get(SESSION_COOKIE, ""))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return {"ok": True}

    @app.post("/api/counter/window", tags=["staff"])
    async def pick_window(
        body: WindowBody, request: Request, s: Any = Depends(with_csrf)
    ) -> dict[str, Any]:
        """Pick the window to work at: signs on there (the window opens)."""
        if body.window not in srv.windows:
            raise Problem(404, "not_found", "没有这个窗口", "no such window")
        if s.account.windows and body.window not in s.account.windows:
            raise Problem(
                403, "forbidden", "您不能在这个窗口登录", "you may not work at this window"
            )
        st = await srv.ask("window.sign_on", {"window": body.window, "staff": s.account.id})
        try:
            srv.accounts.set_window(request.cookies.get(SESSION_COOKIE, ""), body.window)
        except AccountError as err:
            raise Problem(403, "forbidden", err.message_zh, err.message_en) from None
        return {"window": asdict(st)}

    @app.post("/api/counter/{action}", tags=["staff"])
    async def act(action: str, body: ActionBody, s: Any = Depends(with_csrf)) -> dict[str, Any]:
        """A staff action at the signed-on window: call_next, recall, start, no_show
        (``requeue``), requeue (``ticket``), transfer (``to_queue`` or ``to_window``,
        ``note``), finish (``accept_case``), pause (``reason``), resume, status."""
        op = COUNTER_OPS.get(action)
        if op is None:
            raise Problem(404, "unknown_op", "没有这个操作", f"no action {action}")
        if not s.window:
            raise Problem(409, "no_window", "请先选择窗口", "pick your window first")
        fields = {k: v for k, v in body.model_dump().items() if v is not None}
        allowed = set(m.OPERATIONS[op].request.model_fields) - {"id", "window", "staff"}
        extra = set(fields) - allowed
        if extra:
            raise Problem(
                400, "bad_request", "请求中有多余的字段", f"{action} takes no {sorted(extra)}"
            )
        result = await srv.ask(op, {**fields, "window": s.window, "staff": s.account.id})
        return {"result": asdict(result)}

    # ------------------------------------------------------------- rating pad
    @app.post("/api/rate/{window}/pair", tags=["rating pad"])
    async def pair(
        window: str, body: LoginBody, request: Request, response: Response
    ) -> dict[str, Any]:
        """Pair this tablet as the rating pad of ``window`` (a staff member signs in once);
        the pad then holds a device cookie for that window only."""
        if window not in srv.windows:
            raise Problem(404, "not_found", "没有这个窗口", "no such window")
        s = await sign_in(body, request)
        srv.accounts.logout(s.token)
        try:
            token = srv.accounts.pair_pad(window, s.account)
        except AccountError as err:
            raise Problem(403, "forbidden", err.message_zh, err.message_en) from None
        response.set_cookie(
            PAD_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=settings.secure_cookies,
            path="/",
            max_age=400 * 24 * 3600,
        )
        return {"window": window}

    def pad_window(request: Request, window: str) -> str:
        token = request.cookies.get(PAD_COOKIE)
        w = srv.accounts.pad(token) if token else None
        if w != window:
            raise Problem(401, "pair", "请工作人员先配对评价器", "pair this rating pad first")
        return w

    @app.get("/api/rate/{window}", tags=["rating pad"])
    async def pad_state(window: str, request: Request) -> dict[str, Any]:
        """Whether this tablet is paired, and the ticket last finished at the window."""
        token = request.cookies.get(PAD_COOKIE)
        paired = bool(token) and srv.accounts.pad(token) == window
        with srv.live.lock:
            fin = srv.live.view.finished.get(window)
        return {
            "paired": paired,
            "finished": {"ticket": fin[0], "number": fin[1], "at": fin[2]}
            if fin and paired
            else None,
        }

    @app.post("/api/rate/{window}", tags=["rating pad"])
    async def submit_rating(window: str, body: RatingBody, request: Request) -> dict[str, Any]:
        """好差评 of the ticket just finished at this window (one per service)."""
        pad_window(request, window)
        if body.level >= 3 and body.reasons:
            raise Problem(400, "bad_request", "满意时不需要选择原因", "reasons only for levels 1-2")
        r = await srv.ask(
            "rating.submit",
            {"ticket": body.ticket, "level": body.level, "reasons": body.reasons, "window": window},
        )
        return {"result": asdict(r)}

    return app
