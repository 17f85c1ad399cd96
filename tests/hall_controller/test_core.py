"""The controller's rules without a broker: ``HallCore.handle`` over a real SQLite store.

What the runner does around ``handle`` (commit, then publish) is ``service.persist``; the
wire itself is tested through a real mosquitto in test_service.py and test_rules_mqtt.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.fernet import Fernet

from hall_contract import events as ev
from hall_contract import messages as m
from hall_contract.hallconfig import HallConfig, Terminal
from hall_controller.core import HallCore, Inbound, Outgoing, RateLimitedLog
from hall_controller.sealing import Sealer
from hall_controller.service import SnapshotWriter, persist, rebuild
from hall_controller.store import SqliteStore
from hall_controller.terminals import AlertSignal, Terminals
from hall_controller.upgrade import seal_free_text
from kiosk.privacy import citizen_key
from tests.conftest import OPEN_MORNING, SHANGHAI, FakeClock, load_hall

MIN = 60.0
DAY = 24 * 60 * MIN
KEY = "0123456789abcdef0123456789abcdef"


def every_role() -> HallConfig:
    """hall-minimal with a terminal of every role: k01 kiosk, w01 window (win01), a01
    admin, d01 display, r01 rater (win01), web1 the web server."""
    base = load_hall()
    extra = [
        Terminal(id="d01", role="display", location="大厅主屏"),
        Terminal(id="r01", role="rater", window="win01"),
        Terminal(id="web1", role="web", location="中控机房"),
    ]
    return base.model_copy(update={"terminals": [*base.terminals, *extra]})


class Hall:
    """The rules over a real store, committed as the runner commits them."""

    def __init__(
        self,
        cfg: HallConfig | None = None,
        *,
        path: str | Path = ":memory:",
        clock: Any = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.cfg = cfg or every_role()
        self.store = SqliteStore(path)
        self.clock = clock or FakeClock(OPEN_MORNING)
        self.sealer = sealer or Sealer(Fernet.generate_key())
        seal_free_text(self.store, self.sealer)  # as the controller does at start
        self.engine, _ = rebuild(self.cfg, self.store)
        self.core = HallCore(
            self.cfg,
            self.engine,
            self.store,
            sealer=self.sealer,
            reply_keys=self.store.reply_index(0),
        )
        self._n = 0
        #: every event decided, in order
        self.events: list[Any] = []

    def batch(self, items: list[Inbound | AlertSignal], *, tick: bool = False) -> Outgoing:
        with self.store.transaction():
            now = max(self.clock(), self.engine.last_at)
            out = self.core.handle(items, now, tick=tick)
            persist(self.store, self.core, out, now)
        self.events += out.events
        return out

    def body(self, payload: dict[str, Any]) -> bytes:
        self._n += 1
        return orjson.dumps({"id": f"r{self._n}", **payload})

    def ask(self, tid: str, op: str, payload: dict[str, Any] | bytes) -> dict[str, Any]:
        """The reply's JSON, as it would go over the wire."""
        body = payload if isinstance(payload, bytes) else self.body(payload)
        (reply,) = self.batch([Inbound(tid, op, body)]).replies
        return dict(orjson.loads(reply.body))

    def ok(self, tid: str, op: str, payload: dict[str, Any]) -> Any:
        """The typed result (checked against the contract, as a terminal reads it)."""
        body = self.body(payload)
        (reply,) = self.batch([Inbound(tid, op, body)]).replies
        r = m.read_reply(op, reply.body)
        assert r.ok, (op, r.error)
        return r.result

    def error(self, tid: str, op: str, payload: dict[str, Any] | bytes) -> dict[str, Any]:
        r = self.ask(tid, op, payload)
        assert r["ok"] is False and r["result"] is None, r
        err = r["error"]
        assert err["message"] and err["message_en"], "every error in Chinese and English"
        return dict(err)

    def served(self, service: str = "id_card_renew") -> m.TicketInfo:
        """A ticket issued, called and finished at win01 (ready to be rated)."""
        t = self.ok("k01", "ticket.issue", {"service": service})
        assert self.ok("w01", "window.call_next", {}).ticket_id == t.ticket_id
        self.ok("w01", "window.finish", {})
        return t  # type: ignore[no-any-return]


