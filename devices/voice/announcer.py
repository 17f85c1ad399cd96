"""Announcements: clips concatenated into one WAV, played one at a time by one worker.

"请 A001 号到 3 号窗口办理" is built from the voice pack's clips (:func:`concat_wavs`,
pure, with the ``wave`` module). When a token has no clip, the whole sentence is spoken
by espeak-ng instead (Chinese text turned into pinyin with tone numbers first).
Announcements go into a queue that one worker thread plays through a sink, so they never
cut each other off; pending ones (not yet playing) can be dropped
(:meth:`Announcer.clear_pending`, ``replace=True``); :meth:`Announcer.close` stops the
worker.
"""

from __future__ import annotations

import collections
import io
import logging
import re
import shutil
import subprocess
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from devices.errors import ConfigError, DeviceError, DeviceTimeout, DeviceUnavailable, ProtocolError
from devices.state import DeviceState, DeviceStatus, StatusHolder
from devices.voice import pack as packs
from devices.voice.settings import VoiceSettings

log = logging.getLogger(__name__)


# -- WAV helpers (pure) ---------------------------------------------------------------
@dataclass(frozen=True)
class WavFormat:
    channels: int
    sample_width: int
    frame_rate: int


def _read_wav(data: bytes) -> tuple[WavFormat, bytes]:
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            fmt = WavFormat(w.getnchannels(), w.getsampwidth(), w.getframerate())
            return fmt, w.readframes(w.getnframes())
    except (wave.Error, EOFError) as err:
        raise ProtocolError(f"not a PCM WAV clip: {err}") from err


def wav_duration(data: bytes) -> float:
    """Length of a WAV in seconds."""
    fmt, frames = _read_wav(data)
    return len(frames) / (fmt.channels * fmt.sample_width) / fmt.frame_rate


def silence(fmt: WavFormat, seconds: float) -> bytes:
    """Raw frames of silence in this format."""
    count = round(seconds * fmt.frame_rate)
    return b"\x00" * (count * fmt.channels * fmt.sample_width)


def _write_wav(fmt: WavFormat, frames: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(fmt.channels)
        w.setsampwidth(fmt.sample_width)
        w.setframerate(fmt.frame_rate)
        w.writeframes(frames)
    return out.getvalue()


def concat_wavs(clips: Sequence[bytes], gap_s: float = 0.0) -> bytes:
    """One WAV made of the clips in order, with ``gap_s`` of silence between them.

    All clips must have the same format; an empty list gives an error.
    """
    if not clips:
        raise ProtocolError("nothing to concatenate")
    fmt, first = _read_wav(clips[0])
    parts = [first]
    for clip in clips[1:]:
        other, frames = _read_wav(clip)
        if other != fmt:
            raise ProtocolError(f"clip format {other} differs from {fmt}; re-encode the voice pack")
        if gap_s:
            parts.append(silence(fmt, gap_s))
        parts.append(frames)
    return _write_wav(fmt, b"".join(parts))


def repeat_wav(data: bytes, times: int, gap_s: float) -> bytes:
    """The WAV ``times`` times with ``gap_s`` of silence between."""
    return concat_wavs([data] * times, gap_s)


def pinyin_for_tts(text: str) -> str:
    """Chinese text → pinyin with tone numbers for espeak-ng's ``cmn-latn-pinyin`` voice."""
    from pypinyin import Style, lazy_pinyin

    text = "".join(packs.DIGITS[int(ch)] if ch.isascii() and ch.isdigit() else ch for ch in text)
    words = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors="default")
    return " ".join(w if w.strip(" ，。、；：？！,.;:?!") else "," for w in words)


# -- sinks ----------------------------------------------------------------------------
class AudioSink(Protocol):
    def play(self, wav: bytes) -> None:
        """Play the WAV, returning when it has finished."""


