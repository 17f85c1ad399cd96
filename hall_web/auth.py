"""Staff accounts, console sessions, CSRF, sign-in lockout and rating-pad pairing.

No web framework here: ``hall_web.app`` glues this to HTTP. Everything lives in one
SQLite file (WAL), created readable by this user only (0600) in a folder of its own
(0700 when created here). The object is safe to share between threads: one connection
behind a lock, and the slow part of a sign-in (argon2) runs outside it.

- Passwords are hashed with argon2id (argon2-cffi's ``PasswordHasher``) and re-hashed at
  sign-in when the hasher's parameters have changed.
- A session is known by the SHA-256 of its token; the token itself is only handed out
  once (:attr:`Session.token` of :meth:`Accounts.login`). Sessions end after
  ``idle_timeout_s`` without use (sliding) and at the latest ``max_age_s`` after sign-in.
  Each has its own CSRF token.
- Failed sign-ins are counted per account id (known or not: a lockout must not tell
  whether an account exists) and per client address (a higher limit, so one machine
  cannot try a few passwords on every account). Parallel attempts cannot get past the
  limit: an attempt waits while the failures counted plus the attempts still being
  checked would reach it (in this process: one web server process does the sign-ins).
- A rating pad is paired with a window once by a staff member and then holds a
  long-lived device token (also stored hashed) bound to that window.

Nothing here logs a password, a token or a hash.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import getpass
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import os
import re
import secrets
import sqlite3
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger(__name__)

#: Every role an account may hold (what each may do is decided by the app).
ROLES = ("staff", "helper", "mailroom", "manager", "technician", "admin")
#: Account ids go into MQTT payloads as the staff id.
ACCOUNT_ID = re.compile(r"[a-z0-9_.-]{1,64}")
#: Window ids, as in the hall's config.
WINDOW_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
NAME_MAX = 40
PASSWORD_MIN = 10
PASSWORD_MAX = 256
#: How long a sign-in may wait for its turn (see :meth:`Accounts._admit`).
ADMIT_WAIT_S = 30.0
#: A session's or a pad's last use is written at most this often (fewer writes).
TOUCH_EVERY_S = 60.0

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    roles       TEXT NOT NULL,
    windows     TEXT NOT NULL,
    hash        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    password_at REAL NOT NULL,
    -- bumped by each new password (not by a re-hash of the same one)
    password_gen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 BLOB PRIMARY KEY,
    account      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf         TEXT NOT NULL,
    client       TEXT NOT NULL,
    window_id    TEXT,
    created_at   REAL NOT NULL,
    last_seen    REAL NOT NULL,
    expires_at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_account ON sessions(account);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);
CREATE TABLE IF NOT EXISTS failures (
    kind         TEXT NOT NULL,
    key          TEXT NOT NULL,
    count        INTEGER NOT NULL,
    first_at     REAL NOT NULL,
    locked_until REAL NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS pads (
    window_id    TEXT PRIMARY KEY,
    token_sha256 BLOB NOT NULL UNIQUE,
    paired_by    TEXT NOT NULL,
    paired_at    REAL NOT NULL,
    last_seen    REAL NOT NULL
);
"""


