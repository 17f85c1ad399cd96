"""Generate ``docs/asyncapi.yaml`` (AsyncAPI 3.0) from the contract's own code.

The topic tree (:mod:`hall_contract.topics`) and the payload models
(:mod:`hall_contract.messages`) are the source of truth; the document is derived from
them, so it cannot drift. The data of the published events (plain dicts in the engine)
are described here, in ``EVENTS``. Tests (tests/contract/test_asyncapi.py) check that the
committed file equals this output and is valid against the official AsyncAPI 3.0.0 JSON
schema, that every topic of ``Topics`` and every published event type has a channel, and
that what a real controller publishes matches the document, field for field.

    python -m hall_contract.asyncapi > docs/asyncapi.yaml
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, create_model

from hall_contract import messages as m
from hall_contract.topics import Topics

REF = "#/components/schemas/{model}"
T = Topics("{hall}")

VERSION = "1.0.0"

PARAMS = {
    "hall": {"description": "Hall id from the hall config (hall.id), e.g. `yunxi`."},
    "terminal": {
        "description": "Terminal id from the hall config (terminals[].id): a kiosk "
        "(k01), window terminal (w03), display (d01) or rater (r01). It is also the "
        "terminal's MQTT username, so the broker ACL keeps it to its own topics."
    },
}

OP_DOC = {
    "ticket.issue": (
        "取号: issue a queue ticket for a service, bundle or queue.",
        "TicketInfo in `result`: number, people_ahead, expected_wait_min, "
        "and `token` for the status QR code (to this terminal only).",
    ),
    "appointment.checkin": (
        "预约签到 by appointment code (QR) or citizen_key (ID card).",
        "TicketInfo, with `token`, and priority `appointment` inside the check-in "
        "window; `too_early` / `too_late` errors outside it.",
    ),
    "ticket.lookup": (
        "Look up a ticket by the lookup token printed in its status QR code; the public "
        "ticket id is not accepted.",
        "TicketInfo, with `token`; `not_found` for anything but a valid token.",
    ),
    "case.lookup": (
        "办件查询 by case number or citizen_key.",
        "`cases`: state, deadline, promised_deadline, level none/yellow/red.",
    ),
    "rating.submit": (
        "好差评: one rating per finished ticket, levels 1-5; reasons and text only for levels 1-2.",
        "`forbidden` unless given the ticket's lookup token (or sent by the rating "
        "device at the serving window, by ticket id); `conflict` when already rated.",
    ),
    "help.request": (
        "帮办代办 (kind helper) or 办不成事 (kind unresolved): staff are "
        "alerted at once with the terminal's location.",
        "`alert` id and `location`.",
    ),
    "mailing.request": (
        "两免费: free mailing of results. The address is sealed (encrypted) in "
        "the controller's store and never published.",
        "`accepted`.",
    ),
    "hall.status": (
        "Open now, next opening, every queue's waiting count and estimate.",
        "`open`, `next_opening`, `queues`.",
    ),
    "admin.book_appointment": (
        "Admin console only: make an appointment booked online or by "
        "phone known to the hall, so the citizen can check in.",
        "`code`, `queue`, `start`, `end`.",
    ),
    "admin.update_case": (
        "Admin console only: the back office moves a case on (in_review, "
        "done, delivered, rejected).",
        "The case, with its level.",
    ),
    "window.call_next": (
        "叫号: the next ticket for this window (priority interleave, queue "
        "order, starvation bound).",
        "TicketInfo without `token`; `empty` when none waits.",
    ),
    "window.recall": (
        "重呼 the current ticket (limited by window_policy.recall_limit).",
        "TicketInfo without `token`.",
    ),
    "window.start": (
        "The called citizen arrived: service starts.",
        "TicketInfo without `token`.",
    ),
    "window.no_show": (
        "过号: skip; the ticket may come back within the grace period.",
        "TicketInfo without `token`.",
    ),
    "window.requeue": (
        "Put a skipped ticket back in the queue within the grace period.",
        "TicketInfo without `token`.",
    ),
    "window.transfer": (
        "转号 to another queue or window: number and history kept, served with raised priority.",
        "TicketInfo without `token`.",
    ),
    "window.finish": (
        "办结: finish; opens the one-time rating; optionally accepts a case with its deadlines.",
        "TicketInfo without `token`, + `rating_open`, `case`.",
    ),
    "window.pause": ("Pause the window (no calls).", "Window status."),
    "window.resume": ("Resume the window.", "Window status."),
    "window.status": (
        "This window's current ticket, waiting count, served count.",
        "Window status.",
    ),
}


# ------------------------------------------------------------------ published events
# The controller publishes the engine's events as they are stored, less what
# ``Controller._public`` (hall_controller/service.py) strips: ``citizen_key``, ``token``,
# ``history`` and ``appointment`` of a ticket, ``citizen_key`` of a case, a rating's
# free-text ``text`` and a transfer's ``note``. Their
# data are plain dicts in the engine, so their shapes are written down here; a test in
# tests/contract/test_asyncapi.py runs a hall through a real controller and broker and
# checks every message it publishes against this document, extra fields included.

TicketId = Annotated[
    str, Field(description="The ticket's stable id, {day}-{number}: public, not a secret")
]
Number = Annotated[
    str, Field(description="Letter + at least 3 digits, e.g. A001, as called and shown")
]
WindowId = Annotated[str, Field(description="Window id from the hall config (windows[].id)")]
QueueId = Annotated[str, Field(description="Queue id from the hall config (queues[].id)")]
WAITING_SINCE = (
    "Where the ticket re-enters its queue's waiting order (epoch seconds). Optional: "
    "events written before the engine recorded it keep the ticket's earlier place."
)


class PublishedTicket(BaseModel):
    """The whole ticket as issued, without `citizen_key`, `token` and `history`."""

    id: TicketId
    number: Number
    day: str = Field(description="Service day (ISO date) the ticket belongs to")
    queue: QueueId
    priority: m.PriorityClass
    issued_at: float
    waiting_since: float = Field(description="Start of its wait (epoch seconds)")
    service: str | None = None
    bundle: str | None = Field(None, description="一件事 bundle id, when issued for one")
    state: m.TicketState
    window: str | None = None
    target_window: str | None = None
    called_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    skipped_at: float | None = None
    recalls: int = 0
    rating_open: bool = False
    rated: bool = False
    wait_level: m.Level = m.Level.NONE
    service_level: m.Level = m.Level.NONE


class PublishedCase(BaseModel):
    """A case (办件) as accepted, without `citizen_key`."""

    case_no: str
    ticket: TicketId
    service: str | None = None
    accepted_at: float
    deadline: str = Field(description="Legal deadline, ISO date (working days)")
    promised_deadline: str = Field(description="Promised (承诺) deadline, ISO date")
    state: Literal["accepted", "in_review", "done", "delivered", "rejected"]


class TicketIssuedData(BaseModel):
    ticket: PublishedTicket
    counter: str = Field(description="The numbering counter: `{day}|{queue}`, or `{queue}`")
    n: int = Field(description="The counter's new value (the number's digits)")


class TicketCalledData(BaseModel):
    ticket: TicketId
    number: Number
    window: WindowId
    queue: QueueId
    class_: Literal["priority", "normal", "starved"] = Field(
        alias="class",
        description="Why this ticket: the priority/normal interleave, or starvation",
    )


class TicketRecalledData(BaseModel):
    ticket: TicketId
    number: Number
    window: WindowId
    recall: int = Field(description="How many times this call has been repeated, from 1")


class TicketAtWindowData(BaseModel):
    ticket: TicketId
    number: Number
    window: WindowId


class TicketNoShowData(BaseModel):
    ticket: TicketId
    number: Number
    window: WindowId
    requeue: bool = Field(description="Back in the queue at once (else skipped, within grace)")
    waiting_since: float | None = Field(None, description=WAITING_SINCE)


class TicketRequeuedData(BaseModel):
    ticket: TicketId
    number: Number
    window: WindowId
    waiting_since: float | None = Field(None, description=WAITING_SINCE)


class TicketTransferredData(BaseModel):
    ticket: TicketId
    number: Number
    from_window: str
    from_queue: str
    to_queue: str
    to_window: str | None = None
    priority: m.PriorityClass = Field(description="Its class from now on (raised: transfer)")


class TicketFinishedData(BaseModel):
    ticket: TicketId
    number: Number
    window: WindowId
    queue: QueueId


class TicketExpiredData(BaseModel):
    ticket: TicketId
    number: Number
    queue: QueueId


class TicketWarningData(BaseModel):
    ticket: TicketId
    number: Number
    queue: QueueId
    kind: Literal["wait", "service"] = Field(description="Waiting too long, or served too long")
    level: Literal["yellow", "red"]
    window: str | None = Field(None, description="For kind `service` only")


class WindowPausedData(BaseModel):
    window: WindowId
    reason: str | None = Field(None, description="The window staff's reason, as typed")


class WindowResumedData(BaseModel):
    window: WindowId


class RatingSubmittedData(BaseModel):
    ticket: TicketId
    number: Number
    window: str | None = None
    service: str | None = None
    level: int = Field(ge=1, le=5)
    reasons: list[str] = Field(description="Chosen reasons (bad ratings only); `text` is dropped")


class CaseAcceptedData(BaseModel):
    case: PublishedCase
    counter: int = Field(description="The hall's case counter after this case")


class CaseUpdatedData(BaseModel):
    case_no: str
    state: Literal["accepted", "in_review", "done", "delivered", "rejected"]


class DayRolledData(BaseModel):
    day: str = Field(description="The new service day (ISO date)")
    prev_day: str
    expired: list[str] = Field(description="Ids of the tickets that expired with the old day")


#: Every event type published on ``events/{a}/{b}``: data model, QoS, what it means.
EVENTS: dict[str, tuple[type[BaseModel], int, str]] = {
    "ticket.issued": (TicketIssuedData, 0, "A ticket was issued (取号 or 预约签到)."),
    "ticket.called": (TicketCalledData, 1, "叫号: a window called a ticket."),
    "ticket.recalled": (TicketRecalledData, 1, "重呼: the window called its ticket again."),
    "ticket.started": (TicketAtWindowData, 0, "The called citizen arrived; service started."),
    "ticket.no_show": (TicketNoShowData, 0, "过号: the called citizen did not come."),
    "ticket.requeued": (TicketRequeuedData, 0, "A skipped ticket is back in its queue."),
    "ticket.transferred": (TicketTransferredData, 0, "转号 to another queue or window."),
    "ticket.finished": (TicketFinishedData, 0, "办结: service finished; rating opens."),
    "ticket.expired": (TicketExpiredData, 0, "A skipped ticket passed its grace period."),
    "ticket.warning": (
        TicketWarningData,
        0,
        "限时 / 电子监察: a wait or a service passed its yellow or red limit.",
    ),
    "window.paused": (WindowPausedData, 0, "A window paused (no calls)."),
    "window.resumed": (WindowResumedData, 0, "A paused window resumed."),
    "rating.submitted": (RatingSubmittedData, 0, "好差评: a finished ticket was rated."),
    "case.accepted": (CaseAcceptedData, 0, "A case (办件) was accepted at a window."),
    "case.updated": (CaseUpdatedData, 0, "The back office moved a case on."),
    "day.rolled": (
        DayRolledData,
        0,
        "The service day changed (at schedule.day_boundary); tickets of queues that do "
        "not persist overnight expired.",
    ),
}


def _event_model(name: str, kind: str, data: type[BaseModel], summary: str) -> type[BaseModel]:
    """The published envelope ``{seq, type, at, data}`` of one event type."""
    literal: Any = Literal[kind]  # type: ignore[valid-type]
    model: type[BaseModel] = create_model(
        name,
        __doc__=f"{summary} Published on `events/{kind.replace('.', '/')}`.",
        seq=(
            int,
            Field(
                description="The store's sequence number, growing in commit order (events "
                "that are not published, such as mailing requests, leave gaps)"
            ),
        ),
        type=(literal, Field(description="The event type")),
        at=(float, Field(description="Hall time of the event (epoch seconds)")),
        data=(data, ...),
    )
    return model


class HallStatus(BaseModel):
    """Retained on `status`: what a kiosk shows before anyone touches it. Compact, and
    published only when it changes (at most every 0.2 s). Not the `hall.status` reply,
    which lists every queue's full snapshot."""

    open: bool = Field(description="Open for tickets now (opening hours, holidays)")
    next_opening: str | None = Field(
        description="Next opening as an ISO 8601 date-time with offset; null when none is known"
    )
    config_version: int = Field(description="Version of the hall config the controller runs")
    waiting: dict[str, int] = Field(description="Waiting tickets per queue id")


