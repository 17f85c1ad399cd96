"""Silent calling: subscriptions sealed in SQLite, messages through the real HTTP client to
the simulated SMS gateway on loopback (no mocks)."""

from __future__ import annotations

import contextlib
import logging
import socket
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hall_controller.sealing import Sealer
from hall_web.notify import (
    HttpSmsGateway,
    NotifyError,
    SilentCalls,
    SimulatedSms,
    SmsSettings,
    SubscribeError,
    build_notifier,
    mask_phone,
)
from hall_web.smsgw import SimulatedSmsGateway

PHONE = "13912345678"
OTHER = "15800001111"
DAY = "2026-11-18"
SIGN = "云溪县政务服务中心"


def make_settings(**kw: Any) -> SmsSettings:
    base: dict[str, Any] = {
        "driver": "simulated",
        "auth": "hmac-sha256",
        "secret": "s3cret-key",
        "sign_name": SIGN,
        "timeout_s": 3.0,
        "retry_delay_s": 0.0,
        "send_attempts": 3,
        "backoff_s": 0.01,
        "ok_json": {"code": 0},
    }
    base.update(kw)
    return SmsSettings.model_validate(base)


def tid(number: str, day: str = DAY) -> str:
    return f"{day}-{number}"


class Rig:
    def __init__(self, tmp: Path, settings: SmsSettings, url: str | None = None) -> None:
        self.settings = settings
        self.gw = SimulatedSmsGateway(settings).start()
        self.client = HttpSmsGateway(settings, url=url or self.gw.url)
        self.db = tmp / "web" / "silent-calls.db"
        self.sealer = Sealer.from_dir(tmp / "secrets")
        self.calls = SilentCalls(self.db, self.sealer, self.client, settings)

    def reopen(self, **kw: Any) -> SilentCalls:
        self.calls.close()
        self.calls = SilentCalls(self.db, self.sealer, self.client, self.settings, **kw)
        return self.calls

    def file_bytes(self) -> bytes:
        out = b""
        for suffix in ("", "-wal", "-shm", "-journal"):
            p = Path(f"{self.db}{suffix}")
            if p.exists():
                out += p.read_bytes()
        return out

    def sealed_of(self, ticket_id: str) -> str:
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as db:
            row = db.execute(
                "SELECT phone FROM subscriptions WHERE ticket_id = ?", (ticket_id,)
            ).fetchone()
        assert row is not None
        return str(row[0])

    def close(self) -> None:
        self.gw.release()
        self.calls.close()
        self.client.close()
        self.gw.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path, make_settings())
    yield r
    r.close()


def ahead(rig: Rig, ticket_id: str, n: int, state: str = "waiting", window: str | None = None):  # type: ignore[no-untyped-def]
    return rig.calls.update(ticket_id, people_ahead=n, state=state, window_name=window)


# --- when a message goes out --------------------------------------------------------


def test_one_message_when_n_ahead_then_nothing_more(rig: Rig) -> None:
    rig.calls.subscribe(tid("A001"), "A001", DAY, PHONE, 2)
    assert rig.calls.has(tid("A001"))
    sub = rig.calls.get(tid("A001"))
    assert sub is not None and sub.masked_phone == "139****5678" and sub.when_ahead == 2
    assert ahead(rig, tid("A001"), 5) is False
    assert ahead(rig, tid("A001"), 3) is False
    assert rig.calls.stats()["pending"] == 0 and rig.gw.requests == 0

    assert ahead(rig, tid("A001"), 2) is True
    (msg,) = rig.gw.wait_for(1)
    assert msg.phone == PHONE
    assert msg.text == f"【{SIGN}】您的A001号前面还有2人，请回到大厅等候叫号。"
    assert msg.sign == SIGN
    assert not rig.calls.has(tid("A001")) and rig.calls.get(tid("A001")) is None

    assert ahead(rig, tid("A001"), 1) is False
    assert ahead(rig, tid("A001"), 0, "called", "3号窗口") is False
    assert rig.calls.wait_idle(5)
    assert rig.gw.requests == 1 and len(rig.gw.messages) == 1
    st = rig.calls.stats()
    assert st["sent"] == 1 and st["active"] == 0 and st["dropped"] == 0
    # used once: the ticket cannot be armed again
    with pytest.raises(SubscribeError) as e:
        rig.calls.subscribe(tid("A001"), "A001", DAY, OTHER, 2)
    assert e.value.field == "ticket_id"


