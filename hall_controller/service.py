"""The controller process: MQTT in, engine decisions, store, MQTT out.

One thread owns the MQTT connection (``hall_contract.lean``), the engine and the store.
It reads whatever requests have arrived, handles them and commits them in ONE
transaction (group commit), publishes the batch's events, fsyncs, then sends the replies
(every ticket is durable before its reply) and the retained snapshots.
"""

from __future__ import annotations

import gc
import hmac
import json
import logging
import math
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from hall_contract import messages as m
from hall_contract.client import BrokerSettings
from hall_contract.hallconfig import HallConfig
from hall_contract.lean import LeanClient
from hall_contract.messages import ErrorCode, ErrorInfo, Reply
from hall_contract.mqtt5 import Publish, Will
from hall_contract.topics import Topics, is_id
from hall_controller.engine import Case, Engine, EngineError, HallState, Ticket, WindowState
from hall_controller.sealing import Sealer
from hall_controller.store import EventStore, StoreError

log = logging.getLogger(__name__)

Clock = Callable[[], float]

TICK_S = 2.0
REPLY_TTL_S = 24 * 3600  # how long a request id is remembered for retries
IDLE_WAKE_S = 0.05  # the longest wait for traffic (call_soon() and stop() wake it)
SNAPSHOT_EVERY = 20_000  # events between state snapshots (bounds the replay at start-up)
CALL_BOARD_SIZE = 10
SNAPSHOT_INTERVAL_S = 0.2
CALL_EVENTS = frozenset({"ticket.called", "ticket.recalled"})
#: Events that change what a window is calling or serving (the call board).
BOARD_EVENTS = frozenset(
    {
        "ticket.called",
        "ticket.recalled",
        "ticket.started",
        "ticket.no_show",
        "ticket.transferred",
        "ticket.finished",
        "ticket.expired",
        "day.rolled",
    }
)
#: Events published on MQTT. Others (mailing) stay in the store only.
PUBLIC_EVENTS = frozenset(
    {
        "ticket.issued",
        "ticket.called",
        "ticket.recalled",
        "ticket.started",
        "ticket.no_show",
        "ticket.requeued",
        "ticket.transferred",
        "ticket.finished",
        "ticket.expired",
        "ticket.warning",
        "window.paused",
        "window.resumed",
        "rating.submitted",
        "case.accepted",
        "case.updated",
        "day.rolled",
    }
)


#: Ticket fields never published in events (see Controller._public).
_PRIVATE_TICKET = frozenset({"citizen_key", "token", "history", "appointment"})


@dataclass
class Inbound:
    terminal: str
    op: str
    payload: bytes
    response_topic: str | None
    correlation: bytes | None


@dataclass
class TerminalInfo:
    id: str
    state: str = "unknown"
    seq: int = -1
    role: str | None = None
    version: str | None = None
    config_version: int | None = None
    last_seen: float = 0.0
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)


def rebuild(config: HallConfig, store: EventStore) -> tuple[Engine, int]:
    """The engine's state from the latest snapshot plus every event after it."""
    engine = Engine(config)
    after = 0
    snap = store.latest_snapshot()
    if snap is not None:
        after, data = snap
        engine.load(HallState.from_dict(data))
        for w in config.windows:  # windows added to the config since the snapshot
            engine.state.windows.setdefault(w.id, WindowState(w.id))
    n = 0
    for ev in store.events(after):
        engine.apply(ev.type, ev.at, ev.data)
        n += 1
    return engine, n


