"""Drives the real Kivy app headless and records whether anything moves under the finger
while a screen is shown; prints one JSON line of findings (run by test_layout.py).

On every screen of ``python -m kiosk screenshots`` in both modes: the countdown appears,
a message about the last action appears (a banner), and nothing on the page moves. Then
the printer's answer arriving on the ticket and the guide, and a finger held on a button
(the pixels under it must change), and bold text against regular (more ink)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kiosk.__main__ import sample_states
from kiosk.linebreak import broken_rules
from kiosk.ui.app import widget_texts
from kiosk.ui.widgets import KLabel
from tests.kiosk.helpers import driver_app, run_driver_script


def main() -> None:
    app = driver_app("kiosk-layout-")
    tmp = app.k.cfg.data_dir
    k = app.k
    out: dict[str, Any] = {"moved": [], "checked": 0, "line_breaks": []}

    def layout() -> dict[int, tuple[Any, ...]]:
        """Every widget of the page (bars and content, not a question over it): where it
        is on the window and how big."""
        found = {}
        for w in app.root_box.walk(restrict=True):
            if w.get_root_window() is None:
                continue
            x, top = w.to_window(w.x, w.top)
            # a box that grows at its bottom (results added under the keyboard) moves
            # nothing in it: what counts is where each thing's top left is, and the size
            # of what is drawn (labels, buttons), not of the boxes that hold them
            leaf = not w.children
            found[id(w)] = (round(x), round(top), round(w.width), round(w.height) if leaf else 0, w)
        return found

    def moved(before: dict[int, tuple[Any, ...]], after: dict[int, tuple[Any, ...]]) -> list[str]:
        bad = []
        for key, (x, y, wd, ht, w) in before.items():
            if key in after and after[key][:4] != (x, y, wd, ht):
                text = getattr(w, "text", "") or type(w).__name__
                bad.append(f"{text[:16]!r} {(x, y, wd, ht)} → {after[key][:4]}")
        return bad

    def check(what: str, change: Any) -> Any:
        yield 0.15
        before = layout()
        change()
        k.changed()
        yield 0.15
        bad = moved(before, layout())
        out["checked"] += 1
        if bad:
            out["moved"].append(f"{what}: {bad[:3]}")

    def script() -> Any:
        yield 0.3
        for elderly in (False, True):
            for name, setup in sample_states():
                if name in ("countdown", "diag"):
                    continue
                k.wipe()
                k.elderly = elderly
                setup(k)
                k.elderly = elderly
                k.prompt = None
                k.changed()
                mode = "elderly" if elderly else "normal"
                yield 0.15
                # how much of the content area the screen's content reaches down to
                area = app.content_area
                area_top = area.to_window(area.x, area.top)[1]
                lowest = min(
                    (
                        w.to_window(w.x, w.y)[1]
                        for w in area.walk(restrict=True)
                        if not w.children and w.get_root_window() is not None and w.height > 1
                    ),
                    default=area_top,
                )
                out.setdefault("reach", {})[f"{name}/{mode}"] = round(
                    (area_top - lowest) / area.height, 2
                )
                # the lines as Kivy laid them out: none breaks the Chinese rules
                for w in app.root_box.walk(restrict=True):
                    cached = getattr(getattr(w, "_label", None), "_cached_lines", None)
                    if not isinstance(w, KLabel) or not cached:
                        continue
                    lines = ["".join(word.text for word in line.words) for line in cached]
                    out["lines_checked"] = out.get("lines_checked", 0) + len(lines)
                    out["line_breaks"] += [f"{name}/{mode}: {x}" for x in broken_rules(lines)]

                def countdown() -> None:
                    k.countdown = 9

                yield from check(f"{name}/{mode} countdown", countdown)

                def banner() -> None:
                    k.banner = ("printer_fault", {"reason": "paper out"})

                yield from check(f"{name}/{mode} banner", banner)
                out.setdefault("banner_shown", True)
                out["banner_shown"] = out["banner_shown"] and all(
                    x in "\n".join(widget_texts(app.root)) for x in ("知道了", "paper out")
                )
                k.banner = None
                k.countdown = None
        # where to put the card: a picture in the middle of the screen, and step 2 of 4
        from kiosk.ui.widgets import HowTo, Steps

        k.wipe()
        dict(sample_states())["ticket_identify"](k)
        k.changed()
        yield 0.3
        pic = next(w for w in app.root_box.walk(restrict=True) if isinstance(w, HowTo))
        out["howto"] = [pic.what, round(pic.to_window(*pic.center)[0]), round(app.root.width / 2)]
        out["howto_drawn"] = len(pic.canvas.children)
        steps = next(w for w in app.root_box.walk(restrict=True) if isinstance(w, Steps))
        out["steps"] = [(lbl.source_text, lbl.bold) for _cell, lbl in steps.cells]
        # the printer's answer, ~100 ms after the ticket number
        k.wipe()
        dict(sample_states())["ticket_done"](k)
        k.session.flow.printed = None
        k.changed()
        flow = k.session.flow

        def printed() -> None:
            flow.printed = True

        yield from check("ticket printed", printed)
        k.wipe()
        k.open_guide("service", k.hall.services[0].id)

        def guide_printed() -> None:
            k.params["printed"] = "ok"

        yield from check("guide printed", guide_printed)
        # search results appearing, many or none, move no key of the keyboard
        k.wipe()
        k.go("search")
        yield from check("search results", lambda: k.search("sfz"))
        yield from check("search no results", lambda: k.search("sfzqqqq"))
        # a long mailing address typed: the field stays one line, nothing below moves
        k.wipe()
        k.start_mailing()
        k.mail_field("address")
        yield from check(
            "mailing address",
            lambda: k.mail_set("address", "云溪县城关镇人民路" + "一百二十八号" * 6),
        )
        out["address_field"] = next(
            b.text
            for b in app.root_box.walk(restrict=True)
            if getattr(b, "source_text", "").startswith("▶ ")
        )
        # a finger held on a button: its pixels change
        k.wipe()
        k.open_catalogue()
        yield 0.2
        from kivy.core.window import Window

        from kiosk.ui.widgets import KButton

        button = next(
            b
            for b in app.root_box.walk(restrict=True)
            if isinstance(b, KButton) and b.action is not None and b.get_root_window()
        )
        out["pressed_button"] = button.text

        def pixels() -> Any:
            from PIL import Image

            path = Path(tmp) / "shot.png"
            for p in Path(tmp).glob("shot*.png"):
                p.unlink()
            Window.screenshot(str(path))
            shot = sorted(Path(tmp).glob("shot*.png"))[-1]
            img = Image.open(shot).convert("RGB")
            x, y = button.to_window(*button.center)
            # the window's y axis points up; the image's down
            return img.getpixel((int(x), int(img.height - y)))

        up = pixels()
        button.state = "down"
        yield 0.15
        down = pixels()
        button.state = "normal"
        yield 0.15
        out["pixel_up"], out["pixel_down"] = up, down
        out["pixel_after"] = pixels()

        # every home entry carries its drawn icon, above its words, inside the button
        k.wipe()
        k.changed()
        yield 0.3
        from PIL import Image

        icons = {}
        entries = [
            b
            for b in app.root_box.walk(restrict=True)
            if isinstance(b, KButton) and b.icon and b.get_root_window() is not None
        ]
        for b in entries:
            app.views["home"].scroll.scroll_to(b, padding=0, animate=False)
            yield 0.2
            for p in Path(tmp).glob("home*.png"):
                p.unlink()
            Window.screenshot(str(Path(tmp) / "home.png"))
            img = Image.open(sorted(Path(tmp).glob("home*.png"))[-1]).convert("RGB")
            side = b.icon_side()
            cx, cy = b.to_window(b.center_x, b.center_y)
            # the icon's square, over the words: pixels of the words' colour
            y0 = img.height - (cy + b.texture_size[1] / 2)
            box = (int(cx - side / 2), int(y0), int(cx + side / 2), int(y0 + side))
            fg = tuple(round(v * 255) for v in b.color[:3])
            crop = img.crop(box)
            ink = sum(
                1
                for px in crop.getdata()
                if sum(abs(a - c) for a, c in zip(px, fg, strict=False)) < 90
            )
            icons[b.icon] = round(ink / max(1, crop.width * crop.height), 3)
        out["icon_ink"] = icons

        # bold is bold: the same words drawn bold carry clearly more ink
        def ink(bold: bool) -> int:
            label = KLabel("前面还有 3 人 People ahead", k.limits, size="title", bold=bold)
            label.texture_update()
            px = label.texture.pixels
            return sum(1 for i in range(3, len(px), 4) if px[i] > 128)

        out["ink_regular"], out["ink_bold"] = ink(False), ink(True)

    run_driver_script(app, script(), out)


if __name__ == "__main__":
    main()
