"""A camera that plays image files or generated frames, so the pipeline runs without one.

:func:`qr_image` draws a QR code in *byte mode* from raw bytes (UTF-8 or GB18030 — the
encodings Chinese codes come in); :func:`compose_frame` places codes on a 1280×720 frame
with some texture; :class:`ImageSource` plays frames as a :class:`FrameSource`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import qrcode
from qrcode.util import MODE_8BIT_BYTE, QRData

from devices.errors import DeviceUnavailable
from devices.scanner.camera import Frame


def qr_image(
    payload: bytes,
    *,
    box_size: int = 6,
    border: int = 4,
    error_correction: int = qrcode.constants.ERROR_CORRECT_M,
) -> Frame:
    """A grayscale QR image (0/255) of ``payload`` in byte mode."""
    code = qrcode.QRCode(box_size=box_size, border=border, error_correction=error_correction)
    code.add_data(QRData(payload, mode=MODE_8BIT_BYTE))
    code.make(fit=True)
    matrix = np.array(code.get_matrix(), dtype=bool)
    img = np.where(matrix, 0, 255).astype(np.uint8)
    return np.kron(img, np.ones((box_size, box_size), dtype=np.uint8))


def compose_frame(
    codes: Sequence[tuple[bytes, tuple[int, int]]],
    *,
    size: tuple[int, int] = (1280, 720),
    box_size: int = 6,
    seed: int = 0,
    color: bool = True,
) -> Frame:
    """A frame (BGR if ``color``) with each payload's QR code at its (x, y)."""
    width, height = size
    rng = np.random.default_rng(seed)
    # a soft gradient plus noise, like a counter top under hall lighting
    ramp = np.linspace(150, 215, width, dtype=np.float32)[None, :].repeat(height, 0)
    gray = np.clip(ramp + rng.normal(0, 6, (height, width)), 0, 255).astype(np.uint8)
    for payload, (x, y) in codes:
        img = qr_image(payload, box_size=box_size)
        h, w = img.shape
        if x + w > width or y + h > height:
            raise ValueError(f"a {w}x{h} code does not fit at {x},{y}")
        gray[y : y + h, x : x + w] = img
    if not color:
        return gray
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


class ImageSource:
    """Plays frames in order; ``loop`` repeats forever, ``fps`` paces like a camera."""

    def __init__(
        self,
        frames: Sequence[Frame],
        *,
        loop: bool = False,
        fps: float | None = None,
        repeat: int = 1,
    ) -> None:
        if not frames:
            raise ValueError("no frames to play")
        self.frames = list(frames)
        self.loop = loop
        self.fps = fps
        self.repeat = repeat
        self._i = 0
        self._next_at = time.monotonic()
        self._closed = threading.Event()

    @classmethod
    def from_files(cls, paths: Sequence[str | Path], **kwargs: object) -> ImageSource:
        frames = []
        for path in paths:
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is None:
                raise DeviceUnavailable(f"cannot read image {path}")
            frames.append(frame)
        return cls(frames, **kwargs)  # type: ignore[arg-type]

    def read(self) -> Frame | None:
        if self._closed.is_set():
            return None
        total = len(self.frames) * self.repeat
        if not self.loop and self._i >= total:
            return None
        if self.fps:
            delay = self._next_at - time.monotonic()
            if delay > 0 and self._closed.wait(delay):
                return None
            self._next_at = max(self._next_at + 1 / self.fps, time.monotonic())
        frame = self.frames[self._i % len(self.frames)]
        self._i += 1
        return frame

    def close(self) -> None:
        self._closed.set()
