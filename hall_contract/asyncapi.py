"""Generate ``docs/asyncapi.yaml`` (AsyncAPI 3.0) from the contract's own code.

The topic tree (:mod:`hall_contract.topics`), the operations table, the payload types
(:mod:`hall_contract.messages`) and the event classes (:mod:`hall_contract.events`) are
the source of truth; this module only arranges them into the document, from tables, so
it cannot drift. Tests (tests/contract/test_asyncapi.py) check that the committed file
equals this output, is valid against the official AsyncAPI 3.0.0 JSON schema, documents
every topic, operation and published event, and that what a real controller sends
(replies included) matches it field for field.

    python -m hall_contract.asyncapi > docs/asyncapi.yaml
    python -m hall_contract.asyncapi --roles   # the role table of docs/mqtt.md
    python -m hall_contract.asyncapi --events  # the events table of docs/mqtt.md
"""

from __future__ import annotations

import sys
import typing
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, create_model

from hall_contract import events as ev
from hall_contract import messages as m
from hall_contract.topics import Topics

REF = "#/components/schemas/{model}"
T = Topics("{hall}")

VERSION = "2.1.0"

PARAMS = {
    "hall": {"description": "Hall id from the hall config (hall.id), e.g. `yunxi`."},
    "terminal": {
        "description": "Terminal id from the hall config (terminals[].id): a kiosk "
        "(k01), window terminal (w03), display (d01), rater (r01) or admin console (a01). "
        "It is also the terminal's MQTT username, so the broker ACL keeps it to its own "
        "topics; with `broker.auth` on, the broker uses the username as the client id "
        "(without it, any client id will do)."
    },
}

#: Who gets a ticket's lookup token (docs/mqtt.md, "Security").
TOKEN_RULE = (
    "A ticket's `token` (its lookup token, printed in the status QR code) is the only "
    "proof of holding the ticket: `ticket.lookup` accepts nothing else, and `rating.submit` "
    "needs it (or the rating device at the serving window). It is set only in replies to "
    "the terminal that was issued the ticket (`ticket.issue`, `appointment.checkin`) or "
    "that presented the token (`ticket.lookup`), and null everywhere else; it never "
    "appears in events, snapshots or the call board. The ticket id and number are public."
)


# ----------------------------------------------------------------- schemas from types
class _Schemas:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def add(self, tp: Any, name: str | None = None) -> dict[str, str]:
        """A contract type's JSON schema under components/schemas; returns its $ref."""
        schema = m.adapter(tp).json_schema(ref_template=REF)
        for sub, body in schema.pop("$defs", {}).items():
            self.schemas.setdefault(sub, body)
        name = name or schema.get("title") or tp.__name__
        self.schemas[name] = schema
        return {"$ref": REF.format(model=name)}

    def put(self, name: str, schema: dict[str, Any]) -> dict[str, str]:
        self.schemas[name] = schema
        return {"$ref": REF.format(model=name)}


_OUT = ConfigDict(extra="forbid")


_PUBLIC_MODELS: dict[Any, type[BaseModel]] = {}


def public_model(cls: Any) -> type[BaseModel]:
    """The published view of an event or record class: its ``PUBLIC`` fields only, each
    always present (null when it has no value), nested records by their own view."""
    if cls in _PUBLIC_MODELS:
        return _PUBLIC_MODELS[cls]
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: dict[str, Any] = {}
    for name in cls.PUBLIC:
        tp = hints[name]
        if isinstance(tp, type) and issubclass(tp, ev.Record):
            tp = public_model(tp)
        fields[name] = (tp, ...)
    title = {ev.IssuedTicket: "PublishedTicket", ev.CaseRecord: "PublishedCase"}.get(
        cls, f"{cls.__name__}Data"
    )
    doc = (cls.__doc__ or "").strip() if issubclass(cls, ev.Record) else cls.SUMMARY
    model: type[BaseModel] = create_model(
        title,
        __config__=_OUT,
        __doc__=doc or None,
        **fields,
    )
    _PUBLIC_MODELS[cls] = model
    return model


