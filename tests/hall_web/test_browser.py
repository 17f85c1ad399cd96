"""The hall's faces in a real Chromium: a ticket from the kiosk, called from the staff
console by its keyboard shortcut, flashing on the hall display and the window display,
announced once, rated on the rating pad, followed by the phone page; the broker killed
mid-test shows the offline overlay, and everything recovers."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from hall_contract.client import HallClient
from tests.hall_web.browser import chromium  # noqa: F401  (fixture)
from tests.hall_web.conftest import STAFF_PASSWORD, WebHall

SECOND = 1000  # Playwright's timeouts are in milliseconds


def open_page(browser: Any, url: str, **kw: Any) -> Page:
    ctx = browser.new_context(**kw)
    page = ctx.new_page()
    page.goto(url)
    return page


def sign_in(page: Page, account: str = "zhang.wei") -> None:
    page.fill("#l-account", account)
    page.fill("#l-password", STAFF_PASSWORD)
    page.click("#login-form button[type=submit]")


def test_a_ticket_s_day_across_every_face(
    web: WebHall,
    kiosk: HallClient,
    chromium: Any,  # noqa: F811
) -> None:
    b = chromium
    screen = open_page(b, web.url + "/screen", viewport={"width": 1920, "height": 1080})
    expect(screen.locator("#offline")).to_be_hidden(timeout=10 * SECOND)
    wdisp = open_page(b, web.url + "/window-display/win01", viewport={"width": 800, "height": 480})
    console = open_page(b, web.url + "/counter", viewport={"width": 1366, "height": 768})
    sign_in(console)
    console.get_by_role("button", name="1号窗口").click()
    expect(console.locator("#desk")).to_be_visible()
    # the window display: open and idle
    expect(wdisp.locator("#wd")).to_have_attribute("data-state", "idle", timeout=10 * SECOND)

    t = kiosk.request("ticket.issue", {"service": "id_card_renew"}).result
    phone = open_page(b, web.url + f"/q/{t.token}", viewport={"width": 390, "height": 844})
    expect(phone.locator("#p-number")).to_have_text(t.number)
    expect(phone.locator("#p-ahead")).to_have_text("0")
    # a sound at the console: its queue had nobody and now has one
    expect(console.locator("body")).to_have_attribute("data-waiting", "1")
    expect(console.locator("body")).to_have_attribute("data-chimes", "1")

    console.keyboard.press("1")  # 呼叫下一位
    expect(console.locator("#d-number")).to_have_text(t.number)
    # the ticket's history at the console, with who called it
    expect(console.locator("#d-history")).to_contain_text("呼叫 · 1号窗口 · zhang.wei")
    # the hall display: the number, big, flashing, with the window and its location
    expect(screen.locator("#now-number")).to_have_text(t.number, timeout=5 * SECOND)
    expect(screen.locator("#now")).to_have_class("s-now-card flash")
    expect(screen.locator("#now-window")).to_have_text("1号窗口")
    expect(wdisp.locator("#w-number")).to_have_text(t.number)
    expect(wdisp.locator("#wd")).to_have_attribute("data-state", "called")
    expect(phone.locator("#p-state")).to_contain_text("请到 1号窗口", timeout=10 * SECOND)
    # announced once: the page's playback log has one start and one end for the call
    seq = web.srv.live.view.announce[-1].seq

    def played() -> list[tuple[int, str]]:
        return [(s, e) for _p, s, e, _at in web.srv.playback if s == seq]

    expect(screen.locator("body")).to_have_attribute(
        "data-reported", f"{seq}:end", timeout=20 * SECOND
    )
    assert played() == [(seq, "start"), (seq, "end")]

    console.keyboard.press("3")  # 开始办理
    expect(wdisp.locator("#wd")).to_have_attribute("data-state", "serving")
    # the rating pad, paired once by staff
    pad = open_page(b, web.url + "/rate/win01", viewport={"width": 1280, "height": 800})
    pad.fill("#r-account", "li.na")
    pad.fill("#r-password", STAFF_PASSWORD)
    pad.click("#pair-form button")
    expect(pad.locator("#r-idle")).to_be_visible()
    console.keyboard.press("5")  # 办结
    console.click("#dlg-finish button[value=ok]")
    expect(pad.locator("#r-number")).to_have_text(t.number, timeout=5 * SECOND)
    pad.get_by_role("button", name="不满意 Unsatisfied").click()
    pad.get_by_text("等候时间长").click()
    pad.click("#r-submit")
    expect(pad.locator("#r-thanks")).to_be_visible()
    expect(phone.locator("#p-state")).to_contain_text("已办结", timeout=10 * SECOND)
    # rated once: a second rating is refused by the controller
    again = kiosk.request("rating.submit", {"ticket": t.token, "level": 5})
    assert again.error is not None and again.error.code == "conflict"
    # the pad goes back to idle by itself
    expect(pad.locator("#r-idle")).to_be_visible(timeout=10 * SECOND)


def test_the_offline_overlay_shows_while_the_broker_is_down_and_goes_when_it_is_back(
    web: WebHall,
    kiosk: HallClient,
    chromium: Any,  # noqa: F811
) -> None:
    screen = open_page(chromium, web.url + "/screen", viewport={"width": 1920, "height": 1080})
    expect(screen.locator("#offline")).to_be_hidden(timeout=10 * SECOND)
    web.broker.stop()
    expect(screen.locator("#offline")).to_be_visible(timeout=20 * SECOND)
    web.broker.start()
    expect(screen.locator("#offline")).to_be_hidden(timeout=30 * SECOND)
    # and live again: a call shows
    t = kiosk.request("ticket.issue", {"service": "id_card_renew"}, timeout=15).result
    staff = web.staff()
    assert staff.post("/api/counter/call_next", json={}).status_code == 200
    expect(screen.locator("#now-number")).to_have_text(t.number, timeout=10 * SECOND)
