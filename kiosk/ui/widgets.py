"""Thin themed widgets, built once and refilled.

Every text and touch target gets its size and colours from the mode's limits
(:mod:`kiosk.elderly`) through ``refill()``, which only sets properties: Kivy re-renders a
label's texture only when one of them really changed, so showing a screen again costs
property updates, not new widget trees. Buttons call whatever ``action`` they were last
refilled with; widgets hold no state of their own beyond what is on screen.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from kivy.graphics import Color, Line, Rectangle, RoundedRectangle, Triangle
from kivy.graphics.texture import Texture
from kivy.metrics import dp, sp
from kivy.properties import BooleanProperty, ListProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.image import Image
from kivy.uix.label import Label
from kivy.uix.widget import Widget
from kivy.utils import escape_markup

from kiosk import rtl
from kiosk.contrast import hex_rgba
from kiosk.elderly import ModeLimits
from kiosk.linebreak import wrap
from kiosk.ui.boot import FONT_NAME, RTL_FONT_NAME

BG = hex_rgba("FFFFFF")
TEXT = hex_rgba("1A1A1A")
PRIMARY = hex_rgba("0A4A8A")
ON_PRIMARY = hex_rgba("FFFFFF")
SECONDARY = hex_rgba("E6EEF6")
ON_SECONDARY = hex_rgba("0A2540")
DISABLED = hex_rgba("F2F2F2")
ON_DISABLED = hex_rgba("4D4D4D")
WARN = hex_rgba("FFF1B8")
ON_WARN = hex_rgba("3D2B00")
WARN_EDGE = hex_rgba("8A6500")  #: 5.3:1 on white: the box stands out (WCAG 1.4.11)
DANGER = hex_rgba("8A1010")
BAR = hex_rgba("0A2540")
ON_BAR = hex_rgba("FFFFFF")

KINDS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "primary": (PRIMARY, ON_PRIMARY),
    "secondary": (SECONDARY, ON_SECONDARY),
    "disabled": (DISABLED, ON_DISABLED),
    "bar": (BAR, ON_BAR),
    "danger": (DANGER, ON_PRIMARY),
    # a primary button on the dark bars: its blue is only 1.75:1 against the bar, so
    # a white edge marks it (WCAG 1.4.11), held down too
    "bar_primary": (PRIMARY, ON_PRIMARY),
}
#: the background while a finger is on the button: every button answers a touch at once
PRESSED: dict[str, tuple[float, ...]] = {
    "primary": hex_rgba("052C55"),
    "secondary": hex_rgba("B9CCE3"),
    "disabled": DISABLED,
    "bar": hex_rgba("163D66"),
    "danger": hex_rgba("5C0A0A"),
    "bar_primary": hex_rgba("052C55"),
}
#: the edge of a button whose fill is close to the page (light ones): ≥ 3:1 against the
#: white page and against the fill (WCAG 1.4.11 non-text contrast); dashed when disabled
EDGE: dict[str, tuple[float, ...] | None] = {
    "primary": None,
    "secondary": ON_SECONDARY,
    "disabled": hex_rgba("767676"),
    "bar": None,
    "danger": None,
    "bar_primary": ON_BAR,
}


def font_sp(lim: ModeLimits, size: str) -> float:
    return {
        "body": lim.body_sp,
        "title": lim.title_sp,
        "small": lim.small_sp,
        "huge": lim.title_sp * 2,
    }[size]


def bar_height(lim: ModeLimits) -> float:
    """The top and bottom bars: tall enough for the big 长辈模式 button (title size) and
    for a hall name that wraps onto two lines."""
    two_lines = lim.body_sp * lim.line_height * 2 + 12
    return float(
        dp(max(lim.min_target_dp, lim.title_sp * 2.0, lim.body_sp * 2.6, two_lines)) + dp(16)
    )


@functools.lru_cache(maxsize=16)
def text_measure(font_name: str, font_size: float, bold: bool = False) -> Callable[[str], float]:
    """The drawn width of a text in this font and size: the sum of its characters'
    advances, each measured once. Per character, not per text: a cache of whole lines
    would keep what a citizen typed in memory after they leave."""
    from kivy.core.text import Label as CoreLabel

    core = CoreLabel(font_name=font_name, font_size=font_size, bold=bold)

    @functools.lru_cache(maxsize=8192)
    def advance(ch: str) -> float:
        return float(core.get_extents(ch)[0])

    def measure(text: str) -> float:
        return sum(advance(ch) for ch in text)

    return measure


@functools.lru_cache(maxsize=512)
def glyph_offset(face: str, size: float, ch: str) -> float:
    """How far below the middle of its line box the ink of the one character ``ch`` is
    drawn (px; negative: above), measured with Pillow in the face's font file. Per
    character only (a key), so nothing a citizen typed is kept."""
    from PIL import ImageFont

    from kiosk.ui.boot import find_font, find_rtl_font

    path = (find_rtl_font() or (find_font(),))[0] if face == RTL_FONT_NAME else find_font()
    font = ImageFont.truetype(path, max(1, round(size)))
    ascent, descent = font.getmetrics()
    _x0, y0, _x1, y1 = font.getbbox(ch)
    return (y0 + y1) / 2 - (ascent + descent) / 2


def face_for(text: str) -> str:
    """The font for ``text``: the Arabic-script face for Uyghur, else the CJK one (which
    also draws Latin). One label has one face, so a screen never mixes the two scripts in
    one label."""
    return RTL_FONT_NAME if rtl.has_arabic(text) else FONT_NAME


#: what the Arabic-script face cannot draw: CJK ideographs, kana, CJK and fullwidth
#: punctuation
_CJK = re.compile("[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")


def _font_runs(line: str) -> str:
    """``line`` as Kivy markup: its CJK runs in the CJK face, the rest as it is."""
    out = []
    for run, cjk in _runs(line):
        text = escape_markup(run)
        out.append(f"[font={FONT_NAME}]{text}[/font]" if cjk else text)
    return "".join(out)


def _runs(line: str) -> list[tuple[str, bool]]:
    runs: list[tuple[str, bool]] = []
    for ch in line:
        cjk = _CJK.match(ch) is not None
        if runs and runs[-1][1] == cjk:
            runs[-1] = (runs[-1][0] + ch, cjk)
        else:
            runs.append((ch, cjk))
    return runs


def elide_middle(text: str, keep: int, width: float, measure: Callable[[str], float]) -> str:
    """``text`` on one line: its first ``keep`` characters (a field's name), "…", and as
    much of its end (what was typed last) as fits."""
    if measure(text) <= width:
        return text
    head, rest = text[:keep], text[keep:]
    while rest and measure(head + "…" + rest) > width:
        rest = rest[1:]
    return head + "…" + rest


def set_text(
    w: Any, text: str, width: float | None, *, typed: bool = False, one_line: int | None = None
) -> None:
    """Put ``text`` on a label or button ``w`` in its own face, broken into lines by our
    rules when ``width`` is given: the Chinese ones (:mod:`kiosk.linebreak`; Kivy's would
    start a line with "）" or "，"), and for right-to-left text shaped and in visual order
    (:mod:`kiosk.rtl`). ``typed``: what a citizen typed, kept out of every cache.
    ``one_line``: never more than one line (see :func:`elide_middle`), so a growing text
    moves nothing below it."""
    w.font_name = face_for(text)
    mixed = w.font_name == RTL_FONT_NAME and _CJK.search(text) is not None
    w.markup = mixed
    if not text or width is None or width <= 0:
        shown = rtl.one_line(text, cache=not typed) if w.font_name == RTL_FONT_NAME else text
        w.text = shown if text else text
        if mixed:
            w.text = "\n".join(_font_runs(x) for x in w.text.split("\n"))
        return
    # the Arabic-script face has a real bold, wider than its regular
    measure = text_measure(w.font_name, float(w.font_size), w.font_name == RTL_FONT_NAME and w.bold)
    if mixed:
        # Uyghur with Chinese in it (a hall's untranslated content, a window's name):
        # one label, two faces — each Chinese run drawn in the CJK face by Kivy's markup,
        # and measured in it
        cjk = text_measure(FONT_NAME, float(w.font_size))

        def both(s: str) -> float:
            return sum(cjk(ch) if _CJK.match(ch) else measure(ch) for ch in s)

        lines = rtl.lines(text, width, both, cache=not typed)
        w.text = "\n".join(_font_runs(x) for x in lines)
    elif w.font_name == RTL_FONT_NAME:
        w.text = "\n".join(_rtl_lines(w, text, width, measure, typed))
    elif one_line is not None:
        w.text = elide_middle(text, one_line, width, measure)
    else:
        w.text = "\n".join(wrap(text, width, measure))


def _rtl_lines(
    w: Any, text: str, width: float, measure: Callable[[str], float], typed: bool
) -> list[str]:
    """Right-to-left lines that Kivy will not break again: its own wrapping (at a space,
    from the left) would cut a line in visual order and put the end of a sentence first.
    A line is checked whole, as Kivy draws it (kerning included), not by the sum of its
    letters; if one is too wide the text is broken again a little narrower."""
    from kivy.core.text import Label as CoreLabel

    core = CoreLabel(font_name=w.font_name, font_size=w.font_size, bold=w.bold)
    for shrink in (1.0, 0.96, 0.92, 0.85):
        lines = rtl.lines(text, width * shrink, measure, cache=not typed)
        if all(core.get_extents(x)[0] <= width for x in lines):
            break
    return lines


def mirrored_halign(halign: str, text: str) -> str:
    """Right-to-left text starts at the right: "left" (the start of a line) becomes
    "right"."""
    if halign == "left" and rtl.is_rtl(text):
        return "right"
    return halign


def mirror(w: Widget, rtl_layout: bool) -> None:
    """Lay ``w`` and what it holds out right to left (Uyghur) or left to right: rows of a
    box or grid start at the right; a widget with ``keep_ltr`` (the keyboard) and its
    children are left as they are. Kivy's GridLayout does it itself ("rl-tb"); its
    BoxLayout only runs left to right, so ours mirror after laying out (:class:`RtlBox`)."""
    if getattr(w, "keep_ltr", False):
        return
    if isinstance(w, Panel | Steps):
        w.rtl = rtl_layout
    elif isinstance(w, GridLayout):
        w.orientation = "rl-tb" if rtl_layout else "lr-tb"
    for child in w.children:
        mirror(child, rtl_layout)


def embolden(w: Any, bold: bool) -> None:
    """Bold that is bold. The CJK font has one weight (WenQuanYi Micro Hei; Noto CJK's bold
    comes as a collection whose first face is Japanese, which Kivy cannot skip), and Kivy
    draws ``bold=True`` with the regular face when there is no bold file — so the glyphs
    are thickened the way a synthetic bold does it: an outline of the text's own colour,
    about 1/40 of the font size (+50–70 % ink at 40 px). The Arabic-script face has a
    real bold."""
    w.bold = bold
    if bold and w.font_name != RTL_FONT_NAME:
        w.outline_width = max(1, round(w.font_size / 40))
        w.outline_color = list(w.color[:3])
    else:
        w.outline_width = 0


class RtlBox(BoxLayout):
    """A BoxLayout whose horizontal row can run right to left (``rtl``): laid out as
    usual, then each child's place mirrored inside the box."""

    rtl = BooleanProperty(False)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.bind(rtl=self._trigger_layout)

    def do_layout(self, *args: Any) -> None:
        super().do_layout(*args)
        if self.rtl and self.orientation == "horizontal":
            for c in self.children:
                c.x = self.x + self.right - c.right


class Panel(RtlBox):
    """A box with a flat background colour (``bg_rgba`` is what the audit reads)."""

    bg_rgba = ListProperty(list(BG))

    def __init__(self, bg: tuple[float, ...] = BG, **kw: Any) -> None:
        super().__init__(**kw)
        self.bg_rgba = list(bg)
        with self.canvas.before:
            self._c = Color(*bg)
            self._r = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._sync, size=self._sync)

    def _sync(self, *_: Any) -> None:
        self._r.pos = self.pos
        self._r.size = self.size