# ------------------------------------------------------------------------ roles
#: A request each operation accepts as far as its shape goes.
SAMPLES: dict[str, dict[str, Any]] = {
    "ticket.issue": {"service": "id_card_renew"},
    "appointment.checkin": {"code": "NOPE"},
    "ticket.lookup": {"ticket": "0000000000000000"},
    "case.lookup": {"case_no": "MINI2026111800001"},
    "rating.submit": {"ticket": "0000000000000000", "level": 5},
    "help.request": {"kind": "helper"},
    "mailing.request": {
        "ticket": "0000000000000000",
        "recipient": "王小明",
        "phone": "13800000000",
        "address": "云溪县幸福路88号",
    },
    "hall.status": {},
    "admin.book_appointment": {
        "code": "AP9",
        "service": "id_card_renew",
        "start": OPEN_MORNING.timestamp() + 3600,
        "end": OPEN_MORNING.timestamp() + 5400,
    },
    "admin.update_case": {"case_no": "MINI2026111800001", "state": "done"},
    "window.call_next": {},
    "window.recall": {},
    "window.start": {},
    "window.no_show": {},
    "window.requeue": {"ticket": "A001"},
    "window.transfer": {"to_queue": "social"},
    "window.finish": {},
    "window.pause": {"reason": "break"},
    "window.resume": {},
    "window.sign_on": {},
    "window.sign_off": {},
    "window.status": {},
}
TERMINAL_OF = {
    "kiosk": "k01",
    "window": "w01",
    "admin": "a01",
    "display": "d01",
    "rater": "r01",
    "web": "web1",
}


def test_the_role_table_decides_every_role_and_operation_pair() -> None:
    """Each role may call exactly what OPERATIONS says, and nothing else: a rater cannot
    call tickets to its window, a display cannot file a mailing request."""
    assert set(SAMPLES) == set(m.OPERATIONS)
    hall = Hall()
    for op, spec in m.OPERATIONS.items():
        for role, tid in TERMINAL_OF.items():
            reply = hall.ask(tid, op, SAMPLES[op])
            refused = (
                not reply["ok"]
                and reply["error"]["code"] == "forbidden"
                and "may not call" in reply["error"]["message_en"]
            )
            assert refused == (role not in spec.roles), (role, op, reply)
    # a terminal the config does not know (only possible without passwords) is a kiosk
    assert not hall.ask("stranger", "window.call_next", {})["ok"]


def test_a_rater_cannot_serve_and_then_rate_a_ticket_it_made_up() -> None:
    """Found by trying: a rater called, started and finished a ticket at its window and
    then rated it ("served + rated" fabricated)."""
    hall = Hall()
    t = hall.ok("k01", "ticket.issue", {"service": "id_card_renew"})
    for op in ("window.call_next", "window.start", "window.finish"):
        assert hall.error("r01", op, {})["code"] == "forbidden"
    assert hall.error("r01", "rating.submit", {"ticket": t.ticket_id, "level": 5})["code"] == (
        "forbidden"
    )
    assert hall.engine.state.ratings == 0
    # the real flow: the window serves, the rater at that window rates by ticket id
    hall.ok("w01", "window.call_next", {})
    hall.ok("w01", "window.finish", {})
    hall.ok("r01", "rating.submit", {"ticket": t.ticket_id, "level": 5})
    assert hall.error("r01", "rating.submit", {"ticket": t.ticket_id, "level": 5})["code"] == (
        "conflict"
    )


