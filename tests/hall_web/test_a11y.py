"""Accessibility of the hall display and the staff console, checked in Chromium by our own
rules (no axe-core download): every visible text's size and its contrast against the
background it is drawn on, and that the console fits the 1366×768 screen it is used at."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from hall_contract.client import HallClient
from tests.hall_web.browser import chromium  # noqa: F401  (fixture)
from tests.hall_web.conftest import STAFF_PASSWORD, WebHall

#: For each visible element with its own text: font size, contrast ratio (WCAG 2 relative
#: luminance, background = the nearest ancestor with an opaque background colour).
TEXTS = """() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] >= 0.99)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const r = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || st.visibility === "hidden" || el.closest("[hidden]")) continue;
    if (r.bottom < 0 || r.top > innerHeight) continue;
    const fg = lum(rgb(st.color)), b = lum(bg(el));
    const ratio = (Math.max(fg, b) + 0.05) / (Math.min(fg, b) + 0.05);
    out.push({text: el.textContent.trim().slice(0, 30), size: parseFloat(st.fontSize), ratio, id: el.id, cls: el.className});
  }
  return out;
}"""
NO_MOTION = "*, *::before, *::after { animation: none !important; transition: none !important; }"


def busy(web: WebHall, kiosk: HallClient) -> None:
    for _ in range(3):
        kiosk.request("ticket.issue", {"service": "id_card_renew"})
    staff = web.staff()
    assert staff.post("/api/counter/call_next", json={}).status_code == 200


def texts(page: Page) -> list[dict[str, Any]]:
    page.add_style_tag(content=NO_MOTION)
    found: list[dict[str, Any]] = page.evaluate(TEXTS)
    assert found, "no text found: the check looked at nothing"
    return found


def test_the_hall_display_is_readable_from_8_m(
    web: WebHall,
    kiosk: HallClient,
    chromium: Any,  # noqa: F811
) -> None:
    busy(web, kiosk)
    page = chromium.new_context(
        viewport={"width": 1920, "height": 1080}, bypass_csp=True
    ).new_page()
    page.goto(web.url + "/screen")
    expect(page.locator("#now-number")).not_to_have_text("—")
    found = texts(page)
    small = [t for t in found if t["size"] < 32]
    assert not small, f"text under 32 px on the hall display: {small}"
    low = [t for t in found if t["ratio"] < 7]
    assert not low, f"contrast under 7:1 on the hall display: {low}"
    number = next(t for t in found if t["id"] == "now-number")
    assert number["size"] >= 120
    # nothing spills out of the 1920×1080 screen
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1920
    assert page.evaluate("() => document.documentElement.scrollHeight") <= 1080


def test_the_staff_console_fits_1366_by_768_and_reads_well(
    web: WebHall,
    kiosk: HallClient,
    chromium: Any,  # noqa: F811
) -> None:
    busy(web, kiosk)
    page = chromium.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=True).new_page()
    page.goto(web.url + "/counter")
    page.fill("#l-account", "li.na")
    page.fill("#l-password", STAFF_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.get_by_role("button", name="2号窗口").click()
    expect(page.locator("#desk")).to_be_visible()
    found = texts(page)
    low = [t for t in found if t["ratio"] < 4.5]
    assert not low, f"contrast under 4.5:1 on the staff console: {low}"
    small = [t for t in found if t["size"] < 14]
    assert not small, f"text under 14 px on the staff console: {small}"
    # every action button in view without scrolling, each naming its key
    for b in page.locator("[data-act]").all():
        box = b.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 768, b.inner_text()
        assert b.locator("kbd").inner_text() == b.get_attribute("data-key")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1366
