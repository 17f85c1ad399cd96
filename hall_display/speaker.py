"""Voice calls from the display PC's speakers, through ``devices.voice``.

One :class:`~devices.voice.announcer.Announcer` (one queue, one worker, one sink) plays
every call in the order the calls were made: announcements never overlap and none is cut
off by the next (a burst of calls waits its turn). A call is one WAV: "请 A001 号 到 三
号窗口 办理" from the Mandarin clip pack, followed by the same sentence from the dialect
pack when one is configured, the pair repeated ``repeat`` times with ``repeat_gap_s``
between. A Mandarin pack that lacks a clip (or is missing) is replaced by espeak-ng TTS
for that sentence, as the announcer does; the dialect part is then left out if its
WAV format differs.
"""

from __future__ import annotations

import collections
import logging
import threading
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from devices.errors import ConfigError, DeviceError, ProtocolError
from devices.state import DeviceStatus, StatusHolder
from devices.voice import pack as packs
from devices.voice.announcer import Announcement, Announcer, AudioSink, TtsFunc, concat_wavs
from hall_display.rules import Call
from hall_display.settings import SpeakerSettings

log = logging.getLogger(__name__)


def _wav_format(path: Path) -> tuple[int, int, int]:
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnchannels(), w.getsampwidth(), w.getframerate()
    except (OSError, EOFError, wave.Error) as err:
        raise ConfigError(f"voice clip {path} is not a PCM WAV: {err}") from err


def pack_root(settings: SpeakerSettings) -> Path:
    return Path(settings.pack_root) if settings.pack_root else packs.default_pack_root()


def load_dialect(settings: SpeakerSettings, mandarin: packs.VoicePack | None) -> packs.VoicePack:
    """The dialect pack of ``settings``; its clips must share the Mandarin pack's WAV
    format (one announcement is one WAV)."""
    assert settings.dialect is not None
    folder = pack_root(settings) / settings.dialect
    if Path(settings.dialect).is_absolute() or "/" in settings.dialect:
        folder = Path(settings.dialect)
    dialect = packs.load_pack(folder)
    missing = dialect.missing(packs.ALL_TOKENS)
    if missing:
        log.warning(
            "dialect pack %s lacks %s: calls needing them are announced in Mandarin only",
            dialect.name,
            " ".join(missing),
        )
    if mandarin is not None and mandarin.clips and dialect.clips:
        first_m = next(t for t in mandarin.clips if mandarin.has(t))
        first_d = next((t for t in dialect.clips if dialect.has(t)), None)
        if first_d is not None:
            fm = _wav_format(mandarin.clip_path(first_m))
            fd = _wav_format(dialect.clip_path(first_d))
            if fm != fd:
                raise ConfigError(
                    f"dialect pack {dialect.name} is {fd[2]} Hz/{fd[1] * 8} bit/{fd[0]} ch, "
                    f"the Mandarin pack {fm[2]} Hz/{fm[1] * 8} bit/{fm[0]} ch: re-encode the "
                    "dialect clips to the Mandarin format"
                )
    return dialect


class CallAnnouncer(Announcer):
    """An announcer whose clip sentences are followed by the same sentence in a dialect."""

    def __init__(
        self,
        settings: SpeakerSettings,
        *,
        dialect: packs.VoicePack | None = None,
        pack: packs.VoicePack | Literal[False] | None = None,
        sink: AudioSink | None = None,
        tts: TtsFunc | None = None,
        name: str = "speaker",
    ) -> None:
        self.dialect = dialect
        self._mismatch_logged = False
        super().__init__(settings, pack=pack, sink=sink, tts=tts, name=name)

    def sentence_wav(self, text: str, tokens: Sequence[str] | None) -> tuple[bytes, bool]:
        wav, used_tts = super().sentence_wav(text, tokens)
        d = self.dialect
        if not tokens or d is None or d.missing(tokens):
            return wav, used_tts
        spoken = concat_wavs([d.clip(t) for t in tokens], self.settings.clip_gap_s)
        try:
            return concat_wavs([wav, spoken], self.settings.repeat_gap_s), used_tts
        except ProtocolError as err:  # TTS Mandarin in another format than the dialect
            if not self._mismatch_logged:
                log.warning("dialect part left out: %s", err)
                self._mismatch_logged = True
            return wav, used_tts


class Speaker:
    """Announces calls; ``windows`` (None: all) are the windows whose calls it says."""

    def __init__(
        self,
        settings: SpeakerSettings,
        *,
        sink: AudioSink | None = None,
        tts: TtsFunc | None = None,
    ) -> None:
        self.settings = settings
        self.windows = frozenset(settings.windows) if settings.windows is not None else None
        mandarin: packs.VoicePack | None = None
        try:
            mandarin = packs.load_pack(pack_root(settings) / settings.pack)
        except DeviceError as err:
            log.warning("voice pack not available (%s); calls are spoken with TTS", err)
        dialect = load_dialect(settings, mandarin) if settings.dialect else None
        self.announcer = CallAnnouncer(
            settings,
            dialect=dialect,
            pack=mandarin if mandarin is not None else False,
            sink=sink,
            tts=tts,
        )
        self._lock = threading.Lock()
        #: the newest calls queued, with their announcements (done/error/cancelled)
        self.history: collections.deque[tuple[Call, Announcement]] = collections.deque(maxlen=200)

    @property
    def holder(self) -> StatusHolder:
        return self.announcer.holder

    @property
    def status(self) -> DeviceStatus:
        return self.announcer.status

    def wants(self, window: str) -> bool:
        return self.windows is None or window in self.windows

    def announce(self, call: Call) -> Announcement:
        """Queue the call (returns at once; plays after those queued before it)."""
        item = self.announcer.announce(call.number, call.label)
        with self._lock:
            self.history.append((call, item))
        return item

    def wait_idle(self, timeout: float) -> bool:
        return self.announcer.wait_idle(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Drop the calls still waiting, let the one playing finish, stop."""
        dropped = self.announcer.clear_pending()
        if dropped:
            log.info("stopping: %d queued call(s) not announced", len(dropped))
        self.announcer.close(timeout)
