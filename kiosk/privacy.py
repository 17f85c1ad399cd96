"""Masking and keying of personal data (pure functions).

On screen and on paper a citizen's data is masked except where the person must check it
(their own mailing address while typing it). ``citizen_key`` is what leaves the kiosk
instead of the ID number: an HMAC under the hall's secret.
"""

from __future__ import annotations

import hashlib
import hmac


def mask_name(name: str) -> str:
    """张三 → 张*, 张三丰 → 张*丰, 欧阳娜娜 → 欧**娜; Latin names keep the first letter."""
    name = name.strip()
    if len(name) <= 1:
        return "*" if name else ""
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id(number: str) -> str:
    """110101199003078888 → 1101**********8888 (first 4 and last 4 kept)."""
    number = number.strip()
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(phone: str) -> str:
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_address(address: str, keep: int = 6) -> str:
    address = address.strip()
    if len(address) <= keep:
        return "*" * len(address)
    return address[:keep] + "****"


def citizen_key(secret: str, id_number: str) -> str:
    """HMAC-SHA256 of the ID number under the hall's key, 32 hex chars (fits ``Id``)."""
    return hmac.new(
        secret.encode(), id_number.strip().upper().encode(), hashlib.sha256
    ).hexdigest()[:32]
