"""Staff accounts, sessions, CSRF, lockout and pad pairing (hall_web.auth): a real SQLite
file in tmp_path, a clock that moves only when told."""

from __future__ import annotations

import hashlib
import io
import logging
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher

from hall_web.auth import (
    ROLES,
    Account,
    AccountError,
    Accounts,
    LoginRefused,
    client_key,
    user_command,
)

#: Cheap argon2id parameters, so the tests do not spend their time hashing.
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "Guichet-2024"
OTHER_PASSWORD = "Fenetre#2025x"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingHasher(PasswordHasher):
    """Counts verify() calls: an unknown account must cost a hash like a known one."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "web" / "accounts.db"


@pytest.fixture
def accounts(db: Path, clock: Clock) -> Iterator[Accounts]:
    a = Accounts(db, clock=clock, hasher=FAST)
    a.add("zhang.san", "张三", ["staff"], PASSWORD)
    yield a
    a.close()


def refused(accounts: Accounts, account_id: str, password: str, client: str) -> LoginRefused:
    with pytest.raises(LoginRefused) as err:
        accounts.login(account_id, password, client=client)
    return err.value


def stored_hash(db: Path, account_id: str) -> str:
    with sqlite3.connect(db) as c:
        row = c.execute("SELECT hash FROM accounts WHERE id=?", (account_id,)).fetchone()
    return str(row[0])


def all_bytes(folder: Path) -> bytes:
    """Every file SQLite wrote (the database, its WAL and shared memory)."""
    return b"".join(f.read_bytes() for f in sorted(folder.iterdir()) if f.is_file())


# -- hashing ---------------------------------------------------------------------------------


def test_default_hasher_stores_argon2id_and_never_the_password(db: Path, clock: Clock) -> None:
    with Accounts(db, clock=clock) as a:  # the real, default parameters
        a.add("li.si", "李四", ["staff"], PASSWORD)
        assert stored_hash(db, "li.si").startswith("$argon2id$")
        assert a.login("li.si", PASSWORD, client="10.0.0.1").account.id == "li.si"
        assert PASSWORD.encode() not in all_bytes(db.parent)


def test_right_password_signs_in(accounts: Accounts) -> None:
    s = accounts.login("zhang.san", PASSWORD, client="10.0.0.1")
    assert s.account == Account("zhang.san", "张三", ("staff",), ())
    assert s.token and s.csrf and s.token != s.csrf
    assert s.window is None
    assert s.expires_at == T0 + 8 * 3600


def test_sign_in_ignores_case_and_spaces_of_the_id(accounts: Accounts) -> None:
    assert accounts.login(" Zhang.San ", PASSWORD, client="10.0.0.1").account.id == "zhang.san"


def test_wrong_password_refused(accounts: Accounts) -> None:
    err = refused(accounts, "zhang.san", PASSWORD + "x", "10.0.0.1")
    assert err.reason == "bad"
    assert err.retry_after_s == 0
    assert err.message_zh == "账号或密码错误。"


# -- lockout ---------------------------------------------------------------------------------


def test_lockout_after_five_failures_and_its_release(accounts: Accounts, clock: Clock) -> None:
    for _ in range(4):
        assert refused(accounts, "zhang.san", "nope", "10.0.0.1").reason == "bad"
    fifth = refused(accounts, "zhang.san", "nope", "10.0.0.1")
    assert (fifth.reason, fifth.retry_after_s) == ("locked", 900)
    assert "15 分钟" in fifth.message_zh and "15 min" in fifth.message_en
    clock.advance(899)
    assert refused(accounts, "zhang.san", PASSWORD, "10.0.0.1").retry_after_s == 1
    clock.advance(1)
    assert accounts.login("zhang.san", PASSWORD, client="10.0.0.1").account.id == "zhang.san"


def test_locked_account_refuses_the_right_password_from_anywhere(
    accounts: Accounts, clock: Clock
) -> None:
    for i in range(5):
        refused(accounts, "zhang.san", "nope", f"10.0.0.{i}")  # spread over clients
    clock.advance(60)
    err = refused(accounts, "zhang.san", PASSWORD, "10.9.9.9")
    assert (err.reason, err.retry_after_s) == ("locked", 840)


def test_success_resets_the_account_counter(accounts: Accounts) -> None:
    for _ in range(4):
        refused(accounts, "zhang.san", "nope", "10.0.0.1")
    accounts.login("zhang.san", PASSWORD, client="10.0.0.1")
    for _ in range(4):
        assert refused(accounts, "zhang.san", "nope", "10.0.0.1").reason == "bad"


def test_failures_spread_over_more_than_the_window_do_not_lock(
    accounts: Accounts, clock: Clock
) -> None:
    for _ in range(4):
        refused(accounts, "zhang.san", "nope", "10.0.0.1")
    clock.advance(900)
    for _ in range(4):
        assert refused(accounts, "zhang.san", "nope", "10.0.0.1").reason == "bad"


def test_a_client_is_limited_across_accounts(accounts: Accounts, clock: Clock) -> None:
    accounts.add("wang.wu", "王五", ["staff"], OTHER_PASSWORD)
    # 20 failures from one address, never more than 4 on one account
    for i in range(19):
        assert refused(accounts, f"guess{i % 5}", "nope", "192.0.2.7").reason == "bad"
    assert refused(accounts, "guess9", "nope", "192.0.2.7").reason == "locked"
    # even a real account with its right password is refused from there now
    assert refused(accounts, "wang.wu", OTHER_PASSWORD, "192.0.2.7").reason == "locked"
    # but not from another machine, and the ids tried are not locked themselves
    assert accounts.login("wang.wu", OTHER_PASSWORD, client="192.0.2.8")
    assert refused(accounts, "guess4", "nope", "192.0.2.9").reason == "bad"  # its 4th
    clock.advance(900)
    assert accounts.login("wang.wu", OTHER_PASSWORD, client="192.0.2.7")


def test_a_client_cannot_reset_its_counter_with_its_own_account(accounts: Accounts) -> None:
    for i in range(19):
        refused(accounts, f"guess{i % 5}", "nope", "192.0.2.7")
        if i % 3 == 0:
            accounts.login("zhang.san", PASSWORD, client="192.0.2.7")
    assert refused(accounts, "guess9", "nope", "192.0.2.7").reason == "locked"


def test_ipv6_clients_are_counted_per_64() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:192.0.2.7") == client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("10.0.0.1") != client_key("10.0.0.2")


class GatedHasher(PasswordHasher):
    """Holds every password check until ``n`` of them have begun: attempts that could all
    be in flight at once are."""

    def __init__(self, n: int) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.n = n
        self.verified = 0
        self._lock = threading.Lock()
        self._all_in = threading.Event()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.verified += 1
            if self.verified >= self.n:
                self._all_in.set()
        self._all_in.wait(10)
        return super().verify(hash, password)


def test_parallel_attempts_cannot_get_past_the_limit(db: Path, clock: Clock) -> None:
    hasher = GatedHasher(5)
    with Accounts(db, clock=clock, hasher=hasher) as accounts:
        accounts.add("zhang.san", "张三", ["staff"], PASSWORD)
        results: list[str] = []
        start = threading.Barrier(12)

        def attempt(i: int) -> None:
            start.wait()
            try:
                accounts.login("zhang.san", f"guess-{i}", client=f"10.1.0.{i}")
            except LoginRefused as err:
                results.append(err.reason)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert hasher.verified == 5  # 12 at once, yet only 5 passwords tried
        assert sorted(results) == ["bad"] * 4 + ["locked"] * 8
        assert refused(accounts, "zhang.san", PASSWORD, "10.2.0.1").reason == "locked"


class HeldHasher(PasswordHasher):
    """Holds each password check until released."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.entered = threading.Event()
        self.release = threading.Event()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.entered.set()
        self.release.wait(10)
        return super().verify(hash, password)