class CommandSink:
    """Plays through an external player (``aplay`` or ``paplay``)."""

    def __init__(self, argv: Sequence[str], timeout_s: float = 30.0) -> None:
        self.argv = list(argv)
        self.timeout_s = timeout_s

    def play(self, wav: bytes) -> None:
        with tempfile.NamedTemporaryFile(suffix=".wav", prefix="hallkit-call-") as tmp:
            tmp.write(wav)
            tmp.flush()
            try:
                subprocess.run(
                    [*self.argv, tmp.name], check=True, capture_output=True, timeout=self.timeout_s
                )
            except subprocess.TimeoutExpired as err:
                raise DeviceTimeout(f"{self.argv[0]} did not finish in {self.timeout_s} s") from err
            except (subprocess.CalledProcessError, OSError) as err:
                raise DeviceUnavailable(f"{self.argv[0]} failed: {err}") from err


@dataclass(frozen=True)
class PlayRecord:
    path: Path
    start: float
    end: float
    duration_s: float


_CALL_FILE = re.compile(r"call-(\d+)\.wav")
DEFAULT_KEEP_FILES = 50


class FileSink:
    """Writes each announcement as ``call-0001.wav`` … into a folder and records start/end.

    Only the newest ``keep`` files are kept (older ``call-NNNN.wav`` files in the folder,
    also those of earlier runs, are deleted; ``None`` keeps everything); numbering goes on
    after the highest number already there. :attr:`records` holds the newest ``keep`` plays.
    With ``pace`` > 0 it also takes ``pace × duration`` to "play" (simulated speakers).
    """

    def __init__(
        self, folder: str | Path, pace: float = 0.0, keep: int | None = DEFAULT_KEEP_FILES
    ) -> None:
        if keep is not None and keep < 1:
            raise ConfigError(f"FileSink keep must be at least 1 (or None), not {keep}")
        self.folder = Path(folder)
        self.pace = pace
        self.keep = keep
        self.records: collections.deque[PlayRecord] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()
        self._idle = threading.Event()
        existing = self._existing()
        self._files: collections.deque[Path] = collections.deque(p for _, p in existing)
        self._count = existing[-1][0] if existing else 0
        with self._lock:
            self._prune()

    def _existing(self) -> list[tuple[int, Path]]:
        """``call-NNNN.wav`` files already in the folder with their numbers, oldest first."""
        try:
            found = [
                (int(m[1]), p) for p in self.folder.iterdir() if (m := _CALL_FILE.fullmatch(p.name))
            ]
        except OSError:
            return []
        return sorted(found)

    def _prune(self) -> None:
        """Called with ``_lock`` held: delete the oldest files beyond ``keep``."""
        while self.keep is not None and len(self._files) > self.keep:
            old = self._files.popleft()
            try:
                old.unlink(missing_ok=True)
            except OSError as err:
                log.warning("cannot delete old announcement %s: %s", old, err)

    def play(self, wav: bytes) -> None:
        start = time.monotonic()
        duration = wav_duration(wav)
        with self._lock:
            self._count += 1
            path = self.folder / f"call-{self._count:04d}.wav"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(wav)
        except OSError as err:
            raise DeviceUnavailable(f"cannot write {path}: {err}") from err
        with self._lock:
            self._files.append(path)
            self._prune()
        if self.pace > 0:
            self._idle.wait(duration * self.pace)  # simulated playback time
        with self._lock:
            self.records.append(PlayRecord(path, start, time.monotonic(), duration))


class NullSink:
    def play(self, wav: bytes) -> None:
        return None


def resolve_driver(settings: VoiceSettings) -> str:
    """The sink driver to use: ``auto`` becomes ``aplay``, else ``paplay``, else ``file``
    when ``output_dir`` is configured, else ``null`` (no player, nowhere to write)."""
    if settings.driver != "auto":
        return settings.driver
    if shutil.which("aplay"):
        return "aplay"
    if shutil.which("paplay"):
        return "paplay"
    return "file" if settings.output_dir else "null"