def _event_envelope(kind: str, data_ref: dict[str, str], summary: str) -> dict[str, Any]:
    return {
        "type": "object",
        "title": f"{_pascal(kind)}Event",
        "description": f"{summary} Published on `events/{kind.replace('.', '/')}`.",
        "additionalProperties": False,
        "required": ["seq", "type", "at", "data"],
        "properties": {
            "seq": {
                "type": "integer",
                "description": "The store's sequence number, growing in commit order "
                "(events that are not published leave gaps)",
            },
            "type": {"const": kind, "description": "The event type"},
            "at": {"type": "number", "description": "Hall time of the event (epoch seconds)"},
            "data": data_ref,
        },
    }


def _reply_schema(op: m.Operation, result_ref: dict[str, str]) -> dict[str, Any]:
    ok = {
        "type": "object",
        "title": f"{_pascal(op.name)}Ok",
        "additionalProperties": False,
        "required": ["id", "ok", "result", "error"],
        "properties": {
            "id": {"type": "string", "description": "The request's id"},
            "ok": {"const": True},
            "result": result_ref,
            "error": {"type": "null"},
        },
    }
    return {
        "title": f"{_pascal(op.name)}Reply",
        "description": f"The reply to `{op.name}`: {op.result_doc} Or an error.",
        "oneOf": [ok, {"$ref": REF.format(model="ErrorReply")}],
    }


def _pascal(name: str) -> str:
    return "".join(p.capitalize() for p in name.replace(".", "_").split("_"))


def _camel(name: str) -> str:
    p = _pascal(name)
    return p[0].lower() + p[1:]


# ----------------------------------------------------------------- the other channels
@dataclass(frozen=True)
class Channel:
    cid: str
    address: str
    message: str
    tp: Any
    summary: str
    description: str
    action: Literal["send", "receive"]  # as seen by the controller
    qos: int
    retain: bool = False
    params: dict[str, Any] | None = None
    expiry: str | None = None