def test_a_lock_set_by_another_process_survives_its_late_failures(db: Path, clock: Clock) -> None:
    held = HeldHasher()
    with (
        Accounts(db, clock=clock, hasher=FAST) as one,
        Accounts(db, clock=clock, hasher=held) as other,
    ):
        one.add("zhang.san", "张三", ["staff"], PASSWORD)
        late: list[str] = []
        t = threading.Thread(
            target=lambda: late.append(refused(other, "zhang.san", "nope", "10.0.0.9").reason)
        )
        t.start()
        assert held.entered.wait(10)  # the other's attempt is in, its check held
        for _ in range(5):
            refused(one, "zhang.san", "nope", "10.0.0.1")
        held.release.set()
        t.join()
        assert late == ["locked"]
        assert refused(one, "zhang.san", PASSWORD, "10.0.0.1").reason == "locked"


def test_parallel_right_passwords_near_the_limit_all_sign_in(accounts: Accounts) -> None:
    for _ in range(4):
        refused(accounts, "zhang.san", "nope", "10.0.0.1")
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def attempt(i: int) -> None:
        start.wait()
        try:
            accounts.login("zhang.san", PASSWORD, client=f"10.1.0.{i}")
            outcomes.append("in")
        except LoginRefused as err:
            outcomes.append(err.reason)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == ["in"] * 8


