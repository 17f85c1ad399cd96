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
        #: Transactions committed that wrote something, and how many of them are synced.
        self._commits = self._synced = 0
        self._closing = threading.Event()
        self._checkpointer: threading.Thread | None = None

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
            self._in_tx = True
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                try:
                    self._db.execute("COMMIT")
                    if self._db.total_changes != changes:
                        self._commits += 1
                except sqlite3.Error as err:
                    raise StoreError(f"commit to {self.path} failed: {err}") from err
            finally:
                self._in_tx = False
        if sync:
            self.sync()

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
        cur = self._db.execute(
            "INSERT INTO events (at, type, data) VALUES (?, ?, ?)",
            # orjson: the same compact UTF-8 JSON as json.dumps, a fraction of the CPU
            # (this runs for every event of every ticket).
            (at, type, orjson.dumps(data).decode()),
        )
        return int(cur.lastrowid or 0)

    def events(self, after_seq: int = 0) -> Iterator[StoredEvent]:
        cur = self._db.execute(
            "SELECT seq, at, type, data FROM events WHERE seq > ? ORDER BY seq", (after_seq,)
        )
        for seq, at, type_, data in cur:
            yield StoredEvent(seq, at, type_, json.loads(data))

    def last_seq(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        return int(row[0])

    def get_reply(self, ref: int) -> bytes | None:
        """A stored reply by the reference ``put_reply`` returned."""
        row = self._db.execute("SELECT reply FROM replies WHERE id = ?", (ref,)).fetchone()
        return bytes(row[0]) if row else None

    def put_reply(self, key: str, reply: bytes, at: float) -> int:
        cur = self._db.execute(
            "INSERT INTO replies (key, reply, at) VALUES (?, ?, ?)", (key, reply, at)
        )
        return int(cur.lastrowid or 0)

    def reply_index(self, since: float) -> dict[str, int]:
        """Request key → reply reference, for every reply stored since ``since``."""
        return dict(
            self._db.execute("SELECT key, id FROM replies WHERE at >= ? ORDER BY id", (since,))
        )

    def prune_replies(self, before: float) -> int:
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

    def start_checkpointer(self, every_s: float = 2.0) -> None:
        """Move the WAL into the database from a second connection on its own thread.

        SQLite's automatic checkpoint runs inside whichever COMMIT crosses the threshold
        and copies and fsyncs the pages there, a stall of tens of milliseconds for the
        request that happens to commit. A PASSIVE checkpoint from another connection
        never blocks the writer, and sqlite3 releases the GIL while it works."""
        if str(self.path) == ":memory:" or self._checkpointer is not None:
            return
        self._db.execute("PRAGMA wal_autocheckpoint=0")

        def run() -> None:
            db = sqlite3.connect(str(self.path), check_same_thread=False)
            try:
                while not self._closing.wait(every_s):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as err:  # the writer will notice a broken disk itself
                log.warning("WAL checkpoint failed: %s", err)
            finally:
                db.close()

        self._checkpointer = threading.Thread(target=run, name="wal-checkpoint", daemon=True)
        self._checkpointer.start()

    def close(self) -> None:
        self._closing.set()
        if self._checkpointer is not None:
            self._checkpointer.join(5)
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()
