"""Voice: tokens, clip concatenation, queue ordering, repeat, espeak-ng pack, TTS fallback."""

from __future__ import annotations

import itertools
import json
import shutil
import threading
from pathlib import Path

import pytest

from devices.errors import ConfigError, DeviceError, DeviceUnavailable, ProtocolError
from devices.voice import announcer as announcer_module
from devices.voice import pack as packs
from devices.voice.announcer import (
    Announcer,
    FileSink,
    NullSink,
    WavFormat,
    _write_wav,
    concat_wavs,
    make_sink,
    pinyin_for_tts,
    resolve_driver,
    silence,
    wav_duration,
)
from devices.voice.settings import VoiceSettings

FMT = WavFormat(1, 2, 8000)


def tone(seconds: float, level: int = 1000) -> bytes:
    frames = int(seconds * FMT.frame_rate)
    return _write_wav(FMT, level.to_bytes(2, "little", signed=True) * frames)


def fake_pack(
    folder: Path, tokens: list[str] | None = None, seconds: float = 0.01
) -> packs.VoicePack:
    """A pack of tiny synthetic clips, each token a different length."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = {}
    for i, token in enumerate(tokens or list(packs.ALL_TOKENS)):
        name = f"clip{i}.wav"
        (folder / name).write_bytes(tone(seconds * (1 + i % 3)))
        clips[token] = name
    (folder / "pack.json").write_text(
        json.dumps({"name": "test", "clips": clips}, ensure_ascii=False)
    )
    return packs.load_pack(folder)


# -- tokens ---------------------------------------------------------------------------
def test_call_tokens_read_ticket_digits_and_window_number() -> None:
    assert packs.call_tokens("A001", 3) == [
        "请",
        "A",
        "零",
        "零",
        "一",
        "号",
        "到",
        "三",
        "号窗口",
        "办理",
    ]
    assert packs.call_tokens("b12", "12")[1:4] == ["B", "一", "二"]
    assert packs.call_tokens("A-7", 12)[-4:] == ["十", "二", "号窗口", "办理"]


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "零"),
        (7, "七"),
        (10, "十"),
        (12, "十二"),
        (20, "二十"),
        (21, "二十一"),
        (100, "一百"),
        (105, "一百零五"),
        (110, "一百一十"),
        (1005, "一千零五"),
        (1010, "一千零一十"),
        (2300, "二千三百"),
    ],
)
def test_number_tokens(n: int, words: str) -> None:
    assert "".join(packs.number_tokens(n)) == words


def test_window_that_is_not_a_number_is_read_like_a_ticket() -> None:
    assert packs.window_tokens("B3") == ["B", "三"]
    with pytest.raises(ConfigError):
        packs.number_tokens(10000)


# -- WAV ------------------------------------------------------------------------------
def test_concatenation_duration_is_sum_of_clips() -> None:
    clips = [tone(0.1), tone(0.25), tone(0.05)]
    out = concat_wavs(clips)
    assert wav_duration(out) == pytest.approx(0.4, abs=1 / FMT.frame_rate)
    gapped = concat_wavs(clips, gap_s=0.1)
    assert wav_duration(gapped) == pytest.approx(0.6, abs=1 / FMT.frame_rate)
    assert len(silence(FMT, 0.5)) == 8000


def test_concatenation_refuses_mixed_formats_and_garbage() -> None:
    other = _write_wav(WavFormat(1, 2, 16000), b"\x00\x00" * 10)
    with pytest.raises(ProtocolError, match="differs"):
        concat_wavs([tone(0.1), other])
    with pytest.raises(ProtocolError):
        concat_wavs([b"RIFF nonsense"])
    with pytest.raises(ProtocolError):
        concat_wavs([])


def test_pack_manifest_validation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        packs.load_pack(tmp_path)
    (tmp_path / "pack.json").write_text(json.dumps({"clips": {"请": "../escape.wav"}}))
    with pytest.raises(ConfigError, match="inside"):
        packs.load_pack(tmp_path)
    (tmp_path / "pack.json").unlink()
    (tmp_path / "pack.yaml").write_text("name: nan\nclips:\n  请: q.wav\n")
    pack = packs.load_pack(tmp_path)
    assert pack.name == "nan" and pack.missing(["请"]) == ["请"]  # file absent


# -- announcer ------------------------------------------------------------------------
def no_tts(text: str) -> bytes:
    raise AssertionError(f"TTS should not be used for {text!r}")


def test_announcement_is_built_from_clips(tmp_path: Path) -> None:
    pack = fake_pack(tmp_path / "pack")
    sink = FileSink(tmp_path / "out")
    settings = VoiceSettings(repeat=1, clip_gap_s=0)
    with Announcer(settings, pack=pack, sink=sink, tts=no_tts) as announcer:
        item = announcer.announce("A001", 3)
        assert item.wait(10)
    assert item.error is None and not item.used_tts
    expected = sum(wav_duration(pack.clip(t)) for t in packs.call_tokens("A001", 3))
    [record] = sink.records
    assert record.duration_s == pytest.approx(expected, abs=1e-3)
    assert wav_duration(record.path.read_bytes()) == pytest.approx(expected, abs=1e-3)


def test_repeat_count(tmp_path: Path) -> None:
    pack = fake_pack(tmp_path / "pack")
    sink = FileSink(tmp_path / "out")
    with Announcer(
        VoiceSettings(repeat=3, repeat_gap_s=0.5), pack=pack, sink=sink, tts=no_tts
    ) as announcer:
        once = announcer.sentence_wav("", packs.call_tokens("C9", 1))[0]
        announcer.announce("C9", 1).wait(10)
        announcer.announce("C9", 1, repeat=1).wait(10)
    assert [r.duration_s for r in sink.records] == pytest.approx(
        [3 * wav_duration(once) + 2 * 0.5, wav_duration(once)], abs=1e-3
    )


def test_queue_never_overlaps_and_keeps_order(tmp_path: Path) -> None:
    pack = fake_pack(tmp_path / "pack", seconds=0.02)
    sink = FileSink(tmp_path / "out", pace=0.2)
    items = []
    with Announcer(VoiceSettings(repeat=1), pack=pack, sink=sink, tts=no_tts) as announcer:
        barrier = threading.Barrier(4)

        def caller(k: int) -> None:
            barrier.wait()
            for i in range(3):
                items.append(announcer.announce(f"A{k}{i}", k + 1))

        threads = [threading.Thread(target=caller, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert announcer.wait_idle(30)
    records = sorted(sink.records, key=lambda r: r.start)
    assert len(records) == 12
    for before, after in itertools.pairwise(records):
        assert before.end <= after.start
    assert all(i.done.is_set() and i.error is None for i in items)


def test_missing_clip_falls_back_to_tts(tmp_path: Path) -> None:
    pack = fake_pack(tmp_path / "pack", tokens=["请", "号", "到", "号窗口", "办理", "一", "三"])
    spoken: list[str] = []

    def fake_tts(text: str) -> bytes:
        spoken.append(text)
        return tone(0.3)

    sink = FileSink(tmp_path / "out")
    with Announcer(VoiceSettings(repeat=1), pack=pack, sink=sink, tts=fake_tts) as announcer:
        item = announcer.announce("Z1", 3)  # no clip for Z
        item.wait(10)
        said = announcer.say("请注意：大厅将于17:00停止取号")
        said.wait(10)
    assert item.used_tts and said.used_tts
    assert spoken == ["请Z1号到3号窗口办理", "请注意：大厅将于17:00停止取号"]
    assert [r.duration_s for r in sink.records] == pytest.approx([0.3, 0.3])


def test_sink_failure_is_reported_and_worker_survives(tmp_path: Path) -> None:
    class BrokenSink:
        def play(self, wav: bytes) -> None:
            raise DeviceUnavailable("no sound card")

    pack = fake_pack(tmp_path / "pack")
    announcer = Announcer(VoiceSettings(repeat=1), pack=pack, sink=BrokenSink(), tts=no_tts)
    try:
        first = announcer.announce("A1", 1)
        second = announcer.announce("A2", 1)
        assert second.wait(10)
        assert isinstance(first.error, DeviceError) and isinstance(second.error, DeviceError)
        assert announcer.status.state.value == "fault"
    finally:
        announcer.close()
    assert not announcer._thread.is_alive()
    with pytest.raises(DeviceUnavailable):
        announcer.announce("A3", 1)


def test_pinyin_for_tts() -> None:
    assert pinyin_for_tts("请A001号") == "qing3 A ling2 ling2 yi1 hao4"


needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng not installed"
)


@needs_espeak
def test_espeak_pack_generation_small_subset(tmp_path: Path) -> None:
    tokens = ["请", "A", "零", "号窗口"]
    pack = packs.ensure_pack(tmp_path / "cmn", tokens)
    assert pack.missing(tokens) == []
    assert json.loads((tmp_path / "cmn" / "pack.json").read_text())["clips"]["请"] == "qing3.wav"
    for token in tokens:
        assert 0.05 < wav_duration(pack.clip(token)) < 2.0
    # ensure_pack only generates what is missing
    (tmp_path / "cmn" / "qing3.wav").unlink()
    again = packs.ensure_pack(tmp_path / "cmn", tokens)
    assert again.has("请") and again.has("A")


@needs_espeak
def test_real_espeak_fallback_tts(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "out")
    with Announcer(
        VoiceSettings(repeat=1, pack_root=str(tmp_path / "none")), sink=sink
    ) as announcer:
        assert announcer.pack is None
        item = announcer.say("请到三号窗口")
        assert item.wait(30)
    assert item.error is None and item.used_tts
    assert sink.records[0].duration_s > 0.5


# -- public queue API: sentences of tokens, dropping pending announcements ----------------
class GatedSink:
    """Records what it plays; each play blocks until the test releases it."""

    def __init__(self) -> None:
        self.played: list[float] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Semaphore(0)

    def play(self, wav: bytes) -> None:
        self.started.release()
        assert self.release.acquire(timeout=10), "the test never released the sink"
        self.played.append(wav_duration(wav))


def test_say_tokens_builds_a_sentence_from_clips(tmp_path: Path) -> None:
    pack = fake_pack(tmp_path / "pack")
    sink = FileSink(tmp_path / "out")
    tokens = [*packs.ticket_tokens("A001"), "号"]
    with Announcer(VoiceSettings(repeat_gap_s=0.5), pack=pack, sink=sink, tts=no_tts) as ann:
        item = ann.say_tokens(tokens, repeat=2, text="A001号")
        assert item.wait(10)
    assert item.error is None and not item.used_tts and item.tokens == tokens
    assert item.text == "A001号"
    once = sum(wav_duration(pack.clip(t)) for t in tokens)
    [record] = sink.records
    assert record.duration_s == pytest.approx(2 * once + 0.5, abs=1e-3)


def test_say_tokens_with_a_missing_clip_speaks_the_sentence_with_tts(tmp_path: Path) -> None:
    pack = fake_pack(tmp_path / "pack", tokens=["零", "一", "号"])
    spoken: list[str] = []

    def fake_tts(text: str) -> bytes:
        spoken.append(text)
        return tone(0.2)

    sink = FileSink(tmp_path / "out")
    with Announcer(VoiceSettings(), pack=pack, sink=sink, tts=fake_tts) as ann:
        item = ann.say_tokens(["Q", "零", "一", "号"])  # no clip for Q
        assert item.wait(10)
        with pytest.raises(ConfigError):
            ann.say_tokens([])
    assert item.used_tts and spoken == ["Q零一号"]


def test_clear_pending_and_replace_drop_only_what_has_not_started(tmp_path: Path) -> None:
    pack = fake_pack(tmp_path / "pack")
    sink = GatedSink()
    with Announcer(VoiceSettings(repeat=1), pack=pack, sink=sink, tts=no_tts) as ann:
        playing = ann.announce("A1", 1)
        assert sink.started.acquire(timeout=10)  # A1 is playing now
        waiting = [ann.announce("A2", 2), ann.say_tokens(["号"]), ann.announce("A3", 3)]
        assert ann.pending == 3
        dropped = ann.clear_pending()
        assert dropped == waiting and ann.pending == 0
        assert all(w.cancelled and w.done.is_set() for w in waiting)
        assert not playing.done.is_set() and not playing.cancelled  # never cut off
        b1 = ann.announce("B1", 1)
        b2 = ann.announce("B2", 2, replace=True)  # B1 is dropped, B2 waits
        assert b1.cancelled and not b2.done.is_set() and ann.pending == 1
        c1 = ann.say_tokens(["号"], replace=True)
        assert b2.cancelled and ann.pending == 1
        sink.release.release()  # A1 ends
        assert sink.started.acquire(timeout=10)  # C1 plays next
        sink.release.release()
        assert c1.wait(10) and playing.wait(10)
        assert ann.wait_idle(10)
    assert not playing.error and not c1.error and not c1.cancelled
    assert len(sink.played) == 2  # A1 and C1 only


def test_pack_false_means_tts_only_without_looking_for_a_pack(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_pack(tmp_path / "root" / "cmn")  # a default pack that pack=None would load
    settings = VoiceSettings(pack_root=str(tmp_path / "root"), driver="null")
    with Announcer(settings, tts=no_tts) as loaded:
        assert loaded.pack is not None
    with (
        caplog.at_level("INFO", logger="devices.voice"),
        Announcer(settings, pack=False, tts=lambda text: tone(0.1)) as tts_only,
    ):
        assert tts_only.pack is None
        assert "TTS only" in tts_only.status.reason
        item = tts_only.announce("A001", 3)
        assert item.wait(10)
    assert item.used_tts and item.error is None
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []
    assert not any("voice pack" in r.getMessage() for r in caplog.records)


def test_missing_default_pack_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = VoiceSettings(pack_root=str(tmp_path / "nothing"), driver="null")
    with (
        caplog.at_level("INFO", logger="devices.voice"),
        Announcer(settings, tts=lambda text: tone(0.1)) as ann,
    ):
        assert ann.pack is None
        for i in range(3):
            ann.announce(f"A{i}", 1)
        assert ann.wait_idle(10)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "voice pack not available" in warnings[0].getMessage()


# -- sinks ------------------------------------------------------------------------------
def test_file_sink_keeps_only_the_newest_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sink = FileSink(out, keep=3)
    for _ in range(5):
        sink.play(tone(0.01))
    assert sorted(p.name for p in out.iterdir()) == [
        "call-0003.wav",
        "call-0004.wav",
        "call-0005.wav",
    ]
    assert [r.path.name for r in sink.records] == [
        "call-0003.wav",
        "call-0004.wav",
        "call-0005.wav",
    ]
    (out / "notes.txt").write_text("not ours")
    again = FileSink(out, keep=2)  # a restart: numbering goes on, old calls pruned
    assert sorted(p.name for p in out.iterdir()) == ["call-0004.wav", "call-0005.wav", "notes.txt"]
    again.play(tone(0.01))
    assert sorted(p.name for p in out.iterdir()) == ["call-0005.wav", "call-0006.wav", "notes.txt"]
    assert FileSink(tmp_path / "new").keep == 50
    with pytest.raises(ConfigError):
        FileSink(out, keep=0)


def test_file_driver_passes_keep_files(tmp_path: Path) -> None:
    sink = make_sink(VoiceSettings(driver="file", output_dir=str(tmp_path), keep_files=7))
    assert isinstance(sink, FileSink) and sink.keep == 7 and sink.folder == tmp_path


def test_auto_driver_without_a_player(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(announcer_module.shutil, "which", lambda name: None)
    with caplog.at_level("INFO", logger="devices.voice"):
        assert resolve_driver(VoiceSettings(driver="auto")) == "null"
        assert isinstance(make_sink(VoiceSettings(driver="auto")), NullSink)
        sink = make_sink(VoiceSettings(driver="auto", output_dir=str(tmp_path)))
    assert isinstance(sink, FileSink) and sink.folder == tmp_path
    chosen = [r.getMessage() for r in caplog.records if "voice driver auto" in r.getMessage()]
    assert len(chosen) == 2 and "null" in chosen[0] and "file" in chosen[1]
    monkeypatch.setattr(announcer_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert resolve_driver(VoiceSettings(driver="auto", output_dir=str(tmp_path))) == "aplay"
    assert resolve_driver(VoiceSettings(driver="null")) == "null"