# -- what a refusal tells ----------------------------------------------------------------------


def test_refusals_do_not_tell_whether_the_account_exists(db: Path, clock: Clock) -> None:
    hasher = CountingHasher()
    with Accounts(db, clock=clock, hasher=hasher) as a:
        a.add("zhang.san", "张三", ["staff"], PASSWORD)
        seen: dict[str, list[tuple[str, int, str, str]]] = {}
        for account_id, client in (("zhang.san", "10.0.0.1"), ("nobody.here", "10.0.0.2")):
            seen[account_id] = []
            for _ in range(6):
                before = hasher.verified
                e = refused(a, account_id, "nope", client)
                seen[account_id].append((e.reason, e.retry_after_s, e.message_zh, e.message_en))
                # a password is checked against a hash for an unknown account too (but no
                # longer once the id is locked)
                assert hasher.verified == before + (1 if len(seen[account_id]) <= 5 else 0)
        assert seen["zhang.san"] == seen["nobody.here"]
        assert [r[0] for r in seen["nobody.here"]] == ["bad"] * 4 + ["locked"] * 2
        for reason, _s, zh, en in seen["zhang.san"]:
            assert "不存在" not in zh and "exist" not in en.lower()
            assert reason in ("bad", "locked")


def test_an_id_that_cannot_exist_is_refused_like_any_other(accounts: Accounts) -> None:
    a = refused(accounts, "no such id/!", "nope", "10.0.0.1")
    b = refused(accounts, "nosuchid", "nope", "10.0.0.2")
    assert (a.reason, a.message_zh, a.message_en) == (b.reason, b.message_zh, b.message_en)


