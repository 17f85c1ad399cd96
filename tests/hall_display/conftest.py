"""Fixtures of the display program's tests: a voice pack whose clips can be told apart in
the played WAV (so a sink can say which sentence it heard), a sink that records what it
played and when, the Modbus LED simulator, and the program itself on the test broker."""

from __future__ import annotations

import array
import io
import json
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devices.display.settings import DisplaySettings
from devices.display.simulator import DisplaySimulator
from devices.voice import pack as packs
from hall_contract.hallconfig import HallConfig, Terminal
from hall_controller.broker import Mosquitto
from hall_display.program import DisplayProgram, start
from hall_display.settings import DisplayConfig, LedRules, SpeakerSettings
from tests.conftest import load_hall

RATE = 8000
CLIP_FRAMES = 40  # 5 ms a token
#: the sample value of each token's clip (negative in the dialect pack)
LEVEL = {token: 100 * (i + 1) for i, token in enumerate(packs.ALL_TOKENS)}
TOKEN_OF = {v: t for t, v in LEVEL.items()} | {-v: f"nan:{t}" for t, v in LEVEL.items()}


def _wav(samples: list[int]) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(array.array("h", samples).tobytes())
    return out.getvalue()


def write_pack(folder: Path, *, sign: int = 1, name: str = "cmn", rate: int = RATE) -> Path:
    """A pack with every token, each clip ``CLIP_FRAMES`` frames of one sample value."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = {}
    for token, level in LEVEL.items():
        file = f"t{level}.wav"
        data = _wav([sign * level] * CLIP_FRAMES)
        if rate != RATE:
            with wave.open(io.BytesIO(data)) as r:
                frames = r.readframes(r.getnframes())
            out = io.BytesIO()
            with wave.open(out, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(rate)
                w.writeframes(frames)
            data = out.getvalue()
        (folder / file).write_bytes(data)
        clips[token] = file
    (folder / "pack.json").write_text(
        json.dumps({"name": name, "clips": clips}, ensure_ascii=False), encoding="utf-8"
    )
    return folder


def sentences(wav: bytes) -> list[str]:
    """The sentences in a played WAV: clips read back as their tokens, silence between
    sentences (the repeat gap) as the boundary; dialect tokens are prefixed ``nan:``."""
    with wave.open(io.BytesIO(wav)) as r:
        samples = array.array("h", r.readframes(r.getnframes()))
    out: list[list[str]] = [[]]
    i = 0
    while i < len(samples):
        if samples[i] == 0:
            while i < len(samples) and samples[i] == 0:
                i += 1
            if out[-1]:
                out.append([])
            continue
        out[-1].append(TOKEN_OF[samples[i]])
        i += CLIP_FRAMES
    return ["".join(s) for s in out if s]


def said(number: str, window: str) -> str:
    """What the Mandarin sentence of a call decodes to."""
    return "".join(packs.call_tokens(number, window))


def said_dialect(number: str, window: str) -> str:
    return "".join(f"nan:{t}" for t in packs.call_tokens(number, window))


@dataclass(frozen=True)
class Played:
    start: float
    end: float
    sentences: list[str]


class RecordingSink:
    """An audio sink that "plays" each WAV for its real duration (a speaker takes that
    long) and records what it heard, with start and end times."""

    def __init__(self, pace: float = 1.0) -> None:
        self.pace = pace
        self.played: list[Played] = []
        self._cond = threading.Condition()
        self._never = threading.Event()
        self.playing = 0
        self.max_playing = 0

    def play(self, wav: bytes) -> None:
        with self._cond:
            self.playing += 1
            self.max_playing = max(self.max_playing, self.playing)
        start = time.monotonic()
        heard = sentences(wav)
        with wave.open(io.BytesIO(wav)) as r:
            duration = r.getnframes() / r.getframerate()
        self._never.wait(duration * self.pace)  # the time the speaker takes
        with self._cond:
            self.playing -= 1
            self.played.append(Played(start, time.monotonic(), heard))
            self._cond.notify_all()

    def wait_count(self, n: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.played) >= n, timeout)

    def heard(self) -> list[list[str]]:
        with self._cond:
            return [p.sentences for p in self.played]


@pytest.fixture
def voice_root(tmp_path: Path) -> Path:
    root = tmp_path / "voice"
    write_pack(root / "cmn")
    write_pack(root / "nan", sign=-1, name="nan")
    return root


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def mini_hall() -> HallConfig:
    """hall-minimal with the display d01 and a terminal for window 2."""
    hall = load_hall()
    terms = [
        *hall.terminals,
        Terminal(id="w02", role="window", window="win02"),
        Terminal(id="d01", role="display", location="大厅"),
    ]
    return hall.model_copy(update={"terminals": terms})


@pytest.fixture
def hall() -> HallConfig:
    return mini_hall()


@pytest.fixture
def sim() -> Iterator[DisplaySimulator]:
    with DisplaySimulator(units=(1, 2)) as s:
        yield s


def display_config(
    sim: DisplaySimulator,
    voice_root: Path | None,
    windows: dict[str, int] | None = None,
    **overrides: Any,
) -> DisplayConfig:
    """Quick timeouts and checks, so unplugging is noticed at once."""
    leds = DisplaySettings(
        port=sim.url,
        timeout_s=0.3,
        retries=0,
        reconnect_initial_s=0.1,
        reconnect_max_s=0.3,
        windows=windows or {"win01": 1, "win02": 2},
    )
    speaker = None
    if voice_root is not None:
        speaker = SpeakerSettings(
            pack_root=str(voice_root), repeat=2, repeat_gap_s=0.01, driver="null"
        )
    values: dict[str, Any] = {
        "terminal_id": "d01",
        "leds": leds,
        "led_rules": LedRules(verify_s=0.3, retry_initial_s=0.1, retry_max_s=0.3),
        "speaker": speaker,
        "heartbeat_s": 1.0,
    }
    values.update(overrides)
    return DisplayConfig(**values)


DisplayFactory = Callable[..., DisplayProgram]


@pytest.fixture
def display_factory(broker: Mosquitto, sink: RecordingSink) -> Iterator[DisplayFactory]:
    """Start the display program on the test broker (stopped after the test)."""
    started: list[DisplayProgram] = []

    def make(cfg: DisplayConfig, hall: HallConfig, **kw: Any) -> DisplayProgram:
        kw.setdefault("sink", sink)
        prog = start(cfg, hall, broker=broker.settings, **kw)
        started.append(prog)
        assert prog.wait_ready(10), "the display program did not get the window board"
        return prog

    yield make
    for p in started:
        p.stop()
