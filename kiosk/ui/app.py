"""The Kivy app: a frame (top bar, banners, content, bottom bar) re-rendered from the core.

Device callbacks and MQTT handlers arrive on other threads and are handed to the UI
thread with ``Clock.schedule_once``; the core sends blocking work to its thread pool.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.widget import Widget
from kivy.utils import escape_markup

from kiosk import i18n, rtl
from kiosk.core import Kiosk
from kiosk.i18n import LANG_NAMES
from kiosk.settings import Language
from kiosk.ui.screens import SCREENS, Ctx, View
from kiosk.ui.widgets import (
    BAR,
    BG,
    ON_BAR,
    ON_WARN,
    TEXT,
    WARN,
    KButton,
    KLabel,
    Panel,
    Row,
    bar_height,
    face_for,
    mirror,
)

log = logging.getLogger(__name__)

LONG_PRESS_S = 2.0


class LangButton(KButton):
    """The language button: the names of the other languages, each in its own script and
    face (Kivy's markup switches the font inside one label; no one font has Chinese and
    Uyghur). A citizen who reads neither of the other two never needs it."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.markup = True
        self.names: list[str] = []

    def show(self, names: list[str]) -> None:
        self.names = names
        self.source_text = " / ".join(names)
        self._wrap()

    def _wrap(self, *_: Any) -> None:  # its own markup, not KButton's line breaking
        self.text_size = (self.width - dp(12), None)
        self.text = "\n".join(
            f"[font={face_for(n)}]{escape_markup(rtl.one_line(n))}[/font]" for n in self.names
        )


def post(fn: Callable[[], None]) -> None:
    """Run ``fn`` on the UI thread (safe from any thread)."""
    Clock.schedule_once(lambda _dt: fn(), 0)


class HallName(KLabel):
    """The hall's name in the top bar; a long press opens the PIN screen."""

    def __init__(self, text: str, lim: Any, on_long: Callable[[], None], **kw: Any) -> None:
        super().__init__(text, lim, color=ON_BAR, bold=True, **kw)
        self.on_long = on_long
        self._ev: Any = None

    def on_touch_down(self, touch: Any) -> bool:
        if self.collide_point(*touch.pos):
            if self._ev is not None:
                self._ev.cancel()
            self._ev = Clock.schedule_once(self._long, LONG_PRESS_S)
        return bool(super().on_touch_down(touch))

    def _long(self, *_: Any) -> None:
        self._ev = None
        self.on_long()

    def _wrap(self, *_: Any) -> None:
        """Two lines at most, as much as the bar holds (a long Uyghur name took four and
        ran out of the bar); the whole name is the home screen's title."""
        super()._wrap()
        lines = self.text.split("\n")
        if len(lines) > 2:
            end = lines[1]
            self.text = lines[0] + "\n" + ("…" + end if rtl.is_rtl(end) else end + "…")

    def on_touch_up(self, touch: Any) -> bool:
        if self._ev is not None:
            self._ev.cancel()
            self._ev = None
        return bool(super().on_touch_up(touch))


