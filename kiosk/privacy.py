"""Masking and keying of personal data (pure functions).

On screen and on paper a citizen's data is masked except where the person must check it
(their own mailing address while typing it). ``citizen_key`` is what leaves the kiosk
instead of the ID number: an HMAC under the hall's secret.
"""

from __future__ import annotations

import hashlib
import hmac

# One masking for the whole project (screen, paper, logs): the ID card's own module.
from devices.idcard.identity import mask_id_number as mask_id
from devices.idcard.identity import mask_name

__all__ = ["citizen_key", "mask_id", "mask_name"]


def citizen_key(secret: str, id_number: str) -> str:
    """HMAC-SHA256 of the ID number under the hall's key, 32 hex chars (fits ``Id``)."""
    return hmac.new(
        secret.encode(), id_number.strip().upper().encode(), hashlib.sha256
    ).hexdigest()[:32]
