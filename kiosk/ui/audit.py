"""Measure what is on screen, as a person sees it.

From the widgets' properties: the smallest text, touch target, text contrast and line
height, and characters the font cannot draw. From the drawn frame (:mod:`kiosk.ui.pixels`):
the non-text contrast of every button's boundary (normal and held down), how a disabled
button differs from its enabled neighbours, whether a button's text sits in its middle,
the size of drawn symbols, whether bold text is bold; and from what was laid out and
rendered: whether anything moves while a screen is shown, whether a screen's main action
is on the screen without scrolling (elderly mode), line breaks by the Chinese rules and
stray scripts (Chinese in English, English state words in Chinese). Limits are below,
each with its reason; ``report()`` gives the worst figures per mode and every failure
with its screen, mode, language and widget.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.scrollview import ScrollView

from kiosk.contrast import contrast
from kiosk.elderly import NORMAL, SCALE_MIN, limits
from kiosk.glyphs import missing
from kiosk.linebreak import broken_rules
from kiosk.ui import pixels as px
from kiosk.ui.boot import find_font

#: WCAG 1.4.11: a component's boundary (and each state's) against what surrounds it
MIN_NON_TEXT = 3.0
#: a disabled button against its enabled neighbours, in its fill or its edge: the
#: difference itself must be a non-text contrast a person sees without reading
MIN_DISABLED_DIFF = 3.0
#: a button's text (its ink) off the button's middle, as a fraction of the button's
#: height, across and up/down: more and the text looks stuck to one side ("sits high")
MAX_OFF_CENTRE = 0.10
#: bold text: ink of the same text drawn regular × this at least (WenQuanYi has one
#: weight; the faked bold gives +50–70 %, a face that is not bold +0–10 %)
MIN_BOLD_GAIN = 1.25
#: a widget that moves by more than this (px) between the first frame and STABLE_S later
MAX_MOVE_PX = 1
#: how long after a screen's first frame its layout is read again: long enough for the
#: Clock's triggers, texture updates and deferred drawing (HowTo) of the first frames
STABLE_S = 0.3
#: drawn symbols, in dp (and against the text's character height, see ``char_px``):
#: the check box at least as tall as a character beside it (it says what is chosen);
#: the "how to" picture and the QR code big enough to recognise / scan at arm's length
#: (an ID card life size is ~230 dp on a 32-inch 1080×1920 screen: the picture must hold
#: it); a step of the step indicator as tall as its text plus room; icons (★ ▶ ▲ ✔ ● …)
#: at least 60 % of a character's height
MIN_HOWTO_DP = (240.0, 200.0)  #: width, height
MIN_QR_DP = 200.0
MIN_ICON_CHAR = 0.6
ICONS = "★☆▶◀▲▼✔✓●○◇◆■□→←🔍"


def _bg_of(w: Any) -> list[float]:
    if isinstance(w, Button):
        return list(w.background_color)
    p = w.parent
    while p is not None:
        bg = getattr(p, "bg_rgba", None)
        if bg is not None:
            return list(bg)
        p = p.parent
    return [1, 1, 1, 1]


def grab() -> px.Frame:
    """The last frame drawn on the window (bottom row first, as Kivy's y axis)."""
    from kivy.core.window import Window
    from kivy.graphics.opengl import GL_RGBA, GL_UNSIGNED_BYTE, glReadPixels

    w, h = (int(v) for v in Window.size)
    return px.frame_from_bytes(glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE), w, h)


def box_of(w: Any) -> px.Box:
    x, y = w.to_window(*w.pos)
    return px.Box.of(x, y, w.width, w.height)


def _rgb255(c: Sequence[float]) -> tuple[int, int, int]:
    return (round(c[0] * 255), round(c[1] * 255), round(c[2] * 255))


def font_file(name: str, default: str) -> str:
    """The file of a font registered with Kivy under ``name`` (its regular face)."""
    from kivy.core.text import LabelBase

    files = getattr(LabelBase, "_fonts", {}).get(name)
    return str(files[0]) if files else default


@functools.lru_cache(maxsize=64)
def char_px(font_path: str, size_px: int, text: str = "国") -> int:
    """The ink height of ``text`` in this font and size (px): what a symbol beside it is
    held against."""
    from PIL import ImageFont

    font = ImageFont.truetype(font_path, max(1, size_px))
    _x0, y0, _x1, y1 = font.getbbox(text)
    return int(y1 - y0)