def test_called_before_n_sends_the_call(rig: Rig) -> None:
    rig.calls.subscribe(tid("A002"), "A002", DAY, PHONE, 2)
    assert ahead(rig, tid("A002"), 6) is False
    assert ahead(rig, tid("A002"), 6, "called", "3号窗口") is True
    (msg,) = rig.gw.wait_for(1)
    assert msg.text == f"【{SIGN}】请A002号到3号窗口办理。"
    assert ahead(rig, tid("A002"), 0, "called", "3号窗口") is False  # a recall: no second
    assert rig.calls.wait_idle(5) and len(rig.gw.messages) == 1


def test_zero_ahead_and_immediate_check_on_subscribe(rig: Rig) -> None:
    rig.calls.subscribe(tid("B007"), "B007", DAY, PHONE, 3, people_ahead=0)
    (msg,) = rig.gw.wait_for(1)
    assert msg.text == f"【{SIGN}】您的B007号即将叫到，请回到大厅等候叫号。"


@pytest.mark.parametrize("state", ["finished", "cancelled", "expired", "serving"])
def test_ticket_done_deletes_unsent(rig: Rig, state: str) -> None:
    rig.calls.subscribe(tid("A003"), "A003", DAY, PHONE, 2)
    sealed = rig.sealed_of(tid("A003"))
    assert ahead(rig, tid("A003"), 0, state) is False
    assert not rig.calls.has(tid("A003"))
    assert ahead(rig, tid("A003"), 0, "called", "3号窗口") is False
    assert rig.calls.wait_idle(5)
    assert rig.gw.requests == 0
    assert rig.calls.stats()["deleted_unsent"] == 1
    assert sealed.encode() not in rig.file_bytes()


def test_a_new_subscription_replaces_the_old(rig: Rig) -> None:
    rig.calls.subscribe(tid("A004"), "A004", DAY, PHONE, 2)
    old = rig.sealed_of(tid("A004"))
    rig.calls.subscribe(tid("A004"), "A004", DAY, OTHER, 4)
    assert old.encode() not in rig.file_bytes()
    sub = rig.calls.get(tid("A004"))
    assert sub is not None and sub.masked_phone == mask_phone(OTHER) and sub.when_ahead == 4
    assert ahead(rig, tid("A004"), 4) is True
    (msg,) = rig.gw.wait_for(1)
    assert msg.phone == OTHER
    assert rig.calls.stats()["replaced"] == 1


def test_cancel(rig: Rig) -> None:
    rig.calls.subscribe(tid("A005"), "A005", DAY, PHONE, 2)
    assert rig.calls.cancel(tid("A005")) is True
    assert rig.calls.cancel(tid("A005")) is False
    assert ahead(rig, tid("A005"), 0) is False and rig.gw.requests == 0


# --- the number on disk ---------------------------------------------------------------


def test_number_sealed_on_disk_and_gone_after_sending(rig: Rig) -> None:
    rig.calls.subscribe(tid("A010"), "A010", DAY, PHONE, 1)
    assert stat.S_IMODE(rig.db.stat().st_mode) == 0o600
    data = rig.file_bytes()
    assert PHONE.encode() not in data
    sealed = rig.sealed_of(tid("A010"))
    assert sealed.encode() in data  # the check below can see it
    assert PHONE.encode() in rig.sealer.unseal(sealed)  # and it is the number, sealed

    assert ahead(rig, tid("A010"), 1) is True
    rig.gw.wait_for(1)
    data = rig.file_bytes()
    assert sealed.encode() not in data
    assert sealed[20:60].encode() not in data
    assert PHONE.encode() not in data


