"""The generated ACL on a real mosquitto with passwords: who may read which events.

Least privilege: every terminal reads ticket events; window terminals and displays also
window and day events; only the manager's console (role ``admin``) reads rating and case
events and the staff alerts."""

from __future__ import annotations

import threading
from typing import Any

from hall_contract.client import BrokerSettings, HallClient
from hall_contract.topics import Topics
from hall_controller.broker import CONTROLLER_USER, TOOLS_USER, acl_text
from tests.conftest import load_hall
from tests.hall_controller.test_resilience import auth_broker

__all__ = ["auth_broker"]  # the fixture, shared with test_resilience

EVENTS = ["ticket.called", "window.paused", "day.rolled", "rating.submitted", "case.updated"]


def test_each_role_reads_only_the_events_it_needs(auth_broker: Any) -> None:
    mq, cfg, creds = auth_broker
    topics = Topics(cfg.hall.id)
    roles = {t.id: t.role for t in cfg.terminals}
    readers = ["k01", "r01", "w01", "d01", "a01"]
    assert [roles[r] for r in readers] == ["kiosk", "rater", "window", "display", "admin"]

    def login(user: str) -> BrokerSettings:
        return BrokerSettings(host=mq.bind, port=mq.port, username=user, password=creds[user])

    marker = topics.event("ticket.end_of_test")  # every terminal may read it: sent last
    seen: dict[str, list[str]] = {r: [] for r in readers}
    done = {r: threading.Event() for r in readers}
    clients: list[HallClient] = []
    try:
        for r in readers:
            c = HallClient(topics, r, login(r), role=roles[r], presence=False).start()
            assert c.wait_connected(10), c.last_error
            clients.append(c)

            def on_msg(topic: str, payload: bytes, msg: Any, r: str = r) -> None:
                if topic == marker:
                    done[r].set()
                else:
                    seen[r].append(topic)

            # Subscribing is allowed; the read ACL filters each message.
            c.subscribe(topics.events_filter, on_msg)
            c.subscribe(topics.alerts, on_msg)
        ctl = HallClient(topics, "ctl", login(CONTROLLER_USER), presence=False).start()
        clients.append(ctl)
        assert ctl.wait_connected(10), ctl.last_error
        for topic in [*(topics.event(k) for k in EVENTS), topics.alerts, marker]:
            ctl.publish(topic, b"{}", qos=1).wait_for_publish(5)
        for r in readers:
            assert done[r].wait(10), f"{r} never got the last event"
    finally:
        for c in clients:
            c.stop()
    ev = {k: topics.event(k) for k in EVENTS}
    ticket = [ev["ticket.called"]]
    staff = [*ticket, ev["window.paused"], ev["day.rolled"]]
    assert seen["k01"] == ticket  # no rating, case, window or day events, no alerts
    assert seen["r01"] == ticket
    assert seen["w01"] == staff
    assert seen["d01"] == staff
    assert seen["a01"] == [*ev.values(), topics.alerts]


def test_acl_keeps_patterns_for_all_and_a_block_per_privileged_user() -> None:
    text = acl_text(load_hall("hall.yaml"))
    lines = [x for x in text.splitlines() if x and not x.startswith("#")]
    first_user = next(i for i, x in enumerate(lines) if x.startswith("user "))
    # patterns (which mosquitto applies to every user) first, then one block per user
    assert all(x.startswith("pattern ") for x in lines[:first_user])
    assert not any(x.startswith("pattern ") for x in lines[first_user:])
    users = [x.removeprefix("user ") for x in lines if x.startswith("user ")]
    assert users[:2] == [CONTROLLER_USER, TOOLS_USER]
    assert "a01" in users and "w16" in users and "d02" in users
    assert "k01" not in users and "r01" not in users  # kiosks and raters: patterns only

    def block(user: str) -> list[str]:
        rest = lines[lines.index(f"user {user}") + 1 :]
        return rest[: next((i for i, x in enumerate(rest) if x.startswith("user ")), len(rest))]

    assert block("a01") == ["topic read hall/yunxi/events/#", "topic read hall/yunxi/alerts"]
    assert block(TOOLS_USER) == [
        "topic write hall/yunxi/t/+/cmd",
        "topic read hall/yunxi/t/+/cmdres",
    ]


def test_the_tools_login_sends_commands_and_nothing_else(auth_broker: Any) -> None:
    """``tools`` (python -m hall_controller command): commands to any terminal and their
    results; no requests in a terminal's name, no staff alerts, no rating events."""
    mq, cfg, creds = auth_broker
    topics = Topics(cfg.hall.id)

    def login(user: str) -> BrokerSettings:
        return BrokerSettings(host=mq.bind, port=mq.port, username=user, password=creds[user])

    got: dict[str, list[str]] = {"k01": [], "ctl": [], "tools": []}
    result_seen, probe_seen = threading.Event(), threading.Event()
    probe = topics.request("k01", "probe")
    clients: list[HallClient] = []
    try:
        k01 = HallClient(topics, "k01", login("k01"), role="kiosk", presence=False).start()
        ctl = HallClient(topics, "ctl", login(CONTROLLER_USER), presence=False).start()
        tools = HallClient(topics, TOOLS_USER, login(TOOLS_USER), presence=False).start()
        clients += [k01, ctl, tools]
        for c in clients:
            assert c.wait_connected(10), c.last_error
        k01.subscribe(topics.command("k01"), lambda t, p, m: got["k01"].append(t))

        def on_ctl(topic: str, payload: bytes, msg: Any) -> None:
            got["ctl"].append(topic)
            if topic == probe:
                probe_seen.set()

        ctl.subscribe(topics.requests_filter, on_ctl)

        def on_tools(topic: str, payload: bytes, msg: Any) -> None:
            got["tools"].append(topic)
            if topic == topics.command_result("k01"):
                result_seen.set()

        for topic in (topics.command_result("k01"), topics.alerts, topics.event("rating.x")):
            tools.subscribe(topic, on_tools)  # granted; the read ACL filters each message
        # what the tool may do: a command to any terminal
        tools.publish(topics.command("k01"), b"{}", qos=1).wait_for_publish(5)
        # what it may not: a request in k01's name (refused by the broker)
        tools.publish(topics.request("k01", "ticket.issue"), b"{}", qos=1).wait_for_publish(5)
        # k01's own request arrives, after the refused one would have
        k01.publish(probe, b"{}", qos=1).wait_for_publish(5)
        assert probe_seen.wait(10)
        # alerts and rating events are not for the tool; sent before the result it reads
        ctl.publish(topics.alerts, b"{}", qos=1).wait_for_publish(5)
        ctl.publish(topics.event("rating.x"), b"{}", qos=1).wait_for_publish(5)
        k01.publish(topics.command_result("k01"), b"{}", qos=1).wait_for_publish(5)
        assert result_seen.wait(10), "the tool never got the command result"
    finally:
        for c in clients:
            c.stop()
    assert got["k01"] == [topics.command("k01")]
    assert got["ctl"] == [probe]  # not the request forged in k01's name
    assert got["tools"] == [topics.command_result("k01")]  # no alert, no rating event