CHANNELS: tuple[Channel, ...] = (
    Channel(
        "queueSnapshot",
        T.queue_snapshot("{queue}"),
        "QueueSnapshot",
        m.QueueSnapshot,
        "One queue's state for displays (retained).",
        "Retained snapshot of one queue; coalesced to at most 5 per second.",
        "send",
        1,
        True,
        {"queue": {"description": "Queue id from the hall config (queues[].id)"}},
    ),
    Channel(
        "callBoard",
        T.calls,
        "CallBoard",
        m.CallBoard,
        "The latest calls: what the main hall screen shows.",
        "Retained board of the tickets being called or served now, newest call first.",
        "send",
        1,
        True,
    ),
    Channel(
        "windowBoard",
        T.windows,
        "WindowBoard",
        m.WindowBoard,
        "Every window's state: what window displays show.",
        "Retained board of every window (open, paused and why, its current ticket), in "
        "the hall config's order; published when a window changes.",
        "send",
        1,
        True,
    ),
    Channel(
        "alerts",
        T.alerts,
        "Alert",
        m.Alert,
        "For staff: 帮办 requests, 办不成事 reports, bad ratings to follow up, red time "
        "limits, device faults, lost terminals, broker restarts.",
        "Staff alerts (not retained); readable by admin consoles and the web server only.",
        "send",
        1,
    ),
    Channel(
        "hallStatus",
        T.hall_status,
        "HallStatus",
        m.HallStatus,
        "Open now, next opening, waiting per queue (retained).",
        "Retained hall status for kiosks and displays; published again only when it "
        "changes, coalesced with the queue snapshots. Not the `hall.status` reply, which "
        "carries every queue's full snapshot.",
        "send",
        1,
        True,
    ),
    Channel(
        "controllerState",
        T.controller_state,
        "ControllerState",
        m.ControllerState,
        "The controller's presence: online, offline, or lost (its Will).",
        "Retained controller presence. `online` on every connect (with the config version), "
        "`offline` on a clean stop; the broker publishes the Will, `lost`, when the "
        "controller's connection dies without a goodbye. A `lost` or `offline` whose `seq` "
        "is lower than the last `online`'s is a late death of an older connection: the "
        "newer birth stands.",
        "send",
        1,
        True,
    ),
    Channel(
        "terminalState",
        T.state("{terminal}"),
        "Presence",
        m.Presence,
        "Birth/death with a sequence number; the Will says lost.",
        "Retained presence. The terminal publishes `online` (birth) on every connect with "
        "a larger `seq`, `offline` when it stops, and its Will publishes `lost` with the "
        "same `seq` (`at` may be left out of the Will); a death with a smaller `seq` than "
        "the last birth is ignored. A terminal may publish `online` again with the same "
        "`seq` (e.g. once it knows its config version). A `lost` after `online` raises a "
        "staff alert. Unknown extra fields are ignored (forward compatibility).",
        "receive",
        1,
        True,
    ),
    Channel(
        "terminalDevice",
        T.device("{terminal}", "{device}"),
        "DeviceReport",
        m.DeviceReport,
        "One device's state.",
        "Retained state of one device (idcard, scanner, printer, display, voice). A fault "
        "or absence raises a staff alert; `reason` is cut to 200 characters. Unknown extra "
        "fields are ignored.",
        "receive",
        1,
        True,
        {"device": {"description": "idcard, scanner, camera, printer, display, voice"}},
    ),
    Channel(
        "terminalHeartbeat",
        T.heartbeat("{terminal}"),
        "Heartbeat",
        m.Heartbeat,
        "Liveness and mode, every heartbeat_s.",
        "Heartbeats (QoS 0, not retained). Unknown extra fields are ignored.",
        "receive",
        0,
    ),
    Channel(
        "terminalCommand",
        T.command("{terminal}"),
        "Command",
        m.Command,
        "A command with an idempotency id and an expiry.",
        "Controller → terminal. Never retained; sent with MessageExpiryInterval; the "
        "terminal drops it past `expires_at` and executes each id at most once.",
        "send",
        1,
        expiry="seconds to live; equals expires_at - now",
    ),
    Channel(
        "terminalCommandResult",
        T.command_result("{terminal}"),
        "CommandResult",
        m.CommandResult,
        "Outcome of one command.",
        "Terminal → controller: the result of a command, by its id. Unknown extra fields "
        "are ignored.",
        "receive",
        1,
    ),
    Channel(
        "terminalConfig",
        T.desired_config("{terminal}"),
        "DesiredConfig",
        m.DesiredConfig,
        "The hall config a terminal should run, with its version.",
        "Retained desired configuration (the hall config without broker settings). A "
        "terminal reports the version it runs in its Presence.",
        "send",
        1,
        True,
    ),
)


def roles_markdown() -> str:
    """The operations table of docs/mqtt.md: each operation's request and result types
    and which role may call it."""
    head = "| operation | request | result | " + " | ".join(m.ROLES) + " |"
    rule = "|---|---|---|" + "---|" * len(m.ROLES)
    rows = [
        f"| `{name}` | `{op.request.__name__}` | `{op.result.__name__}` | "
        + " | ".join("✓" if r in op.roles else "" for r in m.ROLES)
        + " |"
        for name, op in m.OPERATIONS.items()
    ]
    return "\n".join([head, rule, *rows]) + "\n"


def events_markdown() -> str:
    """The events table of docs/mqtt.md: each published type and the fields it publishes."""
    rows = ["| type | QoS | published fields of `data` |", "|---|---|---|"]
    for kind, cls in ev.PUBLISHED.items():
        parts = []
        for name in cls.PUBLIC:
            rec = cls.NESTED.get(name)
            parts.append(f"`{name}` ({', '.join(rec.PUBLIC)})" if rec else f"`{name}`")
        rows.append(f"| `{kind}` | {cls.QOS} | {', '.join(parts)} |")
    return "\n".join(rows) + "\n"


