"""The web server's REST API and live stream against a real broker and controller."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx

from hall_contract.client import HallClient
from tests.hall_web.conftest import WebHall


def issue(kiosk: HallClient, service: str = "id_card_renew") -> Any:
    r = kiosk.request("ticket.issue", {"service": service})
    assert r.ok, r.error
    return r.result


def wait_state(web: WebHall, pred: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict:
    """Follow /live/hall until a state satisfies ``pred``."""
    with (
        httpx.Client(base_url=web.url, timeout=timeout) as c,
        c.stream("GET", "/live/hall") as r,
    ):
        event = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "state":
                st = json.loads(line.split(":", 1)[1])
                if pred(st):
                    return st
    raise AssertionError("no such state")


def test_a_call_from_the_console_reaches_the_live_stream_with_its_announcement(
    web: WebHall, kiosk: HallClient
) -> None:
    t = issue(kiosk)
    staff = web.staff()
    r = staff.post("/api/counter/call_next", json={})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["number"] == t.number
    st = wait_state(web, lambda s: any(c["number"] == t.number for c in s["calls"]))
    call = next(c for c in st["calls"] if c["number"] == t.number)
    assert call["window"] == "win01" and call["state"] == "called"
    (a,) = [a for a in st["announce"] if a["number"] == t.number]
    assert a["text"] == f"请{t.number}号到1号窗口办理"
    win = next(w for w in st["windows"] if w["window"] == "win01")
    assert (win["open"], win["current"]) == (True, t.number)
    # the announcement's audio is a WAV
    wav = web.client().get(f"/audio/call/{a['seq']}.wav")
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF"


def test_the_staff_console_needs_a_login_and_the_csrf_token(web: WebHall) -> None:
    c = web.client()
    assert c.post("/api/counter/call_next", json={}).status_code == 401
    r = c.post("/api/counter/login", json={"account": "zhang.wei", "password": "wrong-pass-123"})
    assert r.status_code == 401 and "zhang.wei" not in r.text
    staff = web.staff(window=None)
    token = staff.headers.pop("X-CSRF-Token")
    assert staff.post("/api/counter/window", json={"window": "win01"}).status_code == 403
    staff.headers["X-CSRF-Token"] = token
    assert staff.post("/api/counter/window", json={"window": "win01"}).status_code == 200
    # the call is recorded with who made it
    r = staff.post("/api/counter/call_next", json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "empty"


def test_the_phone_page_shows_the_ticket_s_place_and_nothing_personal(
    web: WebHall, kiosk: HallClient
) -> None:
    first = issue(kiosk)
    second = issue(kiosk)
    c = web.client()
    r = c.get(f"/api/tickets/{second.token}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["number"], body["state"], body["people_ahead"]) == (second.number, "waiting", 1)
    assert "token" not in body and "history" not in body
    assert c.get("/api/tickets/0000000000000000").status_code == 404
    page = c.get(f"/q/{second.token}")
    assert page.status_code == 200 and "排队进度" in page.text
    # live: the first ticket called → one ahead fewer
    got: list[dict[str, Any]] = []
    done = threading.Event()

    def follow() -> None:
        with (
            httpx.Client(base_url=web.url, timeout=15) as h,
            h.stream("GET", f"/live/tickets/{second.token}") as s,
        ):
            for line in s.iter_lines():
                if line.startswith("data:"):
                    got.append(json.loads(line[5:]))
                    if got[-1]["people_ahead"] == 0:
                        done.set()
                        return

    th = threading.Thread(target=follow, daemon=True)
    th.start()
    staff = web.staff()
    assert staff.post("/api/counter/call_next", json={}).json()["result"]["number"] == first.number
    assert done.wait(10), got
    th.join(5)


def test_a_rating_pad_rates_the_ticket_just_finished_at_its_window_once(
    web: WebHall, kiosk: HallClient
) -> None:
    t = issue(kiosk)
    staff = web.staff()
    staff.post("/api/counter/call_next", json={})
    staff.post("/api/counter/start", json={})
    assert staff.post("/api/counter/finish", json={}).status_code == 200
    pad = web.client()
    assert pad.get("/api/rate/win01").json() == {"paired": False, "finished": None}
    body = {"ticket": t.ticket_id, "level": 2, "reasons": ["wait_long"]}
    assert pad.post("/api/rate/win01", json=body).status_code == 401  # not paired
    r = pad.post("/api/rate/win01/pair", json={"account": "li.na", "password": "Window-pass-2026"})
    assert r.status_code == 200, r.text
    st = wait_state(web, lambda s: "win01" in s["finished"])
    assert st["finished"]["win01"]["ticket"] == t.ticket_id
    assert pad.get("/api/rate/win01").json()["finished"]["number"] == t.number
    assert pad.post("/api/rate/win02", json=body).status_code == 401  # another window's
    r = pad.post("/api/rate/win01", json=body)
    assert r.status_code == 200, r.text
    again = pad.post("/api/rate/win01", json={**body, "level": 5, "reasons": []})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_with_a_dialect_pack_each_call_has_a_mandarin_and_a_dialect_part(
    web_factory: Callable[..., WebHall], kiosk: HallClient, tmp_path: Any
) -> None:
    from tests.kiosk.test_ui import _dialect_pack

    _dialect_pack(tmp_path / "nan")
    web = web_factory(voice_dialect=str(tmp_path / "nan"))
    t = issue(kiosk)
    assert web.staff().post("/api/counter/call_next", json={}).status_code == 200
    st = wait_state(web, lambda s: any(a["number"] == t.number for a in s["announce"]))
    seq = st["announce"][-1]["seq"]
    c = web.client()
    cmn = c.get(f"/audio/call/{seq}.wav")
    nan = c.get(f"/audio/call/{seq}.wav?part=1")
    assert cmn.status_code == nan.status_code == 200
    assert cmn.content[:4] == nan.content[:4] == b"RIFF" and cmn.content != nan.content
    assert c.get(f"/audio/call/{seq}.wav?part=2").status_code == 404
    assert '"parts": 2' in c.get("/screen").text


def test_silent_calling_from_the_phone_page_texts_once_and_forgets_the_number(
    web_factory: Callable[..., WebHall], kiosk: HallClient
) -> None:
    """A citizen leaves a number to be told when one ticket is ahead: the simulated SMS
    gateway (real HTTP) gets exactly one message when the ticket ahead is called; the page
    shows only the masked number; the number is gone from the store after sending."""
    from hall_web.notify import SmsSettings

    web = web_factory(sms=SmsSettings(driver="simulated", sign_name="测试便民服务中心"))
    issue(kiosk)
    second = issue(kiosk)
    third = issue(kiosk)
    c = web.client()
    bad = c.post(f"/api/tickets/{third.token}/notify", json={"phone": "12345", "when_ahead": 1})
    assert bad.status_code == 400 and "12345" not in bad.text
    r = c.post(f"/api/tickets/{third.token}/notify", json={"phone": "13800001234", "when_ahead": 1})
    assert r.status_code == 200, r.text
    assert r.json()["silent"] == {"phone": "138****1234", "when_ahead": 1}
    page = c.get(f"/api/tickets/{third.token}").json()
    assert page["silent"]["phone"] == "138****1234" and "13800001234" not in str(page)
    gw = web.srv.notifier.gateway
    assert gw.messages == []  # two ahead: nothing yet
    staff = web.staff()
    assert staff.post("/api/counter/call_next", json={}).status_code == 200  # the first
    (msg,) = gw.wait_for(1, timeout=10)
    assert msg.phone == "13800001234" and third.number in msg.text and "1" in msg.text
    staff.post("/api/counter/finish", json={})
    assert staff.post("/api/counter/call_next", json={}).json()["result"]["number"] == (
        second.number
    )
    assert web.srv.silent.wait_idle(5)
    assert len(gw.messages) == 1  # used once
    assert not web.srv.silent.has(third.ticket_id)
    assert c.get(f"/api/tickets/{third.token}").json()["silent"] is None