def test_mailing_needs_a_ticket_or_case_that_exists_and_a_kiosk() -> None:
    hall = Hall()
    mail = {"recipient": "王小明", "phone": "13800000000", "address": "云溪县幸福路88号"}
    assert hall.error("k01", "mailing.request", mail)["code"] == "bad_request"  # neither
    assert hall.error("k01", "mailing.request", {**mail, "ticket": "f" * 16})["code"] == (
        "not_found"
    )
    t = hall.ok("k01", "ticket.issue", {"service": "id_card_renew"})
    # the public ticket id is not enough: only the token the citizen holds
    assert hall.error("k01", "mailing.request", {**mail, "ticket": t.ticket_id})["code"] == (
        "not_found"
    )
    assert hall.ok("k01", "mailing.request", {**mail, "ticket": t.token}).accepted
    assert hall.error("d01", "mailing.request", {**mail, "ticket": t.token})["code"] == (
        "forbidden"
    )
    mailed = [e.event for e in hall.store.events() if e.type == "mailing.requested"]
    assert len(mailed) == 1 and mailed[0].ticket == t.ticket_id  # type: ignore[attr-defined]


# ------------------------------------------------------------------- strictness
@pytest.mark.parametrize(
    ("op", "payload", "field", "words"),
    [
        ("ticket.issue", {"service": "id_card_renew", "vip": True}, "vip", "unknown field"),
        ("ticket.issue", {"service": "id_card_renew", "queue": "general"}, None, "exactly one"),
        ("ticket.issue", {}, None, "exactly one"),
        (
            "ticket.issue",
            {"service": "id_card_renew", "citizen_key": "110105194912310029"},
            "citizen_key",
            "pattern",
        ),
        ("ticket.issue", {"service": "id_card_renew", "priority": "appointment"}, "priority", ""),
        ("rating.submit", {"ticket": "t", "level": "5"}, "level", "integer"),
        ("rating.submit", {"ticket": "t", "level": True}, "level", "integer"),
        ("rating.submit", {"ticket": "t", "level": 5.0}, "level", "integer"),
        ("rating.submit", {"ticket": "t", "level": 2, "reasons": ["太慢了"]}, "reasons.0", ""),
        (
            "admin.book_appointment",
            {**SAMPLES["admin.book_appointment"], "start": 1e12},
            "start",
            "less than",
        ),
        (
            "admin.book_appointment",
            {**SAMPLES["admin.book_appointment"], "end": 0},
            "end",
            "greater than",
        ),
        ("window.transfer", {"to_queue": "social", "to_window": "win02"}, None, "exactly one"),
        ("window.pause", {"reason": "午休"}, "reason", ""),
        ("window.requeue", {}, "ticket", "required"),
    ],
)
def test_requests_are_strict_and_the_error_names_the_field(
    op: str, payload: dict[str, Any], field: str | None, words: str
) -> None:
    hall = Hall()
    tid = next(t for r, t in TERMINAL_OF.items() if r in m.OPERATIONS[op].roles)
    err = hall.error(tid, op, payload)
    assert err["code"] == "bad_request"
    assert err["field"] == field
    assert words in err["message_en"]
    if field:
        assert field in err["message"] and field in err["message_en"]
    assert not hall.store.last_seq(), "a refused request changes nothing"


def test_numbers_that_json_cannot_hold_are_bad_requests_not_internal_errors() -> None:
    hall = Hall()
    start = SAMPLES["admin.book_appointment"]["start"]
    for body in (
        b'{"id": "n1", "ticket": "t", "level": NaN}',
        b'{"id": "n2", "ticket": "t", "level": 1e400}',
        b'{"id": "n3", "ticket": "t", "level": -Infinity}',
    ):
        err = hall.error("k01", "rating.submit", body)
        assert err["code"] == "bad_request" and "not JSON" in err["message_en"]
    huge = b'{"id": "n4", "code": "X", "service": "id_card_renew", "start": %s, "end": %d}' % (
        b"9" * 400,
        int(start),
    )
    assert hall.error("a01", "admin.book_appointment", huge)["code"] == "bad_request"


