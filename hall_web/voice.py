"""Call announcements as WAV files for the hall display page.

The sentence is built from the voice pack's clips exactly as the display PC's speaker
program builds it (:mod:`devices.voice`), repeated as configured, so a hall sounds the same
whichever plays it; with a dialect pack (e.g. 闽南语) configured, a second part follows in
the dialect (its own WAV: packs may differ in format). Built once per call and part and
kept for the last calls only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from devices.voice import pack as packs
from devices.voice.announcer import Announcer, NullSink, repeat_wav
from devices.voice.settings import VoiceSettings

KEEP = 256  #: WAVs kept (a page fetches a call's audio within seconds of it)


class CallAudio:
    """``dialect``: the folder of a dialect voice pack, or None."""

    def __init__(self, settings: VoiceSettings, dialect: Path | None = None) -> None:
        self.settings = settings
        self.dialect_pack = packs.load_pack(dialect) if dialect is not None else None
        self._voices: dict[int, Announcer] = {}
        self._cache: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def parts(self) -> int:
        """WAVs per announcement: Mandarin, and the dialect when configured."""
        return 2 if self.dialect_pack is not None else 1

    def _voice(self, part: int) -> Announcer:
        if part not in self._voices:
            pack = self.dialect_pack if part == 1 else None
            self._voices[part] = Announcer(
                self.settings, pack=pack, sink=NullSink(), name=f"web-voice-{part}"
            )
        return self._voices[part]

    def wav(
        self, seq: int, number: str, spoken_window: str, part: int = 0, repeat: int | None = None
    ) -> bytes:
        """Part ``part`` of the announcement of call ``seq``, said ``repeat`` times (the
        configured repeats by default; built once, then cached)."""
        if not 0 <= part < self.parts:
            raise KeyError(part)
        times = repeat or self.settings.repeat
        key = (seq, part, times)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
            one, _tts = self._voice(part).sentence_wav(
                packs.call_text(number, spoken_window), packs.call_tokens(number, spoken_window)
            )
            data = repeat_wav(one, times, self.settings.repeat_gap_s)
            self._cache[key] = data
            while len(self._cache) > KEEP:
                self._cache.popitem(last=False)
            return data

    def close(self) -> None:
        for a in self._voices.values():
            a.close()
