"""Camera pipeline: Chinese QR codes (UTF-8 and GB18030, byte mode) decoded from frames."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.errors import ConfigError, DeviceTimeout, DeviceUnavailable
from devices.scanner.camera import (
    CameraScanner,
    OpenCVSource,
    ZbarDecoder,
    reencode_zbar_text,
    to_gray,
)
from devices.scanner.camerasim import ImageSource, compose_frame, qr_image
from devices.scanner.protocol import Source

UTF8 = "请到3号窗口办理 身份证".encode()
GB = "社保卡业务 请稍候".encode("gb18030")


@pytest.fixture
def scanners() -> Iterator[list[CameraScanner]]:
    made: list[CameraScanner] = []
    yield made
    for s in made:
        s.close()


def _scanner(made: list[CameraScanner], frames: list[np.ndarray], **kw: object) -> CameraScanner:
    s = CameraScanner(ImageSource(frames, **kw.pop("source_kw", {})), **kw)  # type: ignore[arg-type]
    made.append(s)
    return s


def test_installed_zbar_gives_raw_bytes() -> None:
    decoder = ZbarDecoder()
    try:
        assert decoder.binary, "libzbar >= 0.23 expected (ZBAR_CFG_BINARY)"
        found = decoder.decode(compose_frame([(GB, (200, 100))], color=False))
        assert [d.data for d in found] == [GB] and found[0].raw_bytes
    finally:
        decoder.close()


@pytest.mark.parametrize(("payload", "encoding"), [(UTF8, "utf-8"), (GB, "gb18030")])
def test_chinese_qr_decoded_correctly(
    scanners: list[CameraScanner], payload: bytes, encoding: str
) -> None:
    frame = compose_frame([(payload, (500, 200))])
    events = _scanner(scanners, [frame]).decode_frame(frame)
    assert len(events) == 1
    e = events[0]
    assert (e.text, e.raw, e.encoding, e.source, e.symbology) == (
        payload.decode(encoding),
        payload,
        encoding,
        Source.CAMERA,
        "QRCODE",
    )


@pytest.mark.parametrize(("box", "density"), [(3, 2), (2, 1)])
def test_small_code_found_by_full_size_pass(
    scanners: list[CameraScanner], box: int, density: int
) -> None:
    frame = compose_frame([(GB, (40, 40))], box_size=box)
    s = _scanner(scanners, [frame], full_pass_density=density)
    assert (
        s._decoder.decode(cv2.resize(to_gray(frame), (640, 360), interpolation=cv2.INTER_AREA))
        == []
    )
    events = s.decode_frame(frame)  # too small for the half-size pass: found at full size
    assert [e.text for e in events] == [GB.decode("gb18030")]


def test_two_codes_in_one_frame(scanners: list[CameraScanner]) -> None:
    frame = compose_frame([(UTF8, (50, 50)), (GB, (800, 300))])
    events = _scanner(scanners, [frame]).decode_frame(frame)
    assert sorted(e.raw for e in events) == sorted([UTF8, GB])


def test_region_of_interest(scanners: list[CameraScanner]) -> None:
    frame = compose_frame([(UTF8, (50, 50)), (GB, (800, 300))])
    s = _scanner(scanners, [frame], roi=(700, 250, 500, 450))
    assert [e.raw for e in s.decode_frame(frame)] == [GB]
    bad = _scanner(scanners, [frame], roi=(2000, 2000, 10, 10))
    with pytest.raises(ConfigError):
        bad.decode_frame(frame)


def test_gray_and_bgra_frames(scanners: list[CameraScanner]) -> None:
    gray = compose_frame([(UTF8, (300, 100))], color=False)
    bgra = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)
    s = _scanner(scanners, [gray])
    assert [e.raw for e in s.decode_frame(gray)] == [UTF8]
    assert [e.raw for e in s.decode_frame(bgra)] == [UTF8]


class LockstepSource:
    """Hands out the next frame only after the decoder finished the previous one."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = list(frames)
        self.scanner: CameraScanner | None = None
        self.i = 0

    def read(self) -> np.ndarray | None:
        assert self.scanner is not None
        s = self.scanner
        with s._cond:
            assert s._cond.wait_for(lambda: s.stats.decoded >= self.i, 5)
        if self.i >= len(self.frames):
            return None
        self.i += 1
        return self.frames[self.i - 1]

    def close(self) -> None:
        pass


