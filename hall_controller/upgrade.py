"""Bringing a store written by an older hallkit up to date, where that needs the hall's key.

Before 0.2 the free text a citizen or clerk typed was stored in clear in the events: a
transfer's note, a rating's comment, a help request's note, a free-text pause reason.
:func:`seal_free_text` seals it in place, once (the store remembers it has), with the
old bytes overwritten on disk. The replies kept for retries that showed such a note in
clear are deleted (a retried window operation is decided again, and refused as done).

Shapes that need no key are upgraded when events are read (``hall_contract.events.upgrade``);
schema changes of the tables are the store's (``hall_controller.store``).
"""

from __future__ import annotations

import logging
from typing import Any

from hall_contract.messages import PAUSE_REASONS
from hall_controller.sealing import Sealer
from hall_controller.store import FREE_TEXT_SEALED, EventStore

log = logging.getLogger(__name__)

DONE = FREE_TEXT_SEALED
#: event type → (field in clear, field sealed)
CLEAR = {
    "ticket.transferred": ("note", "sealed_note"),
    "rating.submitted": ("text", "sealed_text"),
    "help.requested": ("note", "sealed_note"),
    "window.paused": ("reason", "sealed_note"),
}


def seal_free_text(store: EventStore, sealer: Sealer | None) -> int:
    """Seal the free text older versions stored in clear; returns how many events changed."""
    if store.meta(DONE) == "1":
        return 0
    if sealer is None:
        log.warning(
            "the store may hold free text in clear from an older hallkit; it is not loaded, "
            "and it is sealed at the first start with the hall's key (secrets/seal.key)"
        )
        return 0

    def fix(type_: str, data: dict[str, Any]) -> dict[str, Any] | None:
        clear, sealed = CLEAR[type_]
        text = data.get(clear)
        if not isinstance(text, str) or not text:
            return None
        if type_ == "window.paused":
            if text in PAUSE_REASONS:
                return None  # a code, not free text
            data["reason"] = "other"
        else:
            del data[clear]
        data[sealed] = sealer.seal(text.encode())
        return data

    changed = store.rewrite_events(tuple(CLEAR), fix)
    dropped = store.drop_replies_containing(b'"note":"')
    with store.transaction():
        store.set_meta(DONE, "1")
    if changed or dropped:
        log.info(
            "sealed the free text of %d stored events; %d stored replies with it removed",
            changed,
            dropped,
        )
    return changed