def test_nothing_secret_is_logged(
    accounts: Accounts, caplog: pytest.LogCaptureFixture, db: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    accounts.set_password("zhang.san", OTHER_PASSWORD)
    s = accounts.login("zhang.san", OTHER_PASSWORD, client="10.0.0.1")
    assert s.token is not None
    refused(accounts, "zhang.san", PASSWORD, "10.0.0.1")
    # a password typed in the id field
    refused(accounts, "fenetre2025abc", "nope", "10.0.0.1")
    accounts.set_window(s.token, "w1")
    pad = accounts.pair_pad("w1", s.account)
    accounts.logout(s.token)
    text = caplog.text
    assert "signed in" in text  # the log was captured
    for secret in (PASSWORD, OTHER_PASSWORD, s.token, s.csrf, pad, "fenetre2025abc", "$argon2"):
        assert secret not in text


# -- sessions ----------------------------------------------------------------------------------


def test_session_expires_when_idle(accounts: Accounts, clock: Clock) -> None:
    token = accounts.login("zhang.san", PASSWORD, client="10.0.0.1").token
    clock.advance(8 * 3600 - 1)
    s = accounts.session(token)
    assert s is not None and s.account.id == "zhang.san" and s.token is None
    clock.advance(8 * 3600)
    assert accounts.session(token) is None


def test_idle_expiry_slides_with_use_up_to_the_maximum_age(
    accounts: Accounts, clock: Clock
) -> None:
    token = accounts.login("zhang.san", PASSWORD, client="10.0.0.1").token
    for _ in range(2):
        clock.advance(7 * 3600)
        s = accounts.session(token)
        assert s is not None and s.expires_at == clock.now + 8 * 3600
    clock.advance(7 * 3600)  # 21 h after sign-in, used every 7 h
    s = accounts.session(token)
    assert s is not None and s.expires_at == T0 + 24 * 3600
    clock.advance(3 * 3600)
    assert accounts.session(token) is None


def test_unknown_or_odd_tokens_are_no_session(accounts: Accounts) -> None:
    s = accounts.login("zhang.san", PASSWORD, client="10.0.0.1")
    assert s.token is not None
    for token in (None, "", s.token + "x", s.token[:-1], "x" * 10_000, s.csrf):
        assert accounts.session(token) is None


def test_tokens_are_stored_only_hashed(accounts: Accounts, db: Path) -> None:
    s = accounts.login("zhang.san", PASSWORD, client="10.0.0.1")
    pad = accounts.pair_pad("w1", s.account)
    assert s.token is not None
    data = all_bytes(db.parent)
    assert hashlib.sha256(s.token.encode()).digest() in data  # the session is there
    assert hashlib.sha256(pad.encode()).digest() in data
    assert s.token.encode() not in data
    assert pad.encode() not in data


def test_csrf_is_checked_per_session(accounts: Accounts) -> None:
    a = accounts.login("zhang.san", PASSWORD, client="10.0.0.1")
    b = accounts.login("zhang.san", PASSWORD, client="10.0.0.2")
    assert a.csrf != b.csrf
    assert a.token is not None
    later = accounts.session(a.token)
    assert later is not None and later.csrf == a.csrf
    assert accounts.check_csrf(later, a.csrf)
    for wrong in (b.csrf, None, "", a.csrf[:-1], a.csrf + "x", "宽字符", a.token):
        assert not accounts.check_csrf(later, wrong)


def test_logout_ends_one_session(accounts: Accounts) -> None:
    a = accounts.login("zhang.san", PASSWORD, client="10.0.0.1")
    b = accounts.login("zhang.san", PASSWORD, client="10.0.0.2")
    assert accounts.logout(a.token)
    assert not accounts.logout(a.token)
    assert accounts.session(a.token) is None
    assert accounts.session(b.token) is not None


def test_logout_all_ends_every_session_of_an_account(accounts: Accounts) -> None:
    accounts.add("wang.wu", "王五", ["staff"], OTHER_PASSWORD)
    mine = [accounts.login("zhang.san", PASSWORD, client=f"10.0.0.{i}") for i in range(3)]
    other = accounts.login("wang.wu", OTHER_PASSWORD, client="10.0.0.9")
    assert accounts.logout_all("zhang.san") == 3
    assert all(accounts.session(s.token) is None for s in mine)
    assert accounts.session(other.token) is not None


def test_new_password_or_removal_ends_sessions(accounts: Accounts) -> None:
    s = accounts.login("zhang.san", PASSWORD, client="10.0.0.1")
    accounts.set_password("zhang.san", OTHER_PASSWORD)
    assert accounts.session(s.token) is None
    refused(accounts, "zhang.san", PASSWORD, "10.0.0.1")
    s = accounts.login("zhang.san", OTHER_PASSWORD, client="10.0.0.1")
    assert accounts.remove("zhang.san")
    assert accounts.session(s.token) is None
    assert refused(accounts, "zhang.san", OTHER_PASSWORD, "10.0.0.1").reason == "bad"


def test_role_changes_apply_to_open_sessions(accounts: Accounts) -> None:
    s = accounts.login("zhang.san", PASSWORD, client="10.0.0.1")
    accounts.set_roles("zhang.san", ["admin", "staff"])
    now = accounts.session(s.token)
    assert now is not None and now.account.roles == ("staff", "admin")
    assert now.account.has_role("admin")


def test_picking_a_window(accounts: Accounts) -> None:
    accounts.add("li.si", "李四", ["staff"], OTHER_PASSWORD, windows=["w1", "w2"])
    s = accounts.login("li.si", OTHER_PASSWORD, client="10.0.0.1")
    assert s.token is not None
    picked = accounts.set_window(s.token, "w2")
    assert picked is not None and picked.window == "w2"
    again = accounts.session(s.token)
    assert again is not None and again.window == "w2"
    with pytest.raises(AccountError, match="w3"):
        accounts.set_window(s.token, "w3")
    with pytest.raises(AccountError):
        accounts.set_window(s.token, "w 1")
    # fewer windows allowed: the session loses one it may no longer hold
    accounts.set_windows("li.si", ["w1"])
    after = accounts.session(s.token)
    assert after is not None and after.window is None
    cleared = accounts.set_window(s.token, None)
    assert cleared is not None and cleared.window is None
    accounts.logout(s.token)
    assert accounts.set_window(s.token, "w1") is None


# -- rating pads -------------------------------------------------------------------------------


def test_pad_pairing(accounts: Accounts, clock: Clock) -> None:
    by = accounts.get("zhang.san")
    assert by is not None
    first = accounts.pair_pad("w1", by)
    assert accounts.pad(first) == "w1"
    clock.advance(30 * 86400)  # long-lived: still paired after a month, with use
    assert accounts.pad(first) == "w1"
    [p] = accounts.pads()
    assert (p.window, p.paired_by, p.paired_at) == ("w1", "zhang.san", T0)
    # pairing again replaces the pad at that window
    second = accounts.pair_pad("w1", by)
    assert accounts.pad(first) is None
    assert accounts.pad(second) == "w1"
    # a pad token is no staff session, and a session token no pad
    s = accounts.login("zhang.san", PASSWORD, client="10.0.0.1")
    assert accounts.session(second) is None
    assert accounts.pad(s.token) is None
    assert accounts.unpair("w1")
    assert not accounts.unpair("w1")
    assert accounts.pad(second) is None


def test_a_pad_unused_for_long_is_unpaired(accounts: Accounts, clock: Clock) -> None:
    by = accounts.get("zhang.san")
    assert by is not None
    token = accounts.pair_pad("w1", by)
    clock.advance(90 * 86400)
    assert accounts.pad(token) is None


def test_only_a_current_account_allowed_at_the_window_pairs_a_pad(accounts: Accounts) -> None:
    accounts.add("li.si", "李四", ["staff"], OTHER_PASSWORD, windows=["w1"])
    li = accounts.get("li.si")
    assert li is not None
    with pytest.raises(AccountError, match="w2"):
        accounts.pair_pad("w2", li)
    assert accounts.pad(accounts.pair_pad("w1", li)) == "w1"
    accounts.remove("li.si")
    with pytest.raises(AccountError):
        accounts.pair_pad("w1", li)
    with pytest.raises(AccountError):
        accounts.pair_pad("bad window", Account("zhang.san", "张三", ("staff",)))


# -- files -------------------------------------------------------------------------------------


def test_an_existing_file_is_made_private(db: Path, clock: Clock) -> None:
    db.parent.mkdir(mode=0o700)
    db.touch(mode=0o644)
    db.chmod(0o644)
    with Accounts(db, clock=clock, hasher=FAST):
        assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_files_are_private(accounts: Accounts, db: Path) -> None:
    accounts.login("zhang.san", PASSWORD, client="10.0.0.1")
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    files = sorted(db.parent.iterdir())
    assert {f.name for f in files} >= {"accounts.db", "accounts.db-wal", "accounts.db-shm"}
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name


def test_wal_mode_and_reopening_keeps_everything(db: Path, clock: Clock) -> None:
    with Accounts(db, clock=clock, hasher=FAST) as a:
        a.add("zhang.san", "张三", ["staff", "manager"], PASSWORD, windows=["w1"])
        token = a.login("zhang.san", PASSWORD, client="10.0.0.1").token
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Accounts(db, clock=clock, hasher=FAST) as a:
        assert a.list() == [Account("zhang.san", "张三", ("staff", "manager"), ("w1",))]
        s = a.session(token)
        assert s is not None and s.account.id == "zhang.san"


def test_shared_between_threads(accounts: Accounts) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(5):
                s = accounts.login("zhang.san", PASSWORD, client=f"10.3.0.{i}")
                assert accounts.session(s.token) is not None
                assert accounts.logout(s.token)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "Short-1",  # too short
        "1234567890123",  # digits only
        "guichetguichet",  # lowercase only
        "GUICHETGUICHET",  # uppercase only
        "一二三四五六七八九十",  # one kind (other)
        "!!!!!!!!!!!!",
        "Guichet\n2024x",  # control character
    ],
)
def test_weak_password_rejected(accounts: Accounts, password: str) -> None:
    with pytest.raises(AccountError) as err:
        accounts.set_password("zhang.san", password)
    assert err.value.message_zh and err.value.message_en
    assert err.value.message_zh in str(err.value) and err.value.message_en in str(err.value)
    with pytest.raises(ValueError):
        accounts.add("li.si", "李四", ["staff"], password)
    assert accounts.get("li.si") is None
    assert accounts.login("zhang.san", PASSWORD, client="10.0.0.1")