class ControllerState(BaseModel):
    """Retained controller presence: `online` on every connect, `offline` on a clean
    stop, `lost` from the Will (set before each connect, so its `at` is 0)."""

    state: Literal["online", "offline", "lost"]
    at: float = Field(description="When (epoch seconds); 0 in the Will")
    config_version: int | None = Field(
        None, description="Version of the hall config the controller runs"
    )
    seq: int | None = Field(
        None,
        description="Birth/death sequence number, growing across restarts (optional: "
        "older controllers do not send it)",
    )


#: Who gets a ticket's lookup token (docs/mqtt.md, "Security").
TOKEN_RULE = (
    "A ticket's `token` (its lookup token, printed in the status QR code) is the only "
    "proof of holding the ticket: `ticket.lookup` accepts nothing else, and `rating.submit` "
    "needs it (or the rating device at the serving window). It appears only in replies to "
    "the terminal that was issued the ticket (`ticket.issue`, `appointment.checkin`) or "
    "that presented the token (`ticket.lookup`); never in window operation replies, "
    "events, snapshots or the call board. The ticket id and number are public."
)


def _camel(op: str) -> str:
    head, _, tail = op.partition(".")
    parts = [head, *tail.split("_")]
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


class _Schemas:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def add(self, model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template=REF)
        for name, sub in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, sub)
        self.schemas[model.__name__] = schema
        return {"$ref": REF.format(model=model.__name__)}