def make_sink(settings: VoiceSettings) -> AudioSink:
    """The sink the settings ask for (``auto``: see :func:`resolve_driver`; the choice is
    logged once, here)."""
    driver = resolve_driver(settings)
    if settings.driver == "auto":
        where = f" into {settings.output_dir}" if driver == "file" else ""
        log.info(
            "voice driver auto: using %s%s%s",
            driver,
            where,
            " (no aplay/paplay and no output_dir: announcements are discarded)"
            if driver == "null"
            else "",
        )
    if driver == "aplay":
        return CommandSink(
            ["aplay", "-q", *(["-D", settings.port] if settings.port else [])],
            settings.play_timeout_s,
        )
    if driver == "paplay":
        return CommandSink(
            ["paplay", *([f"--device={settings.port}"] if settings.port else [])],
            settings.play_timeout_s,
        )
    if driver == "file":
        root = Path(settings.pack_root) if settings.pack_root else packs.default_pack_root()
        return FileSink(
            Path(settings.output_dir) if settings.output_dir else root / "calls",
            keep=settings.keep_files,
        )
    if driver == "null":
        return NullSink()
    raise ConfigError(f"unknown voice driver {driver!r}")


# -- announcer ------------------------------------------------------------------------
TtsFunc = Callable[[str], bytes]


@dataclass
class Announcement:
    """One queued announcement. ``done`` is set when it has been played (or failed)."""

    text: str
    tokens: list[str] | None
    repeat: int
    done: threading.Event = field(default_factory=threading.Event)
    error: DeviceError | None = None
    used_tts: bool = False
    cancelled: bool = False
    """True when it was dropped before it started playing (``done`` is set, no sound)."""

    def wait(self, timeout: float) -> bool:
        return self.done.wait(timeout)


_STOP = object()
_Item = Announcement | threading.Event | object


