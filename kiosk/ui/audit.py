"""Measure what is on screen: smallest text, smallest touch target, lowest contrast."""

from __future__ import annotations

from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.button import Button
from kivy.uix.label import Label

from kiosk.contrast import contrast
from kiosk.elderly import NORMAL, SCALE_MIN, limits
from kiosk.glyphs import missing
from kiosk.ui.boot import find_font


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


class Auditor:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.visits = 0
        self.worst: dict[str, dict[str, Any]] = {}
        self.failures: list[str] = []
        self.font = find_font()
        self.missing_glyphs: dict[str, str] = {}  #: character → where it was first seen

    def visit(self, screen: str, mode: str, lang: str) -> None:
        self.visits += 1
        lim = limits(mode == "elderly")
        w = self.worst.setdefault(
            mode,
            {
                "min_text_sp": 999.0,
                "min_target_dp": 999.0,
                "min_contrast": 99.0,
                "min_line_height": 9.0,
                "screens": 0,
            },
        )
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
                self.failures.append(f"{where} text {size:.1f} sp < {min_text}")
            if ratio < lim.min_contrast:
                self.failures.append(f"{where} contrast {ratio:.2f} < {lim.min_contrast}")
            if mode == "elderly" and x.line_height < 1.3:
                self.failures.append(f"{where} line height {x.line_height} < 1.3")
            for ch in missing(x.text, self.font):
                if ch not in self.missing_glyphs:
                    self.missing_glyphs[ch] = where
                    self.failures.append(f"{where} glyph {ch!r} U+{ord(ch):04X} not in the font")
            if isinstance(x, Button):
                side = min(x.width, x.height) / dp(1)
                w["min_target_dp"] = min(w["min_target_dp"], round(side, 1))
                if side + 1e-6 < lim.min_target_dp:
                    self.failures.append(f"{where} target {side:.0f} dp < {lim.min_target_dp}")

    def report(self) -> dict[str, Any]:
        return {
            "ok": not self.failures,
            "visits": self.visits,
            "modes": self.worst,
            "missing_glyphs": {f"U+{ord(c):04X} {c}": w for c, w in self.missing_glyphs.items()},
            "failures": self.failures[:50],
            "failure_count": len(self.failures),
        }
