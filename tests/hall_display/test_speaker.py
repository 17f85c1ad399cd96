"""The speaker: one WAV a call (Mandarin, then the dialect), the configured sink, stopping."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from devices.errors import ConfigError
from devices.voice import pack as packs
from hall_display.rules import Call
from hall_display.settings import SpeakerSettings
from hall_display.speaker import Speaker
from tests.hall_display.conftest import said, said_dialect, sentences, write_pack


def a_call(seq: int = 1, number: str = "A001", label: str = "3") -> Call:
    return Call(seq=seq, number=number, window="win03", label=label, recall=0, at=0.0)


def test_the_file_driver_writes_each_call_as_one_wav(voice_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "calls"
    settings = SpeakerSettings(
        driver="file", output_dir=str(out), pack_root=str(voice_root), repeat=3, repeat_gap_s=0.01
    )
    speaker = Speaker(settings)
    try:
        item = speaker.announce(a_call())
        assert item.wait(10) and item.error is None and not item.used_tts
    finally:
        speaker.close()
    files = sorted(out.glob("call-*.wav"))
    assert [f.name for f in files] == ["call-0001.wav"]
    assert sentences(files[0].read_bytes()) == [said("A001", "3")] * 3


def test_a_dialect_pack_in_another_wav_format_is_refused(voice_root: Path) -> None:
    write_pack(voice_root / "yue", sign=-1, name="yue", rate=16000)
    settings = SpeakerSettings(driver="null", pack_root=str(voice_root), dialect="yue")
    with pytest.raises(ConfigError, match=r"16000 Hz.*8000 Hz"):
        Speaker(settings)


def test_a_call_the_dialect_pack_cannot_say_is_said_in_mandarin_only(voice_root: Path) -> None:
    folder = voice_root / "nan"
    manifest = json.loads((folder / "pack.json").read_text(encoding="utf-8"))
    del manifest["clips"]["七"]
    (folder / "pack.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    played: list[bytes] = []

    class Keep:
        def play(self, wav: bytes) -> None:
            played.append(wav)

    settings = SpeakerSettings(pack_root=str(voice_root), dialect="nan", repeat=1)
    speaker = Speaker(settings, sink=Keep())
    try:
        speaker.announce(a_call(1, "A007"))
        speaker.announce(a_call(2, "A001"))
        assert speaker.wait_idle(10)
    finally:
        speaker.close()
    assert [sentences(w) for w in played] == [
        [said("A007", "3")],
        [said("A001", "3"), said_dialect("A001", "3")],
    ]
    assert packs.call_tokens("A007", "3").count("七") == 1


def test_stopping_lets_the_call_playing_finish_and_drops_the_rest(voice_root: Path) -> None:
    started = threading.Event()
    release = threading.Event()
    played: list[list[str]] = []

    class Gate:
        def play(self, wav: bytes) -> None:
            started.set()
            assert release.wait(10)
            played.append(sentences(wav))

    speaker = Speaker(SpeakerSettings(pack_root=str(voice_root), repeat=1), sink=Gate())
    items = [speaker.announce(a_call(i, f"A00{i}")) for i in (1, 2, 3)]
    assert started.wait(10)
    stopper = threading.Thread(target=speaker.close)
    stopper.start()
    assert items[2].done.wait(10) and items[1].cancelled and items[2].cancelled
    release.set()
    stopper.join(10)
    assert played == [[said("A001", "3")]]
    assert items[0].done.is_set() and not items[0].cancelled
