"""``python -m hall_web screenshots OUTDIR``: every page of the web faces, drawn.

Starts a throw-away hall (its own mosquitto, the controller on the example hall config
with the demo's 24-hour calendar, this web server), brings it to a busy moment (tickets
waiting, windows calling and serving, one paused, one closed), and photographs each page
in Debian's Chromium at the size it is used at: the hall display at 1920×1080, the staff
console at 1366×768, a rating pad at 1280×800, a window display at 800×480, the phone page
at 390×844. Nothing is committed: the images are for people to look at.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import uvicorn

from hall_contract.client import HallClient
from hall_contract.hallconfig import HallConfig, around_the_clock
from hall_contract.topics import Topics
from hall_contract.yamlconf import load_model
from hall_web.app import create_app
from hall_web.auth import Accounts
from hall_web.notify import SmsSettings
from hall_web.settings import ScreenSettings, WebSettings

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Window-pass-2026"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    th = threading.Thread(target=server.run, name="web", daemon=True)
    th.start()
    for _ in range(400):
        if server.started:
            break
        th.join(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, th, f"http://127.0.0.1:{port}"


def take(out: Path, hall_config: Path = ROOT / "config" / "hall.yaml") -> list[Path]:
    from playwright.sync_api import sync_playwright

    from hall_controller.broker import Mosquitto
    from hall_controller.sealing import Sealer
    from hall_controller.service import Controller
    from hall_controller.store import SqliteStore

    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    cfg: HallConfig = around_the_clock(load_model(HallConfig, hall_config))
    with tempfile.TemporaryDirectory(prefix="hallkit-shots-") as tmp:
        d = Path(tmp)
        mq = Mosquitto(d / "mq", port=0).start()
        ctl = Controller(
            cfg, SqliteStore(d / "hall.db"), mq.settings, sealer=Sealer.from_dir(d / "s")
        )
        ctl.start()
        ctl.wait_ready(10)
        acc = Accounts(d / "web" / "accounts.db")
        acc.add("demo", "王晓明", ["staff"], PASSWORD)
        acc.close()
        web = WebSettings(
            broker_url=mq.url,
            data_dir=str(d / "web"),
            screen=ScreenSettings(calendar_note="演示大厅 24 小时开放 · Demo hall: open 24 hours"),
            sms=SmsSettings(driver="simulated", sign_name=cfg.hall.name),
        )
        clients: list[HallClient] = []
        server: uvicorn.Server | None = None
        th: threading.Thread | None = None
        try:
            app = create_app(web, cfg)
            server, th, url = serve(app)
            t = Topics(cfg.hall.id)
            kiosk = HallClient(t, "k01", mq.settings, role="kiosk").start()
            clients.append(kiosk)
            queues = [q.id for q in cfg.queues[:4]] * 5
            issued = [kiosk.request("ticket.issue", {"queue": q}).result for q in queues]
            tickets: list[Any] = [x for x in issued if x is not None]
            assert len(tickets) == len(queues), "the hall did not issue tickets"
            for w in ("w02", "w03", "w04", "w05"):
                c = HallClient(t, w, mq.settings, role="window").start()
                clients.append(c)
                c.request("window.sign_on", {"staff": f"staff.{w}"})
                c.request("window.call_next", {})
            clients[2].request("window.start", {})
            w06 = HallClient(t, "w06", mq.settings, role="window").start()
            clients.append(w06)
            w06.request("window.sign_on", {"staff": "staff.w06"})
            w06.request("window.pause", {"reason": "lunch"})
            app.state.srv.client.wait_connected(10)

            with sync_playwright() as p:
                b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)

                def page(path: str, w: int, h: int) -> Any:
                    pg = b.new_context(viewport={"width": w, "height": h}).new_page()
                    pg.goto(url + path)
                    pg.wait_for_function("() => document.body.dataset.version !== undefined")
                    return pg

                def shot(pg: Any, name: str) -> None:
                    pg.wait_for_timeout(300)  # the flash's first frame, fonts
                    f = out / f"{name}.png"
                    pg.screenshot(path=str(f))
                    shots.append(f)

                phone = page(f"/q/{tickets[-1].token}", 390, 844)
                pg = b.new_context(viewport={"width": 1366, "height": 768}).new_page()
                pg.goto(url + "/counter")
                pg.wait_for_selector("#login:not([hidden])")
                shot(pg, "counter-1-login")
                pg.fill("#l-account", "demo")
                pg.fill("#l-password", PASSWORD)
                pg.click("#login-form button[type=submit]")
                pg.wait_for_selector("#pick:not([hidden])")
                shot(pg, "counter-2-pick")
                pg.get_by_role("button", name=cfg.windows[0].name).click()
                pg.wait_for_selector("#desk:not([hidden])")
                pad = page(f"/rate/{cfg.windows[0].id}", 1280, 800)
                shot(pad, "rate-1-pair")
                pad.fill("#r-account", "demo")
                pad.fill("#r-password", PASSWORD)
                pad.click("#pair-form button")
                pad.wait_for_selector("#r-idle:not([hidden])")
                shot(pad, "rate-2-idle")
                pg.keyboard.press("1")
                pg.wait_for_function(
                    "() => document.getElementById('d-number').textContent !== '—'"
                )
                shot(pg, "counter-3-called")
                screen = page("/screen", 1920, 1080)
                shot(screen, "screen")
                for wid, name in (
                    (cfg.windows[0].id, "called"),
                    (cfg.windows[5].id, "paused"),
                    (cfg.windows[-1].id, "closed"),
                ):
                    shot(page(f"/window-display/{wid}", 800, 480), f"window-display-{name}")
                shot(phone, "phone-waiting")
                pg.keyboard.press("6")
                shot(pg, "counter-4-transfer")
                pg.keyboard.press("Escape")
                pg.keyboard.press("3")
                pg.wait_for_function("() => document.body.dataset.busy === '0'")
                pg.keyboard.press("5")
                pg.click("#dlg-finish button[value=ok]")
                pad.wait_for_selector("#r-ask:not([hidden])")
                shot(pad, "rate-3-ask")
                pad.get_by_role("button", name="不满意 Unsatisfied").click()
                shot(pad, "rate-4-reasons")
                first = tickets[0]
                shot(page(f"/q/{first.token}", 390, 844), "phone-called")
                mq.stop()
                screen.wait_for_selector("#offline:not([hidden])", timeout=20000)
                shot(screen, "screen-offline")
                b.close()
        finally:
            for c in clients:
                c.stop(graceful=False)
            if server is not None and th is not None:
                server.should_exit = True
                th.join(10)
            ctl.stop()
            mq.stop()
    return shots