def build() -> dict[str, Any]:
    sc = _Schemas()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def channel(
        cid: str, address: str, msg: str, description: str, extra: dict[str, Any] | None = None
    ) -> dict[str, str]:
        params = {p: PARAMS[p] for p in PARAMS if "{" + p + "}" in address} | (extra or {})
        ch: dict[str, Any] = {
            "address": address,
            "description": description,
            "messages": {msg: {"$ref": f"#/components/messages/{msg}"}},
        }
        if params:
            ch["parameters"] = params
        channels[cid] = ch
        return {"$ref": f"#/channels/{cid}"}

    def message(
        name: str, model: type[BaseModel], summary: str, binding: dict[str, Any] | None = None
    ) -> None:
        msg: dict[str, Any] = {
            "name": name,
            "title": name,
            "summary": summary,
            "contentType": "application/json",
            "payload": sc.add(model),
        }
        if binding:
            msg["bindings"] = {"mqtt": {**binding, "bindingVersion": "0.2.0"}}
        messages[name] = msg

    def mqtt_op(qos: int, retain: bool = False, expiry: str | None = None) -> dict[str, Any]:
        b: dict[str, Any] = {"qos": qos, "retain": retain, "bindingVersion": "0.2.0"}
        if expiry:
            b["messageExpiryInterval"] = {"type": "integer", "description": expiry}
        return {"mqtt": b}

    # --- requests and the reply
    message(
        "Reply",
        m.Reply,
        "Reply to a request: `ok` with `result`, or `error` with a "
        "code and a plain-words message (Chinese, with message_en). `id` is the "
        "request's id; a payload without a usable id (not JSON, not an object, no "
        'string id of 1-64 characters) still gets its error reply, with `id` "".',
        {"correlationData": {"type": "string", "description": "Copied from the request"}},
    )
    reply_ch = channel(
        "terminalReply",
        T.reply("{terminal}"),
        "Reply",
        "Replies to this terminal's requests. Read-only for the terminal. Ticket results "
        "follow the TicketInfo schema (#/components/schemas/TicketInfo). " + TOKEN_RULE,
    )
    sc.add(m.TicketInfo)
    for op, model in m.REQUESTS.items():
        summary, result = OP_DOC[op]
        msg_name = f"{_camel(op)[0].upper()}{_camel(op)[1:]}Request"
        message(
            msg_name,
            model,
            summary,
            {
                "responseTopic": {
                    "type": "string",
                    "description": "hall/{hall}/t/{terminal}/reply",
                },
                "correlationData": {"type": "string", "description": "The request id"},
            },
        )
        cid = f"{_camel(op)}Request"
        ref = channel(
            cid,
            T.request("{terminal}", op),
            msg_name,
            f"{summary} Terminal → controller. Every request carries `id`; a retried "
            "request with the same id gets the same reply and never does the work "
            "twice.",
        )
        operations[f"receive{cid[0].upper()}{cid[1:]}"] = {
            "action": "receive",
            "channel": ref,
            "summary": summary,
            "description": f"Result: {result}",
            "bindings": mqtt_op(
                1,
                expiry="seconds; about the terminal's request timeout, so "
                "a request nobody read in time is dropped by the broker",
            ),
            "reply": {
                "channel": reply_ch,
                "address": {
                    "location": "$message.header#/responseTopic",
                    "description": "MQTT 5 Response Topic; the controller only "
                    "ever answers on the requesting terminal's own reply topic",
                },
            },
        }

    # --- controller → everyone
    for kind, (data, qos, summary) in EVENTS.items():
        name = _camel(kind)
        msg_name = name[0].upper() + name[1:] + "Event"
        message(
            msg_name,
            _event_model(msg_name, kind, data, summary),
            f"{summary} One committed event with the store's sequence number.",
        )
        cid = f"{name}Events"
        ref = channel(
            cid,
            T.event(kind),
            msg_name,
            f"`{kind}` events, in commit order. {summary} Never retained. Published "
            "without citizen keys, lookup tokens, appointment codes, ticket history or "
            "free text about a citizen (`text`, `note`).",
        )
        operations[f"send{cid[0].upper()}{cid[1:]}"] = {
            "action": "send",
            "channel": ref,
            "bindings": mqtt_op(qos),
            "summary": summary,
            "description": (
                "QoS 1: a display must not miss a call."
                if qos
                else "QoS 0: a notification; what it changes is also in the retained "
                "queue snapshots, call board and hall status (or in a reply)."
            ),
        }
    message("QueueSnapshot", m.QueueSnapshot, "One queue's state for displays (retained).")
    ref = channel(
        "queueSnapshot",
        T.queue_snapshot("{queue}"),
        "QueueSnapshot",
        "Retained snapshot of one queue; coalesced to at most 5 per second.",
        {"queue": {"description": "Queue id from the hall config (queues[].id)"}},
    )
    operations["sendQueueSnapshot"] = {
        "action": "send",
        "channel": ref,
        "bindings": mqtt_op(1, True),
    }
    message("CallBoard", m.CallBoard, "The latest calls: what the main hall screen shows.")
    ref = channel(
        "callBoard",
        T.calls,
        "CallBoard",
        "Retained board of the tickets being called or served now, newest first.",
    )
    operations["sendCallBoard"] = {"action": "send", "channel": ref, "bindings": mqtt_op(1, True)}
    message(
        "Alert",
        m.Alert,
        "For staff: 帮办 requests, 办不成事 reports, bad ratings to "
        "follow up, device faults, lost terminals.",
    )
    ref = channel("alerts", T.alerts, "Alert", "Staff alerts (not retained).")
    operations["sendAlerts"] = {"action": "send", "channel": ref, "bindings": mqtt_op(1)}
    message("HallStatus", HallStatus, "Open now, next opening, waiting per queue (retained).")
    ref = channel(
        "hallStatus",
        T.hall_status,
        "HallStatus",
        "Retained hall status for kiosks and displays; published again only when it "
        "changes, coalesced with the queue snapshots.",
    )
    operations["sendHallStatus"] = {"action": "send", "channel": ref, "bindings": mqtt_op(1, True)}
    message(
        "ControllerState",
        ControllerState,
        "The controller's presence: online, offline, or lost (its Will).",
    )
    ref = channel(
        "controllerState",
        T.controller_state,
        "ControllerState",
        "Retained controller presence. `online` on every connect (with the config "
        "version), `offline` on a clean stop; the broker publishes the Will, `lost`, "
        "when the controller's connection dies without a goodbye. With `seq`, a "
        "`lost` or `offline` whose `seq` is lower than the last `online`'s is a late "
        "death of an older connection: the newer birth stands.",
    )
    operations["sendControllerState"] = {
        "action": "send",
        "channel": ref,
        "bindings": mqtt_op(1, True),
    }

    # --- presence, devices, heartbeats, commands, desired config
    message("Presence", m.Presence, "Birth/death with a sequence number; the Will says lost.")
    ref = channel(
        "terminalState",
        T.state("{terminal}"),
        "Presence",
        "Retained presence. The terminal publishes `online` (birth) on every "
        "connect with a larger `seq`, `offline` when it stops, and its Will "
        "publishes `lost` with the same `seq`; a death with a smaller `seq` than "
        "the last birth is ignored.",
    )
    operations["receiveTerminalState"] = {
        "action": "receive",
        "channel": ref,
        "bindings": mqtt_op(1, True),
    }
    message("DeviceReport", m.DeviceReport, "One device's state.")
    ref = channel(
        "terminalDevice",
        T.device("{terminal}", "{device}"),
        "DeviceReport",
        "Retained state of one device (idcard, scanner, printer, "
        "display, voice). A fault raises a staff alert.",
        {"device": {"description": "idcard, scanner, camera, printer, display, voice"}},
    )
    operations["receiveTerminalDevice"] = {
        "action": "receive",
        "channel": ref,
        "bindings": mqtt_op(1, True),
    }
    message("Heartbeat", m.Heartbeat, "Liveness and mode, every heartbeat_s.")
    ref = channel(
        "terminalHeartbeat",
        T.heartbeat("{terminal}"),
        "Heartbeat",
        "Heartbeats (QoS 0, not retained).",
    )
    operations["receiveTerminalHeartbeat"] = {
        "action": "receive",
        "channel": ref,
        "bindings": mqtt_op(0),
    }
    message("Command", m.Command, "A command with an idempotency id and an expiry.")
    ref = channel(
        "terminalCommand",
        T.command("{terminal}"),
        "Command",
        "Controller → terminal. Never retained; sent with MessageExpiryInterval; "
        "the terminal drops it past `expires_at` and executes each id at most once.",
    )
    operations["sendTerminalCommand"] = {
        "action": "send",
        "channel": ref,
        "bindings": mqtt_op(1, expiry="seconds to live; equals expires_at - now"),
    }
    message("CommandResult", m.CommandResult, "Outcome of one command.")
    ref = channel(
        "terminalCommandResult",
        T.command_result("{terminal}"),
        "CommandResult",
        "Terminal → controller: the result of a command, by its id.",
    )
    operations["receiveTerminalCommandResult"] = {
        "action": "receive",
        "channel": ref,
        "bindings": mqtt_op(1),
    }
    message(
        "DesiredConfig", m.DesiredConfig, "The hall config a terminal should run, with its version."
    )
    ref = channel(
        "terminalConfig",
        T.desired_config("{terminal}"),
        "DesiredConfig",
        "Retained desired configuration (the hall config without broker secrets). "
        "A terminal reports the version it runs in its Presence.",
    )
    operations["sendTerminalConfig"] = {
        "action": "send",
        "channel": ref,
        "bindings": mqtt_op(1, True),
    }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "hallkit hall MQTT contract",
            "version": VERSION,
            "description": (
                "The topic tree of one government service hall (政务服务中心), as seen from "
                "the hall controller. Terminals (kiosks, window terminals, displays, raters) "
                "publish only under `hall/{hall}/t/{terminal}/` (enforced by the generated "
                "broker ACL); the controller owns the rest: events on "
                "`hall/{hall}/events/{a}/{b}` (one channel per event type), retained "
                "snapshots, hall status and controller presence, and staff alerts. MQTT 5 "
                "on mosquitto ≥ 2.0, JSON payloads in UTF-8. Generated by `python -m hall_contract.asyncapi`; see "
                "docs/mqtt.md for the reasoning."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "hall": {
                "host": "127.0.0.1:1883",
                "protocol": "mqtt",
                "protocolVersion": "5",
                "description": "The hall's mosquitto (started by the controller unless "
                "broker.url is set). TLS on broker.tls_port when "
                "configured.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": sc.schemas},
    }


def render() -> str:
    header = (
        "# Generated by `python -m hall_contract.asyncapi` from hall_contract/topics.py "
        "and\n# hall_contract/messages.py. Do not edit by hand: change the code and "
        "regenerate.\n"
    )
    return header + yaml.safe_dump(build(), allow_unicode=True, sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