class KLabel(Label):
    """A wrapping label that grows to its text."""

    def __init__(self, text: str = "", lim: ModeLimits | None = None, **kw: Any) -> None:
        style = {k: kw.pop(k) for k in ("size", "color", "bold", "halign") if k in kw}
        super().__init__(font_name=FONT_NAME, valign="middle", size_hint_y=None, markup=False, **kw)
        self.source_text = ""  #: the text as given (``text`` has the line breaks we chose)
        self.private = False  #: holds what a citizen typed: kept out of every cache
        self.bind(width=self._wrap, texture_size=self._fit)
        if lim is not None:
            self.refill(text, lim, **style)

    def _wrap(self, *_: Any) -> None:
        width = self.width - dp(8)
        self.text_size = (width, None)
        # our own line breaks, by the Chinese rules (kiosk/linebreak.py); Kivy's would
        # start a line with "）" or "，"
        avail = width - 2 * (self.outline_width or 0) - 2
        set_text(self, self.source_text, avail if avail > 0 else None, typed=self.private)

    def _fit(self, *_: Any) -> None:
        self.height = self.texture_size[1] + dp(8)

    def refill(
        self,
        text: str,
        lim: ModeLimits,
        *,
        size: str = "body",
        color: tuple[float, ...] = TEXT,
        bold: bool = False,
        halign: str = "left",
        private: bool = False,
    ) -> KLabel:
        self.source_text = text
        self.private = private
        self.font_name = face_for(text)
        self.font_size = sp(font_sp(lim, size))
        self.color = color
        self.halign = mirrored_halign(halign, text)
        self.line_height = lim.line_height
        embolden(self, bold)
        self._wrap()
        return self

    def scrub(self) -> None:
        self.source_text = ""
        self.text = ""