def test_password_holding_the_account_id_rejected(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="account id"):
        accounts.set_password("zhang.san", "Zhang.San-2024")
    with pytest.raises(AccountError, match="account id"):
        accounts.add("li.si", "李四", ["staff"], "2024-li.si-X")
    accounts.add("li.si", "李四", ["staff"], "Zhang.San-2024")


@pytest.mark.parametrize("good", ["窗口2024年度服务", "guichet2024", "Guichet-Deux", "a" * 9 + "1"])
def test_reasonable_passwords_accepted(accounts: Accounts, good: str) -> None:
    accounts.set_password("zhang.san", good)
    assert accounts.login("zhang.san", good, client="10.0.0.1")


@pytest.mark.parametrize(
    "account_id", ["", "Zhang", "zhang san", "张三", "a/b", "a" * 65, "a\n", "zhang;drop"]
)
def test_bad_id_rejected(accounts: Accounts, account_id: str) -> None:
    with pytest.raises(AccountError) as err:
        accounts.add(account_id, "李四", ["staff"], OTHER_PASSWORD)
    assert "账号" in err.value.message_zh and "account id" in err.value.message_en
    assert len(accounts.list()) == 1


def test_good_ids_accepted(accounts: Accounts) -> None:
    for account_id in ("a", "0", "li_si.2-x", "a" * 64):
        accounts.add(account_id, "某人", ["staff"], OTHER_PASSWORD)
    assert len(accounts.list()) == 5


