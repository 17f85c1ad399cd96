"""Generate ``docs/asyncapi.yaml`` (AsyncAPI 3.0) from the contract's own code.

The topic tree (:mod:`hall_contract.topics`) and the payload models
(:mod:`hall_contract.messages`) are the source of truth; the document is derived from
them, so it cannot drift. A test checks the committed file equals this output and is
valid against the official AsyncAPI 3.0.0 JSON schema.

    python -m hall_contract.asyncapi > docs/asyncapi.yaml
"""

from __future__ import annotations

import sys
from typing import Any

import yaml
from pydantic import BaseModel

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
        "token for the status QR code.",
    ),
    "appointment.checkin": (
        "预约签到 by appointment code (QR) or citizen_key (ID card).",
        "TicketInfo with priority `appointment` inside the check-in "
        "window; `too_early` / `too_late` errors outside it.",
    ),
    "ticket.lookup": ("Look up a ticket by its token (status QR).", "TicketInfo."),
    "case.lookup": (
        "办件查询 by case number or citizen_key.",
        "`cases`: state, deadline, promised_deadline, level none/yellow/red.",
    ),
    "rating.submit": (
        "好差评: one rating per finished ticket, levels 1-5; reasons and text only for levels 1-2.",
        "`conflict` when already rated.",
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
        "TicketInfo; `empty` when none waits.",
    ),
    "window.recall": (
        "重呼 the current ticket (limited by window_policy.recall_limit).",
        "TicketInfo.",
    ),
    "window.start": ("The called citizen arrived: service starts.", "TicketInfo."),
    "window.no_show": (
        "过号: skip; the ticket may come back within the grace period.",
        "TicketInfo.",
    ),
    "window.requeue": (
        "Put a skipped ticket back in the queue within the grace period.",
        "TicketInfo.",
    ),
    "window.transfer": (
        "转号 to another queue or window: number and history kept, served with raised priority.",
        "TicketInfo.",
    ),
    "window.finish": (
        "办结: finish; opens the one-time rating; optionally accepts a case with its deadlines.",
        "TicketInfo + `rating_open`, `case`.",
    ),
    "window.pause": ("Pause the window (no calls).", "Window status."),
    "window.resume": ("Resume the window.", "Window status."),
    "window.status": (
        "This window's current ticket, waiting count, served count.",
        "Window status.",
    ),
}


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
        "code and a plain-words message (Chinese, with message_en).",
        {"correlationData": {"type": "string", "description": "Copied from the request"}},
    )
    reply_ch = channel(
        "terminalReply",
        T.reply("{terminal}"),
        "Reply",
        "Replies to this terminal's requests. Read-only for the terminal.",
    )
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
    message(
        "QueueEvent",
        m.Event,
        "A change in the hall, with the store's sequence number. "
        "Never carries citizen keys, lookup tokens or free text.",
    )
    ev = channel(
        "queueEvents",
        f"{T.base}/events/ticket/{{event}}",
        "QueueEvent",
        "Queue events: issued, called, recalled, started, no_show, requeued, "
        "transferred, finished, expired, warning (yellow/red 限时 / 电子监察).",
        {
            "event": {
                "description": "issued, called, recalled, started, no_show, "
                "requeued, transferred, finished, expired, warning"
            }
        },
    )
    operations["sendQueueEvents"] = {
        "action": "send",
        "channel": ev,
        "bindings": mqtt_op(0),
        "summary": "Every committed queue event, in order.",
        "description": "QoS 1 for `called` and `recalled` (a display must not miss a call), "
        "QoS 0 for the others: their state is also in the retained queue snapshots and the "
        "call board.",
    }
    message("QueueSnapshot", m.QueueSnapshot, "One queue's state for displays (retained).")
    ref = channel(
        "queueSnapshot",
        f"{T.base}/queue/{{queue}}",
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
        f"{T.base}/t/{{terminal}}/device/{{device}}",
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
                "broker ACL); the controller owns the rest. MQTT 5 on mosquitto ≥ 2.0, JSON "
                "payloads in UTF-8. Generated by `python -m hall_contract.asyncapi`; see "
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
