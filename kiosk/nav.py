"""Navigation, timeouts, display modes and the voice prompts of the kiosk.

Which screen shows, the inactivity countdown and the wipe it ends in, elderly mode and
language, and what is read aloud. The state it changes is the kiosk's view state
(:class:`kiosk.core.Kiosk`: ``screen``, ``params``, ``banner``, ``prompt``, ``countdown``,
``elderly``, ``lang``), which the UI renders; this class holds none of its own.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from devices.errors import DeviceError
from kiosk.flows import TicketFlow
from kiosk.settings import Language

if TYPE_CHECKING:
    from kiosk.core import Kiosk

log = logging.getLogger(__name__)
#: A retry of what the outbox still holds, at most this often (a passing error while online).
OUTBOX_RETRY_S = 60.0


class Navigator:
    def __init__(self, k: Kiosk) -> None:
        self.k = k

    # ------------------------------------------------------------------ screens
    def touch(self) -> None:
        k = self.k
        if not k._greeted and k.at_rest:
            # The first touch of a visitor: a voice prompt tells how to get large text and
            # speech (for someone who cannot read the screen); once per visitor.
            k._greeted = True
            self.announce(k.tr("attract_voice"))
        k.last_touch = k.mono()
        if k.prompt == "more_time":
            k.prompt = None
        if k.countdown is not None:
            k.countdown = None
            k.changed()

    def go(self, screen: str, **params: Any) -> None:
        k = self.k
        self.touch()
        k.screen = screen
        k.params = params
        k.banner = None
        k.changed()

    def dismiss_banner(self) -> None:
        """The person has read the message (it is shown over the screen)."""
        self.k.banner = None
        self.touch()
        self.k.changed()

    def go_home(self) -> None:
        """首页 in the bar: back to the home screen, the session kept (elderly mode,
        language, a card already read) for the next thing the person does. What they
        typed or chose in an unfinished task would be lost: they are asked first."""
        k = self.k
        if self.unsaved():
            k.prompt = "leave_confirm"
            self.touch()
            k.changed()
            return
        self.leave_task()

    def unsaved(self) -> bool:
        """An unfinished task holds something the person entered."""
        k = self.k
        f = k.flow
        if f is None or f.step in ("done", "error") or k.screen != f.name:
            return False  # no task under way on this screen
        # a search is not worth a question; a form (an address, a comment) is
        typed = any(
            str(v).strip()
            for key, v in k.session.form.items()
            if not key.startswith("_") and key != "search"
        )
        chose = (
            getattr(f, "level", None) is not None
            or bool(getattr(f, "reasons", None))
            or bool(getattr(f, "text", ""))
            or f.step == "priority"
        )
        return typed or chose

    def leave_task(self) -> None:
        """The task is dropped (what was typed for it overwritten), the session stays."""
        k = self.k
        k.prompt = None if k.prompt == "leave_confirm" else k.prompt
        k.session.drop_task()
        self.go("home")

    def stay(self) -> None:
        """ "Go on filling in": the question closes, nothing changed."""
        k = self.k
        k.prompt = None
        self.touch()
        k.changed()

    def end_session(self) -> None:
        """完成 on a result: the person is done; everything of theirs goes (elderly mode
        and the language back to the kiosk's own)."""
        self.wipe()

    def back(self) -> None:
        """One step back within what the person is doing; the session is kept."""
        k = self.k
        f = k.flow
        screen, params = k.screen, k.params
        if f is not None and screen == f.name:
            step = f.step
            if f.name == "ticket":
                if step == "choose":
                    if getattr(f, "cat", None) is not None or getattr(f, "searching", False):
                        f.back()  # type: ignore[attr-defined]
                        self.go(screen, **params)
                        return
                elif step in ("identify", "priority"):
                    f.step = "choose" if step == "identify" else "identify"
                    self.go(screen, **params)
                    return
            elif f.name == "rating" and step in ("level", "reasons"):
                f.step = "ticket" if step == "level" else "level"
                if step == "reasons":
                    f.reasons, f.text = [], ""  # type: ignore[attr-defined]
                self.go(screen, **params)
                return
            if step in ("sending",):
                return  # on its way: nothing to go back to
            self.go_home()
            return
        if (screen == "catalogue" and params.get("cat") is not None) or screen == "search":
            self.go("catalogue")
        elif screen == "guide":
            self.go("catalogue", cat=params.get("cat"))
        elif screen != "home":
            self.go_home()

    def wipe(self) -> None:
        k = self.k
        k.gen += 1
        k.session.wipe()
        k._reset_view()
        k.changed()

    # ------------------------------------------------------------------ time
    def offer_changed(self) -> bool:
        """True when what is offered changed since the last call (the hall opened or
        closed, the link went up or down, the day changed: today's hours and holiday
        notes): the home screen must be re-rendered."""
        k = self.k
        o = k.offer()
        sig = (o.open_now, o.enabled, k.now().astimezone(k.hall.tz).date())
        changed = k._offer_seen is not None and sig != k._offer_seen
        k._offer_seen = sig
        return changed

    def tick(self) -> None:
        """Once a second: day/night changes, countdown, wipe on expiry; once a minute, a
        retry of what the outbox still holds (a passing error while online)."""
        k = self.k
        if self.offer_changed():
            k.changed()
        if k.mono() >= k._next_outbox_retry:
            k._next_outbox_retry = k.mono() + OUTBOX_RETRY_S
            k.requests.deliver_outbox()
        idle = k.mono() - k.last_touch
        if k.at_rest:
            if k.countdown is not None:
                k.countdown = None
                k.changed()
            return
        factor = k.limits.timeout_factor
        limit = k.cfg.timeouts.inactivity_s * factor
        f = k.flow
        if f is not None and f.step in ("done", "error") and k.screen == f.name:
            limit = min(limit, k.cfg.timeouts.result_s * factor)
        remaining = limit - idle
        if remaining <= 0:
            log.info("inactivity timeout: session wiped")
            self.wipe()
            return
        warn = k.cfg.timeouts.warn_s * factor
        if remaining <= warn:
            n = math.ceil(remaining)
            changed = n != k.countdown
            k.countdown = n
            if k.elderly and k.prompt is None:
                k.prompt = "more_time"
                self.speak(k.tr("more_time_q"))
                changed = True
            if changed:
                k.changed()

    def more_time(self) -> None:
        self.k.prompt = None
        self.touch()
        self.k.changed()

    # ------------------------------------------------------------------ modes
    def toggle_elderly(self) -> None:
        k = self.k
        k.elderly = not k.elderly
        k.prompt = None if k.prompt == "offer_elderly" else k.prompt
        self.go(k.screen, **k.params)

    def set_elderly(self, on: bool) -> None:
        if on != self.k.elderly:
            self.toggle_elderly()

    def switch_lang(self) -> None:
        """The language button: a choice of every language, each name in its own
        script, over the page (what was entered stays)."""
        k = self.k
        k.prompt = "lang_choose"
        self.touch()
        k.changed()

    def set_lang(self, lang: Language) -> None:
        k = self.k
        k.prompt = None if k.prompt == "lang_choose" else k.prompt
        k.lang = lang
        self.go(k.screen, **k.params)

    def answer_offer(self, yes: bool) -> None:
        k = self.k
        k.prompt = None
        if yes:
            k.elderly = True
        self.touch()
        k.changed()

    # ------------------------------------------------------------------ voice
    def announce(self, text: str) -> None:
        """Read ``text`` aloud in any mode (the attract prompt). Never blocks."""
        if text:
            self.k.pool.submit(self._say, text, self.k.lang, None)

    def speak(self, text: str) -> None:
        """Elderly mode: read ``text`` aloud (a ticket result is then also read from the
        dialect voice pack, once). Never blocks the caller."""
        k = self.k
        if k.elderly and text:
            then = None
            f = k.flow
            r = f.result if isinstance(f, TicketFlow) and f.step == "done" else None
            if r is not None and k.screen == "ticket" and r.number != k._dialect_read:
                k._dialect_read = r.number
                then = (r.number, r.window_hint or "")
            k.pool.submit(self._say, text, k.lang, then)

    def _say(self, text: str, lang: str, then: tuple[str, str] | None) -> None:
        try:
            self.k.hw.say(text, lang, then)
        except DeviceError as err:
            log.warning("voice: %s", err)