def build() -> dict[str, Any]:
    sc = _Schemas()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def channel(
        cid: str,
        address: str,
        msgs: list[str],
        description: str,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, str]:
        params = {p: PARAMS[p] for p in PARAMS if "{" + p + "}" in address} | (extra or {})
        ch: dict[str, Any] = {
            "address": address,
            "description": description,
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in msgs},
        }
        if params:
            ch["parameters"] = params
        channels[cid] = ch
        return {"$ref": f"#/channels/{cid}"}

    def message(
        name: str, payload: dict[str, str], summary: str, binding: dict[str, Any] | None = None
    ) -> None:
        msg: dict[str, Any] = {
            "name": name,
            "title": name,
            "summary": summary,
            "contentType": "application/json",
            "payload": payload,
        }
        if binding:
            msg["bindings"] = {"mqtt": {**binding, "bindingVersion": "0.2.0"}}
        messages[name] = msg

    def mqtt_op(qos: int, retain: bool = False, expiry: str | None = None) -> dict[str, Any]:
        b: dict[str, Any] = {"qos": qos, "retain": retain, "bindingVersion": "0.2.0"}
        if expiry:
            b["messageExpiryInterval"] = {"type": "integer", "description": expiry}
        return {"mqtt": b}

    # --- requests and their replies
    error_ok = {
        "type": "object",
        "title": "ErrorReply",
        "description": "A refused request: `error` says why, in Chinese and English. A "
        'payload without a usable id (not JSON, not an object, no valid `id`) gets `id` "".',
        "additionalProperties": False,
        "required": ["id", "ok", "result", "error"],
        "properties": {
            "id": {"type": "string"},
            "ok": {"const": False},
            "result": {"type": "null"},
            "error": sc.add(m.ErrorInfo),
        },
    }
    sc.put("ErrorReply", error_ok)
    reply_names = []
    for op in m.OPERATIONS.values():
        name = f"{_pascal(op.name)}Reply"
        reply_names.append(name)
        message(
            name,
            sc.put(name, _reply_schema(op, sc.add(op.result))),
            f"The reply to `{op.name}`.",
            {
                "correlationData": {
                    "type": "string",
                    "description": "The request's Correlation Data, copied",
                }
            },
        )
    reply_ch = channel(
        "terminalReply",
        T.reply("{terminal}"),
        reply_names,
        "Replies to this terminal's requests, on its own reply topic whatever Response "
        "Topic it asked for. " + TOKEN_RULE,
    )
    for op in m.OPERATIONS.values():
        req_name = f"{_pascal(op.name)}Request"
        message(
            req_name,
            sc.add(op.request),
            op.summary,
            {
                "responseTopic": {
                    "type": "string",
                    "description": "hall/{hall}/t/{terminal}/reply",
                },
                "correlationData": {
                    "type": "string",
                    "description": "Any bytes the terminal chooses (hallkit's clients send "
                    "the request id, UTF-8); copied into the reply, so even a request "
                    "without a usable id can be matched to its error reply",
                },
            },
        )
        cid = f"{_camel(op.name)}Request"
        who = ", ".join(r for r in m.ROLES if r in op.roles)
        ref = channel(
            cid,
            T.request("{terminal}", op.name),
            [req_name],
            f"{op.summary} Terminal → controller. May be called by: {who} (anyone else "
            "gets `forbidden`). Every request carries `id`; a retried request with the "
            "same id gets the same reply and never does the work twice.",
        )
        operations[f"receive{cid[0].upper()}{cid[1:]}"] = {
            "action": "receive",
            "channel": ref,
            "x-operation": op.name,
            "x-roles": [r for r in m.ROLES if r in op.roles],
            "summary": op.summary,
            "description": f"Roles: {who}. Result: {op.result_doc}",
            "bindings": mqtt_op(
                1,
                expiry="seconds; about the terminal's request timeout, so a request "
                "nobody read in time is dropped by the broker",
            ),
            "reply": {
                "channel": reply_ch,
                "messages": [
                    {"$ref": f"#/channels/terminalReply/messages/{_pascal(op.name)}Reply"}
                ],
                "address": {
                    "location": "$message.header#/responseTopic",
                    "description": "MQTT 5 Response Topic; the controller only ever "
                    "answers on the requesting terminal's own reply topic",
                },
            },
        }

    operations["sendTerminalReply"] = {
        "action": "send",
        "channel": reply_ch,
        "summary": "The controller's replies.",
        "description": "QoS 0: a lost reply is recovered by the terminal's retry, which the "
        "stored reply answers (idempotent ids).",
        "bindings": mqtt_op(0),
    }

    # --- events
    for kind, cls in ev.PUBLISHED.items():
        name = f"{_pascal(kind)}Event"
        data_ref = sc.add(public_model(cls))
        message(name, sc.put(name, _event_envelope(kind, data_ref, cls.SUMMARY)), cls.SUMMARY)
        cid = f"{_camel(kind)}Events"
        ref = channel(
            cid,
            T.event(kind),
            [name],
            f"`{kind}` events, in commit order (a batch's calls, at QoS 1, go out before "
            f"its other events). {cls.SUMMARY} Never retained. Only the fields listed here "
            "are published (an allow-list); citizen keys, lookup tokens, appointment codes "
            "and free text never are.",
        )
        operations[f"send{cid[0].upper()}{cid[1:]}"] = {
            "action": "send",
            "channel": ref,
            "bindings": mqtt_op(cls.QOS),
            "summary": cls.SUMMARY,
            "description": (
                "QoS 1: a display must not miss a call."
                if cls.QOS
                else "QoS 0: a notification; what it changes is also in the retained "
                "queue snapshots, call board and hall status (or in a reply)."
            ),
        }

    # --- everything else
    for c in CHANNELS:
        message(c.message, sc.add(c.tp), c.summary)
        ref = channel(c.cid, c.address, [c.message], c.description, c.params)
        operations[f"{c.action}{c.cid[0].upper()}{c.cid[1:]}"] = {
            "action": c.action,
            "channel": ref,
            "bindings": mqtt_op(c.qos, c.retain, c.expiry),
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "hallkit hall MQTT contract",
            "version": VERSION,
            "description": (
                "The topic tree of one government service hall (政务服务中心), as seen from "
                "the hall controller. Terminals (kiosks, window terminals, displays, raters, "
                "admin consoles) publish only under `hall/{hall}/t/{terminal}/` (enforced by "
                "the generated broker ACL); the controller owns the rest: events on "
                "`hall/{hall}/events/{a}/{b}` (one channel per event type), retained "
                "snapshots, hall status and controller presence, and staff alerts. MQTT 5 "
                "on mosquitto ≥ 2.0, JSON payloads in UTF-8. Requests are strict: an "
                'unknown field, a value of the wrong type (`"5"` is not a number, `true` '
                "is not a level), a non-finite number or a time outside 2000–2100 is "
                "`bad_request`, naming the field. Generated by `python -m "
                "hall_contract.asyncapi`; docs/mqtt.md explains the choices."
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
                "broker.url is set). TLS on broker.tls_port when configured.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": sc.schemas},
    }


def render() -> str:
    header = (
        "# Generated by `python -m hall_contract.asyncapi` from hall_contract/topics.py,\n"
        "# hall_contract/messages.py and hall_contract/events.py. Do not edit by hand:\n"
        "# change the code and regenerate.\n"
    )
    return header + yaml.safe_dump(build(), allow_unicode=True, sort_keys=False, width=100)


if __name__ == "__main__":
    if "--roles" in sys.argv[1:]:
        sys.stdout.write(roles_markdown())
    elif "--events" in sys.argv[1:]:
        sys.stdout.write(events_markdown())
    else:
        sys.stdout.write(render())