@pytest.mark.parametrize(
    ("name", "roles", "windows"),
    [
        ("", ["staff"], []),
        ("   ", ["staff"], []),
        ("长" * 41, ["staff"], []),
        ("李\x00四", ["staff"], []),
        ("李四", [], []),
        ("李四", ["boss"], []),
        ("李四", ["staff"], ["w 1"]),
    ],
)
def test_bad_name_roles_or_windows_rejected(
    accounts: Accounts, name: str, roles: list[str], windows: list[str]
) -> None:
    with pytest.raises(AccountError):
        accounts.add("li.si", name, roles, OTHER_PASSWORD, windows=windows)
    assert accounts.get("li.si") is None


def test_account_management(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="already exists"):
        accounts.add("zhang.san", "张三", ["staff"], OTHER_PASSWORD)
    a = accounts.add("li.si", " 李四 ", list(reversed(ROLES)), OTHER_PASSWORD, windows=["w2"])
    assert a == Account("li.si", "李四", ROLES, ("w2",))
    assert accounts.get("li.si") == a
    assert [x.id for x in accounts.list()] == ["li.si", "zhang.san"]
    with pytest.raises(AccountError):
        accounts.set_roles("li.si", ["boss"])
    with pytest.raises(AccountError):
        accounts.set_password("nobody", OTHER_PASSWORD)
    assert accounts.remove("li.si")
    assert not accounts.remove("li.si")
    assert accounts.get("li.si") is None


# -- re-hashing --------------------------------------------------------------------------------


