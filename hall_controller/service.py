"""The controller's runner: one thread, MQTT in, the rules, the store, MQTT out.

One thread owns the MQTT connection (``hall_contract.lean``), the engine and the store.
It reads whatever has arrived, hands it to the rules (:class:`~hall_controller.core.
HallCore`, no I/O) and commits what they decided in ONE transaction (group commit),
publishes the batch's events, fsyncs, then sends the replies (every ticket is durable
before its reply) and the retained state. It also reconnects, writes snapshots in small
parts between batches, prunes old replies, and runs the garbage collector when quiet.
"""

from __future__ import annotations

import gc
import itertools
import logging
import math
import queue
import threading
import time
import uuid
from collections.abc import Callable

import orjson

from hall_contract import events as ev
from hall_contract import messages as m
from hall_contract.client import BrokerSettings
from hall_contract.hallconfig import HallConfig
from hall_contract.lean import LeanClient
from hall_contract.mqtt5 import Publish, Will
from hall_contract.topics import Topics, is_id
from hall_controller import views
from hall_controller.core import HallCore, Inbound, Outgoing
from hall_controller.engine import Emitted, Engine
from hall_controller.sealing import Sealer
from hall_controller.state import HallState
from hall_controller.store import EventStore, StoreError
from hall_controller.terminals import AlertSignal, BadReport, TerminalInfo, Terminals
from hall_controller.upgrade import seal_free_text

log = logging.getLogger(__name__)

Clock = Callable[[], float]

TICK_S = 2.0
REPLY_TTL_S = 24 * 3600  # how long a request id is remembered for retries
IDLE_WAKE_S = 0.05  # the longest wait for traffic (call_soon() and stop() wake it)
SNAPSHOT_EVERY = 20_000  # events between state snapshots (bounds the replay at start-up)
SNAPSHOT_PART = 500  # tickets per snapshot part (about half a millisecond to write)
SNAPSHOT_BUSY_STEP_S = 0.05  # under steady traffic, one snapshot part at most this often
SNAPSHOT_INTERVAL_S = 0.2  # queue snapshots and hall status: at most this often
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
#: Events that change a window's state on the window board (and the board's events).
WINDOW_EVENTS = BOARD_EVENTS | {
    "window.paused",
    "window.resumed",
    "window.opened",
    "window.closed",
}
#: Events published on MQTT (the allow-lists are in hall_contract.events).
PUBLIC_EVENTS = frozenset(ev.PUBLISHED)
CALL_EVENTS = ev.CALL_EVENTS

__all__ = ["PUBLIC_EVENTS", "Controller", "TerminalInfo", "rebuild"]


def rebuild(config: HallConfig, store: EventStore) -> tuple[Engine, int]:
    """The engine's state from the latest snapshot plus every event after it. Tickets that
    left memory at a day boundary on the way are put in the store's archive (again: it
    is idempotent)."""
    engine = Engine(config)
    after = 0
    snap = store.latest_snapshot()
    if snap is not None:
        after = snap.seq
        engine.load(HallState.from_parts(snap.header, snap.tickets))
    n = 0
    for se in store.events(after):
        engine.apply(se.at, se.event)
        n += 1
    departed = engine.take_departed()
    if departed:
        with store.transaction():
            store.archive(departed)
    return engine, n


def persist(store: EventStore, core: HallCore, out: Outgoing, now: float) -> list[int]:
    """What a batch decided, into the store's open transaction: its events (returns their
    seqs), the tickets leaving memory, and the replies a retry must get again."""
    seqs = [store.append(x.at, x.data) for x in out.events]
    store.archive(out.departed)
    for r in out.replies:
        if r.key is not None:
            core.reply_keys[r.key] = store.put_reply(r.key, r.stored or r.body, now)
    return seqs