class KButton(Button):
    """A flat, wrapping button at least ``min_target_dp`` in both directions."""

    def __init__(self, text: str = "", lim: ModeLimits | None = None, **kw: Any) -> None:
        style = {k: kw.pop(k) for k in ("kind", "on_press", "size", "fill_height") if k in kw}
        super().__init__(
            font_name=FONT_NAME,
            background_normal="",
            background_down="",
            halign="center",
            valign="middle",
            **kw,
        )
        self.action: Callable[[], Any] | None = None
        self.min_target = 0.0
        self.kind = "primary"
        self.source_text = ""  #: the text as given (``text`` has the line breaks we chose)
        self.private = False  #: holds what a citizen typed: kept out of every cache
        self.one_line: int | None = None  #: see :func:`set_text`
        self.icon = ""  #: a drawn icon above the text (kiosk/ui/icons.py)
        self.nudge = 0.0  #: padding that lowers the words (see refill)
        self._icon: Any = None
        with self.canvas.after:
            self._edge_color = Color(0, 0, 0, 0)
            self._edge = Line(width=dp(1.5))
        self.bind(size=self._wrap, texture_size=self._grow, on_release=self._fire)
        self.bind(pos=self._draw_edge, size=self._draw_edge, state=self._pressed)
        self.bind(pos=self._draw_icon, size=self._draw_icon)
        if lim is not None:
            self.refill(text, lim, **style)

    def _draw_edge(self, *_: Any) -> None:
        inset = self._edge.width
        self._edge.rectangle = (
            self.x + inset,
            self.y + inset,
            max(0.0, self.width - 2 * inset),
            max(0.0, self.height - 2 * inset),
        )

    def icon_side(self) -> float:
        return float(min(dp(88), self.font_size * 2.2)) if self.icon else 0.0

    def _draw_icon(self, *_: Any) -> None:
        if self._icon is not None:
            self.canvas.after.remove(self._icon)
            self._icon = None
        if not self.icon:
            return
        from kiosk.ui import icons

        side = self.icon_side()
        # above the text, the pair centred in the button (the text's padding makes room)
        text_h = max(0.0, self.texture_size[1] - side - dp(12))
        top = self.center_y + (side + dp(12) + text_h) / 2
        self._icon = icons.draw(
            self.icon, self.center_x - side / 2, top - side, side, self.color, dp(3)
        )
        self.canvas.after.add(self._icon)

    def _pressed(self, *_: Any) -> None:
        down = self.state == "down"
        self.background_color = PRESSED[self.kind] if down else KINDS[self.kind][0]

    def _wrap(self, *_: Any) -> None:
        width = self.width - dp(12)
        self.text_size = (width, None)
        set_text(self, self.source_text, width - 2, typed=self.private, one_line=self.one_line)

    def _fire(self, *_: Any) -> None:
        if self.action is not None:
            self.action()

    def _grow(self, *_: Any) -> None:
        if self.size_hint_y is None:
            self.height = max(self.min_target, self.texture_size[1] - self.nudge + dp(16))
        self._draw_icon()

    def refill(
        self,
        text: str,
        lim: ModeLimits,
        *,
        kind: str = "primary",
        on_press: Callable[[], Any] | None = None,
        size: str = "body",
        fill_height: bool = False,
        min_dp: float = 0,
        private: bool = False,
        one_line: int | None = None,
        icon: str = "",
    ) -> KButton:
        bg, fg = KINDS[kind]
        self.kind = kind
        edge = EDGE[kind]
        self._edge_color.rgba = edge if edge is not None else (0, 0, 0, 0)
        dashed = kind == "disabled"
        # Kivy draws dashes only on 1-pixel lines
        if dashed != (self._edge.dash_offset != 0):
            # a new line, not the old one's dashes switched off: Kivy kept drawing a
            # solid line that had been dashed with gaps (keys reused from a disabled
            # button had broken edges, 1.17:1 where the gaps were)
            i = self.canvas.after.indexof(self._edge)
            self.canvas.after.remove(self._edge)
            self._edge = (
                Line(width=1, dash_length=dp(6), dash_offset=dp(4))
                if dashed
                else Line(width=dp(1.5))
            )
            self.canvas.after.insert(i, self._edge)
        self._draw_edge()
        fs = font_sp(lim, size)
        self.min_target = dp(max(lim.min_target_dp, fs * 2.2, min_dp))
        self.source_text = text
        self.private = private
        self.one_line = one_line
        self.font_size = sp(fs)
        self.icon = icon
        # room for the icon above the text (Kivy counts padding in the texture); and the
        # words lower than Kivy puts them: it centres the line box, whose extra line
        # height (1.35 in elderly mode) and descent lie under the letters, so they sat
        # high (the audit measured 8 px, 11 % of an elderly button). Padding on top moves
        # the text down by half of it.
        # (the nudge makes a button no taller: a key with a letter stays as high as one
        # without, so nothing moves when candidates appear)
        shift = self.font_size * 0.4 * (lim.line_height - 1)
        if len(text) == 1:  # a key: its one letter's own ink centred (ر و پ sit low)
            shift -= glyph_offset(face_for(text), float(self.font_size), text)
        self.nudge = 2 * abs(shift)
        extra = self.icon_side() + dp(12) if icon else 0
        self.padding = [0, extra + 2 * shift, 0, 0] if shift >= 0 else [0, extra, 0, -2 * shift]
        self._wrap()
        self.color = fg
        self.disabled_color = fg
        self.background_color = bg
        self.line_height = lim.line_height
        self.action = on_press if kind != "disabled" else None
        w: Any = self  # Kivy properties (size_hint_y is a float or None)
        if fill_height:
            w.size_hint_y = 1
        else:
            w.size_hint_y = None
            w.height = max(self.min_target, self.texture_size[1] - self.nudge + dp(16))
        self._draw_icon()
        return self

    def scrub(self) -> None:
        self.source_text = ""
        self.text = ""
        self.action = None