def test_rehash_at_sign_in_when_parameters_change(db: Path, clock: Clock) -> None:
    with Accounts(db, clock=clock, hasher=FAST) as a:
        a.add("zhang.san", "张三", ["staff"], PASSWORD)
    old = stored_hash(db, "zhang.san")
    assert "m=8,t=1,p=1" in old
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    with Accounts(db, clock=clock, hasher=stronger) as a:
        refused(a, "zhang.san", "wrong one", "10.0.0.1")
        assert stored_hash(db, "zhang.san") == old  # not on a failed attempt
        a.login("zhang.san", PASSWORD, client="10.0.0.1")
        new = stored_hash(db, "zhang.san")
        assert new != old and "m=16,t=2,p=1" in new
        a.login("zhang.san", PASSWORD, client="10.0.0.1")
        assert stored_hash(db, "zhang.san") == new  # no needless re-hash


# -- command line ------------------------------------------------------------------------------


def cli(argv: list[str], db: Path, stdin: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return user_command(argv, db)


def test_cli_add_list_passwd_remove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "web" / "accounts.db"
    monkeypatch.setattr("hall_web.auth.PasswordHasher", lambda: FAST)
    args = ["add", "li.si", "--name", "李四", "--role", "staff", "--role", "manager"]
    assert cli([*args, "--window", "w1", "--password-stdin"], db, PASSWORD + "\n", monkeypatch) == 0
    assert cli(["list"], db, "", monkeypatch) == 0
    out, err = capsys.readouterr()
    assert "li.si\t李四\tstaff,manager\tw1" in out.splitlines()
    with Accounts(db, hasher=FAST) as a:
        assert a.login("li.si", PASSWORD, client="10.0.0.1")

    assert cli(["passwd", "li.si", "--password-stdin"], db, OTHER_PASSWORD + "\n", monkeypatch) == 0
    with Accounts(db, hasher=FAST) as a:
        assert refused(a, "li.si", PASSWORD, "10.0.0.1").reason == "bad"
        assert a.login("li.si", OTHER_PASSWORD, client="10.0.0.1")

    assert cli(["remove", "li.si"], db, "", monkeypatch) == 0
    assert "removed" in capsys.readouterr().out
    assert cli(["list"], db, "", monkeypatch) == 0
    out2, err2 = capsys.readouterr()
    assert out2.splitlines() == ["id\tname\troles\twindows"]
    for text in (out, err, out2, err2):
        assert PASSWORD not in text and OTHER_PASSWORD not in text and "$argon2" not in text


def test_cli_refuses_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "web" / "accounts.db"
    monkeypatch.setattr("hall_web.auth.PasswordHasher", lambda: FAST)
    add = ["add", "li.si", "--name", "李四", "--password-stdin"]
    assert cli(add, db, "short\n", monkeypatch) == 1
    assert "密码" in capsys.readouterr().err
    assert (
        cli(["add", "Li Si", "--name", "李四", "--password-stdin"], db, PASSWORD, monkeypatch) == 1
    )
    assert cli(add, db, "", monkeypatch) == 1  # nothing on stdin
    assert cli(add, db, PASSWORD + "\n", monkeypatch) == 0
    assert cli(add, db, PASSWORD + "\n", monkeypatch) == 1  # exists
    assert cli(["passwd", "nobody", "--password-stdin"], db, PASSWORD, monkeypatch) == 1
    assert cli(["remove", "nobody"], db, "", monkeypatch) == 1
    assert cli(["add", "x", "--name", "X", "--role", "boss"], db, "", monkeypatch) == 2
    assert cli(["frobnicate"], db, "", monkeypatch) == 2
    _out, err = capsys.readouterr()
    assert PASSWORD not in err
    with Accounts(db, hasher=FAST) as a:
        assert [x.id for x in a.list()] == ["li.si"]
        assert a.get("li.si") == Account("li.si", "李四", ("staff",), ())


def test_cli_asks_twice_without_password_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "web" / "accounts.db"
    monkeypatch.setattr("hall_web.auth.PasswordHasher", lambda: FAST)
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert user_command(["add", "li.si", "--name", "李四"], db) == 1
    answers = iter([PASSWORD, PASSWORD])
    assert user_command(["add", "li.si", "--name", "李四"], db) == 0
    with Accounts(db, hasher=FAST) as a:
        assert a.login("li.si", PASSWORD, client="10.0.0.1")
