"""Sealing personal data the hall must keep for a while (a mailing address).

The address of a free-mailing request (两免费) has to reach the mail room, so it is kept,
but only sealed: Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key in
the controller's secrets folder, readable by the controller's user only. Logs, events on
MQTT and metrics never see it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._f = Fernet(key)

    @classmethod
    def from_dir(cls, secrets_dir: Path) -> Sealer:
        secrets_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(secrets_dir, 0o700)
        path = secrets_dir / "seal.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def seal(self, data: bytes) -> str:
        return self._f.encrypt(data).decode()

    def unseal(self, token: str) -> bytes:
        try:
            return self._f.decrypt(token.encode())
        except InvalidToken:
            raise ValueError("sealed data cannot be opened with this key") from None