def test_what_a_sender_chose_never_reaches_a_log_or_a_reply(caplog) -> None:
    """Values are never echoed, and neither is a field or operation name that could hold
    personal data (an ID number sent as a field name, as an operation)."""
    secret = "110105194912310029"
    hall = Hall()
    with caplog.at_level(logging.DEBUG):
        r1 = hall.ask("k01", "ticket.issue", {"service": "id_card_renew", secret: "张三"})
        r2 = hall.ask("k01", f"ticket.{secret}", {"service": "id_card_renew"})
        reg = Terminals(lambda: 0.0)
        for payload in (
            orjson.dumps({"state": secret, "seq": 1}),
            orjson.dumps({"device": "printer", "state": "fault", "reason": 1, "at": secret}),
        ):
            with pytest.raises(ValueError) as err:
                reg.presence("k01", payload) if b"seq" in payload else reg.device("k01", payload)
            assert secret not in str(err.value)
    assert r1["error"]["field"] == "?" and r2["error"]["code"] == "unknown_op"
    for text in (orjson.dumps(r1).decode(), orjson.dumps(r2).decode(), caplog.text):
        assert secret not in text and "张三" not in text


def test_ids_are_ascii_in_every_language() -> None:
    """The id pattern means the same in Python, pydantic's engine and JavaScript: ASCII."""
    hall = Hall()
    for rid in ("票1", "а1", "١٢٣", "x" * 65, "a b"):
        body = orjson.dumps({"id": rid, "service": "id_card_renew"})
        r = hall.ask("k01", "ticket.issue", body)
        assert r["ok"] is False and r["id"] == "" and r["error"]["field"] == "id", rid
    assert hall.ask("k01", "ticket.issue", {"service": "id_card_renew"})["ok"]


def test_the_kiosk_s_citizen_key_is_what_the_contract_asks_for() -> None:
    key = citizen_key("demo-hall-secret", " 11010519491231002x ")
    assert key == citizen_key("demo-hall-secret", "11010519491231002X")
    hall = Hall()
    t = hall.ok("k01", "ticket.issue", {"service": "id_card_renew", "citizen_key": key})
    assert hall.engine.state.tickets[t.ticket_id].citizen_key == key


# -------------------------------------------------------------- poison messages
def test_one_poisoned_message_costs_no_other_terminal_its_reply(caplog) -> None:
    """Found by trying: a 100k-deep JSON or a 5000-digit integer got no reply, logged a
    traceback and failed every valid request of the same batch."""
    hall = Hall()
    deep = b'{"id": "deep", "service": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    digits = b'{"id": "big", "ticket": "t", "level": ' + b"7" * 5000 + b"}"
    items = [
        Inbound("k01", "ticket.issue", hall.body({"service": "id_card_renew"})),
        Inbound("k02", "ticket.issue", deep),
        Inbound("k03", "rating.submit", digits),
        Inbound("k04", "ticket.issue", b"\xff" * 20_000),
        Inbound("k05", "ticket.issue", hall.body({"service": "id_card_renew"})),
    ]
    with caplog.at_level(logging.DEBUG):
        out = hall.batch(items)
    replies = [orjson.loads(r.body) for r in out.replies]
    assert [r["ok"] for r in replies] == [True, False, False, False, True]
    assert [r["result"]["number"] for r in replies if r["ok"]] == ["A001", "A002"]
    assert {r["error"]["code"] for r in replies if not r["ok"]} == {"bad_request"}
    assert replies[1]["id"] == "" and replies[2]["id"] == ""  # unreadable: no id known
    assert "too large" in replies[3]["error"]["message_en"]
    assert "Traceback" not in caplog.text
    rejected = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejected) == 3  # one line per rejected message


def test_rejections_are_logged_at_most_so_often() -> None:
    now = [0.0]
    logger = logging.getLogger("test.ratelimit")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger.addHandler(Keep())
    limited = RateLimitedLog(logger, per_minute=20, clock=lambda: now[0])
    for i in range(100):
        limited.warning("rejected %d", i)
    assert len(lines) == 20
    now[0] += 61
    limited.warning("rejected again")
    assert lines[20:] == ["... and 80 more rejected messages in the last minute", "rejected again"]