class Announcer:
    """Queue of announcements played by one worker thread through one sink.

    ``pack``: a loaded :class:`~devices.voice.pack.VoicePack`; ``None`` (default) loads
    ``settings.pack`` from ``settings.pack_root`` (one warning when it is missing, then
    TTS); ``False`` means TTS only: no pack is looked for and nothing is logged about it.
    """

    def __init__(
        self,
        settings: VoiceSettings | None = None,
        *,
        pack: packs.VoicePack | Literal[False] | None = None,
        sink: AudioSink | None = None,
        tts: TtsFunc | None = None,
        name: str = "voice",
    ) -> None:
        self.settings = settings or VoiceSettings()
        self.pack: packs.VoicePack | None
        if pack is False:
            self.pack = None
            reason = "TTS only (no voice pack)"
        else:
            self.pack = pack if pack is not None else self._load_pack()
            reason = "ready" if self.pack else "no voice pack: using TTS"
        self.sink = sink if sink is not None else make_sink(self.settings)
        self._tts = tts or self._espeak
        self.holder = StatusHolder(name)
        self._items: collections.deque[_Item] = collections.deque()
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="voice-announcer", daemon=True)
        self._thread.start()
        self.holder.set(DeviceState.READY, reason)

    def _load_pack(self) -> packs.VoicePack | None:
        root = (
            Path(self.settings.pack_root) if self.settings.pack_root else packs.default_pack_root()
        )
        try:
            return packs.load_pack(root / self.settings.pack)
        except DeviceError as err:
            log.warning("voice pack not available (%s); announcements use TTS", err)
            return None

    def _espeak(self, text: str) -> bytes:
        return packs.espeak_wav(
            pinyin_for_tts(text), self.settings.espeak_voice, self.settings.espeak_speed
        )

    @property
    def status(self) -> DeviceStatus:
        return self.holder.status

    # -- building ----------------------------------------------------------------------
    def sentence_wav(self, text: str, tokens: Sequence[str] | None) -> tuple[bytes, bool]:
        """The WAV of one sentence (not repeated) and whether TTS was used."""
        if tokens and self.pack is not None and not self.pack.missing(tokens):
            clips = [self.pack.clip(t) for t in tokens]
            return concat_wavs(clips, self.settings.clip_gap_s), False
        if tokens and self.pack is not None:
            log.info(
                "voice pack lacks %s; speaking the sentence with TTS", self.pack.missing(tokens)
            )
        return self._tts(text), True

    # -- queue -------------------------------------------------------------------------
    def announce(
        self,
        ticket: str,
        window: int | str,
        repeat: int | None = None,
        *,
        replace: bool = False,
    ) -> Announcement:
        """Queue "请 <ticket> 号到 <window> 号窗口办理" (``replace``: see :meth:`say_tokens`)."""
        tokens = packs.call_tokens(ticket, window)
        return self._enqueue(
            Announcement(packs.call_text(ticket, window), tokens, repeat or self.settings.repeat),
            replace,
        )

    def say(self, text: str, repeat: int = 1, *, replace: bool = False) -> Announcement:
        """Queue free text (spoken by TTS; ``replace``: see :meth:`say_tokens`)."""
        return self._enqueue(Announcement(text, None, repeat), replace)

    def say_tokens(
        self,
        tokens: Sequence[str],
        repeat: int = 1,
        *,
        text: str | None = None,
        replace: bool = False,
    ) -> Announcement:
        """Queue a sentence made of the pack's clips, e.g. ``[*ticket_tokens("A001"), "号"]``.

        When the pack lacks a clip for any token (or there is no pack) the whole sentence
        is spoken by TTS from ``text`` (default: the tokens joined), so one sentence never
        mixes two voices or WAV formats. ``replace=True`` first drops every announcement
        that is still waiting (:meth:`clear_pending`); the one playing is never cut off.
        """
        tokens = [str(t) for t in tokens]
        if not tokens:
            raise ConfigError("say_tokens needs at least one token")
        sentence = text if text is not None else "".join(tokens)
        return self._enqueue(Announcement(sentence, tokens, repeat), replace)

    def clear_pending(self) -> list[Announcement]:
        """Drop the announcements that have not started playing; returns them (each with
        ``cancelled`` True and ``done`` set). The one playing now finishes normally."""
        with self._cv:
            return self._drop_pending_locked()

    def _drop_pending_locked(self) -> list[Announcement]:
        dropped = [i for i in self._items if isinstance(i, Announcement)]
        if dropped:
            self._items = collections.deque(
                i for i in self._items if not isinstance(i, Announcement)
            )
        for item in dropped:
            item.cancelled = True
            item.done.set()
        return dropped

    def _enqueue(self, item: Announcement, replace: bool = False) -> Announcement:
        with self._cv:
            if self._closed:
                raise DeviceUnavailable("announcer is closed")
            if replace:
                self._drop_pending_locked()
            self._items.append(item)
            self._cv.notify_all()
        return item

    @property
    def pending(self) -> int:
        """How many announcements wait (not counting the one playing)."""
        with self._cv:
            return sum(isinstance(i, Announcement) for i in self._items)

    def wait_idle(self, timeout: float) -> bool:
        """Block until every queued announcement has been played (False on timeout)."""
        done = threading.Event()
        with self._cv:
            self._items.append(done)
            self._cv.notify_all()
        return done.wait(timeout)

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._items:
                    self._cv.wait()
                item = self._items.popleft()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            assert isinstance(item, Announcement)
            try:
                sentence, item.used_tts = self.sentence_wav(item.text, item.tokens)
                self.holder.set(DeviceState.BUSY, "announcing")
                self.sink.play(repeat_wav(sentence, item.repeat, self.settings.repeat_gap_s))
                self.holder.set(DeviceState.READY, "ready")
            except DeviceError as err:
                item.error = err
                log.warning("announcement failed: %s", err)
                self.holder.set(DeviceState.FAULT, f"cannot play announcements: {err}")
            finally:
                item.done.set()

    def close(self, timeout: float = 10.0) -> None:
        """Play what is queued, then stop the worker thread."""
        with self._cv:
            if not self._closed:
                self._closed = True
                self._items.append(_STOP)
                self._cv.notify_all()
        self._thread.join(timeout)
        self.holder.set(DeviceState.ABSENT, "closed")

    def __enter__(self) -> Announcer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
