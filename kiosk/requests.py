"""Requests to the controller, off the UI thread: answered requests and the outbox.

``request``: a question that needs the controller now (a ticket, a look-up, mailing);
unreachable → the flow says so. ``submit_outbox``: ratings and help requests, stored on
disk first and delivered later if the controller cannot be reached now (exactly once by
request id, :mod:`kiosk.outbox`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hall_contract.messages import HallStatus, Reply
from kiosk.flows import Flow

if TYPE_CHECKING:
    from kiosk.core import Kiosk

log = logging.getLogger(__name__)


class Requests:
    def __init__(self, k: Kiosk) -> None:
        self.k = k

    def request(
        self,
        op: str,
        body: dict[str, Any],
        flow: Flow[Any],
        after: Callable[[], None] | None = None,
    ) -> None:
        """Send ``body`` to the controller off the UI thread; the reply goes to ``flow``."""
        k = self.k
        if k.link is None or not k.online:
            flow.unreachable()
            k.go(k.screen, **k.params)
            return
        body.setdefault("id", k.link.new_id())
        k.busy = True
        k.go(k.screen, **k.params)

        def done(reply: Reply[Any] | None, err: BaseException | None) -> None:
            k.busy = False
            if err is not None or reply is None:
                log.info("%s: %s", op, type(err).__name__)
                flow.unreachable()
            else:
                flow.on_reply(reply)
            k.changed()
            if after is not None:
                after()

        timeout = k.cfg.timeouts.request_s
        k._bg(lambda: k.link.request(op, body, timeout), done)

    def submit_outbox(self, op: str, body: dict[str, Any], flow: Flow[Any]) -> None:
        """Ratings and help requests: stored on disk first, then sent; delivered later if
        the controller cannot be reached now."""
        k = self.k
        body["id"] = k.link.new_id() if k.link is not None else local_id(k.cfg.terminal_id)
        k.outbox.add(op, body)
        if k.link is None or not k.online:
            flow.on_queued()
            k.go(k.screen, **k.params)
            return
        k.busy = True
        k.go(k.screen, **k.params)
        rid = body["id"]

        def send() -> Reply[Any]:
            reply: Reply[Any] = k.link.request(op, dict(body), k.cfg.timeouts.request_s)
            return reply

        def done(reply: Reply[Any] | None, err: BaseException | None) -> None:
            k.busy = False
            if isinstance(reply, Reply):
                k.outbox.settle(rid, reply)  # a passing error stays queued for a retry
            if k.gen != gen:
                return
            if reply is None:
                flow.on_queued()
            else:
                flow.on_reply(reply)
            k.changed()

        gen = k.gen
        k._bg(send, done, keep_session=False)

    def deliver_outbox(self) -> None:
        k = self.k
        if k.link is None or not k.online or k.outbox.pending_count() == 0:
            return
        timeout = k.cfg.timeouts.request_s
        k.pool.submit(k.outbox.deliver, lambda op, payload: k.link.request(op, payload, timeout))

    def on_connection(self, up: bool) -> None:
        if up:
            self.deliver_outbox()
        self.k.changed()

    def on_hall_status(self, _status: HallStatus | None) -> None:
        self.k.changed()


def local_id(tid: str) -> str:
    """A request id made here, when there is no link to make one."""
    return f"{tid}.{uuid.uuid4().hex[:12]}"
