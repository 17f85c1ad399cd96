"""The durable event store: every change of the hall is an event, appended in order.

A small interface (:class:`EventStore`) so PostgreSQL can follow; SQLite in WAL mode is
the default. A batch of requests is one transaction (group commit): every ticket is on
disk before its reply leaves, at one fsync per batch instead of one per ticket.

Commit and fsync are two steps (``transaction(sync=False)`` then ``sync()``), which is
what SQLite's ``synchronous=FULL`` does inside COMMIT: once committed, the batch is in
the WAL file and survives the death of any process; once synced, it survives a power
loss too. The controller publishes the batch's events between the two, so a display
shows a call while the disk is still flushing, and answers requests only after.

Tables: ``events`` (the log), ``replies`` (request id → reply, for idempotent retries),
``snapshots`` (engine state at an event seq, so start-up replays only the tail).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The store cannot be opened or written; the controller stops rather than lie."""


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    at: float
    type: str
    data: dict[str, Any]


class EventStore(Protocol):
    def transaction(self, *, sync: bool = True) -> Any: ...
    @property
    def commits(self) -> int: ...
    def sync(self) -> int: ...
    def append(self, at: float, type: str, data: dict[str, Any]) -> int: ...
    def events(self, after_seq: int = 0) -> Iterator[StoredEvent]: ...
    def last_seq(self) -> int: ...
    def get_reply(self, ref: int) -> bytes | None: ...
    def put_reply(self, key: str, reply: bytes, at: float) -> int: ...
    def reply_index(self, since: float) -> dict[str, int]: ...
    def prune_replies(self, before: float) -> int: ...
    def put_snapshot(self, seq: int, state: dict[str, Any]) -> None: ...
    def finish_checkpoint(self) -> None: ...
    def latest_snapshot(self) -> tuple[int, dict[str, Any]] | None: ...
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
CREATE TABLE IF NOT EXISTS snapshots (
    seq  INTEGER PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

SCHEMA_VERSION = "2"
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


class SqliteStore:
    """SQLite in WAL mode. Used from one writer thread; reads may come from others."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._wal = None if str(path) == ":memory:" else f"{self.path}-wal"
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: COMMIT writes the WAL without fsync; sync() is the fsync (see above).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] == "1":
                self._db.executescript("BEGIN IMMEDIATE;" + MIGRATE_1_TO_2 + "COMMIT;")
                log.info("%s: event store migrated from schema 1 to 2", path)
            elif row[0] != SCHEMA_VERSION:
                raise StoreError(
                    f"{path}: store schema {row[0]}, this controller knows {SCHEMA_VERSION}"
                )
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

    def append(self, at: float, type: str, data: dict[str, Any]) -> int:
        seq = self._next_seq
        self._next_seq += 1
        # orjson: the same compact UTF-8 JSON as json.dumps, a fraction of the CPU (this
        # runs for every event of every ticket).
        self._new_events.append((seq, at, type, orjson.dumps(data).decode()))
        if not self._in_tx:
            self._write_new()  # autocommit
        return seq

    def events(self, after_seq: int = 0) -> Iterator[StoredEvent]:
        self._before_read()
        cur = self._db.execute(
            "SELECT seq, at, type, data FROM events WHERE seq > ? ORDER BY seq", (after_seq,)
        )
        for seq, at, type_, data in cur:
            yield StoredEvent(seq, at, type_, json.loads(data))

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

    def put_snapshot(self, seq: int, state: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO snapshots VALUES (?, ?)",
            (seq, json.dumps(state, ensure_ascii=False, separators=(",", ":"))),
        )
        self._db.execute("DELETE FROM snapshots WHERE seq < ?", (seq,))

    def latest_snapshot(self) -> tuple[int, dict[str, Any]] | None:
        row = self._db.execute(
            "SELECT seq, data FROM snapshots ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return (int(row[0]), json.loads(row[1])) if row else None

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