# -------------------------------------------------------------- idempotency
def test_a_retry_in_the_same_batch_and_after_a_restart_gets_the_same_reply(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hall.db"
    hall = Hall(path=path)
    body = hall.body({"service": "id_card_renew"})
    out = hall.batch([Inbound("k01", "ticket.issue", body), Inbound("k01", "ticket.issue", body)])
    first, again = (r.body for r in out.replies)
    assert first == again and len(hall.engine.state.tickets) == 1
    hall.store.close()
    later = Hall(path=path)
    (retry,) = later.batch([Inbound("k01", "ticket.issue", body)]).replies
    assert retry.body == first and len(later.engine.state.tickets) == 1


# -------------------------------------------------------- personal data at rest
def test_free_text_is_sealed_at_rest_and_the_files_are_private(tmp_path: Path) -> None:
    """Found by trying: the help note, the rating's text, the transfer note were stored in
    clear in hall.db and its WAL, files of mode 0644."""
    path = tmp_path / "hall.db"
    hall = Hall(path=path)
    texts = {"腿脚不便请帮忙", "窗口态度太差了", "请核对社保缴费记录", "去开会了"}
    hall.ok("k01", "help.request", {"kind": "helper", "note": "腿脚不便请帮忙"})
    t = hall.served()
    hall.ok("k01", "rating.submit", {"ticket": t.token, "level": 1, "text": "窗口态度太差了"})
    t2 = hall.ok("k01", "ticket.issue", {"service": "id_card_renew"})
    hall.ok("w01", "window.call_next", {})
    moved = hall.ok("w01", "window.transfer", {"to_queue": "social", "note": "请核对社保缴费记录"})
    assert moved.history[-1].note == "请核对社保缴费记录"  # the staff read it ...
    looked = hall.ok("k01", "ticket.lookup", {"ticket": t2.token})
    assert looked.history[-1].what == "transferred"
    assert all(s.note is None for s in looked.history)  # ... a kiosk never does
    hall.ok("w01", "window.pause", {"reason": "meeting", "note": "去开会了"})
    snap = SnapshotWriter(hall.store, hall.engine)
    while not snap.done:
        snap.step(hall.engine)
    raw = b"".join(
        Path(f"{path}{x}").read_bytes() for x in ("", "-wal") if Path(f"{path}{x}").exists()
    )
    for text in texts:
        assert text.encode() not in raw, text
    for name in os.listdir(tmp_path):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))


def test_a_device_report_of_megabytes_raises_a_short_alert() -> None:
    reg = Terminals(lambda: 0.0)
    report = orjson.dumps(
        {"device": "printer", "state": "fault", "reason": "x" * 1_500_000, "at": 1}
    )
    sig = reg.device("k01", report)
    assert sig is not None and sig.level == "red" and len(sig.message) < 260
    out = Hall().batch([sig])
    assert len(orjson.dumps(out.alerts[0])) < 1000


def test_a_will_without_at_still_raises_the_alert() -> None:
    """The docs showed the Will as {state, seq}; the schema wanted `at`, so a real loss
    raised no alert."""
    reg = Terminals(lambda: 0.0)
    assert reg.presence("k01", b'{"state": "online", "seq": 5, "role": "kiosk"}') is None
    sig = reg.presence("k01", b'{"state": "lost", "seq": 5}')
    assert sig is not None and sig.kind == "terminal" and sig.terminal == "k01"


# ------------------------------------------------ state bounded by the live day
def test_finished_days_leave_memory_and_stay_in_the_store(tmp_path: Path) -> None:
    clock = FakeClock(OPEN_MORNING)
    hall = Hall(path=tmp_path / "hall.db", clock=clock)
    tokens = []
    for day in range(5):  # Wednesday to Sunday: three working days
        clock.set(OPEN_MORNING + dt.timedelta(days=day))
        if not hall.engine.is_open(clock()):
            continue
        today = hall.engine.service_day(clock())
        for _ in range(30):
            t = hall.ok("k01", "ticket.issue", {"service": "id_card_renew"})
            hall.ok("w01", "window.call_next", {})
            hall.ok("w01", "window.finish", {"accept_case": True})
            tokens.append(t.token)
    s = hall.engine.state
    assert today == "2026-11-20"
    assert {t.day for t in s.tickets.values()} == {today} and len(s.tickets) == 30
    assert all(k.startswith(today) for k in (*s.issued_queue, *s.issued_service))
    assert all("|" not in k or k.startswith(today) for k in s.counters)
    # what left memory is in the store: a lookup by token, a late rating, the cases
    old = hall.ok("k01", "ticket.lookup", {"ticket": tokens[0]})
    assert old.state == "finished" and old.rating_open
    hall.ok("k01", "rating.submit", {"ticket": tokens[0], "level": 4})
    assert hall.error("k01", "rating.submit", {"ticket": tokens[0], "level": 4})["code"] == (
        "conflict"
    )
    assert not hall.ok("k01", "ticket.lookup", {"ticket": tokens[0]}).rating_open
    case_no = next(e.event.case.case_no for e in hall.store.events() if e.type == "case.accepted")  # type: ignore[attr-defined]
    assert hall.ok("k01", "case.lookup", {"case_no": case_no}).cases[0].case_no == case_no
    hall.ok("a01", "admin.update_case", {"case_no": case_no, "state": "done"})
    assert hall.ok("k01", "case.lookup", {"case_no": case_no}).cases[0].state == "done"


