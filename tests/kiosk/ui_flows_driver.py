"""Drives the real Kivy app headless through every citizen flow by pressing the buttons on
screen, on the devices' simulators, against a real broker and controller (config/hall.yaml).
Run by test_ui.py: ``ui_flows_driver.py BROKER_URL DATA_DIR PREP_JSON``; PREP_JSON holds
what the test prepared at the controller (cases, finished tickets, appointments, its clock).
Prints one JSON line of findings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hall_contract.messages import HallStatus
from kiosk.__main__ import build, start_io, stop_io
from kiosk.session import CardIdentity
from tests.kiosk.ui_devices_driver import ELDER, ID_NUMBER, sim_devices

ROOT = Path(__file__).resolve().parents[2]
SECRET = "ui-flows-secret"
SECRETS = (ELDER.name, ID_NUMBER, ELDER.address)


def main() -> None:
    broker_url, data, prep = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    now = dt.datetime.fromtimestamp(prep["now"], ZoneInfo("Asia/Shanghai"))
    app = build(
        None,
        headless=True,
        now=lambda: now,
        overrides={
            "hall_config": str(ROOT / "config" / "hall.yaml"),
            "broker_url": broker_url,
            "terminal_id": "k01",
            "data_dir": str(data),
            "devices": sim_devices(data),
            "fullscreen": False,
            "location": "",  # the controller knows where k01 stands
            "citizen_key_secret": SECRET,
            "voice": {"pack": None, "dialect": None},
        },
    )
    k, hw = app.k, app.hw
    sent: list[tuple[str, dict[str, Any]]] = []  #: the reference fields of what was sent
    real_request = k.link.request

    def spy(op: str, body: dict[str, Any], timeout: float) -> Any:
        sent.append((op, {x: body.get(x) for x in ("case_no", "ticket")}))
        return real_request(op, body, timeout)

    k.link.request = spy
    clock = [1000.0]
    k.mono = lambda: clock[0]
    k.last_touch = clock[0]
    out: dict[str, Any] = {}
    typed: list[str] = []  #: what the person typed (must be gone after the flow)
    from kivy.uix.button import Button

    from kiosk.ui.app import widget_texts
    from tests.kiosk.test_core import state_text

    def screen_text() -> str:
        return "\n".join(widget_texts(app.root))

    def buttons() -> list[Any]:
        return [w for w in app.root.walk(restrict=True) if isinstance(w, Button)]

    def press(text: str, exact: bool = False) -> None:
        """Press the first enabled on-screen button whose text is (or contains) ``text``."""
        for b in buttons():
            if (b.source_text == text if exact else text in b.source_text) and b.action is not None:
                b.dispatch("on_release")
                return
        raise AssertionError(f"no button {text!r} on screen: {[b.source_text for b in buttons()]}")

    def type_keys(keys: str) -> Any:
        for ch in keys:
            press(ch, exact=True)
            yield 0.02

    def pinyin(syllable: str) -> Any:
        """Type a syllable and pick its first candidate character."""
        yield from type_keys(syllable)
        first = next(
            b for b in buttons() if len(b.source_text) == 1 and not b.source_text.isascii()
        )
        first.dispatch("on_release")
        yield 0.02

    def until(cond: Any, what: str, limit: float = 15.0) -> Any:
        waited = 0.0
        # the state, and the screen showing it (a press goes to what is drawn)
        while not (cond() and app.drawn()):
            if waited > limit:
                raise AssertionError(f"timeout waiting for {what}: {screen_text()[:600]}")
            waited += 0.05
            yield 0.05

    def step(name: str) -> Any:
        f = k.flow
        return f is not None and f.step == name

    def card() -> CardIdentity:
        return CardIdentity(ELDER.name, ID_NUMBER, ELDER.birth_date, ELDER.address)

    def leaks() -> list[str]:
        blob = screen_text() + state_text(k) + state_text(app.__dict__)
        return [s for s in SECRETS + tuple(typed) if s in blob]

    def script() -> Any:
        yield from until(
            lambda: k.online and all(s.usable for s in hw.statuses().values()), "devices + link"
        )
        # the controller's retained hall status: the home screen shows its waiting figure
        yield from until(lambda: isinstance(k.link.hall_status, HallStatus), "hall status")
        yield 0.1
        out["home"] = screen_text()
        out["status_waiting"] = k.link.hall_status.waiting
        # --- catalogue: search by pinyin initials on the touch keyboard, guide, print
        press("办事指南")
        yield 0.05
        press("搜索", exact=True)
        yield 0.05
        yield from type_keys("sfz")
        out["search_results"] = [b.source_text for b in buttons() if "身份证" in b.source_text]
        press("居民身份证换领")
        yield 0.05
        out["guide_text"] = screen_text()
        n = len(hw.printer.virtual.receipts)
        press("打印告知单")
        yield from until(lambda: k.params.get("printed") == "ok", "notice printed")
        out["notice_receipt"] = "\n".join(hw.printer.virtual.receipts[n].text_lines)
        # --- bundle: one merged, de-duplicated list; printed
        press("首页", exact=True)
        yield 0.05
        press("办事指南")
        yield 0.05
        press("一件事一次办", exact=True)
        yield 0.05
        press("出生一件事")
        yield 0.05
        out["bundle_text"] = screen_text()
        n = len(hw.printer.virtual.receipts)
        press("打印告知单")
        yield from until(lambda: k.params.get("printed") == "ok", "bundle printed")
        out["bundle_receipt"] = "\n".join(hw.printer.virtual.receipts[n].text_lines)
        # --- ticket for the bundle, identified by scanning an e-licence code
        press("为此事项取号")
        yield from until(lambda: step("identify"), "identify step")
        hw.scanner.inject_scan("ELIC0000123456")
        yield from until(lambda: step("priority"), "priority step")
        out["prio_after_scan"] = [b.source_text for b in buttons() if "优先" in b.source_text]
        press("普通取号")
        yield from until(lambda: step("done") and k.flow.printed is not None, "bundle ticket")
        yield 0.1
        out["bundle_ticket"] = dataclasses.asdict(k.flow.result)
        out["bundle_ticket_screen"] = screen_text()
        press("完成")
        yield 0.05
        # --- ticket with the ID card (SAM simulator), the service picked by its category:
        # elderly offered, priority offered
        press("取号", exact=True)
        yield 0.05
        out["ticket_categories"] = [b.source_text for b in buttons()]
        press("公安户政", exact=True)
        yield 0.05
        out["ticket_category_screen"] = screen_text()
        press("居民身份证换领", exact=True)
        yield 0.05
        out["ticket_by_category"] = [k.flow.step, k.flow.kind, k.flow.target]
        hw.idcard.present_card(card())
        yield from until(lambda: k.prompt == "offer_elderly", "elderly offer")
        yield 0.05
        out["offer_text"] = screen_text()
        press("不用")
        yield 0.05
        out["ticket_prio_screen"] = screen_text()
        press("老年人优先")
        yield from until(lambda: step("done") and k.flow.printed is not None, "id ticket")
        yield 0.1
        out["id_ticket"] = {x: getattr(k.flow.result, x) for x in ("number", "priority")}
        out["id_ticket_screen"] = screen_text()
        out["id_ticket_qr"] = any(
            type(w).__name__ == "QrImage" and w.texture is not None for w in app.root.walk()
        )
        out["id_receipt"] = "\n".join(hw.printer.virtual.receipts[-1].text_lines)
        press("完成")
        yield 0.1
        out["leaks_after_ticket"] = leaks()
        # --- the service picked by searching pinyin initials on the touch keyboard
        press("取号", exact=True)
        yield 0.05
        press("搜索", exact=True)
        yield 0.05
        yield from type_keys("sfz")
        yield 0.05
        out["ticket_search_results"] = [
            b.source_text for b in buttons() if "身份证" in b.source_text
        ]
        press("居民身份证补领", exact=True)
        yield 0.05
        out["ticket_by_search"] = [k.flow.step, k.flow.kind, k.flow.target]
        out["ticket_by_search_screen"] = screen_text()
        press("首页", exact=True)
        yield 0.05
        # --- appointment check-in: QR code, then ID card
        press("预约签到")
        yield 0.05
        hw.scanner.inject_scan(prep["appt_code"])
        yield from until(lambda: step("done") or step("error"), "check-in by QR")
        yield 0.05
        out["checkin_qr"] = screen_text()
        press("完成")
        yield 0.05
        press("预约签到")
        yield 0.05
        hw.idcard.present_card(card())
        yield from until(lambda: step("done") or step("error"), "check-in by card")
        yield 0.05
        out["checkin_card"] = screen_text()
        press("首页", exact=True)
        yield 0.05
        # --- case lookup: receipt barcode (yellow), ID card (yellow and red)
        press("办件查询")
        yield 0.05
        hw.scanner.inject_scan(prep["case_yellow"])
        yield from until(lambda: step("done") or step("error"), "case by barcode")
        yield 0.05
        out["case_barcode"] = screen_text()
        press("完成")
        yield 0.05
        press("办件查询")
        yield 0.05
        hw.idcard.present_card(card())
        yield from until(lambda: step("done") or step("error"), "case by card")
        yield 0.05
        out["case_card"] = screen_text()
        press("首页", exact=True)
        yield 0.05
        # --- rating: bad level → reasons (marks drawn in the font) + comment; one per ticket
        press("好差评")
        yield 0.05
        hw.scanner.inject_scan(prep["token_bad"])
        yield from until(lambda: step("level"), "rating levels")
        out["rating_levels"] = [b.source_text for b in buttons() if "满意" in b.source_text]
        press("非常不满意")
        yield 0.05
        press("等待时间长")
        yield 0.05
        out["reason_marks"] = [
            ("✔ " if b.checked else "□ ") + b.source_text
            for b in buttons()
            if hasattr(b, "checked")
        ]
        yield from pinyin("man")
        yield 0.05
        out["comment"] = k.flow.text
        press("提交")
        yield from until(lambda: step("done") or step("error"), "bad rating sent")
        yield 0.05
        out["rating_bad"] = screen_text()
        press("完成")
        yield 0.05
        press("好差评")
        yield 0.05
        hw.scanner.inject_scan(prep["token_good"])
        yield from until(lambda: step("level"), "rating levels 2")
        press("非常满意")
        yield from until(lambda: step("done") or step("error"), "good rating sent")
        yield 0.05
        out["rating_good"] = screen_text()
        press("完成")
        yield 0.05
        press("好差评")
        yield 0.05
        hw.scanner.inject_scan(prep["token_bad"])
        yield from until(lambda: step("level"), "rating levels 3")
        press("满意", exact=False)
        yield from until(lambda: step("done") or step("error"), "second rating")
        yield 0.05
        out["rating_again"] = screen_text()
        press("首页", exact=True)
        yield 0.05
        # --- helper and 办不成事 from the bottom bar's help button
        press("帮办代办", exact=True)
        yield 0.05
        press("请帮办员过来帮我")
        yield from until(lambda: step("done"), "helper reached")
        yield 0.05
        out["help_helper"] = screen_text()
        press("完成")
        yield 0.05
        press("帮办代办", exact=True)
        yield 0.05
        press("我的事没办成")
        yield from until(lambda: step("done"), "unresolved reached")
        yield 0.05
        out["help_unresolved"] = screen_text()
        press("完成")
        yield 0.05
        # --- mailing: every field on the touch keyboard (ABC, pinyin, digits)
        press("免费邮寄")
        yield 0.05
        yield from type_keys(prep["case_yellow"].lower())
        press("收件人")
        yield 0.05
        yield from pinyin("wang")
        yield from pinyin("xiu")
        press("手机号码")
        yield 0.05
        yield from type_keys("13800138000")
        press("收件地址")
        yield 0.05
        for syl in ("ren", "min", "lu", "yi", "bai"):
            yield from pinyin(syl)
        yield from type_keys("88")
        yield from pinyin("hao")
        yield 0.05
        out["mail_form"] = screen_text()
        out["mail_values"] = {x: k.session.form.get(x, "") for x in ("ref", "phone")}
        typed.extend([k.session.form["address"], k.session.form["recipient"]])
        press("提交")
        yield from until(lambda: step("done") or step("error"), "mailing sent")
        yield 0.05
        out["mail_done"] = screen_text()
        out["mail_ref_sent"] = [b for op, b in sent if op == "mailing.request"]
        press("完成")
        yield 0.1
        out["leaks_after_mailing"] = leaks()
        # --- a form left half-typed: countdown, then everything wiped by the timeout
        press("免费邮寄")
        yield 0.05
        press("收件人")
        yield 0.05
        yield from pinyin("zhao")
        yield from pinyin("xiu")
        typed.append(k.session.form["recipient"])
        hw.idcard.present_card(card())
        yield from until(lambda: k.session.identity is not None, "card read")
        clock[0] += k.cfg.timeouts.inactivity_s - 5
        yield 1.2
        out["countdown"] = "秒后返回首页" in screen_text()
        clock[0] += 10
        yield 1.2
        out["home_after_timeout"] = app.rendered_screen == "home"
        out["leaks_after_timeout"] = leaks()
        out["session_empty"] = k.session.empty

    app.script = script()
    start_io(app)
    try:
        app.run()
    finally:
        stop_io(app)
    out["script_error"] = getattr(app, "script_error", False)
    print("RESULT " + json.dumps(out, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