class KCheck(KButton):
    """A choice that can be ticked: a drawn box as tall as the text, with a tick when
    chosen (a text "□" was 8×9 px beside 18 px words, and fonts lack ☐/☑)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.checked = False
        with self.canvas.after:
            self._box_color = Color(*ON_SECONDARY)
            self._box = Line(width=dp(2))
            self._tick_color = Color(0, 0, 0, 0)
            self._tick = Line(width=dp(3.5), cap="round", joint="round")
        self.bind(pos=self._draw_box, size=self._draw_box)

    def box_side(self) -> float:
        return float(max(dp(30), self.font_size * 1.15))

    def _wrap(self, *_: Any) -> None:
        side = self.box_side()
        box_right = rtl.is_rtl(self.source_text)  # right to left: the box at the start
        pad = [side + dp(28), dp(8) + self.nudge, dp(12), dp(8)]
        self.padding = [pad[2], pad[1], pad[0], pad[3]] if box_right else pad
        width = max(1.0, self.width - side - dp(40))
        self.text_size = (width, None)
        set_text(self, self.source_text, width - 2)

    def _draw_box(self, *_: Any) -> None:
        side = self.box_side()
        x, y = self.x + dp(16), self.center_y - side / 2
        if rtl.is_rtl(self.source_text):
            x = self.right - dp(16) - side
        self._box.rectangle = (x, y, side, side)
        self._tick.points = [
            x + side * 0.2, y + side * 0.52,
            x + side * 0.42, y + side * 0.28,
            x + side * 0.82, y + side * 0.76,
        ]  # fmt: skip

    def set_checked(self, checked: bool) -> None:
        self.checked = checked
        fg = self.color
        self._box_color.rgba = list(fg)
        self._tick_color.rgba = list(fg) if checked else [0, 0, 0, 0]
        self._wrap()
        self._draw_box()

    def scrub(self) -> None:
        super().scrub()
        self.set_checked(False)


class Row(GridLayout):
    """A grid row of the content; its children are reused like the content's (``slots``)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(size_hint_y=None, spacing=dp(12), **kw)
        self.bind(minimum_height=self.setter("height"))
        self.slots: Any = None
        self.keep_ltr = False  #: cells left to right in every language (the keyboard)

    def scrub(self) -> None:
        pass