class AccountError(ValueError):
    """Bad input for an account (id, name, roles, windows, password) or a refused change;
    ``str()`` holds both languages."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(f"{message_zh} / {message_en}")
        self.message_zh = message_zh
        self.message_en = message_en


class LoginRefused(Exception):
    """A sign-in refused. The messages never tell whether the account exists."""

    def __init__(self, reason: Literal["bad", "locked"], retry_after_s: int = 0) -> None:
        self.reason: Literal["bad", "locked"] = reason
        self.retry_after_s = retry_after_s
        super().__init__(self.message_en)

    @property
    def message_zh(self) -> str:
        if self.reason == "locked":
            return f"登录失败次数过多，请 {_minutes(self.retry_after_s)} 分钟后再试。"
        return "账号或密码错误。"

    @property
    def message_en(self) -> str:
        if self.reason == "locked":
            return f"Too many failed sign-ins; try again in {_minutes(self.retry_after_s)} min."
        return "Wrong account or password."


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    roles: tuple[str, ...]
    #: Windows this person may sign on at; empty: any.
    windows: tuple[str, ...] = ()

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def may_sign_on(self, window: str) -> bool:
        return not self.windows or window in self.windows


@dataclass(frozen=True)
class Session:
    #: Only on the session :meth:`Accounts.login` just created (for the cookie).
    token: str | None
    account: Account
    csrf: str
    expires_at: float
    #: The window picked, if any.
    window: str | None
    created_at: float
    client: str


@dataclass(frozen=True)
class Pad:
    window: str
    paired_by: str
    paired_at: float
    last_seen: float


# -- validation ---------------------------------------------------------------------------


def check_id(account_id: str) -> str:
    if not isinstance(account_id, str) or not ACCOUNT_ID.fullmatch(account_id):
        raise AccountError(
            "账号只能由 1–64 个小写字母、数字和 _ . - 组成",
            "account ids are 1-64 characters: lowercase letters, digits, _ . -",
        )
    return account_id


def check_name(name: str) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > NAME_MAX or any(_is_control(c) for c in name):
        raise AccountError(
            f"姓名须为 1–{NAME_MAX} 个字符，不含控制字符",
            f"names are 1-{NAME_MAX} characters, no control characters",
        )
    return name


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    given = [roles] if isinstance(roles, str) else list(roles)
    unknown = [r for r in given if r not in ROLES]
    if unknown or not given:
        raise AccountError(
            f"角色须为以下之一或多个：{'、'.join(ROLES)}",
            f"roles must be one or more of: {', '.join(ROLES)}",
        )
    return tuple(r for r in ROLES if r in given)


def check_windows(windows: Iterable[str]) -> tuple[str, ...]:
    given = [windows] if isinstance(windows, str) else list(windows)
    for w in given:
        check_window(w)
    return tuple(dict.fromkeys(given))


def check_window(window: str) -> str:
    if not isinstance(window, str) or not WINDOW_ID.fullmatch(window):
        raise AccountError(
            "窗口编号只能由 1–64 个字母、数字和 _ . - 组成",
            "window ids are 1-64 characters: letters, digits, _ . -",
        )
    return window


def check_password(password: str, account_id: str = "") -> str:
    """A new password: long enough, of more than one kind of character, not the id."""
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise AccountError(
            f"密码须为 {PASSWORD_MIN}–{PASSWORD_MAX} 个字符",
            f"passwords are {PASSWORD_MIN}-{PASSWORD_MAX} characters",
        )
    if any(_is_control(c) for c in password):
        raise AccountError("密码不能包含控制字符", "passwords cannot hold control characters")
    if len({_char_class(c) for c in password}) < 2:
        raise AccountError(
            "密码须混合至少两类字符（小写字母、大写字母、数字、其他符号）",
            "passwords must mix at least two kinds of characters "
            "(lowercase, uppercase, digits, others)",
        )
    if len(account_id) >= 3 and account_id in password.lower():
        raise AccountError("密码不能包含账号", "passwords cannot contain the account id")
    return password


def _char_class(c: str) -> str:
    if c.isdigit():
        return "digit"
    if c.islower():
        return "lower"
    if c.isupper():
        return "upper"
    return "other"


def _is_control(c: str) -> bool:
    return unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") and c != "\u200d"


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _account_key(account_id: str) -> str:
    """Failures are counted per account id, known or not, under a hash of it: an id typed
    at sign-in may be a password typed in the wrong field."""
    return hashlib.sha256(f"account:{account_id}".encode()).hexdigest()


def client_key(client: str) -> str:
    """Failures are counted per address; an IPv6 client per /64 (one host may hold a
    whole /64). Give the real client address, not a proxy's."""
    text = (client or "").strip()
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text[:128] or "?"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(((int(ip) >> 64) << 64, 64)))
    return str(ip)


# -- the store ----------------------------------------------------------------------------