class Prompt(FloatLayout):
    """A question over the screen ("more time?", "elderly mode?"): the page under it
    stays where it is, dimmed, and takes no touch while the question is open. Built once;
    hidden, it holds no text (nothing for a reader, a screenshot or the audit to find)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.shown = False
        self.dim = Panel(bg=(0.0, 0.0, 0.0, 0.55), size_hint=(1, 1), pos_hint={"x": 0, "y": 0})
        self.card = Panel(
            orientation="vertical",
            size_hint=(0.86, None),
            pos_hint={"center_x": 0.5, "center_y": 0.5},
            padding=dp(24),
            spacing=dp(20),
        )
        self.card.bind(minimum_height=self.card.setter("height"))
        self.title = KLabel()
        self.buttons = Row()
        self.card.add_widget(self.title)
        self.card.add_widget(self.buttons)
        self._buttons: list[KButton] = []

    def show(
        self,
        title: str,
        choices: list[tuple[str, Callable[[], Any], str]],
        lim: Any,
        *,
        warn: bool = False,
    ) -> None:
        self.card.bg_rgba = list(WARN if warn else BG)
        self.card._c.rgba = WARN if warn else BG
        self.title.refill(
            title, lim, size="title", halign="center", color=ON_WARN if warn else TEXT
        )
        while len(self._buttons) < len(choices):
            self._buttons.append(KButton())
        self.buttons.clear_widgets()
        self.buttons.cols = len(choices)
        for b, (text, action, kind) in zip(self._buttons, choices, strict=False):
            b.refill(text, lim, kind=kind, on_press=action, size="title")
            self.buttons.add_widget(b)
        if not self.shown:
            self.add_widget(self.dim)
            self.add_widget(self.card)
            self.shown = True

    def hide(self) -> None:
        if self.shown:
            self.remove_widget(self.dim)
            self.remove_widget(self.card)
            self.shown = False
            self.title.scrub()
            for b in self._buttons:
                b.scrub()

    def on_touch_down(self, touch: Any) -> bool:
        if not self.shown:
            return False
        super().on_touch_down(touch)
        return True  # the page under the question takes no touch

    def on_touch_up(self, touch: Any) -> bool:
        return bool(super().on_touch_up(touch)) if self.shown else False

    def on_touch_move(self, touch: Any) -> bool:
        return bool(super().on_touch_move(touch)) if self.shown else False


class KioskApp(App):
    title = "hallkit kiosk"

    def __init__(
        self, kiosk: Kiosk, *, script: Any = None, on_ready: Any = None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.k = kiosk
        self.script = script  #: generator driving the app (tests, audit, screenshots)
        self.on_ready = on_ready
        self.root_box: BoxLayout | None = None
        self.content: Any = None
        self.last_spoken: list[str] = []
        self.render_ms: list[float] = []
        self.flips = 0  #: frames drawn (scripts wait for the frame that shows a change)
        self.rendered_at_flip = 0  #: ``flips`` when the last render ran
        self.rendered_at = 0.0
        # before the next frame (-1), not after it (0): a tap's result is in the first
        # frame drawn after it, not the second (bench/kiosk.py: tap_to_frame)
        self._dirty = Clock.create_trigger(lambda _dt: self.render(), -1)
        self._ticker: Any = None
        self.rendered_screen = ""
        self.views: dict[str, View] = {}  #: one content view per screen, built once
        self._mirrored = False  #: laid out right to left at the last render
        self._gen = kiosk.gen

    # ------------------------------------------------------------------ life cycle
    def build(self) -> Widget:
        Window.clearcolor = BG
        Window.bind(on_request_close=self._ignore_close)  # window-close ignored
        Window.bind(on_keyboard=self._on_key)
        Window.bind(on_touch_down=self._touched)
        Window.bind(on_flip=self._flipped)
        self.k.listeners.append(self._dirty)
        self._build_frame()
        self.render()
        self._ticker = Clock.schedule_interval(self._tick, 1.0)
        assert self.root_box is not None
        root = FloatLayout()
        root.add_widget(self.root_box)
        root.add_widget(self.prompt)
        return root

    def _build_frame(self) -> None:
        """The frame is built once: top bar, the content area (each screen's view is
        swapped in), bottom bar. Renders only refill it."""
        k = self.k
        lim = k.limits
        self.root_box = Panel(orientation="vertical", bg=BG)
        self.top = Panel(
            bg=BAR, orientation="horizontal", size_hint_y=None, padding=dp(8), spacing=dp(8)
        )
        self.hall_name = HallName("", lim, k.open_pin, size_hint_x=0.45)
        self.elderly_btn = KButton("", lim, size_hint_x=0.35)
        self.lang_btn = LangButton(size_hint_x=0.2)
        for w in (self.hall_name, self.elderly_btn, self.lang_btn):
            self.top.add_widget(w)
        self.content_area = BoxLayout()
        self.bottom = Panel(
            bg=BAR, orientation="horizontal", size_hint_y=None, padding=dp(8), spacing=dp(8)
        )
        self.back_btn = KButton("", lim, size_hint_x=0.22)
        self.home_btn = KButton("", lim, size_hint_x=0.22)
        self.help_btn = KButton("", lim, size_hint_x=0.26)
        # the countdown has its place in the bar: shown, it moves nothing on the screen
        self.status = KLabel("", lim, color=ON_BAR, halign="center", size_hint_x=0.3)
        self.status.size_hint_y = 1
        self.bottom.add_widget(self.back_btn)
        self.bottom.add_widget(self.home_btn)
        self.bottom.add_widget(self.status)
        self.bottom.add_widget(self.help_btn)
        for w in (self.top, self.content_area, self.bottom):
            self.root_box.add_widget(w)
        self.prompt = Prompt(size_hint=(1, 1), pos_hint={"x": 0, "y": 0})

    def on_start(self) -> None:
        if self.on_ready is not None:
            self.on_ready()
        if self.script is not None:
            Clock.schedule_once(self._step, 0.1)

    def _step(self, *_: Any) -> None:
        try:
            wait = next(self.script)
        except StopIteration:
            self.stop()
            return
        except Exception:
            import traceback

            log.exception("script failed")
            self.script_error = traceback.format_exc(limit=-3)
            self.stop()
            return
        Clock.schedule_once(self._step, float(wait or 0.05))

    def _ignore_close(self, *_a: Any, **_k: Any) -> bool:
        return True

    def _on_key(self, _win: Any, key: int, *_: Any) -> bool:
        return key == 27  # Escape never leaves the app

    def _flipped(self, *_: Any) -> None:
        self.flips += 1

    def drawn(self) -> bool:
        """The last change is on the window: rendered, laid out, and two frames drawn
        since (label textures are made in the frame after the one that sets the text)."""
        if self._dirty.is_triggered:
            return False
        # Kivy draws a frame only when something on the window changed: a render that
        # changed nothing brings no frame, and is drawn as it is
        quiet = time.perf_counter() - self.rendered_at > 0.25
        return self.flips >= self.rendered_at_flip + 2 or quiet

    def _touched(self, *_: Any) -> None:
        self.k.touch()

    def _tick(self, *_: Any) -> None:
        self.k.tick()
        if self.k.restart_requested and self.script is None:
            self.stop()

    def on_stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self._dirty.cancel()
        if self._dirty in self.k.listeners:
            self.k.listeners.remove(self._dirty)
        Window.unbind(on_request_close=self._ignore_close)
        Window.unbind(on_keyboard=self._on_key)
        Window.unbind(on_touch_down=self._touched)
        Window.unbind(on_flip=self._flipped)

    # ------------------------------------------------------------------ rendering
    def view(self, screen: str) -> View:
        v = self.views.get(screen)
        if v is None:
            v = self.views[screen] = View(screen)
        return v

    def render(self) -> None:
        t0 = time.perf_counter()
        k = self.k
        lim = k.limits
        if k.gen != self._gen:  # a wipe: nothing of the last person may stay in any view
            self._gen = k.gen
            for v in self.views.values():
                v.scrub()
        # bars: same widgets, new texts and sizes
        self.hall_name.refill(
            k.hall.hall.name_in(k.lang) or k.hall.hall.name,
            lim,
            color=ON_BAR,
            bold=True,
        )
        self.elderly_btn.refill(
            k.tr("elderly_off" if k.elderly else "elderly_on"),
            lim,
            kind="bar_primary",
            on_press=k.toggle_elderly,
            size="title",  # large on every screen: the way to large text and speech
            fill_height=True,
        )
        self.lang_btn.refill("", lim, kind="secondary", on_press=k.switch_lang, fill_height=True)
        self.lang_btn.show([name for code, name in LANG_NAMES.items() if code != k.lang])
        inner = k.screen != "home" and k.mode != "maintenance"
        # 返回: one step back on every inner screen, the session kept (at home: greyed)
        self.back_btn.refill(
            k.tr("back"),
            lim,
            kind="secondary" if inner else "disabled",
            on_press=k.back if inner else None,
            fill_height=True,
        )
        self.home_btn.refill(
            k.tr("home"), lim, kind="secondary", on_press=k.go_home, fill_height=True
        )
        self.help_btn.refill(
            k.tr("help"), lim, kind="bar_primary", on_press=self._help, fill_height=True
        )
        self.top.height = self.bottom.height = bar_height(lim)
        # content: the screen's own view, refilled
        screen = "maintenance" if k.mode == "maintenance" else k.screen
        screen = screen if screen in SCREENS else "home"
        view = self.view(screen)
        ctx = Ctx(k, view)
        # The countdown, shown in the bottom bar, not read aloud: its number changes every
        # second, and what is spoken is read again whenever it changes.
        self.status.refill(
            k.tr("countdown", n=k.countdown) if k.countdown is not None else "",
            lim,
            color=ON_BAR,
            halign="center",
        )
        spoken_first: list[str] = []
        if k.prompt == "more_time":  # elderly mode asks "need more time?" once
            spoken_first.append(k.tr("more_time_q"))
            self.prompt.show(
                k.tr("more_time_q"), [(k.tr("more_time"), k.more_time, "primary")], lim
            )
        elif k.prompt == "lang_choose":
            self.prompt.show(
                k.tr("lang_choose"),
                [
                    (name, functools.partial(k.set_lang, cast(Language, code)), kind)
                    for code, name in LANG_NAMES.items()
                    for kind in ["primary" if code == k.lang else "secondary"]
                ],
                lim,
            )
        elif k.prompt == "offer_elderly":
            spoken_first.append(k.tr("offer_elderly"))
            self.prompt.show(
                k.tr("offer_elderly"),
                [
                    (k.tr("yes"), self._offer_yes, "primary"),
                    (k.tr("no"), self._offer_no, "secondary"),
                ],
                lim,
            )
        elif k.prompt == "leave_confirm":  # 首页 would lose what was entered: asked first
            spoken_first.append(k.tr("leave_q"))
            self.prompt.show(
                k.tr("leave_q"),
                [
                    (k.tr("leave_no"), k.stay, "primary"),
                    (k.tr("leave_yes"), k.leave_task, "secondary"),
                ],
                lim,
            )
        elif k.banner is not None:  # what went wrong with the last action, over the page
            key, fmt = k.banner
            spoken_first.append(k.tr(key, **fmt))
            self.prompt.show(
                k.tr(key, **fmt), [(k.tr("got_it"), k.dismiss_banner, "primary")], lim, warn=True
            )
        else:
            self.prompt.hide()
        SCREENS[screen](ctx)
        ctx.finish()
        if self.content is not view.box:
            self.content_area.clear_widgets()
            self.content_area.add_widget(view.scroll)
            view.scroll.scroll_y = 1
            self.content = view.box
        elif screen != self.rendered_screen:
            view.scroll.scroll_y = 1
        self.rendered_screen = screen
        rtl_layout = i18n.is_rtl(k.lang)
        if rtl_layout != self._mirrored:  # every view, the bars and the prompt turn
            for v in self.views.values():
                mirror(v.scroll, rtl_layout)
            mirror(self.root_box, rtl_layout)
            self._mirrored = rtl_layout
        elif rtl_layout:  # rows this render may have added
            mirror(view.scroll, rtl_layout)
        if rtl_layout or self.prompt.shown:
            mirror(self.prompt, rtl_layout)
        spoken = spoken_first + ctx.spoken
        if spoken != self.last_spoken:
            self.last_spoken = spoken
            if k.elderly:
                k.speak("。".join(spoken[:6]))
        self.rendered_at_flip = self.flips
        self.rendered_at = time.perf_counter()
        self.render_ms.append((time.perf_counter() - t0) * 1000)
        del self.render_ms[:-5000]

    def _help(self) -> None:
        self.k.start_help()

    def _offer_yes(self) -> None:
        self.k.answer_offer(True)

    def _offer_no(self) -> None:
        self.k.answer_offer(False)


def widget_texts(w: Widget) -> list[str]:
    """Every text on screen (labels, buttons, text inputs) under ``w``."""
    out = []
    for x in w.walk(restrict=True):
        # a label's own text, not the line breaks it was given to fit its width
        text = getattr(x, "source_text", None) or getattr(x, "text", None)
        if isinstance(text, str) and text:
            out.append(text)
    return out
