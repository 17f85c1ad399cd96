"""The SQLite event store: replies, schema migration, commit and sync."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hall_contract.events import TicketExpired
from hall_controller.store import SCHEMA_VERSION, SqliteStore, StoredEvent, StoreError


def ev(i: int, pad: int = 0) -> TicketExpired:
    """A small event carrying ``i`` (and ``pad`` bytes of padding)."""
    return TicketExpired(f"t{i}", "A001", "general" + "x" * pad)


def n(e: StoredEvent) -> int:
    assert isinstance(e.event, TicketExpired)
    return int(e.event.ticket[1:])


def test_replies_are_found_by_the_reference_put_returned(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hall.db")
    with store.transaction():
        a = store.put_reply("k01:r1", b'{"id":"r1"}', 100.0)
        b = store.put_reply("k02:r1", b'{"id":"r1","x":2}', 101.0)
    assert a != b
    assert store.get_reply(a) == b'{"id":"r1"}'
    assert store.get_reply(b) == b'{"id":"r1","x":2}'
    assert store.reply_index(100.5) == {"k02:r1": b}
    with store.transaction():
        assert store.prune_replies(100.5) == 1
    assert store.get_reply(a) is None
    store.close()


def test_a_schema_1_store_is_migrated_and_keeps_its_replies(tmp_path: Path) -> None:
    path = tmp_path / "hall.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE events (seq INTEGER PRIMARY KEY, at REAL NOT NULL, type TEXT NOT NULL,
                             data TEXT NOT NULL);
        CREATE TABLE replies (key TEXT PRIMARY KEY, reply BLOB NOT NULL, at REAL NOT NULL);
        CREATE TABLE snapshots (seq INTEGER PRIMARY KEY, data TEXT NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema', '1');
        INSERT INTO events (at, type, data) VALUES (5.0, 'window.resumed', '{"window": "w1"}');
        INSERT INTO replies VALUES ('k01:old', x'6f6c64', 10.0), ('k01:new', x'6e6577', 20.0);
        """
    )
    db.commit()
    db.close()
    store = SqliteStore(path)
    index = store.reply_index(0)
    assert set(index) == {"k01:old", "k01:new"}
    assert store.get_reply(index["k01:new"]) == b"new"
    assert [e.type for e in store.events()] == ["window.resumed"]
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_an_unknown_schema_is_refused_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "hall.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"hall\.db: store schema 99"):
        SqliteStore(path)


def test_commits_count_only_transactions_that_wrote(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hall.db")
    before = store.commits
    with store.transaction(sync=False):
        store.last_seq()  # a read only
    assert store.commits == before
    with store.transaction(sync=False):
        store.append(1.0, ev(1))
    assert store.commits == before + 1
    assert store.sync() == before + 1
    store.close()


def test_committed_unsynced_events_survive_the_process_being_killed(tmp_path: Path) -> None:
    """Committed but not yet fsync'd (what the controller publishes events after) is in
    the WAL: a process killed right then loses none of it."""
    path = tmp_path / "hall.db"
    code = textwrap.dedent(
        f"""
        import os, signal
        from hall_contract.events import TicketExpired
        from hall_controller.store import SqliteStore
        s = SqliteStore({str(path)!r})
        with s.transaction(sync=False):
            for i in range(50):
                s.append(float(i), TicketExpired(f"t{{i}}", "A001", "general"))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2])
    assert proc.returncode == -9
    store = SqliteStore(path)
    assert [n(e) for e in store.events()] == list(range(50))
    store.close()


def test_a_failed_batch_leaves_nothing_and_numbering_goes_on(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hall.db")
    with store.transaction():
        assert store.append(1.0, ev(1)) == 1
    with pytest.raises(RuntimeError), store.transaction():
        assert store.append(2.0, ev(2)) == 2
        ref = store.put_reply("k01:r2", b"{}", 2.0)
        raise RuntimeError("a bug in the batch")
    assert store.get_reply(ref) is None
    with store.transaction():
        assert store.append(3.0, ev(3)) == 2
        # inside its own transaction the writer reads what it added
        assert store.last_seq() == 2
    assert [(e.seq, n(e)) for e in store.events()] == [(1, 1), (2, 3)]
    store.close()


def test_ids_go_on_after_a_reopen(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hall.db")
    with store.transaction():
        store.append(1.0, ev(1))
        first = store.put_reply("k01:a", b"a", 1.0)
    store.close()
    store = SqliteStore(tmp_path / "hall.db")
    with store.transaction():
        assert store.append(2.0, ev(2)) == 2
        second = store.put_reply("k01:b", b"b", 2.0)
    assert second == first + 1
    assert store.reply_index(0) == {"k01:a": first, "k01:b": second}
    store.close()


def _wal_after_steady_commits(path: Path, *, finish: bool) -> int:
    store = SqliteStore(path)
    store.start_checkpointer(0.02)
    for i in range(1500):
        with store.transaction():
            store.append(float(i), ev(i, pad=300))
        if finish:
            store.finish_checkpoint()
    size = Path(f"{path}-wal").stat().st_size
    store.close()
    return size


def test_the_wal_restarts_under_a_steady_stream_of_commits(tmp_path: Path) -> None:
    """A background checkpoint alone never lets the WAL restart while commits keep
    coming; with the writer finishing each one between batches, it stays small."""
    grown = _wal_after_steady_commits(tmp_path / "a.db", finish=False)
    bounded = _wal_after_steady_commits(tmp_path / "b.db", finish=True)
    assert bounded * 3 < grown, (bounded, grown)