class WarnBox(Panel):
    """A yellow box with one message (banners, countdown, print failures)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(bg=WARN, orientation="vertical", size_hint_y=None, padding=dp(8), **kw)
        with self.canvas.after:
            Color(*WARN_EDGE)
            self._edge = Line(width=dp(2))
        self.bind(pos=self._draw_edge, size=self._draw_edge)
        self.label = KLabel()
        self.add_widget(self.label)
        self.label.bind(height=self._fit)

    def _fit(self, *_: Any) -> None:
        self.height = self.label.height + dp(16)

    def _draw_edge(self, *_: Any) -> None:
        w = self._edge.width
        self._edge.rectangle = (self.x + w, self.y + w, self.width - 2 * w, self.height - 2 * w)

    def refill(self, text: str, lim: ModeLimits) -> WarnBox:
        self.label.refill(text, lim, color=ON_WARN)
        return self

    def scrub(self) -> None:
        self.label.scrub()


class Busy(Panel):
    """ "Please wait" and a bar that keeps moving while the kiosk waits for the hall: a
    person sees that something is happening (a still text looks like a hung machine)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(orientation="vertical", size_hint_y=None, spacing=dp(16), **kw)
        self.label = KLabel()
        self.track = Widget(size_hint_y=None, height=dp(12))
        with self.track.canvas:
            Color(*SECONDARY)
            self._track = Rectangle()
            Color(*PRIMARY)
            self._bar = Rectangle()
        self.track.bind(pos=self._draw, size=self._draw)
        self.add_widget(self.label)
        self.add_widget(self.track)
        self.label.bind(height=self._fit)
        self._phase = 0.0
        self._ev: Any = None

    def _fit(self, *_: Any) -> None:
        self.height = self.label.height + self.track.height + dp(16)

    def _draw(self, *_: Any) -> None:
        t = self.track
        self._track.pos, self._track.size = t.pos, t.size
        span = t.width * 0.3
        x = t.x + (t.width + span) * self._phase - span
        left, right = max(t.x, x), min(t.right, x + span)
        self._bar.pos, self._bar.size = (left, t.y), (max(0.0, right - left), t.height)

    def _step(self, dt: float) -> None:
        if self.get_root_window() is None and self._ev is not None:  # its screen has gone
            self._ev.cancel()
            self._ev = None
            return
        self._phase = (self._phase + dt / 1.4) % 1.0
        self._draw()

    def refill(self, text: str, lim: ModeLimits) -> Busy:
        from kivy.clock import Clock

        self.label.refill(text, lim, size="title", halign="center")
        if self._ev is None:
            self._ev = Clock.schedule_interval(self._step, 1 / 30)
        return self

    def scrub(self) -> None:
        self.label.scrub()
        if self._ev is not None:
            self._ev.cancel()
            self._ev = None