class Accounts:
    """Staff accounts, their sessions, sign-in lockout and paired rating pads."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        idle_timeout_s: float = 8 * 3600,
        max_age_s: float = 24 * 3600,
        lock_after: int = 5,
        client_lock_after: int = 20,
        lock_window_s: float = 900,
        lock_for_s: float = 900,
        pad_idle_timeout_s: float = 90 * 86400,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self.idle_timeout_s = idle_timeout_s
        self.max_age_s = max_age_s
        self.lock_after = lock_after
        self.client_lock_after = client_lock_after
        self.lock_window_s = lock_window_s
        self.lock_for_s = lock_for_s
        self.pad_idle_timeout_s = pad_idle_timeout_s
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()
        self._lock = threading.RLock()
        #: Sign-in attempts being checked, per failure counter (see :meth:`_admit`).
        self._pending: dict[tuple[str, str], int] = {}
        self._turns = threading.Condition(threading.Lock())
        _private_db_file(self.path)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            # old hashes and ended sessions do not linger in free pages
            self._db.execute("PRAGMA secure_delete=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise RuntimeError(
                    f"{self.path}: accounts schema {version}, this version knows {SCHEMA_VERSION}"
                )
            self._db.executescript(SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self._db.close()
            raise
        _private_db_file(self.path)  # the -wal and -shm files SQLite has just made

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Accounts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- accounts --------------------------------------------------------------------------

    def add(
        self,
        account_id: str,
        name: str,
        roles: Iterable[str],
        password: str,
        windows: Iterable[str] = (),
    ) -> Account:
        account = Account(
            check_id(account_id), check_name(name), check_roles(roles), check_windows(windows)
        )
        check_password(password, account.id)
        hashed = self._hasher.hash(password)
        now = self._clock()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM accounts WHERE id=?", (account.id,)).fetchone():
                raise AccountError(
                    f"账号 {account.id} 已存在", f"account {account.id} already exists"
                )
            db.execute(
                "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (
                    account.id,
                    account.name,
                    json.dumps(account.roles),
                    json.dumps(account.windows),
                    hashed,
                    now,
                    now,
                ),
            )
        log.info("staff account %s added (roles %s)", account.id, ",".join(account.roles))
        return account

    def set_password(self, account_id: str, password: str) -> None:
        """A new password; the account's sessions end."""
        check_password(password, check_id(account_id))
        hashed = self._hasher.hash(password)
        with self._tx() as db:
            self._require(db, account_id)
            db.execute(
                "UPDATE accounts SET hash=?, password_at=?, password_gen=password_gen+1 WHERE id=?",
                (hashed, self._clock(), account_id),
            )
            db.execute("DELETE FROM sessions WHERE account=?", (account_id,))
            db.execute(
                "DELETE FROM failures WHERE kind='account' AND key=?", (_account_key(account_id),)
            )
        log.info("staff account %s: password changed, its sessions ended", account_id)

    def set_roles(self, account_id: str, roles: Iterable[str]) -> Account:
        """New roles; they apply to open sessions at once."""
        checked = check_roles(roles)
        with self._tx() as db:
            self._require(db, check_id(account_id))
            db.execute("UPDATE accounts SET roles=? WHERE id=?", (json.dumps(checked), account_id))
        log.info("staff account %s: roles now %s", account_id, ",".join(checked))
        return self._get_or_fail(account_id)

    def set_windows(self, account_id: str, windows: Iterable[str]) -> Account:
        """The windows this person may sign on at (empty: any); open sessions at a window
        no longer allowed lose it."""
        checked = check_windows(windows)
        with self._tx() as db:
            self._require(db, check_id(account_id))
            db.execute(
                "UPDATE accounts SET windows=? WHERE id=?", (json.dumps(checked), account_id)
            )
        log.info("staff account %s: windows now %s", account_id, ",".join(checked) or "any")
        return self._get_or_fail(account_id)

    def remove(self, account_id: str) -> bool:
        """Remove an account and end its sessions; False if there was none."""
        with self._tx() as db:
            gone = db.execute("DELETE FROM accounts WHERE id=?", (account_id,)).rowcount > 0
        if gone:
            log.info("staff account %s removed", account_id)
        return gone

    def get(self, account_id: str) -> Account | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, roles, windows FROM accounts WHERE id=?", (account_id,)
            ).fetchone()
        return _account(row) if row else None

    def list(self) -> builtins.list[Account]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, roles, windows FROM accounts ORDER BY id"
            ).fetchall()
        return [_account(r) for r in rows]

    def _require(self, db: sqlite3.Connection, account_id: str) -> None:
        if not db.execute("SELECT 1 FROM accounts WHERE id=?", (account_id,)).fetchone():
            raise AccountError(f"没有账号 {account_id}", f"no account {account_id}")

    def _get_or_fail(self, account_id: str) -> Account:
        account = self.get(account_id)
        if account is None:
            raise AccountError(f"没有账号 {account_id}", f"no account {account_id}")
        return account

    # -- signing in ------------------------------------------------------------------------

    def login(self, account_id: str, password: str, *, client: str) -> Session:
        """Sign in from ``client`` (the real client address); raises :class:`LoginRefused`."""
        dummy = self._dummy_hash()  # made before anything, so every attempt costs the same
        aid = account_id.strip().lower() if isinstance(account_id, str) else ""
        known_shape = ACCOUNT_ID.fullmatch(aid) is not None
        ckey = client_key(client)
        keys = [("client", ckey, self.client_lock_after)]
        if known_shape:
            keys.append(("account", _account_key(aid), self.lock_after))
        self._admit(keys)
        try:
            return self._attempt(aid, known_shape, password, client, ckey, keys, dummy)
        finally:
            with self._turns:
                for kind, key, _n in keys:
                    self._pending[(kind, key)] -= 1
                    if not self._pending[(kind, key)]:
                        del self._pending[(kind, key)]
                self._turns.notify_all()

    def _admit(self, keys: builtins.list[tuple[str, str, int]]) -> None:
        """Refuse if a key is locked; else wait until every key has room for one more
        failure besides the attempts still being checked, and take a place."""
        deadline = time.monotonic() + ADMIT_WAIT_S
        with self._turns:
            while True:
                now = self._clock()
                wait, full = 0, False
                with self._lock:
                    for kind, key, limit in keys:
                        locked_for, failures = self._failures(kind, key, now)
                        wait = max(wait, locked_for)
                        full = full or failures + self._pending.get((kind, key), 0) >= limit
                if wait:
                    raise LoginRefused("locked", wait)
                if not full:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:  # a flood of attempts
                    raise LoginRefused("locked", int(ADMIT_WAIT_S))
                self._turns.wait(remaining)
            for kind, key, _n in keys:
                self._pending[(kind, key)] = self._pending.get((kind, key), 0) + 1

    def _attempt(
        self,
        aid: str,
        known_shape: bool,
        password: str,
        client: str,
        ckey: str,
        keys: builtins.list[tuple[str, str, int]],
        dummy: str,
    ) -> Session:
        with self._lock:
            row = (
                self._db.execute(
                    "SELECT hash, password_gen FROM accounts WHERE id=?", (aid,)
                ).fetchone()
                if known_shape
                else None
            )
        stored = row[0] if row else dummy
        if not self._verify(stored, password, aid) or row is None:
            now = self._clock()
            with self._tx() as db:
                self._prune(db, now)
                tripped = [self._count(db, kind, key, limit, now) for kind, key, limit in keys]
            # an unknown id is not logged: it may be a password typed in the wrong field
            who = aid if row is not None else "an unknown account"
            if any(tripped):
                log.warning("sign-in of %s from %s: too many failures, locked", who, ckey)
                raise LoginRefused("locked", math.ceil(self.lock_for_s))
            log.info("sign-in of %s from %s refused", who, ckey)
            raise LoginRefused("bad")
        rehashed = self._hasher.hash(password) if self._needs_rehash(stored) else None
        now = self._clock()
        with self._tx() as db:
            current = db.execute(
                "SELECT id, name, roles, windows, password_gen FROM accounts WHERE id=?", (aid,)
            ).fetchone()
            if current is None or current[4] != row[1]:  # removed or new password meanwhile
                raise LoginRefused("bad")
            db.execute("DELETE FROM failures WHERE kind='account' AND key=?", (_account_key(aid),))
            if rehashed is not None:
                db.execute(
                    "UPDATE accounts SET hash=? WHERE id=? AND hash=?", (rehashed, aid, stored)
                )
                log.info("staff account %s: password re-hashed with current parameters", aid)
            account = _account(current[:4])
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            expires = now + min(self.idle_timeout_s, self.max_age_s)
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
                (_digest(token), aid, csrf, client[:128], now, now, expires),
            )
        log.info("staff %s signed in from %s", aid, ckey)
        return Session(token, account, csrf, expires, None, now, client[:128])

    def _dummy_hash(self) -> str:
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
            return self._dummy

    def _verify(self, stored: str, password: str, aid: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except VerificationError:
            return False
        except InvalidHashError:
            log.error("staff account %s: its stored password hash is not readable", aid)
            return False

    def _needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True

    def _failures(self, kind: str, key: str, now: float) -> tuple[int, int]:
        """Seconds ``key`` stays locked, and its failures in the current series."""
        row = self._db.execute(
            "SELECT count, first_at, locked_until FROM failures WHERE kind=? AND key=?",
            (kind, key),
        ).fetchone()
        if row is None:
            return 0, 0
        count, first, locked_until = row
        if locked_until > now:
            return math.ceil(locked_until - now), count
        if locked_until or now - first >= self.lock_window_s:
            return 0, 0  # a lock just over, or an old series
        return 0, int(count)

    def _count(self, db: sqlite3.Connection, kind: str, key: str, limit: int, now: float) -> bool:
        """Count one failure; True if ``key`` is locked after it."""
        row = db.execute(
            "SELECT count, first_at, locked_until FROM failures WHERE kind=? AND key=?",
            (kind, key),
        ).fetchone()
        locked_until = 0.0
        if row is None:
            count, first = 1, now
        elif row[2] > now:  # locked meanwhile (another process): stays as it is
            count, first, locked_until = row[0] + 1, row[1], row[2]
        elif row[2] or now - row[1] >= self.lock_window_s:
            count, first = 1, now  # a lock just over, or an old series
        else:
            count, first = row[0] + 1, row[1]
        if not locked_until and count >= limit:
            locked_until = now + self.lock_for_s
        db.execute(
            "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)",
            (kind, key, count, first, locked_until),
        )
        return bool(locked_until)

    def _prune(self, db: sqlite3.Connection, now: float) -> None:
        db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        db.execute("DELETE FROM pads WHERE last_seen + ? <= ?", (self.pad_idle_timeout_s, now))
        db.execute(
            "DELETE FROM failures WHERE locked_until <= ? AND first_at + ? <= ?",
            (now, self.lock_window_s, now),
        )

    # -- sessions --------------------------------------------------------------------------

    def session(self, token: str | None) -> Session | None:
        """The live session of ``token``, or None; each use extends it (up to
        ``max_age_s`` after sign-in)."""
        if not isinstance(token, str) or not token or len(token) > 256:
            return None
        key = _digest(token)
        now = self._clock()
        with self._tx() as db:
            row = db.execute(
                "SELECT a.id, a.name, a.roles, a.windows, s.csrf, s.window_id, s.created_at,"
                " s.last_seen, s.expires_at, s.client"
                " FROM sessions s JOIN accounts a ON a.id = s.account WHERE s.token_sha256=?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            account = _account(row[:4])
            csrf, window, created, last_seen, expires, client = row[4:]
            if expires <= now:
                db.execute("DELETE FROM sessions WHERE token_sha256=?", (key,))
                return None
            if window is not None and not account.may_sign_on(window):
                window = None
                db.execute("UPDATE sessions SET window_id=NULL WHERE token_sha256=?", (key,))
            if now - last_seen >= TOUCH_EVERY_S:
                expires = min(now + self.idle_timeout_s, created + self.max_age_s)
                db.execute(
                    "UPDATE sessions SET last_seen=?, expires_at=? WHERE token_sha256=?",
                    (now, expires, key),
                )
        return Session(None, account, csrf, expires, window, created, client)

    def set_window(self, token: str, window: str | None) -> Session | None:
        """Pick the window this session works at (None: none); None if the session is
        gone. Raises :class:`AccountError` if the account may not sign on there."""
        if window is not None:
            check_window(window)
        current = self.session(token)
        if current is None:
            return None
        if window is not None and not current.account.may_sign_on(window):
            raise AccountError(
                f"{current.account.id} 不能在窗口 {window} 登录",
                f"{current.account.id} may not sign on at window {window}",
            )
        with self._tx() as db:
            db.execute(
                "UPDATE sessions SET window_id=? WHERE token_sha256=?", (window, _digest(token))
            )
        log.info("staff %s: window %s", current.account.id, window or "none")
        return Session(
            None,
            current.account,
            current.csrf,
            current.expires_at,
            window,
            current.created_at,
            current.client,
        )

    def logout(self, token: str | None) -> bool:
        if not isinstance(token, str) or not token:
            return False
        with self._tx() as db:
            return (
                db.execute("DELETE FROM sessions WHERE token_sha256=?", (_digest(token),)).rowcount
                > 0
            )

    def logout_all(self, account_id: str) -> int:
        """End every session of an account; how many there were."""
        with self._tx() as db:
            n: int = db.execute("DELETE FROM sessions WHERE account=?", (account_id,)).rowcount
        if n:
            log.info("staff %s: %d session(s) ended", account_id, n)
        return n

    @staticmethod
    def check_csrf(session: Session, presented: str | None) -> bool:
        """Whether ``presented`` is this session's CSRF token (constant time)."""
        if not isinstance(presented, str) or not presented:
            return False
        return hmac.compare_digest(
            session.csrf.encode(), presented.encode("utf-8", "surrogatepass")
        )

    # -- rating pads -----------------------------------------------------------------------

    def pair_pad(self, window: str, by: Account) -> str:
        """Pair a rating pad with ``window`` (replacing any pad paired there before); its
        device token, to be kept by the pad. ``by`` must still exist and be allowed at
        the window (which roles may pair is the app's decision)."""
        check_window(window)
        now = self._clock()
        token = secrets.token_urlsafe(32)
        with self._tx() as db:
            self._prune(db, now)
            row = db.execute(
                "SELECT id, name, roles, windows FROM accounts WHERE id=?", (by.id,)
            ).fetchone()
            if row is None:
                raise AccountError(f"没有账号 {by.id}", f"no account {by.id}")
            if not _account(row).may_sign_on(window):
                raise AccountError(
                    f"{by.id} 不能在窗口 {window} 配对评价器",
                    f"{by.id} may not pair a rating pad at window {window}",
                )
            db.execute(
                "INSERT OR REPLACE INTO pads VALUES (?, ?, ?, ?, ?)",
                (window, _digest(token), by.id, now, now),
            )
        log.info("rating pad paired with window %s by %s", window, by.id)
        return token

    def pad(self, token: str | None) -> str | None:
        """The window of the pad holding ``token``, or None."""
        if not isinstance(token, str) or not token or len(token) > 256:
            return None
        key = _digest(token)
        now = self._clock()
        with self._tx() as db:
            row = db.execute(
                "SELECT window_id, last_seen FROM pads WHERE token_sha256=?", (key,)
            ).fetchone()
            if row is None:
                return None
            window, last_seen = row
            if last_seen + self.pad_idle_timeout_s <= now:
                db.execute("DELETE FROM pads WHERE token_sha256=?", (key,))
                return None
            if now - last_seen >= TOUCH_EVERY_S:
                db.execute("UPDATE pads SET last_seen=? WHERE token_sha256=?", (now, key))
        return str(window)

    def unpair(self, window: str) -> bool:
        with self._tx() as db:
            gone = db.execute("DELETE FROM pads WHERE window_id=?", (window,)).rowcount > 0
        if gone:
            log.info("rating pad of window %s unpaired", window)
        return gone

    def pads(self) -> builtins.list[Pad]:
        with self._lock:
            rows = self._db.execute(
                "SELECT window_id, paired_by, paired_at, last_seen FROM pads ORDER BY window_id"
            ).fetchall()
        return [Pad(*r) for r in rows]


def _account(row: Any) -> Account:
    return Account(row[0], row[1], tuple(json.loads(row[2])), tuple(json.loads(row[3])))


def _private_db_file(path: Path) -> None:
    """Create ``path`` (and its folder, 0700) if missing; the file and SQLite's side
    files readable by this user only."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
    elif folder.stat().st_mode & 0o077 and folder.stat().st_uid == os.getuid():
        log.warning("%s: the accounts folder is readable by others", folder)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for f in (str(path), f"{path}-wal", f"{path}-shm"):
        if os.path.exists(f):
            os.chmod(f, 0o600)


# -- command line: python -m hall_web user ... ---------------------------------------------


def user_command(argv: list[str], db: Path) -> int:
    """``python -m hall_web user add|passwd|remove|list`` (``argv`` is what follows
    ``user``). Passwords are asked for (twice) or read from stdin with
    ``--password-stdin``; nothing secret is printed. 0: done, 1: refused, 2: usage."""
    p = argparse.ArgumentParser(prog="python -m hall_web user", description="staff accounts")
    sub = p.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add", help="add an account")
    add.add_argument("id")
    add.add_argument("--name", required=True)
    add.add_argument(
        "--role", action="append", choices=ROLES, help="repeat for several (default: staff)"
    )
    add.add_argument(
        "--window", action="append", default=[], help="may sign on only here; repeat (default: any)"
    )
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    pw = sub.add_parser("passwd", help="set a new password (ends the account's sessions)")
    pw.add_argument("id")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    rm = sub.add_parser("remove", help="remove an account (ends its sessions)")
    rm.add_argument("id")
    sub.add_parser("list", help="list the accounts")
    try:
        args = p.parse_args(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 2
    try:
        with Accounts(db) as accounts:
            if args.cmd == "list":
                print("id\tname\troles\twindows")
                for a in accounts.list():
                    print(f"{a.id}\t{a.name}\t{','.join(a.roles)}\t{','.join(a.windows) or '*'}")
                return 0
            if args.cmd == "remove":
                if not accounts.remove(args.id):
                    print(f"没有账号 {args.id} / no account {args.id}", file=sys.stderr)
                    return 1
                print(f"account {args.id} removed")
                return 0
            if args.cmd == "passwd" and accounts.get(args.id) is None:
                print(f"没有账号 {args.id} / no account {args.id}", file=sys.stderr)
                return 1
            if args.cmd == "add":
                # refuse bad input before asking for a password
                check_id(args.id)
                check_name(args.name)
                check_windows(args.window)
                if accounts.get(args.id) is not None:
                    print(
                        f"账号 {args.id} 已存在 / account {args.id} already exists", file=sys.stderr
                    )
                    return 1
            password = _read_password(args.password_stdin)
            if password is None:
                return 1
            if args.cmd == "add":
                a = accounts.add(args.id, args.name, args.role or ["staff"], password, args.window)
                print(f"account {a.id} added ({','.join(a.roles)})")
            else:
                accounts.set_password(args.id, password)
                print(f"account {args.id}: password changed, its sessions ended")
            return 0
    except AccountError as err:
        print(err, file=sys.stderr)
        return 1


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            print("标准输入中没有密码 / no password on stdin", file=sys.stderr)
            return None
        return password
    first = getpass.getpass("密码 / Password: ")
    if getpass.getpass("再输一次 / Again: ") != first:
        print("两次输入的密码不同 / the passwords differ", file=sys.stderr)
        return None
    return first