def test_pipeline_deduplicates_within_window(scanners: list[CameraScanner]) -> None:
    a = compose_frame([(UTF8, (300, 100))], seed=1)
    b = compose_frame([(GB, (300, 100))], seed=2)
    blank = compose_frame([], seed=3)
    got: list[bytes] = []
    source = LockstepSource([a, a, blank, a, b, b])
    s = CameraScanner(source, dedup_seconds=60, on_scan=lambda e: got.append(e.raw))
    source.scanner = s
    scanners.append(s)
    s.start()
    assert s.wait_idle(10)
    assert got == [UTF8, GB]
    assert (s.stats.decoded, s.stats.dropped, s.stats.scans, s.stats.duplicates) == (6, 0, 2, 3)
    with pytest.raises(DeviceTimeout):  # handed to the callback, not kept as well
        s.wait_for_scan(0)


def test_no_dedup_window_reports_again(scanners: list[CameraScanner]) -> None:
    a = compose_frame([(UTF8, (300, 100))])
    s = _scanner(scanners, [a], dedup_seconds=0, source_kw={"repeat": 3, "fps": 200})
    s.start()
    assert s.wait_idle(10)
    assert s.stats.scans == s.stats.decoded >= 1


def test_under_load_decodes_newest_frame_and_counts_drops(scanners: list[CameraScanner]) -> None:
    frames = [compose_frame([(f"帧{i}".encode(), (300, 100))], seed=i) for i in range(6)]
    gate = threading.Event()
    s = _scanner(scanners, frames, dedup_seconds=0)
    real = s.decode_frame

    def slow_decode(frame: np.ndarray):  # type: ignore[no-untyped-def]
        gate.wait(5)  # the decoder is "busy" until all frames were captured
        return real(frame)

    s.decode_frame = slow_decode  # type: ignore[method-assign]
    s.start()
    with s._cond:
        assert s._cond.wait_for(lambda: s._ended, 5)
    gate.set()
    assert s.wait_idle(10)
    assert s.stats.captured == 6
    assert s.stats.dropped >= 4 and s.stats.decoded + s.stats.dropped == 6
    texts = [s.wait_for_scan(1).text for _ in range(s.stats.scans)]
    # the decoder skipped to the newest frame: at most the first one it grabbed, then 帧5
    assert texts[-1] == "帧5" and set(texts) <= {"帧0", "帧5"}


def test_wait_for_scan_times_out(scanners: list[CameraScanner]) -> None:
    s = _scanner(scanners, [compose_frame([])])
    s.start()
    with pytest.raises(DeviceTimeout):
        s.wait_for_scan(0.2)


def test_images_from_files(tmp_path: Path, scanners: list[CameraScanner]) -> None:
    path = tmp_path / "code.png"
    cv2.imwrite(str(path), compose_frame([(GB, (100, 100))]))
    source = ImageSource.from_files([path])
    s = CameraScanner(source)
    scanners.append(s)
    s.start()
    assert s.wait_for_scan(5).raw == GB
    with pytest.raises(DeviceUnavailable):
        ImageSource.from_files([tmp_path / "missing.png"])


def test_opencv_source_missing_camera() -> None:
    with pytest.raises(DeviceUnavailable):
        OpenCVSource(str(Path("/nonexistent/video.mp4")))


def test_reencode_fallback_recovers_gb18030_read_as_latin1() -> None:
    # what zbar without BINARY does to GB18030 bytes it guesses to be ISO-8859-1
    zbar_output = GB.decode("latin-1").encode("utf-8")
    assert reencode_zbar_text(zbar_output) == GB
    assert reencode_zbar_text(UTF8) == UTF8
    assert reencode_zbar_text(b"ABC") == b"ABC"


def test_qr_image_is_byte_mode_and_square() -> None:
    img = qr_image(b"\xd6\xd0", box_size=3)
    assert img.shape[0] == img.shape[1] and set(np.unique(img)) == {0, 255}


def test_self_test_waits_for_a_frame_and_reports_a_dead_source(
    scanners: list[CameraScanner],
) -> None:
    good = CameraScanner(ImageSource([compose_frame([(GB, (100, 100))])], fps=50))
    scanners.append(good)
    result = good.self_test(timeout=5)
    assert result.ok and "frames arrive" in result.reason

    class DeadSource:
        def read(self) -> None:
            raise DeviceUnavailable("camera 0 stopped delivering frames")

        def close(self) -> None:
            return None

    dead = CameraScanner(DeadSource())  # type: ignore[arg-type]
    scanners.append(dead)
    result = dead.self_test(timeout=5)
    assert not result.ok and "stopped delivering frames" in result.reason