class HowTo(Widget):
    """A picture of what to do, drawn (no image files): ``card`` — the ID card going
    onto the reader pad below the screen; ``code`` — a phone or a ticket's QR code held
    to the scanner window. A person who cannot read the words still sees where to go."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(size_hint_y=None, height=dp(300), **kw)
        self.what = ""
        from kivy.clock import Clock

        # drawn once the layout has placed it (the frame after a move or a resize)
        self._redraw = Clock.create_trigger(self._draw, 0)
        self.bind(pos=self._moved, size=self._moved)

    def _moved(self, *_: Any) -> None:
        self._draw()  # at once: the frame that shows the screen shows the picture

    def refill(self, what: str) -> HowTo:
        self.what = what
        self._redraw()
        return self

    def scrub(self) -> None:
        pass  # a picture of a card, not anybody's card

    def _draw(self, *_: Any) -> None:
        c = self.canvas
        c.clear()
        if not self.what:
            return
        cx, y0, h = self.center_x, self.y, self.height
        ink = PRIMARY
        with c:
            # the kiosk's reader (or scanner) area: a dark pad with its label stripe
            Color(*BAR)
            RoundedRectangle(
                pos=(cx - dp(200), y0 + dp(8)), size=(dp(400), dp(70)), radius=[dp(14)]
            )
            Color(*WARN)
            Rectangle(pos=(cx - dp(150), y0 + dp(36)), size=(dp(300), dp(14)))
            if self.what == "card":
                # the card: 85.6 × 54 mm, photo on the right, lines of text on the left
                w, ht = dp(240), dp(151)
                x, y = cx - w / 2, y0 + h - ht - dp(10)
                Color(*SECONDARY)
                RoundedRectangle(pos=(x, y), size=(w, ht), radius=[dp(12)])
                Color(*ink)
                Line(rounded_rectangle=(x, y, w, ht, dp(12)), width=dp(3))
                Rectangle(pos=(x + w - dp(78), y + dp(30)), size=(dp(56), dp(72)))
                for i in range(4):
                    Rectangle(pos=(x + dp(20), y + dp(30) + i * dp(22)), size=(dp(120), dp(8)))
            else:
                # a phone showing a QR code: its three finder squares say "code"
                w, ht = dp(130), dp(150)
                x, y = cx - w / 2, y0 + h - ht - dp(6)
                Color(*ink)
                RoundedRectangle(pos=(x, y), size=(w, ht), radius=[dp(16)])
                side = w - dp(24)
                qx, qy = x + dp(12), y + (ht - side) / 2
                Color(*BG)
                Rectangle(pos=(qx, qy), size=(side, side))
                u = side / 21
                for fx, fy in ((0, 14), (14, 14), (0, 0)):
                    for n, colour in ((7, ink), (5, BG), (3, ink)):
                        off = (7 - n) / 2
                        Color(*colour)
                        Rectangle(
                            pos=(qx + (fx + off) * u, qy + (fy + off) * u), size=(n * u, n * u)
                        )
                Color(*ink)
                for i, j in ((9, 9), (11, 10), (9, 12), (13, 9), (16, 11), (10, 16), (12, 18),
                             (17, 11), (19, 9), (17, 6), (9, 3), (12, 5), (16, 2)):  # fmt: skip
                    Rectangle(pos=(qx + i * u, qy + j * u), size=(2 * u, 2 * u))
            # the arrow: from the card down to the pad
            Color(*DANGER)
            top = y - dp(12)
            Rectangle(pos=(cx - dp(9), y0 + dp(110)), size=(dp(18), max(0.0, top - y0 - dp(110))))
            Triangle(points=[cx - dp(34), y0 + dp(112), cx + dp(34), y0 + dp(112), cx, y0 + dp(84)])


class Symbol(Widget):
    """A big drawn sign over a result: ``done`` (a tick in a circle) or ``warn`` (an
    exclamation mark in a triangle), so the outcome is seen before it is read."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(size_hint_y=None, height=dp(200), **kw)
        self.name = ""
        self.rgba: tuple[float, ...] = PRIMARY
        self.bind(pos=self._draw, size=self._draw)
        from kivy.clock import Clock

        # and once more before the next frame, when the layout has placed it
        self._redraw = Clock.create_trigger(self._draw, -1)

    def refill(self, name: str, rgba: tuple[float, ...], side_dp: float) -> Symbol:
        self.name, self.rgba = name, rgba
        self.height = dp(side_dp) + dp(24)
        self._draw()
        self._redraw()
        return self

    def scrub(self) -> None:
        pass  # a sign, nobody's data

    def _draw(self, *_: Any) -> None:
        from kiosk.ui import icons

        self.canvas.clear()
        if self.name:
            side = self.height - dp(24)
            g = icons.draw(
                self.name, self.center_x - side / 2, self.y + dp(12), side, self.rgba, dp(6)
            )
            self.canvas.add(g)


