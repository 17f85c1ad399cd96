"""The durable event store: every change of the hall is an event, appended in order.

A small interface (:class:`EventStore`) so PostgreSQL can follow; SQLite in WAL mode is
the default. A batch of requests is one transaction (group commit): every ticket is on
disk before its reply leaves, at one fsync per batch instead of one per ticket.

Commit and fsync are two steps (``transaction(sync=False)`` then ``sync()``), which is
what SQLite's ``synchronous=FULL`` does inside COMMIT: once committed, the batch is in
the WAL file and survives the death of any process; once synced, it survives a power
loss too. The controller publishes the batch's events between the two, so a display
shows a call while the disk is still flushing, and answers requests only after.

Tables:

- ``events`` — the log (typed events of ``hall_contract.events``, stored whole);
- ``replies`` — request key → reply, for idempotent retries;
- snapshots of the engine's state at an event seq, written in parts between batches (see
  the controller's runner) so start-up replays only the tail: in a file of their own
  beside the store (``hall-snapshots.db``), never fsync'd with the requests — a lost
  snapshot costs a longer replay, nothing else, and its writes stay out of the fsync
  every ticket waits for;
- ``tickets`` — the archive: tickets that left memory at a day boundary, by id and by
  lookup token (a late rating, a status lookup, the reports);
- ``cases`` — every case (办件), kept up to date from the case events in the same
  transaction (lookups by case number and by citizen key).

The files are created readable by the controller's user only (0600): they hold citizen
keys, sealed free text and sealed mailing addresses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from hall_contract import events as ev

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The store cannot be opened or written; the controller stops rather than lie."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    at: float
    event: ev.Event

    @property
    def type(self) -> str:
        return self.event.TYPE


@dataclass(frozen=True, slots=True)
class Snapshot:
    seq: int
    header: dict[str, Any]
    tickets: list[dict[str, Any]]


class EventStore(Protocol):
    def transaction(self, *, sync: bool = True) -> Any: ...
    @property
    def commits(self) -> int: ...
    def sync(self) -> int: ...
    def append(self, at: float, event: ev.Event) -> int: ...
    def events(self, after_seq: int = 0) -> Iterator[StoredEvent]: ...
    def last_seq(self) -> int: ...
    def get_reply(self, ref: int) -> bytes | None: ...
    def put_reply(self, key: str, reply: bytes, at: float) -> int: ...
    def reply_index(self, since: float) -> dict[str, int]: ...
    def prune_replies(self, before: float) -> int: ...
    def rewrite_events(
        self, types: tuple[str, ...], fn: Callable[[str, dict[str, Any]], dict[str, Any] | None]
    ) -> int: ...
    def drop_replies_containing(self, needle: bytes) -> int: ...
    def meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def archive(self, tickets: list[Any]) -> None: ...
    def archived_ticket(
        self, *, token: str | None = None, tid: str | None = None
    ) -> dict[str, Any] | None: ...
    def case(self, case_no: str) -> ev.CaseRecord | None: ...
    def cases_of(self, citizen_key: str, limit: int) -> list[ev.CaseRecord]: ...
    def put_snapshot_part(self, seq: int, part: int, data: bytes) -> None: ...
    def finish_snapshot(self, seq: int, parts_of: int, header: bytes) -> None: ...
    def new_snapshot_key(self) -> int: ...
    def drop_snapshot(self, seq: int) -> None: ...
    def latest_snapshot(self) -> Snapshot | None: ...
    def finish_checkpoint(self) -> None: ...
    def close(self) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq  INTEGER PRIMARY KEY,
    at   REAL NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replies (
    id    INTEGER PRIMARY KEY,
    key   TEXT NOT NULL,
    reply BLOB NOT NULL,
    at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
#: Tables of schema 3 (created by the migration from 2, or with a new store).
SCHEMA_3 = """
CREATE TABLE IF NOT EXISTS tickets (
    id     TEXT PRIMARY KEY,
    token  TEXT NOT NULL,
    day    TEXT NOT NULL,
    number TEXT NOT NULL,
    data   BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_by_token ON tickets (token);
CREATE TABLE IF NOT EXISTS cases (
    case_no     TEXT PRIMARY KEY,
    citizen_key TEXT,
    accepted_at REAL NOT NULL,
    data        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_by_citizen ON cases (citizen_key, accepted_at);
"""

SCHEMA_VERSION = "3"
#: Set in ``meta`` once no event holds free text in clear (see hall_controller.upgrade).
FREE_TEXT_SEALED = "free_text_sealed"
#: Schema 1 kept replies under a primary key of request ids: every reply wrote a page of
#: that index at random (terminals interleave), the biggest part of each commit. Schema 2
#: appends replies in id order; the controller keeps the request id → row map in memory.
MIGRATE_1_TO_2 = """
ALTER TABLE replies RENAME TO replies_v1;
CREATE TABLE replies (
    id    INTEGER PRIMARY KEY,
    key   TEXT NOT NULL,
    reply BLOB NOT NULL,
    at    REAL NOT NULL
);
INSERT INTO replies (key, reply, at) SELECT key, reply, at FROM replies_v1 ORDER BY at;
DROP TABLE replies_v1;
UPDATE meta SET value = '2' WHERE key = 'schema';
"""
#: Schema 3: the ticket archive and the cases table (memory holds the live day only), and
#: snapshots in their own file. Snapshots of schema 2 held every ticket ever issued, in
#: clear (free text included): they are dropped, and the next start replays the events
#: once.
MIGRATE_2_TO_3 = (
    SCHEMA_3
    + """
DROP TABLE IF EXISTS snapshots;
UPDATE meta SET value = '3' WHERE key = 'schema';
"""
)
#: The snapshots' own file (``{store}-snapshots.db`` beside the store).
SNAPSHOT_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    seq  INTEGER PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_parts (
    seq  INTEGER NOT NULL,
    part INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (seq, part)
);
"""


def private_file(path: Path) -> None:
    """Create ``path`` (if missing) and make it readable by this user only."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class SqliteStore:
    """SQLite in WAL mode. Used from one writer thread; reads may come from others."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        memory = str(path) == ":memory:"
        self._wal = None if memory else f"{self.path}-wal"
        try:
            if not memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # SQLite gives its -wal and -shm files the database file's mode.
                private_file(self.path)
                for extra in (f"{self.path}-wal", f"{self.path}-shm"):
                    if os.path.exists(extra):
                        os.chmod(extra, 0o600)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: COMMIT writes the WAL without fsync; sync() is the fsync (see above).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            version = row[0] if row else None
            if version is None:
                self._db.executescript(SCHEMA_3)
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                # a new store has never held free text in clear (hall_controller.upgrade)
                self._db.execute("INSERT INTO meta VALUES (?, '1')", (FREE_TEXT_SEALED,))
            if version == "1":
                self._db.executescript("BEGIN IMMEDIATE;" + MIGRATE_1_TO_2 + "COMMIT;")
                log.info("%s: event store migrated from schema 1 to 2", path)
                version = "2"
            if version == "2":
                self._migrate_2_to_3()
                log.info("%s: event store migrated from schema 2 to 3", path)
                version = "3"
            if version not in (None, SCHEMA_VERSION):
                raise StoreError(
                    f"{path}: store schema {version}, this controller knows {SCHEMA_VERSION}"
                )
            snap_path = (
                ":memory:" if memory else self.path.with_name(f"{self.path.stem}-snapshots.db")
            )
            if not memory:
                private_file(Path(snap_path))
            self.snapshot_path = snap_path
            # A second connection, to another file: written between batches, never part
            # of their transactions, and never fsync'd (a lost snapshot means a longer
            # replay at start-up, no lost event).
            self._snap = sqlite3.connect(
                str(snap_path), check_same_thread=False, isolation_level=None
            )
            self._snap.execute("PRAGMA journal_mode=WAL")
            self._snap.execute("PRAGMA synchronous=OFF")
            self._snap.executescript(SNAPSHOT_SCHEMA)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open the event store {path}: {err}") from err
        self._lock = threading.RLock()
        self._in_tx = False
        self._tx_thread = 0
        # Rows of the open transaction, written with one executemany() per table at
        # COMMIT (a statement per row cost more than the rest of storing a ticket). Ids
        # are handed out here, so callers get them at once.
        self._new_events: list[tuple[int, float, str, str]] = []
        self._new_replies: list[tuple[int, str, bytes, float]] = []
        self._next_seq = self._max("events", "seq") + 1
        self._next_reply = self._max("replies", "id") + 1
        #: Transactions committed that wrote something, and how many of them are synced.
        self._commits = self._synced = 0
        self._closing = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._tail_due = False

    @contextmanager
    def transaction(self, *, sync: bool = True) -> Iterator[None]:
        """One atomic batch. With ``sync`` (the default) it is on disk when this returns;
        without, call ``sync()`` before telling anyone it is durable."""
        with self._lock:
            if self._in_tx:  # nested: part of the outer batch
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            changes = self._db.total_changes
            ids = self._next_seq, self._next_reply
            self._in_tx, self._tx_thread = True, threading.get_ident()
            try:
                yield
                self._write_new()
            except sqlite3.Error as err:
                self._abandon(ids)
                raise StoreError(f"writing to {self.path} failed: {err}") from err
            except BaseException:
                self._abandon(ids)
                raise
            else:
                try:
                    self._db.execute("COMMIT")
                    if self._db.total_changes != changes:
                        self._commits += 1
                except sqlite3.Error as err:
                    self._abandon(ids)
                    raise StoreError(f"commit to {self.path} failed: {err}") from err
            finally:
                self._in_tx = False
        if sync:
            self.sync()

    def _max(self, table: str, column: str) -> int:
        row = self._db.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}").fetchone()
        return int(row[0])

    def _write_new(self) -> None:
        if self._new_events:
            self._db.executemany(
                "INSERT INTO events (seq, at, type, data) VALUES (?, ?, ?, ?)", self._new_events
            )
            self._new_events.clear()
        if self._new_replies:
            self._db.executemany(
                "INSERT INTO replies (id, key, reply, at) VALUES (?, ?, ?, ?)", self._new_replies
            )
            self._new_replies.clear()

    def _before_read(self) -> None:
        """Inside its own transaction, the writer reads what it has added so far."""
        if self._in_tx and self._tx_thread == threading.get_ident():
            self._write_new()

    def _abandon(self, ids: tuple[int, int]) -> None:
        self._new_events.clear()
        self._new_replies.clear()
        self._next_seq, self._next_reply = ids
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")

    @property
    def commits(self) -> int:
        """How many transactions that wrote something have been committed."""
        return self._commits

    def sync(self) -> int:
        """fsync the WAL: every transaction committed so far survives a power loss.
        Returns how many commits that covers (compare with ``commits``). Safe to call from
        another thread than the writer's: it touches the WAL file, not the connection.

        The same system call SQLite makes at COMMIT with synchronous=FULL (fdatasync of
        the WAL). The file is opened each time: SQLite may recreate it, and an fsync
        through a descriptor of an older file would sync nothing that matters."""
        target = self._commits  # committed before the fsync starts: covered by it
        if self._wal is None or target <= self._synced:
            return target
        try:
            try:
                fd = os.open(self._wal, os.O_RDONLY)
            except FileNotFoundError:
                return target  # no WAL (yet): nothing committed is waiting in one
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            raise StoreError(f"fsync of {self._wal} failed: {err}") from err
        self._synced = max(self._synced, target)
        return target

    def append(self, at: float, event: ev.Event) -> int:
        seq = self._next_seq
        self._next_seq += 1
        # orjson of the dataclass: compact UTF-8 JSON at a fraction of json's CPU (this
        # runs for every event of every ticket).
        self._new_events.append((seq, at, event.TYPE, event.dumps().decode()))
        project = _PROJECTIONS.get(type(event))
        if project is not None:
            self._before_read()
            project(self._db, event)
        if not self._in_tx:
            self._write_new()  # autocommit
        return seq

    def events(self, after_seq: int = 0) -> Iterator[StoredEvent]:
        """The events after ``after_seq``, typed (old ones brought up to date)."""
        self._before_read()
        cur = self._db.execute(
            "SELECT seq, at, type, data FROM events WHERE seq > ? ORDER BY seq", (after_seq,)
        )
        for seq, at, type_, data in cur:
            yield StoredEvent(seq, at, ev.load(type_, orjson.loads(data)))

    def rewrite_events(
        self, types: tuple[str, ...], fn: Callable[[str, dict[str, Any]], dict[str, Any] | None]
    ) -> int:
        """Rewrite stored events of ``types`` in place (an upgrade: ``fn`` returns the new
        data, or None to leave one as it is), with the old bytes overwritten on disk
        (secure_delete) and the WAL truncated afterwards. Returns how many changed."""
        marks = ",".join("?" * len(types))
        rows = self._db.execute(
            f"SELECT seq, type, data FROM events WHERE type IN ({marks})", types
        ).fetchall()
        changed = 0
        self._db.execute("PRAGMA secure_delete=ON")
        try:
            with self.transaction():
                for seq, type_, data in rows:
                    new = fn(type_, orjson.loads(data))
                    if new is not None:
                        self._db.execute(
                            "UPDATE events SET data = ? WHERE seq = ?",
                            (orjson.dumps(new).decode(), seq),
                        )
                        changed += 1
        finally:
            self._db.execute("PRAGMA secure_delete=OFF")
        if changed:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return changed

    def drop_replies_containing(self, needle: bytes) -> int:
        """Delete stored replies holding ``needle`` (overwritten on disk); how many."""
        self._db.execute("PRAGMA secure_delete=ON")
        try:
            with self.transaction():
                cur = self._db.execute("DELETE FROM replies WHERE instr(reply, ?) > 0", (needle,))
                n = cur.rowcount
        finally:
            self._db.execute("PRAGMA secure_delete=OFF")
        return n

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def last_seq(self) -> int:
        self._before_read()
        return self._max("events", "seq")

    def get_reply(self, ref: int) -> bytes | None:
        """A stored reply by the reference ``put_reply`` returned."""
        self._before_read()
        row = self._db.execute("SELECT reply FROM replies WHERE id = ?", (ref,)).fetchone()
        return bytes(row[0]) if row else None

    def put_reply(self, key: str, reply: bytes, at: float) -> int:
        ref = self._next_reply
        self._next_reply += 1
        self._new_replies.append((ref, key, reply, at))
        if not self._in_tx:
            self._write_new()  # autocommit
        return ref

    def reply_index(self, since: float) -> dict[str, int]:
        """Request key → reply reference, for every reply stored since ``since``."""
        self._before_read()
        return dict(
            self._db.execute("SELECT key, id FROM replies WHERE at >= ? ORDER BY id", (since,))
        )

    def prune_replies(self, before: float) -> int:
        self._before_read()
        cur = self._db.execute("DELETE FROM replies WHERE at < ?", (before,))
        return cur.rowcount

    # ------------------------------------------------------------- snapshots
    def put_snapshot_part(self, seq: int, part: int, data: bytes) -> None:
        """One part (a list of tickets) of the snapshot begun under key ``seq``; not used
        until ``finish_snapshot``."""
        try:
            self._snap.execute(
                "INSERT OR REPLACE INTO snapshot_parts VALUES (?, ?, ?)", (seq, part, data)
            )
        except sqlite3.Error as err:
            raise StoreError(f"writing a snapshot to {self.snapshot_path} failed: {err}") from err

    def finish_snapshot(self, seq: int, parts_of: int, header: bytes) -> None:
        """The snapshot at ``seq`` is complete: its parts are written under ``parts_of``
        (the key it was begun with). It replaces older ones. ``header`` is the state
        without its tickets, with ``parts`` (how many) and ``parts_of``."""
        try:
            self._snap.execute("BEGIN")
            self._snap.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?)", (seq, header.decode())
            )
            self._snap.execute("DELETE FROM snapshots WHERE seq < ?", (seq,))
            self._snap.execute("DELETE FROM snapshot_parts WHERE seq != ?", (parts_of,))
            self._snap.execute("COMMIT")
        except sqlite3.Error as err:
            with contextlib.suppress(sqlite3.Error):
                self._snap.execute("ROLLBACK")
            raise StoreError(f"writing a snapshot to {self.snapshot_path} failed: {err}") from err

    def new_snapshot_key(self) -> int:
        """A key for the parts of a snapshot about to be written, used by no other."""
        row = self._snap.execute("SELECT COALESCE(MAX(seq), 0) FROM snapshot_parts").fetchone()
        return int(row[0]) + 1

    def drop_snapshot(self, seq: int) -> None:
        """Forget the parts of an unfinished snapshot."""
        self._snap.execute("DELETE FROM snapshot_parts WHERE seq = ?", (seq,))

    def latest_snapshot(self) -> Snapshot | None:
        """The newest complete snapshot that the events reach (one ahead of the events,
        e.g. beside a store restored from an older backup, is not used)."""
        last = self.last_seq()
        row = self._snap.execute(
            "SELECT seq, data FROM snapshots WHERE seq <= ? ORDER BY seq DESC LIMIT 1", (last,)
        ).fetchone()
        if row is None:
            return None
        seq, header = int(row[0]), orjson.loads(row[1])
        tickets: list[dict[str, Any]] = []
        parts = self._snap.execute(
            "SELECT part, data FROM snapshot_parts WHERE seq = ? ORDER BY part",
            (header.get("parts_of", seq),),
        ).fetchall()
        if [p for p, _d in parts] != list(range(header.get("parts", -1))):
            log.warning(
                "%s: snapshot %d is missing parts; replaying all events", self.snapshot_path, seq
            )
            return None
        for _p, data in parts:
            tickets += orjson.loads(data)
        return Snapshot(seq, header, tickets)

    # ------------------------------------------------------ archive and cases
    def archive(self, tickets: list[Any]) -> None:
        """Tickets leaving memory (slotted dataclasses with id, token, day, number)."""
        if tickets:
            self._before_read()
            self._db.executemany(
                "INSERT OR REPLACE INTO tickets VALUES (?, ?, ?, ?, ?)",
                [(t.id, t.token, t.day, t.number, orjson.dumps(t)) for t in tickets],
            )

    def archived_ticket(
        self, *, token: str | None = None, tid: str | None = None
    ) -> dict[str, Any] | None:
        self._before_read()
        if token is not None:
            row = self._db.execute("SELECT data FROM tickets WHERE token = ?", (token,))
        else:
            row = self._db.execute("SELECT data FROM tickets WHERE id = ?", (tid,))
        found = row.fetchone()
        return orjson.loads(found[0]) if found else None  # type: ignore[no-any-return]

    def case(self, case_no: str) -> ev.CaseRecord | None:
        self._before_read()
        row = self._db.execute("SELECT data FROM cases WHERE case_no = ?", (case_no,)).fetchone()
        return ev.CaseRecord(**orjson.loads(row[0])) if row else None

    def cases_of(self, citizen_key: str, limit: int) -> list[ev.CaseRecord]:
        self._before_read()
        rows = self._db.execute(
            "SELECT data FROM cases WHERE citizen_key = ? ORDER BY accepted_at DESC LIMIT ?",
            (citizen_key, limit),
        )
        return [ev.CaseRecord(**orjson.loads(r[0])) for r in rows]

    def _migrate_2_to_3(self) -> None:
        self._db.executescript("BEGIN IMMEDIATE;" + MIGRATE_2_TO_3)
        rows = self._db.execute(
            "SELECT type, data FROM events WHERE type IN ('case.accepted', 'case.updated') "
            "ORDER BY seq"
        )
        for type_, data in rows.fetchall():
            event = ev.load(type_, orjson.loads(data))
            _PROJECTIONS[type(event)](self._db, event)
        self._db.execute("COMMIT")

    def start_checkpointer(self, every_s: float = 1.0) -> None:
        """Move the WAL into the database from a second connection on its own thread.

        SQLite's automatic checkpoint runs inside whichever COMMIT crosses the threshold
        and copies and fsyncs the pages there, a stall of tens of milliseconds for the
        request that happens to commit. A PASSIVE checkpoint from another connection
        never blocks the writer, and sqlite3 releases the GIL while it works.

        Under a steady stream of commits the WAL then never restarts from its beginning
        (the writer only restarts it when its own read began on a fully copied WAL):
        measured, it grew 9 MB/s, and every fsync of a growing file also commits the
        file system's journal. So after each background checkpoint the writer runs one
        itself between batches (``finish_checkpoint()``), copying only the frames
        written meanwhile; its next commit restarts the WAL."""
        if str(self.path) == ":memory:" or self._checkpointer is not None:
            return
        self._db.execute("PRAGMA wal_autocheckpoint=0")

        def run() -> None:
            db = sqlite3.connect(str(self.path), check_same_thread=False)
            try:
                while not self._closing.wait(every_s):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self._tail_due = True
            except sqlite3.Error as err:  # the writer will notice a broken disk itself
                log.warning("WAL checkpoint failed: %s", err)
            finally:
                db.close()

        self._checkpointer = threading.Thread(target=run, name="wal-checkpoint", daemon=True)
        self._checkpointer.start()

    def finish_checkpoint(self) -> None:
        """Between batches (not inside a transaction), after a background checkpoint:
        copy the frames written since, so the WAL restarts (see ``start_checkpointer``).
        Cheap: a few frames and one fsync of the database file, once a second."""
        if not self._tail_due or self._in_tx:
            return
        self._tail_due = False
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as err:
            log.warning("WAL checkpoint failed: %s", err)

    def close(self) -> None:
        self._closing.set()
        if self._checkpointer is not None:
            self._checkpointer.join(5)
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()
        with contextlib.suppress(sqlite3.Error):
            self._snap.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._snap.close()


# ----------------------------------------------------------------- projections
def _case_accepted(db: sqlite3.Connection, e: Any) -> None:
    c = e.case
    db.execute(
        "INSERT OR REPLACE INTO cases VALUES (?, ?, ?, ?)",
        (c.case_no, c.citizen_key, c.accepted_at, orjson.dumps(c)),
    )


def _case_updated(db: sqlite3.Connection, e: Any) -> None:
    db.execute(
        "UPDATE cases SET data = json_set(data, '$.state', ?) WHERE case_no = ?",
        (e.state, e.case_no),
    )


def _rated(db: sqlite3.Connection, e: Any) -> None:
    # Only a ticket of an earlier day is in the archive; today's are in memory.
    db.execute(
        "UPDATE tickets SET data = json_set(data, '$.rated', json('true'), "
        "'$.rating_open', json('false')) WHERE id = ?",
        (e.ticket,),
    )


#: Tables kept up to date from the events, in the same transaction as the event.
_PROJECTIONS: dict[type[ev.Event], Callable[[sqlite3.Connection, Any], None]] = {
    ev.CaseAccepted: _case_accepted,
    ev.CaseUpdated: _case_updated,
    ev.RatingSubmitted: _rated,
}