@functools.lru_cache(maxsize=2048)
def regular_ink(text: str, font_name: str, font_size: float) -> int:
    """The ink of ``text`` drawn in the regular face (what bold is held against)."""
    from kivy.core.text import Label as CoreLabel

    core = CoreLabel(text=text, font_name=font_name, font_size=font_size)
    core.refresh()
    tex = core.texture
    return px.alpha_weight(bytes(tex.pixels)) if tex is not None else 0


def content_passages(hall: Any, lang: str) -> tuple[str, ...]:
    """Texts of the hall's data shown as they are in ``lang``: Chinese ones without a
    translation into ``lang`` (a service with no English name is shown in Chinese) and,
    in Chinese, every text of the data (names may hold Latin letters)."""
    out: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for key, v in x.items():
                if isinstance(v, str) and v:
                    tr = ((x.get("i18n") or {}).get(lang) or {}).get(key) if lang != "zh" else None
                    if lang == "en":
                        tr = tr or x.get(f"{key}_en")
                    if lang == "zh" or (px.CJK.search(v) and not tr):
                        out.append(v)
                else:
                    walk(v)
        elif isinstance(x, list | tuple):
            for v in x:  # a list of texts (groups, notes) has no translation beside it
                if isinstance(v, str) and (lang == "zh" or px.CJK.search(v)):
                    out.append(v)
                else:
                    walk(v)

    dump = hall.model_dump() if hasattr(hall, "model_dump") else {}
    walk(dump)
    return tuple(sorted(set(out), key=len, reverse=True))


#: words of another script that belong on a screen in any language: the languages' own
#: names (the language button names each in itself), the keyboard's ABC key, the
#: search hint's example of pinyin initials
ALWAYS_ALLOWED = ("中文", "English", "ئۇيغۇرچە", "ABC", "sfz")