class Steps(RtlBox):
    """Where the person is in a task: numbered steps, the current one filled in, the
    ones done ticked. Each step is a panel of its own colour (what the audit reads)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(orientation="horizontal", size_hint_y=None, spacing=dp(8), **kw)
        self.cells: list[tuple[Panel, KLabel]] = []

    def refill(self, names: list[str], current: int, lim: ModeLimits) -> Steps:
        while len(self.cells) < len(names):
            label = KLabel()
            cell = Panel(orientation="vertical", padding=dp(4))
            cell.add_widget(label)
            label.bind(height=lambda *_a: self._fit())
            self.cells.append((cell, label))
        self.clear_widgets()
        for i, ((cell, label), name) in enumerate(zip(self.cells, names, strict=False)):
            bg, fg = (
                (PRIMARY, ON_PRIMARY)
                if i == current
                else ((SECONDARY, ON_SECONDARY) if i < current else (DISABLED, ON_DISABLED))
            )
            cell.bg_rgba = list(bg)
            cell._c.rgba = bg
            label.refill(
                f"{'✔' if i < current else i + 1} {name}",
                lim,
                size="body" if lim.speak else "small",
                color=fg,
                bold=i == current,
                halign="center",
            )
            self.add_widget(cell)
        self._fit()
        return self

    def _fit(self) -> None:
        shown = [label for cell, label in self.cells if cell.parent is self]
        self.height = max((x.height for x in shown), default=dp(40)) + dp(8)

    def scrub(self) -> None:
        pass


class QrImage(Image):
    """A QR code drawn from a texture of one pixel per module (scaled up with nearest
    filtering): no PNG round trip, no image cache entry, a few KB of texture."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(size_hint=(None, None), size=(dp(260), dp(260)), fit_mode="contain", **kw)
        self.content = ""

    def refill(self, content: str) -> QrImage:
        if content != self.content:
            self.content = content
            self.texture = qr_texture(content) if content else None
        return self

    def scrub(self) -> None:
        self.refill("")


def qr_texture(content: str) -> Texture:
    import qrcode

    qr = qrcode.QRCode(border=2, mask_pattern=0)  # fixed mask: skips 8 trial encodings
    qr.add_data(content)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    n = len(matrix)
    # rows bottom-up (GL origin is the lower left corner); RGBA keeps rows 4-byte aligned
    dark, light = b"\x00\x00\x00\xff", b"\xff\xff\xff\xff"
    buf = b"".join(dark if d else light for row in reversed(matrix) for d in row)
    tex = Texture.create(size=(n, n), colorfmt="rgba")
    tex.mag_filter = "nearest"
    tex.min_filter = "nearest"
    tex.blit_buffer(buf, colorfmt="rgba", bufferfmt="ubyte")
    return tex