def test_end_of_day_deletes_that_day_and_earlier(rig: Rig) -> None:
    earlier, day, later = "2026-11-17", DAY, "2026-11-19"
    rig.calls.subscribe(tid("A001", earlier), "A001", earlier, PHONE, 2)
    rig.calls.subscribe(tid("A002", day), "A002", day, OTHER, 2)
    rig.calls.subscribe(tid("A001", later), "A001", later, "13700002222", 2)
    gone = [rig.sealed_of(tid("A001", earlier)), rig.sealed_of(tid("A002", day))]
    kept = rig.sealed_of(tid("A001", later))

    assert rig.calls.end_of_day(day) == 2
    data = rig.file_bytes()
    for s in gone:
        assert s.encode() not in data
    assert kept.encode() in data
    assert not rig.calls.has(tid("A001", earlier)) and not rig.calls.has(tid("A002", day))
    assert rig.calls.has(tid("A001", later))
    assert ahead(rig, tid("A002", day), 0) is False and rig.gw.requests == 0
    assert rig.calls.end_of_day(later) == 1
    assert kept.encode() not in rig.file_bytes()


def test_survives_a_restart_and_purges_old_days_on_open(rig: Rig) -> None:
    rig.calls.subscribe(tid("A020"), "A020", DAY, PHONE, 2)
    rig.calls.subscribe(tid("A021", "2026-11-17"), "A021", "2026-11-17", OTHER, 2)
    calls = rig.reopen(today=DAY)
    assert calls.has(tid("A020")) and not calls.has(tid("A021", "2026-11-17"))
    assert ahead(rig, tid("A020"), 2) is True
    (msg,) = rig.gw.wait_for(1)
    assert msg.phone == PHONE


