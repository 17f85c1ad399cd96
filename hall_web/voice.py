"""Call announcements as WAV files for the hall display page.

The sentence is built from the voice pack's clips exactly as the display PC's speaker
program builds it (:mod:`devices.voice`), repeated as configured, so a hall sounds the same
whichever plays it. Built once per call and kept for the last calls only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from devices.voice import pack as packs
from devices.voice.announcer import Announcer, NullSink, repeat_wav
from devices.voice.settings import VoiceSettings

KEEP = 64  #: WAVs kept (a page fetches a call's audio within seconds of it)


class CallAudio:
    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings
        self._announcer: Announcer | None = None
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def _voice(self) -> Announcer:
        if self._announcer is None:
            self._announcer = Announcer(self.settings, sink=NullSink(), name="web-voice")
        return self._announcer

    def wav(self, seq: int, number: str, spoken_window: str) -> bytes:
        """The announcement of call ``seq`` (built once, then from the cache)."""
        with self._lock:
            hit = self._cache.get(seq)
            if hit is not None:
                return hit
            a = self._voice()
            one, _tts = a.sentence_wav(
                packs.call_text(number, spoken_window), packs.call_tokens(number, spoken_window)
            )
            data = repeat_wav(one, self.settings.repeat, self.settings.repeat_gap_s)
            self._cache[seq] = data
            while len(self._cache) > KEEP:
                self._cache.popitem(last=False)
            return data

    def close(self) -> None:
        if self._announcer is not None:
            self._announcer.close()
