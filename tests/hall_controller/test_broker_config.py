"""Broker rules of the hall config, as a technician meets them: ``check-config`` (and
``run``) refuse a managed broker that would let anonymous clients in from the network,
plain or over TLS alone; the generated mosquitto.conf binds client ids to logins; the
tools' login is reserved like the controller's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hall_contract.hallconfig import HallConfig
from hall_contract.yamlconf import ConfigFileError, load_model
from hall_controller.broker import TOOLS_USER, conf_text, managed_broker
from tests.conftest import ROOT, issue_tls, load_hall

MINIMAL = ROOT / "config" / "hall-minimal.yaml"


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hall_controller", "check-config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def hall_with_broker(tmp_path: Path, broker_yaml: str) -> Path:
    """hall-minimal with this ``broker:`` section (YAML text) appended."""
    path = tmp_path / "hall.yaml"
    path.write_text(MINIMAL.read_text(encoding="utf-8") + "\n" + broker_yaml, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, text in enumerate(lines, 1) if needle in text)


def test_an_anonymous_broker_on_the_network_is_a_config_error(tmp_path: Path) -> None:
    path = hall_with_broker(tmp_path, "broker:\n  port: 1883\n  bind: 0.0.0.0\n")
    r = check_config(path)
    assert r.returncode == 1
    assert r.stderr.splitlines()[1].strip() == (
        f"{path}:{line_of(path, 'broker:')}: broker.auth: the broker would be open to the "
        "network on 0.0.0.0:1883 without passwords: any machine there could publish as any "
        "terminal. Set broker.auth: true (each terminal then logs in with its own password; "
        "docs/technician.md, section 4), or bind: 127.0.0.1 to keep the broker on this "
        "computer"
    )
    # `run` refuses it before starting anything
    run = subprocess.run(
        [sys.executable, "-m", "hall_controller", "run", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 1 and "broker.auth: the broker would be open" in run.stderr
    assert "listening" not in run.stdout


def test_tls_alone_does_not_make_an_anonymous_broker_acceptable(tmp_path: Path) -> None:
    tls = issue_tls(tmp_path / "tls", "10.0.0.5")
    path = hall_with_broker(
        tmp_path,
        "broker:\n"
        "  bind: 0.0.0.0\n"
        "  auth: false\n"
        f"  tls_ca: {tls['ca']}\n"
        f"  tls_cert: {tls['cert']}\n"
        f"  tls_key: {tls['key']}\n"
        "  tls_port: 8883\n",
    )
    r = check_config(path)
    assert r.returncode == 1
    assert (
        f"{path}:{line_of(path, 'auth: false')}: broker.auth: its TLS listener would be open "
        "to the network on 0.0.0.0:8883 without passwords" in r.stderr
    )
    # with auth it is the recommended set-up
    path.write_text(path.read_text(encoding="utf-8").replace("auth: false", "auth: true"))
    ok = check_config(path)
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    "broker",
    [
        "broker: {bind: 127.0.0.1}",  # this computer only
        "broker: {bind: localhost}",
        "broker: {bind: 0.0.0.0, auth: true}",  # passwords (TLS recommended, not required)
        "broker: {url: 'mqtt://10.0.0.5:1883', bind: 0.0.0.0}",  # not ours: bind unused
    ],
)
def test_what_stays_allowed(tmp_path: Path, broker: str) -> None:
    load_model(HallConfig, hall_with_broker(tmp_path, broker + "\n"))


def test_the_example_configs_stay_valid() -> None:
    for name in ("hall.yaml", "hall-minimal.yaml"):
        r = check_config(ROOT / "config" / name)
        assert r.returncode == 0, r.stderr


def test_managed_broker_refuses_an_unvalidated_open_config(tmp_path: Path) -> None:
    """Defence in depth: a config changed in code (model_copy skips validation)."""
    from hall_controller.broker import BrokerError

    cfg = load_hall(data_dir=str(tmp_path))
    cfg = cfg.model_copy(update={"broker": cfg.broker.model_copy(update={"bind": "0.0.0.0"})})
    with pytest.raises(BrokerError, match=r"broker\.auth: refusing to open a broker"):
        managed_broker(cfg, tmp_path)
    assert not (tmp_path / "mosquitto" / "mosquitto.pid").exists()


def test_with_passwords_the_client_id_is_the_login(tmp_path: Path) -> None:
    with_auth = conf_text(1883, "127.0.0.1", None, passwd=tmp_path / "passwd")
    assert "use_username_as_clientid true\n" in with_auth
    assert "allow_anonymous false\n" in with_auth
    assert "use_username_as_clientid" not in conf_text(1883, "127.0.0.1", None)


def test_the_tools_login_is_reserved(tmp_path: Path) -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace(
        "  - {id: w01, role: window, window: win01}",
        f"  - {{id: w01, role: window, window: win01}}\n  - {{id: {TOOLS_USER}, role: kiosk}}",
    )
    path = tmp_path / "hall.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        load_model(HallConfig, path)
    assert info.value.problems == [
        f"{path}:{line_of(path, 'id: tools')}: terminals.2.id: terminal id 'tools' is "
        "reserved: it is the broker login of the technicians' tools (python -m "
        "hall_controller command), which may send commands to every terminal; give the "
        "terminal another id (got 'tools')"
    ]
    data = yaml.safe_load(text.replace("id: tools,", "id: tools2,"))
    assert HallConfig.model_validate(data).terminals[2].id == "tools2"