def test_a_snapshot_written_in_parts_during_traffic_rebuilds_the_same_state(
    tmp_path: Path, monkeypatch
) -> None:
    import hall_controller.service as service

    monkeypatch.setattr(service, "SNAPSHOT_PART", 50)
    path = tmp_path / "hall.db"
    hall = Hall(path=path)
    for _ in range(180):
        hall.ok("k01", "ticket.issue", {"service": "id_card_renew"})
    w = SnapshotWriter(hall.store, hall.engine)
    w.step(hall.engine)  # the first part ...
    for _ in range(3):  # ... then traffic between the parts, more than a part's worth
        items = [
            Inbound("w01", "window.call_next", hall.body({})),
            Inbound("w01", "window.finish", hall.body({})),
        ]
        items += [
            Inbound("k01", "ticket.issue", hall.body({"service": "ss_proof_print"}))
            for _ in range(40)
        ]
        out = hall.batch(items)
        w.note(out.events)
        w.step(hall.engine)
    while not w.done:
        w.step(hall.engine)
    assert not w.abandoned
    assert w.part > len(w.chunks) + 1, "what changed meanwhile went out in parts too"
    snap = hall.store.latest_snapshot()
    assert snap is not None and snap.seq == hall.store.last_seq()
    state = hall.engine.state.dumps()
    hall.store.close()
    again = Hall(path=path)
    assert again.engine.state.dumps() == state
    # nothing was replayed: the snapshot was the whole state
    assert len(list(again.store.events(snap.seq))) == 0


def test_a_day_boundary_abandons_a_snapshot_in_the_making() -> None:
    clock = FakeClock(OPEN_MORNING)
    hall = Hall(clock=clock)
    for _ in range(3):
        hall.ok("k01", "ticket.issue", {"service": "id_card_renew"})
    w = SnapshotWriter(hall.store, hall.engine)
    clock.set(dt.datetime(2026, 11, 19, 9, 30, tzinfo=SHANGHAI))
    w.note(hall.batch([], tick=True).events)
    w.step(hall.engine)
    assert w.abandoned and hall.store.latest_snapshot() is None