class SnapshotWriter:
    """A snapshot of the engine's state, written a part at a time between batches so it
    never holds up a request for long: the tickets in parts of ``SNAPSHOT_PART``, then
    the tickets that changed meanwhile, again in parts (later parts win when loading),
    until few are left, then those and the rest of the state at the store's last seq. A
    day boundary (tickets leaving memory) or a rebuilt engine abandons it."""

    def __init__(self, store: EventStore, engine: Engine) -> None:
        self.store = store
        self.engine = engine
        self.sid = store.new_snapshot_key()  # the parts' key
        tickets = list(engine.state.tickets.values())
        self.chunks = [
            tickets[i : i + SNAPSHOT_PART] for i in range(0, len(tickets), SNAPSHOT_PART)
        ]
        self.part = 0
        #: tickets changed since it began, in the order first seen: new tickets are thus
        #: in issue order, the order they have in memory (and after a replay)
        self.touched: dict[str, None] = {}
        self.abandoned = False
        self.done = False

    def note(self, events: list[Emitted]) -> None:
        """What a batch changed: tickets to write again at the end."""
        for x in events:
            d = x.data
            if isinstance(d, ev.DayRolled):
                self.abandoned = True
                return
            ref = getattr(d, "ticket", None)
            if isinstance(ref, str):
                self.touched[ref] = None
            elif isinstance(ref, ev.IssuedTicket):
                self.touched[ref.id] = None

    def step(self, engine: Engine) -> None:
        if engine is not self.engine:
            self.abandoned = True
        if self.abandoned:
            self.store.drop_snapshot(self.sid)
            return
        s = engine.state
        if self.part < len(self.chunks):
            part = self.chunks[self.part]
        elif len(self.touched) > SNAPSHOT_PART:
            # what changed meanwhile, a part at a time too, until little is left (a
            # ticket changed again goes to the end, to be written again)
            ids = list(itertools.islice(self.touched, SNAPSHOT_PART))
            for tid in ids:
                del self.touched[tid]
            part = [s.tickets[t] for t in ids if t in s.tickets]
        else:
            last = [s.tickets[t] for t in self.touched if t in s.tickets]
            self.store.put_snapshot_part(self.sid, self.part, orjson.dumps(last))
            header = {**s.header(), "parts": self.part + 1, "parts_of": self.sid}
            self.store.finish_snapshot(self.store.last_seq(), self.sid, orjson.dumps(header))
            self.done = True
            return
        self.store.put_snapshot_part(self.sid, self.part, orjson.dumps(part))
        self.part += 1


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
        started = time.monotonic()
        seal_free_text(store, sealer)  # a store of an older hallkit: once
        self.engine, replayed = rebuild(config, store)
        self.core = HallCore(
            config,
            self.engine,
            store,  # type: ignore[arg-type]
            sealer=sealer,
            reply_keys=store.reply_index(self.clock() - REPLY_TTL_S),
        )
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
        self._snapshot: SnapshotWriter | None = None
        self._snapshot_step_at = 0.0
        self._day_rolled = False
        log.info(
            "state rebuilt in %.2f s: %d events replayed, %d tickets in memory",
            time.monotonic() - started,
            replayed,
            len(self.engine.state.tickets),
        )
        self._batch: list[Inbound | AlertSignal] = []
        #: set on every connect: publish all retained state again
        self._publish_all = False
        self._calls: queue.Queue[Callable[[], object]] = queue.Queue()
        self.terminal_registry = Terminals(self.clock)
        self._command_results: dict[str, m.CommandResult] = {}
        self._command_waiters: dict[str, threading.Event] = {}
        self._stop = threading.Event()
        #: Set when the controller cannot go on (the store failed); the process exits.
        self.fatal = threading.Event()
        self.snapshot_taken = threading.Event()
        self._ready = threading.Event()
        self._worker: threading.Thread | None = None
        self._last_status: bytes | None = None
        self._published_board: bytes | None = None
        self._published_windows: bytes | None = None
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

    @property
    def terminals(self) -> dict[str, TerminalInfo]:
        return self.terminal_registry.info

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
        sig = AlertSignal(kind, level, message)  # type: ignore[arg-type]
        self.call_soon(lambda: self._batch.append(sig))

    def wait_terminal(
        self, tid: str, pred: Callable[[TerminalInfo], bool], timeout: float
    ) -> TerminalInfo | None:
        """Wait until the controller's view of a terminal satisfies ``pred``."""
        return self.terminal_registry.wait(tid, pred, timeout)

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout) and self.connected.wait(timeout)

    # ------------------------------------------------------------ MQTT callbacks
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
        self._publish_all = True
        log.info("controller connected to %s:%s", self.broker.host, self.broker.port)

    def _presence(self, state: str, at: float | None = None) -> bytes:
        """The controller's retained presence: online, offline (a clean stop) or lost (its
        Will), with this connection's sequence number."""
        return orjson.dumps(
            m.ControllerState(
                state,  # type: ignore[arg-type]
                self._seq,
                self.clock() if at is None else at,
                self.config.version,
            )
        )

    def _on_disconnect(self, reason: str) -> None:
        if self.connected.is_set():
            log.warning("controller lost the broker (%s); reconnecting", reason)
        self.connected.clear()

    def _on_message(self, msg: Publish) -> None:
        parts = msg.topic.split("/")
        # hall/{h}/t/{tid}/...
        if len(parts) < 5 or parts[2] != "t":
            return
        tid = parts[3]
        kind = parts[4]
        if not is_id(tid):
            # Not a terminal id the contract allows (the ACL could not name it, no reply
            # topic can be built for it): dropped here, before it can spoil a batch.
            self.core.rejected.warning(
                "ignored a %s message on a malformed terminal topic", m.safe_name(kind)
            )
            return
        try:
            if kind == "req" and len(parts) == 6:
                self._batch.append(
                    Inbound(tid, parts[5], msg.payload, msg.correlation, msg.response_topic)
                )
            elif kind == "state":
                sig = self.terminal_registry.presence(tid, msg.payload)
                if sig is not None:
                    self._batch.append(sig)
            elif kind == "device" and len(parts) == 6:
                sig = self.terminal_registry.device(tid, msg.payload)
                if sig is not None:
                    self._batch.append(sig)
            elif kind == "hb":
                self.terminal_registry.heartbeat(tid)
            elif kind == "cmdres":
                res = m.CommandResult.model_validate_json(msg.payload)
                self._command_results[res.id] = res
                waiter = self._command_waiters.get(res.id)
                if waiter:
                    waiter.set()
        except ValueError as err:  # pydantic's ValidationError too
            self.core.rejected.warning(
                "ignored a malformed %s message from terminal %s: %s",
                m.safe_name(kind),
                tid,
                str(err) if isinstance(err, BadReport) else m.problem(err),
            )

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        """The controller's one thread: network I/O, decisions, store, publishing.

        After a read, everything else already waiting on the socket is read too, and the
        lot is one batch: one transaction, one fsync (group commit)."""
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
                if self._snapshot is not None and not self._batch:
                    timeout = 0.0  # a snapshot part to write while nothing waits
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
                publish_all, self._publish_all = self._publish_all, False
                if (
                    batch
                    or tick
                    or publish_all
                    or (self._snap_due is not None and time.monotonic() >= self._snap_due)
                ):
                    try:
                        self._process(batch, tick, publish_all)
                    except StoreError:
                        # The disk refused: stop rather than acknowledge what is not durable.
                        log.exception("the event store failed; the controller stops")
                        self.fatal.set()
                        # Gone without acknowledging the batch: the broker keeps its requests
                        # for the next controller and publishes our Will.
                        self.client.abort()
                        return
                    except Exception:
                        # A bug somewhere in the batch: the transaction was rolled back, so
                        # the state is rebuilt from the store to match it again.
                        log.exception(
                            "a batch of %d requests failed; state rebuilt from the store",
                            len(batch),
                        )
                        self._rebuild()
                    self.client.flush()  # replies, events and acks: one write
                self._snapshot_step(idle=not batch)
                self.store.finish_checkpoint()  # between batches: see SqliteStore
        finally:
            self._shutdown()

    def _rebuild(self) -> None:
        self.engine, _n = rebuild(self.config, self.store)
        self.core = HallCore(
            self.config,
            self.engine,
            self.store,  # type: ignore[arg-type]
            sealer=self.sealer,
            reply_keys=self.store.reply_index(self.clock() - REPLY_TTL_S),
        )

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
        pruning old replies, starting a snapshot (written in parts, see SnapshotWriter)
        and, with ``manage_gc``, a full garbage collection."""
        mono = time.monotonic()
        if busy:
            self._last_busy = mono
        quiet = mono - self._last_busy >= 1.0
        if quiet and mono - self._last_prune >= 3600:
            # Retries come within seconds; a day's margin is plenty.
            with self.store.transaction():
                self.store.prune_replies(self.clock() - REPLY_TTL_S)
            self.core.reply_keys = self.store.reply_index(self.clock() - REPLY_TTL_S)
            self._last_prune = mono
        due = self._since_snapshot >= SNAPSHOT_EVERY or (self._day_rolled and quiet)
        if due and self._snapshot is None:
            self._snapshot = SnapshotWriter(self.store, self.engine)
            self._since_snapshot = 0
            self._day_rolled = False
        if not self.manage_gc:
            return
        since_gc = mono - self._last_full_gc
        if (quiet and since_gc >= 60) or since_gc >= 600:
            gc.collect()
            gc.freeze()  # what survived is the hall's state: keep it out of young passes
            self._last_full_gc = mono

    def _snapshot_step(self, *, idle: bool) -> None:
        w = self._snapshot
        if w is None:
            return
        mono = time.monotonic()
        if not idle and mono - self._snapshot_step_at < SNAPSHOT_BUSY_STEP_S:
            return
        self._snapshot_step_at = mono
        w.step(self.engine)
        if w.abandoned or w.done:
            self._snapshot = None
            if w.done:
                self.snapshot_taken.set()
            else:
                self._since_snapshot = SNAPSHOT_EVERY  # try again soon

    def _process(self, batch: list[Inbound | AlertSignal], tick: bool, publish_all: bool) -> None:
        with self.store.transaction(sync=False):
            # Hall time never runs backwards (a clock stepped back by NTP, a restart on
            # a clock behind the last event): events stay in time order, and each
            # queue's tickets stay in waiting order, which the engine relies on.
            now = max(self.clock(), self.engine.last_at)
            out = self.core.handle(batch, now, tick=tick)
            seqs = persist(self.store, self.core, out, now)
        self._since_snapshot += len(out.events)
        if self._snapshot is not None:
            self._snapshot.note(out.events)
        if out.departed or any(isinstance(x.data, ev.DayRolled) for x in out.events):
            self._day_rolled = True
        # Committed (in the WAL, safe from any process's death): the events may go out.
        # Calls first, and at once: a display (and the citizen in front of it) waits for
        # them, while the disk flushes. Replies wait for the fsync below.
        calls = False
        for seq, x in zip(seqs, out.events, strict=True):
            if x.data.TYPE in CALL_EVENTS:
                self._publish_event(seq, x)
                calls = True
        for seq, x in zip(seqs, out.events, strict=True):
            if x.data.PUBLIC and x.data.TYPE not in CALL_EVENTS:
                self._publish_event(seq, x)
        if calls:
            # Now, not with the replies; the PUBACKs of the batch's requests wait for
            # the fsync, so the broker keeps any request not yet durable.
            self.client.flush(acks=False)
        # fsync, then the replies. (A separate fsync thread, so the next batch could be
        # decided meanwhile, was tried and measured slower: its wake-up waits for the GIL
        # of this busy thread, up to the 5 ms switch interval.)
        self.store.sync()
        self._answer(out)
        self.client.flush()  # the replies, before the displays' snapshots are built
        self._publish_state(out.events, force=publish_all or tick)

    def _publish_event(self, seq: int, x: Emitted) -> None:
        d = x.data
        # Calls at QoS 1: a display must not miss one. The rest are notifications whose
        # state is also in the retained snapshots.
        self.client.publish(self.topics.event(d.TYPE), ev.envelope(seq, x.at, d), qos=d.QOS)

    def _answer(self, out: Outgoing) -> None:
        for r in out.replies:
            # QoS 0 is enough for a reply: a lost one is recovered by the terminal's retry,
            # which the stored reply answers (idempotent ids). It saves a PUBACK per request.
            self.client.publish(
                self.topics.reply(r.terminal), r.body, qos=0, correlation=r.correlation
            )
        for a in out.alerts:
            self.client.publish(self.topics.alerts, orjson.dumps(a), qos=1)

    def _publish_state(self, events: list[Emitted], *, force: bool) -> None:
        """Retained state for displays. The call board goes out at once (a call is what a
        waiting citizen looks for); queue snapshots and the hall status are coalesced to
        at most one per ``SNAPSHOT_INTERVAL_S``, so a burst of tickets costs one each."""
        queues = self._queue_ids
        board = force
        windows = force
        for x in events:
            d = x.data
            for k in ("queue", "to_queue", "from_queue"):
                q = getattr(d, k, None)
                if q in queues:
                    self._dirty.add(q)
            if isinstance(d, ev.TicketIssued):
                self._dirty.add(d.ticket.queue)
            if d.TYPE in BOARD_EVENTS:
                board = True
            if d.TYPE in WINDOW_EVENTS:
                windows = True
            if isinstance(d, ev.DayRolled):
                force = True
        if force:
            self._dirty |= queues
        e = self.engine
        # The board changes only when a window's ticket does; a burst of issued tickets
        # leaves it alone, so it is not rebuilt for them.
        if board or force:
            body = orjson.dumps(views.call_board(e))
            if body != self._published_board:
                self.client.publish(self.topics.calls, body, qos=1, retain=True)
                self._published_board = body
        if windows or force:
            body = orjson.dumps(views.window_board(e))
            if body != self._published_windows:
                self.client.publish(self.topics.windows, body, qos=1, retain=True)
                self._published_windows = body
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
                orjson.dumps(views.queue_snapshot(e, qid, now)),
                qos=1,
                retain=True,
            )
        self._dirty.clear()
        self._snap_due = None
        self._last_snap = mono
        minute = int(now // 60)  # opening hours change on whole minutes
        if self._next_opening[0] != minute:
            nxt = e.next_opening(now)
            self._next_opening = (minute, nxt.isoformat() if nxt else None)
        body = orjson.dumps(
            m.HallStatus(
                open=e.is_open(now),
                next_opening=self._next_opening[1],
                config_version=self.config.version,
                waiting={q.id: e.index.waiting_count(q.id) for q in self.config.queues},
            )
        )
        if body != self._last_status:
            self.client.publish(self.topics.hall_status, body, qos=1, retain=True)
            self._last_status = body

    # ------------------------------------------------------------ terminals
    def _publish_desired_config(self) -> None:
        cfg = self.config.model_dump(mode="json", exclude={"broker", "data_dir"})
        body = orjson.dumps(m.DesiredConfig(version=self.config.version, config=cfg))
        for t in self.config.terminals:
            self.client.publish(self.topics.desired_config(t.id), body, qos=1, retain=True)

    def send_command(
        self,
        tid: str,
        cmd: m.CommandName,
        args: dict[str, str] | None = None,
        *,
        ttl_s: int = 60,
        wait: float | None = None,
    ) -> m.CommandResult | None:
        """A command with an expiry and an idempotency id; optionally wait for its result."""
        now = self.clock()
        cid = f"cmd-{uuid.uuid4().hex}"  # unique, so a terminal never drops one as a repeat
        command = m.Command(id=cid, cmd=cmd, args=args or {}, expires_at=now + ttl_s)
        waiter = threading.Event()
        self._command_waiters[cid] = waiter
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
        waiter.wait(wait)
        self._command_waiters.pop(cid, None)
        return self._command_results.get(cid)