def test_numbers_past_max_keep_deleted_whatever_happens(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    r = Rig(tmp_path, make_settings(max_keep_h=20))
    try:
        r.calls.close()
        r.calls = SilentCalls(r.db, r.sealer, r.client, r.settings, clock=lambda: now[0])
        r.calls.subscribe(tid("A025"), "A025", DAY, PHONE, 2)
        sealed = r.sealed_of(tid("A025"))
        now[0] += 19 * 3600
        r.calls.subscribe(tid("A026"), "A026", DAY, OTHER, 2)
        assert r.calls.purge_stale() == 0
        now[0] += 2 * 3600
        assert r.calls.purge_stale() == 1
        assert not r.calls.has(tid("A025")) and r.calls.has(tid("A026"))
        assert sealed.encode() not in r.file_bytes()
        now[0] += 20 * 3600  # and at start-up
        r.calls.close()
        r.calls = SilentCalls(r.db, r.sealer, r.client, r.settings, clock=lambda: now[0])
        assert not r.calls.has(tid("A026")) and r.calls.stats()["active"] == 0
    finally:
        r.close()


# --- refusals -----------------------------------------------------------------------

BAD_PHONES = ["12345678901", "1391234567", "139123456789", "1391234567a", "", "23912345678"]


@pytest.mark.parametrize("bad", BAD_PHONES)
def test_invalid_phone_refused_without_echo(rig: Rig, bad: str) -> None:
    with pytest.raises(SubscribeError) as e:
        rig.calls.subscribe(tid("A030"), "A030", DAY, bad, 2)
    err = e.value
    assert isinstance(err, ValueError) and err.field == "phone"
    assert err.message_zh == err.message
    assert "手机号码" in err.message and "mobile" in err.message_en
    if bad:
        for text in (str(err), err.message, err.message_en, repr(err)):
            assert bad not in text
    assert not rig.calls.has(tid("A030"))


@pytest.mark.parametrize("n", [-1, 21])
def test_when_ahead_out_of_range(rig: Rig, n: int) -> None:
    with pytest.raises(SubscribeError) as e:
        rig.calls.subscribe(tid("A031"), "A031", DAY, PHONE, n)
    assert e.value.field == "when_ahead" and PHONE not in str(e.value)


def test_formatted_number_accepted(rig: Rig) -> None:
    rig.calls.subscribe(tid("A032"), "A032", DAY, "+86 139-1234-5678", 0)
    assert ahead(rig, tid("A032"), 0) is True
    (msg,) = rig.gw.wait_for(1)
    assert msg.phone == PHONE


# --- privacy in logs ----------------------------------------------------------------


def test_no_log_record_holds_the_number(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r = Rig(tmp_path, make_settings())
    try:
        r.calls.subscribe(tid("A040"), "A040", DAY, PHONE, 2)
        r.calls.get(tid("A040"))
        with pytest.raises(SubscribeError):
            r.calls.subscribe(tid("A041"), "A041", DAY, PHONE + "9", 2)
        assert ahead(r, tid("A040"), 2) is True
        r.gw.wait_for(1)
        # a failing gateway too: retried, then dropped
        r.gw.fail(always=503)
        r.calls.subscribe(tid("A042"), "A042", DAY, PHONE, 2)
        assert ahead(r, tid("A042"), 0, "called", "3号窗口") is True
        assert r.calls.wait_idle(5)
        assert r.calls.stats()["dropped"] == 1
    finally:
        r.close()
    texts = [rec.getMessage() + (rec.exc_text or "") for rec in caplog.records]
    assert any(mask_phone(PHONE) in t for t in texts), "the gateway logs the masked number"
    for t in texts:
        assert PHONE not in t
    for m in r.gw.messages:
        assert PHONE not in repr(m) and PHONE not in str(m)


# --- the gateway: auth, failures, slowness ------------------------------------------


def test_hmac_checked_by_the_gateway(tmp_path: Path) -> None:
    settings = make_settings()
    with SimulatedSmsGateway(settings) as gw:
        wrong = make_settings(secret="not-the-key")
        with HttpSmsGateway(wrong, url=gw.url) as bad, pytest.raises(NotifyError) as e:
            bad.send(PHONE, "测试短信")
        assert e.value.retryable is False
        assert "401" in str(e.value)
        assert PHONE not in str(e.value) and "测试短信" not in str(e.value)
        assert gw.refused == 1 and gw.messages == []
        with HttpSmsGateway(settings, url=gw.url) as good:
            good.send(PHONE, "测试短信 {sign} {phone}")
        (msg,) = gw.wait_for(1)
        assert msg.text == f"【{SIGN}】测试短信 {{sign}} {{phone}}"  # placeholders in one pass


def test_wrong_key_dropped_without_retries(tmp_path: Path) -> None:
    r = Rig(tmp_path, make_settings())
    r.client.close()
    r.client = HttpSmsGateway(make_settings(secret="not-the-key"), url=r.gw.url)
    r.calls.close()
    r.calls = SilentCalls(r.db, r.sealer, r.client, r.settings)
    try:
        r.calls.subscribe(tid("A050"), "A050", DAY, PHONE, 2)
        assert ahead(r, tid("A050"), 1) is True
        assert r.calls.wait_idle(5)
        st = r.calls.stats()
        assert st["dropped"] == 1 and st["send_failures"] == 1 and st["sent"] == 0
        assert r.gw.requests == 1 and r.gw.refused == 1
    finally:
        r.close()


def test_bearer_and_form_body(tmp_path: Path) -> None:
    settings = make_settings(
        auth="bearer",
        secret=None,
        token="tok-123",
        auth_header="X-Api-Token",
        body="form",
        template={"mobile": "{phone}", "content": "{text}", "signName": "{sign}"},
        sign_in_text=False,
    )
    with SimulatedSmsGateway(settings) as gw:
        with HttpSmsGateway(settings, url=gw.url) as ok:
            ok.send(PHONE, "您好")
        (msg,) = gw.wait_for(1)
        assert msg.text == "您好" and msg.sign == SIGN and msg.phone == PHONE
        wrong = SmsSettings.model_validate({**settings.model_dump(), "token": "tok-999"})
        with HttpSmsGateway(wrong, url=gw.url) as bad, pytest.raises(NotifyError):
            bad.send(PHONE, "您好")
        assert gw.refused == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_gateway_down_retried_then_dropped_and_counted(tmp_path: Path) -> None:
    r = Rig(tmp_path, make_settings(), url=f"http://127.0.0.1:{free_port()}/sms/send")
    try:
        r.calls.subscribe(tid("A060"), "A060", DAY, PHONE, 2)
        assert ahead(r, tid("A060"), 2) is True
        assert r.calls.wait_idle(10)
        st = r.calls.stats()
        assert st["send_failures"] == 3 and st["dropped"] == 1 and st["sent"] == 0
        assert st["pending"] == 0 and not r.calls.has(tid("A060"))
    finally:
        r.close()


def test_5xx_retried_once_at_once_then_with_backoff(rig: Rig) -> None:
    rig.gw.fail(always=503)
    rig.calls.subscribe(tid("A061"), "A061", DAY, PHONE, 2)
    assert ahead(rig, tid("A061"), 2) is True
    assert rig.calls.wait_idle(10)
    # 3 tries, each an HTTP request and its one immediate retry
    assert rig.gw.requests == 6
    assert rig.calls.stats()["dropped"] == 1

    rig.gw.fail(503, 503, 503)  # the first try fails twice, the second once then works
    rig.calls.subscribe(tid("A062"), "A062", DAY, PHONE, 2)
    assert ahead(rig, tid("A062"), 2) is True
    (msg,) = rig.gw.wait_for(1)
    assert rig.calls.wait_idle(5)
    st = rig.calls.stats()
    assert st["sent"] == 1 and st["send_failures"] == 3 + 1 and st["dropped"] == 1
    assert rig.gw.requests == 6 + 4 and msg.phone == PHONE


def test_slow_gateway_does_not_block_update(rig: Rig) -> None:
    rig.gw.hold()
    rig.calls.subscribe(tid("A070"), "A070", DAY, PHONE, 2)
    t0 = time.monotonic()
    assert ahead(rig, tid("A070"), 2) is True
    assert time.monotonic() - t0 < 1.0  # the gateway holds every request until released
    rig.gw.wait_requests(1)  # the message is on its way, held by the gateway
    assert rig.gw.messages == [] and rig.calls.stats()["pending"] == 1
    rig.calls.subscribe(tid("A071"), "A071", DAY, OTHER, 2)  # the hall goes on meanwhile
    assert ahead(rig, tid("A071"), 0, "cancelled") is False
    rig.gw.release()
    (msg,) = rig.gw.wait_for(1)
    assert msg.phone == PHONE and rig.calls.wait_idle(5)


# --- settings and the demo notifier ----------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"driver": "http"},
        {"driver": "http", "url": "ftp://x"},
        {"auth": "hmac-sha256"},
        {"auth": "bearer"},
        {"template": {"to": "{phone}"}},
        {"text_called": "请{who}办理"},
        {"unknown": 1},
        {"body": "form", "template": {"p": "{phone}", "t": "{text}", "x": {"y": 1}}},
    ],
)
def test_settings_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SmsSettings.model_validate(bad)


def test_secrets_not_in_settings_repr() -> None:
    s = make_settings(auth="bearer", token="tok-123")
    assert "tok-123" not in repr(s) and "s3cret-key" not in repr(s)


def test_build_notifier_simulated_and_none() -> None:
    assert build_notifier(SmsSettings()) is None
    n = build_notifier(make_settings())
    assert isinstance(n, SimulatedSms)
    try:
        n.send(PHONE, "演示")
        (msg,) = n.gateway.wait_for(1)
        assert msg.text == f"【{SIGN}】演示"
    finally:
        n.close()
    http = build_notifier(make_settings(driver="http", url="http://127.0.0.1:9/sms"))
    assert isinstance(http, HttpSmsGateway)
    http.close()