# --------------------------------------------------------------- old stores
def test_events_of_an_older_hallkit_replay_into_today_s_state(tmp_path: Path) -> None:
    """Shapes written before this contract: the whole ticket in ticket.issued, `class`
    for the pick, free text in clear (dropped unless sealed first)."""
    path = tmp_path / "old.db"
    import sqlite3

    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE events (seq INTEGER PRIMARY KEY, at REAL NOT NULL, type TEXT NOT NULL,
                             data TEXT NOT NULL);
        CREATE TABLE replies (id INTEGER PRIMARY KEY, key TEXT NOT NULL, reply BLOB NOT NULL,
                              at REAL NOT NULL);
        CREATE TABLE snapshots (seq INTEGER PRIMARY KEY, data TEXT NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema', '2');
        """
    )
    t0 = OPEN_MORNING.timestamp()
    ticket = {
        "id": "2026-11-18-A001", "number": "A001", "day": "2026-11-18", "queue": "general",
        "priority": "normal", "issued_at": t0, "token": "abcdef0123456789",
        "waiting_since": t0, "service": "id_card_renew", "bundle": None, "citizen_key": None,
        "appointment": None, "state": "waiting", "window": None, "target_window": None,
        "called_at": None, "started_at": None, "finished_at": None, "skipped_at": None,
        "recalls": 0, "rating_open": False, "rated": False, "wait_level": "none",
        "service_level": "none",
    }  # fmt: skip
    old = [
        ("day.rolled", {"day": "2026-11-18", "prev_day": "2026-11-18", "expired": []}),
        ("ticket.issued", {"ticket": ticket, "counter": "2026-11-18|general", "n": 1}),
        ("ticket.called", {"ticket": ticket["id"], "number": "A001", "window": "win01",
                           "queue": "general", "class": "normal"}),
        ("ticket.transferred", {"ticket": ticket["id"], "number": "A001", "from_window": "win01",
                                "from_queue": "general", "to_queue": "social", "to_window": None,
                                "priority": "transfer", "note": "王小明的材料"}),
        ("window.paused", {"window": "win01", "reason": "午休"}),
        ("case.accepted", {"case": {"case_no": "MINI2026111800001", "ticket": ticket["id"],
                                    "service": None, "citizen_key": KEY, "accepted_at": t0,
                                    "deadline": "2026-12-01", "promised_deadline": "2026-12-01",
                                    "state": "accepted"}, "counter": 1}),
    ]  # fmt: skip
    db.executemany(
        "INSERT INTO events (at, type, data) VALUES (?, ?, ?)",
        [(t0 + i, t, orjson.dumps(d).decode()) for i, (t, d) in enumerate(old)],
    )
    db.commit()
    db.close()
    hall = Hall(path=path)
    t = hall.engine.state.tickets["2026-11-18-A001"]
    assert (t.state, t.queue, t.priority) == ("waiting", "social", "transfer")
    assert [h.what for h in t.history] == ["issued", "called", "transferred"]
    # the clear note was sealed in place at the first start: the staff still read it
    assert t.history[-1].note is not None
    assert hall.sealer.unseal(t.history[-1].note) == "王小明的材料".encode()
    assert hall.engine.state.windows["win01"].pause_reason == "other"
    raw = path.read_bytes() + Path(f"{path}-wal").read_bytes()
    assert "王小明".encode() not in raw and "午休".encode() not in raw
    assert hall.store.cases_of(KEY, 10)[0].case_no == "MINI2026111800001"
    called = next(e.event for e in hall.store.events() if e.type == "ticket.called")
    assert isinstance(called, ev.TicketCalled) and called.pick == "normal"


# ------------------------------------------------------------------- the web server
def test_the_web_server_acts_for_the_window_and_staff_it_names_and_events_record_who() -> None:
    """The staff console (role web) names window and staff in every window request; the
    events and the ticket's history record the staff member, for reports per person."""
    hall = Hall()
    # without a window or a staff member it is refused, naming the field
    err = hall.error("web1", "window.call_next", {"staff": "zhang.wei"})
    assert (err["code"], err["field"]) == ("bad_request", "window")
    err = hall.error("web1", "window.call_next", {"window": "win01"})
    assert (err["code"], err["field"]) == ("bad_request", "staff")
    nowhere = {"window": "nope", "staff": "z"}
    assert hall.error("web1", "window.sign_on", nowhere)["code"] == "not_found"
    on = hall.ok("web1", "window.sign_on", {"window": "win01", "staff": "zhang.wei"})
    assert (on.open, on.staff) == (True, "zhang.wei")
    t = hall.ok("k01", "ticket.issue", {"service": "id_card_renew"})
    me = {"window": "win01", "staff": "zhang.wei"}
    called = hall.ok("web1", "window.call_next", me)
    assert called.number == t.number
    hall.ok("web1", "window.start", me)
    done = hall.ok("web1", "window.finish", me)
    steps = {s.what: s.staff for s in done.ticket.history}
    assert steps == {
        "issued": None,
        "called": "zhang.wei",
        "started": "zhang.wei",
        "finished": "zhang.wei",
    }
    kinds = [(e.data.TYPE, getattr(e.data, "staff", "-")) for e in hall.events]
    assert ("window.opened", "zhang.wei") in kinds
    assert ("ticket.called", "zhang.wei") in kinds and ("ticket.finished", "zhang.wei") in kinds
    # published with the staff id (reports per person read the event stream)
    called_ev = next(e.data for e in hall.events if e.data.TYPE == "ticket.called")
    assert orjson.loads(ev.envelope(1, 0.0, called_ev))["data"]["staff"] == "zhang.wei"


def test_a_window_terminal_acts_only_for_its_own_window() -> None:
    hall = Hall()
    assert hall.error("w01", "window.sign_on", {"window": "win02"})["code"] == "forbidden"
    assert hall.ok("w01", "window.sign_on", {"window": "win01", "staff": "li.na"}).open


def test_sign_off_closes_the_window_and_is_refused_while_it_has_a_ticket() -> None:
    hall = Hall()
    me = {"window": "win01", "staff": "zhang.wei"}
    hall.ok("web1", "window.sign_on", me)
    hall.ok("web1", "window.pause", {**me, "reason": "lunch"})
    hall.ok("k01", "ticket.issue", {"service": "id_card_renew"})
    hall.ok("web1", "window.resume", me)
    hall.ok("web1", "window.call_next", me)
    assert hall.error("web1", "window.sign_off", me)["code"] == "conflict"
    hall.ok("web1", "window.finish", me)
    off = hall.ok("web1", "window.sign_off", me)
    assert (off.open, off.staff, off.paused) == (False, None, False)
    # signing on again by a colleague takes the window over (one event each time)
    hall.ok("web1", "window.sign_on", me)
    hall.ok("web1", "window.sign_on", {"window": "win01", "staff": "li.na"})
    hall.ok("web1", "window.sign_on", {"window": "win01", "staff": "li.na"})
    opened = [e.data.staff for e in hall.events if e.data.TYPE == "window.opened"]
    assert opened == ["zhang.wei", "zhang.wei", "li.na"]


def test_the_window_board_shows_each_window_open_paused_and_its_ticket() -> None:
    from hall_controller import views

    hall = Hall()
    me = {"window": "win01", "staff": "zhang.wei"}
    board = views.window_board(hall.core.engine)
    assert [w.window for w in board.windows] == [w.id for w in hall.cfg.windows]
    assert not board.windows[0].open
    hall.ok("web1", "window.sign_on", me)
    t = hall.ok("k01", "ticket.issue", {"service": "id_card_renew"})
    hall.ok("web1", "window.call_next", me)
    w = views.window_board(hall.core.engine).windows[0]
    assert (w.open, w.current, w.state, w.paused) == (True, t.number, "called", False)
    hall.ok("web1", "window.start", me)
    hall.ok("web1", "window.finish", me)
    hall.ok("web1", "window.pause", {**me, "reason": "lunch"})
    w = views.window_board(hall.core.engine).windows[0]
    assert (w.current, w.paused, w.pause_reason) == (None, True, "lunch")
    # the retained payload validates as the contract's type
    m.read(m.WindowBoard, orjson.dumps(views.window_board(hall.core.engine)))


def test_a_rating_pad_of_the_web_server_rates_only_its_window_s_ticket_by_id() -> None:
    hall = Hall()
    me = {"window": "win01", "staff": "zhang.wei"}
    t = hall.ok("k01", "ticket.issue", {"service": "id_card_renew"})
    hall.ok("web1", "window.call_next", me)
    hall.ok("web1", "window.finish", me)
    tid = t.ticket_id
    # another window's pad, or none, may not rate it by id
    assert hall.error("web1", "rating.submit", {"ticket": tid, "level": 5})["code"] == "forbidden"
    other = {"ticket": tid, "level": 5, "window": "win02"}
    assert hall.error("web1", "rating.submit", other)["code"] == "forbidden"
    ok = hall.ok("web1", "rating.submit", {"ticket": tid, "level": 4, "window": "win01"})
    assert ok.level == 4