class Auditor:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.visits = 0
        self.worst: dict[str, dict[str, Any]] = {}
        self.failures: list[str] = []
        self.font = find_font()
        self.missing_glyphs: dict[str, str] = {}  #: character → where it was first seen
        self.ran: dict[str, int] = {}  #: check → how many widgets it measured
        self._passages: dict[str, tuple[str, ...]] = {}

    # ------------------------------------------------------------------ helpers
    def _fail(self, where: str, what: str) -> None:
        self.failures.append(f"{where} {what}")

    def _count(self, check: str, n: int = 1) -> None:
        self.ran[check] = self.ran.get(check, 0) + n

    def _mode(self, mode: str) -> dict[str, Any]:
        return self.worst.setdefault(
            mode,
            {
                "min_text_sp": 999.0,
                "min_target_dp": 999.0,
                "min_contrast": 99.0,
                "min_line_height": 9.0,
                "min_boundary": 99.0,
                "min_boundary_pressed": 99.0,
                "min_boundary_disabled": 99.0,
                "min_disabled_diff": 99.0,
                "max_off_centre": 0.0,
                "min_checkbox_dp": 999.0,
                "min_step_dp": 999.0,
                "min_step_current": 99.0,
                "min_howto_dp": 999.0,
                "min_qr_dp": 999.0,
                "min_icon_char": 9.0,
                "min_bold_gain": 9.0,
                "max_moved_px": 0,
                "main_action_hidden": 0,
                "line_breaks": 0,
                "stray_script": 0,
                "screens": 0,
            },
        )

    # ------------------------------------------------------------------ property checks
    def visit(self, screen: str, mode: str, lang: str) -> None:
        """What the widgets say: text size, text contrast, line height, glyphs, targets."""
        self.visits += 1
        lim = limits(mode == "elderly")
        w = self._mode(mode)
        w["screens"] += 1
        min_text = (
            lim.small_sp if mode == "normal" else max(lim.small_sp, SCALE_MIN * NORMAL.small_sp)
        )
        for x in self.app.root.walk(restrict=True):
            if not isinstance(x, Label) or not x.text.strip() or x.width <= 0:
                continue
            size = x.font_size / sp(1)
            ratio = contrast(x.color, _bg_of(x))
            where = f"{screen}/{mode}/{lang}: {x.text[:20]!r}"
            w["min_text_sp"] = min(w["min_text_sp"], round(size, 1))
            w["min_contrast"] = min(w["min_contrast"], round(ratio, 2))
            w["min_line_height"] = min(w["min_line_height"], x.line_height)
            if size + 1e-6 < min_text:
                self._fail(where, f"text {size:.1f} sp < {min_text}")
            if ratio < lim.min_contrast:
                self._fail(where, f"contrast {ratio:.2f} < {lim.min_contrast}")
            if mode == "elderly" and x.line_height < 1.3:
                self._fail(where, f"line height {x.line_height} < 1.3")
            font = None if x.markup else font_file(x.font_name, self.font)
            for ch in missing(x.text, font) if font else ():
                if ch not in self.missing_glyphs:
                    self.missing_glyphs[ch] = where
                    self._fail(where, f"glyph {ch!r} U+{ord(ch):04X} not in the font")
            if isinstance(x, Button):
                side = min(x.width, x.height) / dp(1)
                w["min_target_dp"] = min(w["min_target_dp"], round(side, 1))
                self._count("targets")
                if side + 1e-6 < lim.min_target_dp:
                    self._fail(where, f"target {side:.0f} dp < {lim.min_target_dp}")

    # ------------------------------------------------------------------ what is shown
    def page_root(self) -> Any:
        """The widgets a person can use now: the question over the page when one is open
        (the page under it is dimmed), else the page."""
        app = self.app
        prompt = getattr(app, "prompt", None)
        if prompt is not None and getattr(prompt, "shown", False):
            return prompt.card
        return getattr(app, "root_box", None) or app.root

    def buttons(self) -> list[Any]:
        return [
            b
            for b in self.page_root().walk(restrict=True)
            if isinstance(b, Button) and b.get_root_window() is not None and b.width > 0
        ]

    @staticmethod
    def clip_of(w: Any) -> px.Box:
        """The part of the window where ``w`` can be seen: its scroll view's box (or
        the window)."""
        from kivy.core.window import Window

        view = px.Box(0, 0, int(Window.width), int(Window.height))
        p = w.parent
        while p is not None:
            if isinstance(p, ScrollView):
                sv = box_of(p)
                x0, y0 = max(view.x, sv.x), max(view.y, sv.y)
                x1, y1 = min(view.right, sv.right), min(view.top, sv.top)
                return px.Box(x0, y0, max(0, x1 - x0), max(0, y1 - y0))
            p = None if p.parent is p else p.parent  # the window is its own parent
        return view

    def layout(self) -> dict[int, tuple[px.Box, Any]]:
        root = getattr(self.app, "root_box", None) or self.app.root
        return {
            id(w): (box_of(w), w)
            for w in root.walk(restrict=True)
            if w.get_root_window() is not None
        }

    # ------------------------------------------------------------------ pixel checks
    def measure(self, frame: px.Frame, screen: str, mode: str, lang: str) -> dict[int, Any]:
        """Every check on one frame of a screen; returns each button's boundary (for
        the held-down frame to be compared with)."""
        w = self._mode(mode)
        tag = f"{screen}/{mode}/{lang}:"
        boundaries: dict[int, Any] = {}
        shown = self.buttons()
        for b in shown:
            box, clip = box_of(b), self.clip_of(b)
            where = f"{tag} {type(b).__name__} {self._name(b)!r}"
            if not box.inside(clip):
                self._count("not_fully_visible")
                continue
            m = px.boundary(frame, box, clip)
            if m is None:
                continue
            boundaries[id(b)] = m
            if getattr(b, "kind", "") == "disabled":
                # WCAG 1.4.11 exempts inactive components; told apart below (_disabled)
                self._count("boundary_disabled")
                w["min_boundary_disabled"] = min(w["min_boundary_disabled"], m.ratio)
                self._centred(frame, b, box, m, where, w)
                continue
            self._count("boundary")
            w["min_boundary"] = min(w["min_boundary"], m.ratio)
            if m.ratio < MIN_NON_TEXT:
                self._fail(where, f"boundary contrast {m.ratio:.2f} < {MIN_NON_TEXT} {m.sides}")
            self._centred(frame, b, box, m, where, w)
            if hasattr(b, "box_side"):
                self._checkbox(frame, b, box, m, where, w)
        self._disabled(frame, shown, boundaries, tag, w)
        self._symbols(frame, tag, w)
        self._bold(frame, tag, w)
        self._lines(tag, w)
        self._scripts(tag, lang, w)
        self._main_action(tag, mode, w)
        return boundaries

    @staticmethod
    def _name(w: Any) -> str:
        return str(getattr(w, "source_text", "") or getattr(w, "text", "") or "")[:24]

    def _centred(
        self, frame: px.Frame, b: Any, box: px.Box, m: px.Boundary, where: str, w: dict[str, Any]
    ) -> None:
        if not (getattr(b, "source_text", "") or b.text).strip() or not m.fill:
            return
        inset = px.RING[1] + 1
        if hasattr(b, "box_side"):  # a check box: the text beside the box
            left = int(b.padding[0]) if b.padding else 0
            box = px.Box(box.x + left - inset, box.y, box.w - left + inset, box.h)
        c = px.centring(frame, box, m.fill, inset)
        if c is None:
            return
        self._count("centring")
        off = max(abs(c.dy_rel), 0.0 if hasattr(b, "box_side") else abs(c.dx_rel))
        w["max_off_centre"] = max(w["max_off_centre"], round(off, 3))
        if abs(c.dy_rel) > MAX_OFF_CENTRE:
            side = "high" if c.dy > 0 else "low"
            self._fail(
                where,
                f"text {abs(c.dy):.0f} px {side} in a {box.h} px button ({abs(c.dy_rel):.0%} > {MAX_OFF_CENTRE:.0%})",
            )
        if not hasattr(b, "box_side") and abs(c.dx_rel) > MAX_OFF_CENTRE:
            side = "right" if c.dx > 0 else "left"
            self._fail(
                where,
                f"text {abs(c.dx):.0f} px {side} of the middle ({abs(c.dx_rel):.0%} of the height > {MAX_OFF_CENTRE:.0%})",
            )

    def _checkbox(
        self, frame: px.Frame, b: Any, box: px.Box, m: px.Boundary, where: str, w: dict[str, Any]
    ) -> None:
        rect = getattr(getattr(b, "_box", None), "rectangle", None)
        if not rect or not m.fill:
            return
        bx, by = b.to_window(rect[0], rect[1])
        pad = round(dp(4))
        region = px.Box.of(bx - pad, by - pad, rect[2] + 2 * pad, rect[3] + 2 * pad)
        ink = px.ink_box(frame, region, m.fill)
        side = 0.0 if ink is None else min(ink.w, ink.h) / dp(1)
        limit = char_px(self.font, round(b.font_size)) / dp(1)
        self._count("checkbox")
        w["min_checkbox_dp"] = min(w["min_checkbox_dp"], round(side, 1))
        if side + 1e-6 < limit:
            self._fail(
                where, f"check box {side:.0f} dp < the text's character height {limit:.0f} dp"
            )

    def _disabled(
        self, frame: px.Frame, shown: list[Any], bounds: dict[int, Any], tag: str, w: dict[str, Any]
    ) -> None:
        for b in shown:
            if getattr(b, "kind", "") != "disabled" or id(b) not in bounds:
                continue
            peers = [
                o
                for o in (b.parent.children if b.parent is not None else [])
                if o is not b and id(o) in bounds and getattr(o, "kind", "disabled") != "disabled"
            ]
            if not peers:
                continue
            d = self._diff(frame, b, peers)
            self._count("disabled")
            w["min_disabled_diff"] = min(w["min_disabled_diff"], round(d, 2))
            if d < MIN_DISABLED_DIFF:
                self._fail(
                    f"{tag} {self._name(b)!r}",
                    f"disabled looks like enabled: {d:.2f} < {MIN_DISABLED_DIFF} (fill or edge against {self._name(peers[0])!r})",
                )

    @staticmethod
    def _diff(frame: px.Frame, b: Any, peers: list[Any]) -> float:
        """The weakest difference to any enabled neighbour: per neighbour, the stronger
        of the fills' contrast and the edges' (the darkest tenth of the edge ring)."""
        mine = box_of(b)
        out = 99.0
        for o in peers:
            other = box_of(o)
            fa, fb = (
                px.median(frame, mine.inset(px.FILL[0])),
                px.median(frame, other.inset(px.FILL[0])),
            )
            ea, eb = px.edge_colour(frame, mine), px.edge_colour(frame, other)
            if fa is None or fb is None or ea is None or eb is None:
                continue
            out = min(out, max(px.ratio(fa, fb), px.ratio(ea, eb)))
        return out

    def _symbols(self, frame: px.Frame, tag: str, w: dict[str, Any]) -> None:
        from kiosk.ui import widgets

        page = (0xFF, 0xFF, 0xFF)
        for x in self.page_root().walk(restrict=True):
            if x.get_root_window() is None or x.width <= 0:
                continue
            if isinstance(x, Label) and x.text:  # a glyph's size: shown or scrolled away
                self._icons(x, tag, w)
            box = box_of(x)
            if not box.inside(self.clip_of(x)):
                continue
            name = type(x).__name__
            what = str(getattr(x, "what", "") or "")
            if isinstance(x, widgets.HowTo) and what:
                ink = px.ink_box(frame, box, page)
                wd, ht = (0.0, 0.0) if ink is None else (ink.w / dp(1), ink.h / dp(1))
                self._count("howto")
                w["min_howto_dp"] = min(w["min_howto_dp"], round(min(wd, ht), 1))
                if wd < MIN_HOWTO_DP[0] or ht < MIN_HOWTO_DP[1]:
                    self._fail(
                        f"{tag} {name} {what!r}",
                        f"picture {wd:.0f}×{ht:.0f} dp < {MIN_HOWTO_DP[0]:.0f}×{MIN_HOWTO_DP[1]:.0f}",
                    )
            elif isinstance(x, widgets.QrImage) and str(getattr(x, "content", None) or ""):
                ink = px.ink_box(frame, box, page)
                side = 0.0 if ink is None else min(ink.w, ink.h) / dp(1)
                self._count("qr")
                w["min_qr_dp"] = min(w["min_qr_dp"], round(side, 1))
                if side < MIN_QR_DP:
                    self._fail(f"{tag} QR", f"{side:.0f} dp < {MIN_QR_DP:.0f}")
            elif isinstance(x, widgets.Steps):
                self._steps(frame, x, tag, w)

    def _steps(self, frame: px.Frame, steps: Any, tag: str, w: dict[str, Any]) -> None:
        """The step indicator: each step as drawn (its extent against the page, info),
        and the current step — the "you are here" dot — standing out ≥ 3:1 from the page
        and from the steps beside it, so it is seen without reading."""
        cells = [(c, lab) for c, lab in getattr(steps, "cells", []) if c.parent is steps]
        fills: list[tuple[Any, Any, Any]] = []
        for cell, label in cells:
            cb = box_of(cell)
            pad = round(dp(4))
            ink = px.ink_box(
                frame,
                px.Box(cb.x - pad, cb.y - pad, cb.w + 2 * pad, cb.h + 2 * pad),
                (255, 255, 255),
            )
            self._count("steps")
            w["min_step_dp"] = min(
                w["min_step_dp"], round(0.0 if ink is None else ink.h / dp(1), 1)
            )
            fills.append((cell, label, px.boundary(frame, cb)))
        for i, (_cell, label, m) in enumerate(fills):
            if m is None or not getattr(label, "bold", False):
                continue  # the current step is the bold one
            near = [f[2].fill for j, f in enumerate(fills) if abs(j - i) == 1 and f[2] is not None]
            worst = min([m.ratio] + [px.ratio(m.fill, o) for o in near if o])
            w["min_step_current"] = min(w["min_step_current"], round(worst, 2))
            if worst < MIN_NON_TEXT:
                self._fail(
                    f"{tag} step {self._name(label)!r}",
                    f"current step stands out {worst:.2f} < {MIN_NON_TEXT}",
                )

    def _icons(self, x: Any, tag: str, w: dict[str, Any]) -> None:
        text = getattr(x, "source_text", "") or x.text
        icons = {ch for ch in text if ch in ICONS}
        if not icons:
            return
        size = round(x.font_size)
        ref = char_px(self.font, size)
        for ch in icons:
            if missing(ch, self.font):
                continue  # reported as a missing glyph
            rel = char_px(self.font, size, ch) / ref if ref else 0.0
            self._count("icons")
            w["min_icon_char"] = min(w["min_icon_char"], round(rel, 2))
            if rel < MIN_ICON_CHAR:
                self._fail(
                    f"{tag} {self._name(x)!r}",
                    f"icon {ch!r} {rel:.0%} of a character's height < {MIN_ICON_CHAR:.0%}",
                )

    def _bold(self, frame: px.Frame, tag: str, w: dict[str, Any]) -> None:
        for x in self.page_root().walk(restrict=True):
            if not isinstance(x, Label) or not x.bold or not x.text.strip():
                continue
            if x.get_root_window() is None or x.width <= 0:
                continue
            box = box_of(x)
            if not box.inside(self.clip_of(x)):
                continue
            bg = _rgb255(_bg_of(x))
            bold = px.ink_weight(frame, box, bg, _rgb255(x.color))
            regular = regular_ink(x.text, x.font_name, float(x.font_size))
            if regular <= 0:
                continue
            gain = bold / regular
            self._count("bold")
            w["min_bold_gain"] = min(w["min_bold_gain"], round(gain, 2))
            if gain < MIN_BOLD_GAIN:
                self._fail(
                    f"{tag} {self._name(x)!r}",
                    f"bold has {gain:.2f}× the ink of regular < {MIN_BOLD_GAIN}",
                )

    def _lines(self, tag: str, w: dict[str, Any]) -> None:
        root = getattr(self.app, "root_box", None) or self.app.root
        roots = [root] + ([self.page_root()] if self.page_root() is not root else [])
        for r in roots:
            for x in r.walk(restrict=True):
                cached = getattr(getattr(x, "_label", None), "_cached_lines", None)
                if not isinstance(x, Label) or not cached or x.get_root_window() is None:
                    continue
                lines = ["".join(word.text for word in line.words) for line in cached]
                if any(px.ARABIC.search(line) for line in lines):  # drawn right to left
                    lines = [px.logical_line(line) for line in lines]
                self._count("lines", len(lines))
                for bad in broken_rules(lines):
                    w["line_breaks"] += 1
                    self._fail(f"{tag} {type(x).__name__} {self._name(x)!r}", f"line break: {bad}")

    def _scripts(self, tag: str, lang: str, w: dict[str, Any]) -> None:
        if lang not in self._passages:
            hall = getattr(getattr(self.app, "k", None), "hall", None)
            self._passages[lang] = ALWAYS_ALLOWED + content_passages(hall, lang)
        allowed = self._passages[lang]
        for x in self.app.root.walk(restrict=True):
            if not isinstance(x, Label) or x.get_root_window() is None:
                continue
            text = getattr(x, "source_text", "") or x.text
            if not text.strip():
                continue
            self._count("scripts")
            stray = px.stray_script(text, lang, allowed)
            if stray:
                w["stray_script"] += 1
                self._fail(f"{tag} {self._name(x)!r}", f"not {lang}: {''.join(stray)[:12]!r}")

    def _main_action(self, tag: str, mode: str, w: dict[str, Any]) -> None:
        """The screen's main action: the last enabled primary button of the page (the
        question's, when one is open), fully on the window and not in a scroll view's
        hidden part. A limit in elderly mode; counted in both."""
        found = [
            b
            for b in self.buttons()
            if getattr(b, "kind", "") == "primary"
            and getattr(b, "action", None) is not None
            and not hasattr(b, "box_side")
            and self._in_content(b)
        ]
        if not found:
            return
        b = found[-1]
        self._count("main_action")
        box, clip = box_of(b), self.clip_of(b)
        if not box.inside(clip):
            w["main_action_hidden"] += 1
            if mode == "elderly":
                self._fail(
                    f"{tag} {self._name(b)!r}",
                    f"main action not on the screen without scrolling: {box} outside the visible {clip}",
                )

    def _in_content(self, b: Any) -> bool:
        """On the page itself, not in the bars (their buttons are on every screen)."""
        area = getattr(self.app, "content_area", None)
        if area is None or self.page_root() is not getattr(self.app, "root_box", None):
            return True
        p = b.parent
        while p is not None:
            if p is area:
                return True
            p = None if p.parent is p else p.parent
        return False

    def moved(
        self,
        before: dict[int, tuple[px.Box, Any]],
        after: dict[int, tuple[px.Box, Any]],
        tag: str,
        mode: str,
    ) -> None:
        w = self._mode(mode)
        self._count("stability", len(before))
        for key, (a, x) in before.items():
            if key not in after:
                continue
            b = after[key][0]
            d = max(abs(a.x - b.x), abs(a.y - b.y), abs(a.w - b.w), abs(a.h - b.h))
            w["max_moved_px"] = max(w["max_moved_px"], d)
            if d > MAX_MOVE_PX:
                self._fail(
                    f"{tag} {type(x).__name__} {self._name(x)!r}", f"moved {a} → {b} while shown"
                )

    def pressed(self, frame: px.Frame, normal: dict[int, Any], tag: str, mode: str) -> None:
        """The same buttons held down: still ≥ 3:1 against their surroundings, and
        visibly changed (the press is seen)."""
        w = self._mode(mode)
        for b in self.buttons():
            if id(b) not in normal:
                continue
            box, clip = box_of(b), self.clip_of(b)
            m = px.boundary(frame, box, clip)
            if m is None:
                continue
            self._count("boundary_pressed")
            w["min_boundary_pressed"] = min(w["min_boundary_pressed"], m.ratio)
            if m.ratio < MIN_NON_TEXT:
                self._fail(
                    f"{tag} {type(b).__name__} {self._name(b)!r}",
                    f"held down: boundary contrast {m.ratio:.2f} < {MIN_NON_TEXT} {m.sides}",
                )

    # ------------------------------------------------------------------ the walk
    def inspect(self, screen: str, mode: str, lang: str, *, press: bool = True) -> Iterator[float]:
        """Every check on the screen shown now: the frame as drawn, every enabled button
        held down (one frame; ``press``), and the layout again ``STABLE_S`` after the first
        frame."""
        t0 = time.perf_counter()
        tag = f"{screen}/{mode}/{lang}:"
        self.visit(screen, mode, lang)
        before = self.layout()
        frame = grab()
        normal = self.measure(frame, screen, mode, lang)
        held = [
            b
            for b in self.buttons()
            if press and id(b) in normal and getattr(b, "action", None) is not None
        ]
        if held:
            for b in held:
                b.state = "down"
            yield from self._frames(1)  # a colour change: drawn in the next frame
            self.pressed(grab(), {id(b): normal[id(b)] for b in held}, tag, mode)
            for b in held:
                b.state = "normal"
        while time.perf_counter() - t0 < STABLE_S:
            yield 0.02
        self.moved(before, self.layout(), tag, mode)

    def _frames(self, n: int, timeout: float = 2.0) -> Iterator[float]:
        """Until ``n`` more frames are drawn (Kivy draws one only when something changed)."""
        start, waited = getattr(self.app, "flips", 0), 0.0
        while getattr(self.app, "flips", 0) < start + n and waited < timeout:
            yield 0.01
            waited += 0.01

    def groups(self) -> list[dict[str, Any]]:
        """The failures with the screen taken out: one line per widget and finding in a
        mode and language (the bars' buttons fail alike on every screen), with how many
        screens and the first of them."""
        out: dict[str, dict[str, Any]] = {}
        for f in self.failures:
            screen, _, rest = f.partition("/")
            g = out.setdefault(rest, {"what": rest, "screens": 0, "first": screen})
            g["screens"] += 1
        return list(out.values())

    def report(self) -> dict[str, Any]:
        return {
            "ok": not self.failures,
            "visits": self.visits,
            "modes": self.worst,
            "checks": self.ran,
            "limits": {
                "non_text_contrast": MIN_NON_TEXT,
                "disabled_vs_enabled": MIN_DISABLED_DIFF,
                "text_off_centre": MAX_OFF_CENTRE,
                "bold_gain": MIN_BOLD_GAIN,
                "moved_px": MAX_MOVE_PX,
                "stable_s": STABLE_S,
                "howto_dp": list(MIN_HOWTO_DP),
                "qr_dp": MIN_QR_DP,
                "icon_char": MIN_ICON_CHAR,
                "target_dp": {
                    "normal": limits(False).min_target_dp,
                    "elderly": limits(True).min_target_dp,
                },
            },
            "missing_glyphs": {f"U+{ord(c):04X} {c}": w for c, w in self.missing_glyphs.items()},
            "failure_count": len(self.failures),
            "failure_groups": self.groups(),
            "failures": self.failures[:300],
        }