class Controller:
    def __init__(
        self,
        config: HallConfig,
        store: EventStore,
        broker: BrokerSettings,
        *,
        clock: Clock = time.time,
        client_id: str | None = None,
        sealer: Sealer | None = None,
        manage_gc: bool = False,
    ) -> None:
        self.config = config
        self.manage_gc = manage_gc
        self._last_busy = self._last_full_gc = self._last_prune = time.monotonic()
        self.store = store
        self.broker = broker
        self.clock = clock
        self.topics = Topics(config.hall.id)
        self.sealer = sealer
        self.engine, replayed = rebuild(config, store)
        start_checkpointer = getattr(store, "start_checkpointer", None)
        if start_checkpointer is not None:
            start_checkpointer()
        if manage_gc:
            # Full collections only when quiet (see _housekeeping); the state just
            # rebuilt is long-lived, so freeze it out of every collection's way.
            # Automatic passes over the young generation only (every 5,000 allocations,
            # ~1 ms); what survives them is mostly the day's state, and is collected with
            # the rest when quiet. Measured at 1,500 tickets/s: CPython's defaults ran a
            # ~2 ms middle-generation pass twice a second, each holding up a batch.
            gc.collect()
            gc.freeze()
            gc.set_threshold(5000, 1_000_000, 1_000_000)
        self._since_snapshot = replayed
        log.info(
            "state rebuilt: %d events replayed, %d tickets known",
            replayed,
            len(self.engine.state.tickets),
        )
        self._batch: list[Inbound] = []
        self._calls: queue.Queue[Callable[[], object]] = queue.Queue()
        # Replies kept for retries: the newest in memory, every key of the last
        # REPLY_TTL_S known, so a new request id costs no database look-up.
        self._replies: dict[str, bytes] = {}
        self._reply_keys = store.reply_index(self.clock() - REPLY_TTL_S)
        self.terminals: dict[str, TerminalInfo] = {}
        self._command_results: dict[str, m.CommandResult] = {}
        self._command_waiters: dict[str, threading.Event] = {}
        self._window_of = {t.id: t.window for t in config.terminals if t.window}
        self._role_of = {t.id: t.role for t in config.terminals}
        self._location_of = {t.id: t.location for t in config.terminals}
        self._stop = threading.Event()
        #: Set when the controller cannot go on (the store failed); the process exits.
        self.fatal = threading.Event()
        self._presence_cond = threading.Condition()
        self.snapshot_taken = threading.Event()
        self._ready = threading.Event()
        self._worker: threading.Thread | None = None
        self._last_status: bytes | None = None
        self._published_board: bytes | None = None
        self._queue_ids = frozenset(q.id for q in config.queues)
        self._dirty: set[str] = set()
        self._snap_due: float | None = None
        self._last_snap = 0.0
        self._next_opening: tuple[int, str | None] = (-1, None)
        # Not paho: the controller's own lean client (why: hall_contract/lean.py).
        self.client = LeanClient(
            client_id or f"{config.hall.id}-controller",
            broker,
            clean_start=False,
            session_expiry=3600,  # requests queue in the broker while we restart
        )
        #: Birth/death sequence number of the controller's presence (as terminals do): a
        #: late Will of an older connection never hides a newer birth.
        self._seq = 0
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.connected = threading.Event()

    # ---------------------------------------------------------------- lifecycle
    def start(self, wait: float | None = 10.0) -> Controller:
        self._worker = threading.Thread(target=self._run, name="controller", daemon=True)
        self._worker.start()
        if wait is not None and not self.connected.wait(wait):
            log.warning(
                "broker %s:%s not reachable yet; retrying", self.broker.host, self.broker.port
            )
        return self

    def stop(self) -> None:
        self._stop.set()
        self.client.wake()
        if self._worker is not None:
            self._worker.join(10)
        self.store.close()

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the controller's thread (the only one that touches MQTT)."""
        self._calls.put(fn)
        self.client.wake()

    def raise_alert(self, kind: str, message: str, *, level: str = "red") -> None:
        """A staff alert from outside the controller's thread (e.g. the broker supervisor).
        Thread-safe; published once the controller is connected (QoS 1)."""
        body = json.dumps({"kind": kind, "level": level, "message": message}).encode()
        self.call_soon(lambda: self._batch.append(Inbound("", "$alert", body, None, None)))

    def wait_terminal(
        self, tid: str, pred: Callable[[TerminalInfo], bool], timeout: float
    ) -> TerminalInfo | None:
        """Wait until the controller's view of a terminal satisfies ``pred``."""
        with self._presence_cond:
            ok = self._presence_cond.wait_for(
                lambda: tid in self.terminals and pred(self.terminals[tid]), timeout
            )
            return self.terminals[tid] if ok else None

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout) and self.connected.wait(timeout)

    # ------------------------------------------------------------ paho callbacks
    def _on_connect(self, session_present: bool) -> None:
        client = self.client
        t = self.topics
        client.subscribe(
            [
                (t.requests_filter, 1),
                (t.states_filter, 1),
                (t.devices_filter, 1),
                (t.heartbeats_filter, 0),
                (t.command_results_filter, 1),
            ]
        )
        client.publish(t.controller_state, self._presence("online"), qos=1, retain=True)
        self._publish_desired_config()
        self.connected.set()
        self._batch.append(Inbound("", "$publish-all", b"", None, None))
        log.info("controller connected to %s:%s", self.broker.host, self.broker.port)

    def _presence(self, state: str, at: float | None = None) -> bytes:
        """The controller's retained presence: online, offline (a clean stop) or lost (its
        Will), with this connection's sequence number."""
        return json.dumps(
            {
                "state": state,
                "seq": self._seq,
                "at": self.clock() if at is None else at,
                "config_version": self.config.version,
            }
        ).encode()

    def _on_disconnect(self, reason: str) -> None:
        if self.connected.is_set():
            log.warning("controller lost the broker (%s); reconnecting", reason)
        self.connected.clear()

    def _on_message(self, msg: Publish) -> None:
        payload = msg.payload
        parts = msg.topic.split("/")
        # hall/{h}/t/{tid}/...
        if len(parts) < 5 or parts[2] != "t":
            return
        tid = parts[3]
        kind = parts[4]
        if not is_id(tid):
            # Not a terminal id the contract allows (the ACL could not name it, no reply
            # topic can be built for it): dropped here, before it can spoil a batch.
            log.warning("ignored a %s message on a malformed terminal topic", kind[:16])
            return
        try:
            if kind == "req" and len(parts) == 6:
                self._batch.append(
                    Inbound(tid, parts[5], payload, msg.response_topic, msg.correlation)
                )
            elif kind == "state":
                self._on_presence(tid, payload)
            elif kind == "device" and len(parts) == 6:
                self._on_device(tid, payload)
            elif kind == "hb":
                info = self.terminals.setdefault(tid, TerminalInfo(tid))
                info.last_seen = self.clock()
            elif kind == "cmdres":
                res = m.CommandResult.model_validate_json(msg.payload)
                self._command_results[res.id] = res
                ev = self._command_waiters.get(res.id)
                if ev:
                    ev.set()
        except ValueError:
            log.warning("ignored a malformed %s message from terminal %s", kind, tid)

    def _on_presence(self, tid: str, payload: bytes) -> None:
        if not payload:
            return
        p = m.Presence.model_validate_json(payload)
        info = self.terminals.setdefault(tid, TerminalInfo(tid))
        if not m.presence_counts(p.state, p.seq, info.seq):
            return  # a late death of an older session: the newer birth stands
        was = info.state
        with self._presence_cond:
            info.state, info.seq, info.role = p.state, p.seq, p.role
            info.version, info.config_version = p.version, p.config_version
            info.last_seen = self.clock()
            self._presence_cond.notify_all()
        if p.state == "lost" and was == "online":
            self._batch.append(
                Inbound(
                    tid,
                    "$alert",
                    json.dumps(
                        {
                            "kind": "terminal",
                            "level": "red",
                            "message": f"终端 {tid} 失去连接 / terminal {tid} lost",
                        }
                    ).encode(),
                    None,
                    None,
                )
            )

    def _on_device(self, tid: str, payload: bytes) -> None:
        if not payload:
            return
        d = m.DeviceReport.model_validate_json(payload)
        info = self.terminals.setdefault(tid, TerminalInfo(tid))
        old = info.devices.get(d.device, {}).get("state")
        info.devices[d.device] = d.model_dump()
        if d.state in ("fault", "absent") and old != d.state:
            self._batch.append(
                Inbound(
                    tid,
                    "$alert",
                    json.dumps(
                        {
                            "kind": "device",
                            "level": "red" if d.state == "fault" else "yellow",
                            "message": f"{tid} {d.device}: {d.state} {d.reason}".strip(),
                        }
                    ).encode(),
                    None,
                    None,
                )
            )

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        """The controller's one thread: network I/O, decisions, store, publishing.

        paho is driven here with its external-loop API instead of ``loop_start``: a
        request is read, decided, committed and answered without a thread hand-off, and
        every publish goes straight to the socket. After a read, everything else already
        waiting on the socket is read too, and the lot is one batch: one transaction, one
        fsync (group commit)."""
        self._ready.set()
        next_tick = time.monotonic()
        backoff, next_connect = 0.5, 0.0
        try:
            while not self._stop.is_set():
                mono = time.monotonic()
                if not self.client.connected and mono >= next_connect:
                    try:
                        self._seq = max(self._seq + 1, time.time_ns() // 1_000_000)
                        self.client.will = Will(
                            self.topics.controller_state, self._presence("lost", 0.0)
                        )
                        self.client.connect()
                        backoff = 0.5
                    except (OSError, ValueError) as err:
                        if backoff == 0.5:
                            log.warning("cannot reach the broker: %s", err)
                        next_connect = mono + backoff
                        backoff = min(8.0, backoff * 2)
                wake = next_tick if self._snap_due is None else min(next_tick, self._snap_due)
                timeout = min(IDLE_WAKE_S, max(0.0, wake - time.monotonic()))
                if not self.client.connected:
                    self._stop.wait(min(timeout, max(0.0, next_connect - mono)) or 0.05)
                else:
                    self.client.flush()  # whatever the last round queued (acks, pings)
                    self.client.pump(timeout)  # every packet already received
                while True:
                    try:
                        self._calls.get_nowait()()
                    except queue.Empty:
                        break
                batch, self._batch = self._batch, []
                tick = time.monotonic() >= next_tick
                if tick:
                    next_tick = time.monotonic() + TICK_S
                    self._housekeeping(busy=bool(batch))
                if (
                    not batch
                    and not tick
                    and (self._snap_due is None or time.monotonic() < self._snap_due)
                ):
                    continue
                try:
                    self._process(batch, tick)
                except StoreError:
                    # The disk refused: stop rather than acknowledge what is not durable.
                    log.exception("the event store failed; the controller stops")
                    self.fatal.set()
                    # Gone without acknowledging the batch: the broker keeps its requests
                    # for the next controller and publishes our Will.
                    self.client.abort()
                    return
                except Exception:
                    # A bug somewhere in the batch: the transaction was rolled back, so the
                    # engine's state is rebuilt from the store to match it again.
                    log.exception(
                        "a batch of %d requests failed; state rebuilt from the store",
                        len(batch),
                    )
                    self.engine, _n = rebuild(self.config, self.store)
                    self.engine.take_events()
                self.client.flush()  # replies, events and acks: one write
                self.store.finish_checkpoint()  # between batches: see SqliteStore
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        if self.connected.is_set():
            pid = self.client.publish(
                self.topics.controller_state, self._presence("offline"), qos=1, retain=True
            )
            deadline = time.monotonic() + 2
            while not self.client.acked(pid) and time.monotonic() < deadline:
                self.client.flush()
                self.client.pump(0.05)
                if not self.client.connected:
                    break
        self.connected.clear()
        self.client.disconnect()

    def _housekeeping(self, *, busy: bool) -> None:
        """Slow upkeep, done when the hall is quiet rather than in the middle of a burst:
        a state snapshot (bounds the replay at start-up) and, with ``manage_gc``, a full
        garbage collection. Each costs tens of milliseconds on a busy day, which is a
        citizen's whole ticket latency budget; automatic full collections are off, young
        generations are still collected as usual."""
        mono = time.monotonic()
        if busy:
            self._last_busy = mono
        quiet = mono - self._last_busy >= 1.0
        if quiet and mono - self._last_prune >= 3600:
            # Retries come within seconds; a day's margin is plenty.
            with self.store.transaction():
                self.store.prune_replies(self.clock() - REPLY_TTL_S)
            self._reply_keys = self.store.reply_index(self.clock() - REPLY_TTL_S)
            self._last_prune = mono
        if (quiet and self._since_snapshot >= SNAPSHOT_EVERY) or (
            self._since_snapshot >= 5 * SNAPSHOT_EVERY
        ):
            with self.store.transaction():
                self.store.put_snapshot(self.store.last_seq(), self.engine.state.to_dict())
            self._since_snapshot = 0
            self.snapshot_taken.set()
        if not self.manage_gc:
            return
        due = mono - self._last_full_gc
        if (quiet and due >= 60) or due >= 600:
            gc.collect()
            gc.freeze()  # what survived is the hall's state: keep it out of young passes
            self._last_full_gc = mono

    def _process(self, batch: list[Inbound], tick: bool) -> None:
        out: list[tuple[str, bytes, bytes | None]] = []
        events: list[tuple[int, Any]] = []
        alerts: list[m.Alert] = []
        publish_all = any(b.op == "$publish-all" for b in batch)
        with self.store.transaction(sync=False):
            # Hall time never runs backwards (a clock stepped back by NTP, a restart on
            # a clock behind the last event): events stay in time order, and each
            # queue's tickets stay in waiting order, which the engine relies on.
            now = max(self.clock(), self.engine.last_at)
            if tick:
                self.engine.tick(now)
                warned = self._persist(self.engine.take_events())
                events += warned
                for _seq, ev in warned:
                    if ev.type == "ticket.warning" and ev.data["level"] == "red":
                        # 电子监察: a red limit reaches the hall manager at once.
                        d = ev.data
                        what = "等候" if d["kind"] == "wait" else "办理"
                        alerts.append(
                            self._alert(
                                d["kind"],
                                f"{d['number']} {what}超时（红牌）",
                                now,
                                level="red",
                                ticket=d["number"],
                            )
                        )
            for item in batch:
                if item.op == "$publish-all":
                    continue
                if item.op == "$alert":
                    a = json.loads(item.payload)
                    alerts.append(
                        self._alert(
                            a["kind"],
                            a["message"],
                            now,
                            level=a.get("level", "yellow"),
                            terminal=item.terminal,
                        )
                    )
                    continue
                reply, key, new_alerts = self._handle(item, now)
                alerts += new_alerts
                evs = self._persist(self.engine.take_events())
                events += evs
                body = reply if isinstance(reply, bytes) else reply.dumps()
                if key is not None and isinstance(reply, bytes) and evs:
                    ref = self.store.put_reply(key, body, now)
                    self._replies[key] = body
                    self._reply_keys[key] = ref
                topic = self.topics.reply(item.terminal)
                if item.response_topic not in (None, topic):
                    log.warning(
                        "terminal %s asked for replies on a foreign topic; answering on its own",
                        item.terminal,
                    )
                out.append((topic, body, item.correlation))
        if len(self._replies) > 20_000:
            self._replies.clear()  # the store still has them
        # Committed (in the WAL, safe from any process's death): the events may go out.
        # Calls first, and at once: a display (and the citizen in front of it) waits for
        # them, while the disk flushes. Replies wait for the fsync below.
        calls = [e for e in events if e[1].type in CALL_EVENTS]
        for seq, ev in calls + [e for e in events if e[1].type not in CALL_EVENTS]:
            if ev.type in PUBLIC_EVENTS:
                self.client.publish(
                    self.topics.event(ev.type),
                    # The m.Event schema, serialised directly (it is on every ticket's path).
                    orjson.dumps(
                        {"seq": seq, "type": ev.type, "at": ev.at, "data": self._public(ev.data)}
                    ),
                    # Calls at QoS 1: a display must not miss one. The rest are
                    # notifications whose state is also in the retained snapshots.
                    qos=1 if ev.type in CALL_EVENTS else 0,
                )
        if calls:
            # Now, not with the replies; the PUBACKs of the batch's requests wait for
            # the fsync, so the broker keeps any request not yet durable.
            self.client.flush(acks=False)
        # fsync, then the replies. (A separate fsync thread, so the next batch could be
        # decided meanwhile, was tried and measured slower: its wake-up waits for the GIL
        # of this busy thread, up to the 5 ms switch interval.)
        self.store.sync()
        self._answer(out, alerts)
        self.client.flush()  # the replies, before the displays' snapshots are built
        self._publish_snapshots(events, force=publish_all or tick)

    def _answer(self, out: list[tuple[str, bytes, bytes | None]], alerts: list[m.Alert]) -> None:
        for topic, body, corr in out:
            # QoS 0 is enough for a reply: a lost one is recovered by the terminal's retry,
            # which the stored reply answers (idempotent ids). It saves a PUBACK per request.
            self.client.publish(topic, body, qos=0, correlation=corr)
        for a in alerts:
            self.client.publish(self.topics.alerts, a.dumps(), qos=1)

    def _persist(self, emitted: list[Any]) -> list[tuple[int, Any]]:
        out = []
        for ev in emitted:
            seq = self.store.append(ev.at, ev.type, ev.data)
            out.append((seq, ev))
        self._since_snapshot += len(emitted)
        return out

    @staticmethod
    def _public(data: dict[str, Any]) -> dict[str, Any]:
        """Event data as published: no citizen key, no lookup token, no appointment code
        (checking in with it again answers with the ticket and its token), no free text
        about a citizen (a rating's comment, a transfer's note)."""
        d = dict(data)
        if "ticket" in d and isinstance(d["ticket"], dict):
            d["ticket"] = {k: v for k, v in d["ticket"].items() if k not in _PRIVATE_TICKET}
        if "case" in d and isinstance(d["case"], dict):
            d["case"] = {k: v for k, v in d["case"].items() if k != "citizen_key"}
        d.pop("text", None)
        d.pop("note", None)
        d.pop("dropped_appointments", None)  # appointment codes (day.rolled)
        return d

    def _alert(
        self,
        kind: str,
        message: str,
        now: float,
        *,
        level: str = "yellow",
        terminal: str | None = None,
        ticket: str | None = None,
    ) -> m.Alert:
        self.engine.state.alerts += 1
        return m.Alert(
            id=f"al{int(now * 1000)}-{self.engine.state.alerts}",
            kind=kind,  # type: ignore[arg-type]
            level=m.Level(level),
            terminal=terminal,
            location=self._location_of.get(terminal or ""),
            ticket=ticket,
            message=message,
            at=now,
        )

    # ----------------------------------------------------------------- requests
    def _handle(self, item: Inbound, now: float) -> tuple[Reply | bytes, str | None, list[m.Alert]]:
        """The reply (a model, or for a success the serialised bytes), the request's
        idempotency key, and any alerts raised."""
        rid: str | None = None
        key: str | None = None
        alerts: list[m.Alert] = []
        try:
            data = m.decode_payload(item.payload)
            rid = m.request_id_in(data)
            key = f"{item.terminal}:{rid}" if rid else None
            if key is not None:
                ref = self._reply_keys.get(key)
                cached = self._replies.get(key) or (
                    self.store.get_reply(ref) if ref is not None else None
                )
                if cached is not None:
                    return cached, None, []  # a retry: the very reply it had
            req = m.validate_request(item.op, data)
        except m.BadPayload as err:
            log.warning("rejected %s from %s: %s", item.op[:40], item.terminal, err.message)
            return Reply(id=rid or "", ok=False, error=err.info()), None, []
        try:
            result = self._dispatch(item.terminal, item.op, req, now, alerts)
        except EngineError as err:
            return (
                Reply(
                    id=req.id,
                    ok=False,
                    error=ErrorInfo(
                        code=err.code,
                        message=err.message,
                        message_en=err.message_en or None,
                        field=err.field,
                    ),
                ),
                key,
                alerts,
            )
        except Exception:
            log.exception("internal error handling %s from %s", item.op, item.terminal)
            return (
                Reply(
                    id=req.id,
                    ok=False,
                    error=ErrorInfo(
                        code=ErrorCode.INTERNAL,
                        message="系统内部错误，请联系工作人员",
                        message_en="internal error; please ask staff",
                    ),
                ),
                key,
                alerts,
            )
        # The m.Reply schema, serialised directly: a model here cost 11 µs a ticket.
        return orjson.dumps({"id": req.id, "ok": True, "result": result}), key, alerts

    def window_of(self, tid: str) -> str:
        """A window terminal's window: from the config, or the id ``window-{wid}``."""
        wid = self._window_of.get(tid)
        if wid is None and tid.startswith("window-"):
            wid = tid.removeprefix("window-")
        if wid is None or wid not in self.engine.state.windows:
            raise EngineError(
                ErrorCode.FORBIDDEN,
                f"终端 {tid} 不是窗口终端",
                f"terminal {tid} is not a window terminal",
            )
        return wid

    def _dispatch(
        self, tid: str, op: str, req: m.Request, now: float, alerts: list[m.Alert]
    ) -> dict[str, Any]:
        e = self.engine
        if op == "ticket.issue":
            assert isinstance(req, m.TicketIssue)
            if self._role_of.get(tid) in ("window", "display", "rater"):
                raise EngineError(
                    ErrorCode.FORBIDDEN, "此终端不能取号", "this terminal cannot issue tickets"
                )
            t = e.issue(
                now,
                service=req.service,
                bundle=req.bundle,
                queue=req.queue,
                priority=req.priority,
                citizen_key=req.citizen_key,
            )
            return self.ticket_info(t, token=True)
        if op == "appointment.checkin":
            assert isinstance(req, m.AppointmentCheckin)
            if not req.code and not req.citizen_key:
                raise EngineError(
                    ErrorCode.BAD_REQUEST,
                    "请扫描预约码或读身份证",
                    "give code or citizen_key",
                    "code",
                )
            return self.ticket_info(e.checkin(now, req.code, req.citizen_key), token=True)
        if op == "ticket.lookup":
            assert isinstance(req, m.TicketLookup)
            # By the token only: ids and numbers are public, the token is what the
            # citizen holds (and what rating a ticket requires).
            return self.ticket_info(e.ticket_by_token(req.ticket), token=True)
        if op == "case.lookup":
            assert isinstance(req, m.CaseLookup)
            cases = e.find_cases(req.case_no, req.citizen_key)
            if not cases:
                raise EngineError(ErrorCode.NOT_FOUND, "没有查到办件", "no case found")
            return {"cases": [self.case_info(c, now) for c in cases[:10]]}
        if op == "rating.submit":
            assert isinstance(req, m.RatingSubmit)
            target = e.ticket(req.ticket, self._window_of.get(tid))
            if not hmac.compare_digest(req.ticket, target.token) and not (
                self._role_of.get(tid) == "rater" and self._window_of.get(tid) == target.window
            ):
                # Ticket ids are public (events carry them); only the lookup token printed
                # on the ticket, or the rating device at the serving window, may rate it.
                raise EngineError(
                    ErrorCode.FORBIDDEN,
                    "请扫描号票上的二维码进行评价",
                    "rate with the QR code on the ticket",
                    "ticket",
                )
            t = e.rate(now, target.id, req.level, req.reasons, req.text)
            if req.level <= 2:
                alerts.append(
                    self._alert(
                        "unresolved",
                        f"差评 {t.number}（{req.level} 星）需整改回访",
                        now,
                        terminal=tid,
                        ticket=t.number,
                    )
                )
            return {"ticket": t.number, "level": req.level}
        if op == "help.request":
            assert isinstance(req, m.HelpRequest)
            where = self._location_of.get(tid) or tid
            what = "帮办代办" if req.kind == "helper" else "办不成事反映"
            alert = self._alert(req.kind, f"{what}：{where}", now, level="red", terminal=tid)
            e.record(
                "help.requested",
                now,
                alert=alert.id,
                kind=req.kind,
                terminal=tid,
                service=req.service,
                note=req.note,
            )
            alerts.append(alert)
            return {"alert": alert.id, "location": where}
        if op == "mailing.request":
            assert isinstance(req, m.MailingRequest)
            if self.sealer is None:
                raise EngineError(ErrorCode.INTERNAL, "邮寄服务未启用", "mailing is not set up")
            sealed = self.sealer.seal(
                json.dumps(
                    {"recipient": req.recipient, "phone": req.phone, "address": req.address},
                    ensure_ascii=False,
                ).encode()
            )
            e.record(
                "mailing.requested",
                now,
                ticket=req.ticket,
                case_no=req.case_no,
                sealed=sealed,
                terminal=tid,
            )
            alerts.append(
                self._alert("helper", "新的免费邮寄申请", now, level="yellow", terminal=tid)
            )
            return {"accepted": True}
        if op == "hall.status":
            return self.hall_status(now)
        if op in m.ADMIN_OPS:
            if self._role_of.get(tid) != "admin":
                raise EngineError(
                    ErrorCode.FORBIDDEN,
                    f"终端 {tid} 没有管理权限",
                    f"terminal {tid} is not an admin terminal",
                )
            if isinstance(req, m.AdminBookAppointment):
                if req.end <= req.start:
                    raise EngineError(
                        ErrorCode.BAD_REQUEST,
                        "预约结束时间须晚于开始时间",
                        "end must be after start",
                        "end",
                    )
                try:
                    self.config.service(req.service)
                except KeyError:
                    raise EngineError(
                        ErrorCode.NOT_FOUND,
                        f"没有这个事项: {req.service}",
                        f"unknown service {req.service}",
                        "service",
                    ) from None
                a = e.book(now, req.code, None, req.service, req.start, req.end, req.citizen_key)
                return {"code": a.code, "queue": a.queue, "start": a.start, "end": a.end}
            assert isinstance(req, m.AdminUpdateCase)
            return self.case_info(e.update_case(req.case_no, req.state, now), now)
        # ------------------------------------------------------------ window ops
        wid = self.window_of(tid)
        ticket_ref = getattr(req, "ticket", None)
        if op == "window.call_next":
            return self.ticket_info(e.call_next(wid, now), staff=True)
        if op == "window.recall":
            return self.ticket_info(e.recall(wid, now, ticket_ref), staff=True)
        if op == "window.start":
            return self.ticket_info(e.start(wid, now, ticket_ref), staff=True)
        if op == "window.no_show":
            assert isinstance(req, m.WindowNoShow)
            return self.ticket_info(e.no_show(wid, now, ticket_ref, req.requeue), staff=True)
        if op == "window.requeue":
            return self.ticket_info(e.requeue(wid, now, ticket_ref), staff=True)
        if op == "window.transfer":
            assert isinstance(req, m.WindowTransfer)
            t = e.transfer(wid, now, ticket_ref, req.to_queue, req.to_window, req.note)
            return self.ticket_info(t, staff=True)
        if op == "window.finish":
            assert isinstance(req, m.WindowFinish)
            t, case = e.finish(wid, now, ticket_ref, req.accept_case)
            info = self.ticket_info(t, staff=True)
            info["rating_open"] = True
            if case is not None:
                info["case"] = self.case_info(case, now)
            return info
        if op == "window.pause":
            assert isinstance(req, m.WindowPause)
            return self.window_info(e.pause(wid, now, req.reason).id)
        if op == "window.resume":
            return self.window_info(e.resume(wid, now).id)
        if op == "window.status":
            return self.window_info(wid)
        raise EngineError(ErrorCode.UNKNOWN_OP, f"unknown operation {op}")

    # ----------------------------------------------------------------- views
    def ticket_info(self, t: Ticket, *, token: bool = False, staff: bool = False) -> dict[str, Any]:
        """The m.TicketInfo of a ticket. ``token`` only for the terminal that was issued
        the ticket or presented its token: whoever has it may look the ticket up and rate
        it, so window replies (and everything else) go without. ``staff`` (window replies)
        keeps the staff's notes in the history; a citizen's kiosk never sees them."""
        e = self.engine
        q = self.config.queue(t.queue)
        ahead = e.people_ahead(t) if t.state == m.TicketState.WAITING.value else 0
        hint = ""
        if t.window:
            hint = self.config.window(t.window).name
        elif t.service:
            hint = self.engine.services[t.service].window_hint
        # The fields of m.TicketInfo (the documented schema; a test validates replies
        # against it), built directly: this is on every ticket's path.
        info: dict[str, Any] = {
            "ticket_id": t.id,
            "number": t.number,
            "queue": t.queue,
            "queue_name": q.name,
            "priority": t.priority,
            "state": t.state,
            "issued_at": t.issued_at,
            "people_ahead": ahead,
            "expected_wait_min": e.expected_wait_min(t.queue, ahead),
        }
        if token:
            info["token"] = t.token
        for k, v in (("service", t.service), ("window", t.window), ("window_hint", hint)):
            if v:
                info[k] = v
        info["history"] = [
            {k: v for k, v in h.items() if v is not None and (staff or k != "note")}
            for h in t.history
        ]
        return info

    def case_info(self, c: Case, now: float) -> dict[str, Any]:
        svc = self.config.service(c.service) if c.service else None
        return {
            "case_no": c.case_no,
            "service": c.service,
            "service_name": svc.name if svc else None,
            "state": c.state,
            "accepted_at": c.accepted_at,
            "deadline": c.deadline,
            "promised_deadline": c.promised_deadline,
            "level": self.engine.case_level(c, now).value,
        }

    def window_info(self, wid: str) -> dict[str, Any]:
        w = self.engine.state.windows[wid]
        cur = self.engine.state.tickets.get(w.current or "")
        return {
            "window": wid,
            "name": self.config.window(wid).name,
            "paused": w.paused,
            "pause_reason": w.pause_reason,
            "current": cur.number if cur else None,
            "current_state": cur.state if cur else None,
            "served": w.served,
            "waiting": len(self.engine._candidates(wid)),
        }

    def hall_status(self, now: float) -> dict[str, Any]:
        e = self.engine
        nxt = e.next_opening(now)
        return {
            "open": e.is_open(now),
            "next_opening": nxt.isoformat() if nxt else None,
            "queues": [
                self._queue_snapshot(q.id, now).model_dump(mode="json") for q in self.config.queues
            ],
            "config_version": self.config.version,
        }

    def _queue_snapshot(self, qid: str, now: float) -> m.QueueSnapshot:
        e = self.engine
        q = self.config.queue(qid)
        waiting = e.state.waiting_count(qid)
        serving = sorted(
            (t for t in self._at_windows() if t.queue == qid), key=lambda t: t.called_at or 0
        )
        return m.QueueSnapshot(
            queue=qid,
            name=q.name,
            letter=q.letter,
            waiting=waiting,
            serving=[t.number for t in serving],
            last_called=serving[-1].number if serving else None,
            expected_wait_min=e.expected_wait_min(qid, waiting),
            open=e.is_open(now),
            at=now,
        )

    def _at_windows(self) -> list[Ticket]:
        """Tickets being called or served now: each window's current one."""
        s = self.engine.state
        return [s.tickets[w.current] for w in s.windows.values() if w.current in s.tickets]

    def call_board(self) -> m.CallBoard:
        called = sorted(
            (t for t in self._at_windows() if t.called_at is not None),
            key=lambda t: t.called_at or 0,
            reverse=True,
        )[:CALL_BOARD_SIZE]
        return m.CallBoard(
            calls=[
                m.CallBoardEntry(
                    number=t.number,
                    window=t.window or "",
                    queue=t.queue,
                    at=t.called_at or 0,
                    window_name=self.config.window(t.window).name if t.window else "",
                    recall=t.recalls,
                )
                for t in called
            ]
        )

    def _publish_snapshots(self, events: list[tuple[int, Any]], *, force: bool) -> None:
        """Retained state for displays. The call board goes out at once (a call is what a
        waiting citizen looks for); queue snapshots and the hall status are coalesced to
        at most one per ``SNAPSHOT_INTERVAL_S``, so a burst of tickets costs one each."""
        queues = self._queue_ids
        for _seq, ev in events:
            d = ev.data
            for k in ("queue", "to_queue", "from_queue"):
                if d.get(k) in queues:
                    self._dirty.add(d[k])
            if isinstance(d.get("ticket"), dict):
                self._dirty.add(d["ticket"]["queue"])
            if ev.type == "day.rolled":
                force = True
        if force:
            self._dirty |= queues
        # The board changes only when a window's ticket does; a burst of issued tickets
        # leaves it alone, so it is not rebuilt for them.
        if force or any(ev.type in BOARD_EVENTS for _s, ev in events):
            board = self.call_board().dumps()
            if board != self._published_board:
                self.client.publish(self.topics.calls, board, qos=1, retain=True)
                self._published_board = board
        mono = time.monotonic()
        if not self._dirty and not force:
            return
        if not force and self._snap_due is not None and mono < self._snap_due:
            return
        if not force and self._snap_due is None and self._last_snap + SNAPSHOT_INTERVAL_S > mono:
            self._snap_due = self._last_snap + SNAPSHOT_INTERVAL_S
            return
        now = self.clock()
        for qid in sorted(self._dirty):
            self.client.publish(
                self.topics.queue_snapshot(qid),
                self._queue_snapshot(qid, now).dumps(),
                qos=1,
                retain=True,
            )
        self._dirty.clear()
        self._snap_due = None
        self._last_snap = mono
        e = self.engine
        minute = int(now // 60)  # opening hours change on whole minutes
        if self._next_opening[0] != minute:
            nxt = e.next_opening(now)
            self._next_opening = (minute, nxt.isoformat() if nxt else None)
        body = orjson.dumps(
            {
                "open": e.is_open(now),
                "next_opening": self._next_opening[1],
                "config_version": self.config.version,
                "waiting": {q.id: e.state.waiting_count(q.id) for q in self.config.queues},
            }
        )
        if body != self._last_status:
            self.client.publish(self.topics.hall_status, body, qos=1, retain=True)
            self._last_status = body

    # ------------------------------------------------------------ terminals
    def _publish_desired_config(self) -> None:
        cfg = self.config.model_dump(mode="json", exclude={"broker", "data_dir"})
        body = m.DesiredConfig(version=self.config.version, config=cfg).dumps()
        for t in self.config.terminals:
            self.client.publish(self.topics.desired_config(t.id), body, qos=1, retain=True)

    def send_command(
        self,
        tid: str,
        cmd: str,
        args: dict[str, Any] | None = None,
        *,
        ttl_s: int = 60,
        wait: float | None = None,
    ) -> m.CommandResult | None:
        """A command with an expiry and an idempotency id; optionally wait for its result."""
        now = self.clock()
        cid = f"cmd-{uuid.uuid4().hex}"  # unique, so a terminal never drops one as a repeat
        command = m.Command(
            id=cid,
            cmd=cmd,
            args=args or {},  # type: ignore[arg-type]
            expires_at=now + ttl_s,
        )
        ev = threading.Event()
        self._command_waiters[cid] = ev
        self.call_soon(
            lambda: self.client.publish(
                self.topics.command(tid),
                command.dumps(),
                qos=1,
                expiry=max(1, math.ceil(ttl_s)),
            )
        )
        if wait is None:
            return None
        ev.wait(wait)
        self._command_waiters.pop(cid, None)
        return self._command_results.get(cid)
