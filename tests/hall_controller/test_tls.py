"""TLS end to end: ``mqtts://`` URLs, the CA (and client files) named in the hall and kiosk
configs, the managed broker's TLS listener, and clear errors for untrusted brokers and
missing files. Certificates are made at test time with ``cryptography``."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from hall_contract.client import BrokerSettings, HallClient, TlsSetupError
from hall_contract.hallconfig import BrokerConfig, HallConfig
from hall_contract.lean import BrokerCertificateError, LeanClient
from hall_contract.topics import Topics
from hall_contract.yamlconf import ConfigFileError
from hall_controller import cli
from hall_controller.broker import free_port, managed_broker
from kiosk import settings as kiosk_settings
from tests.conftest import ROOT, ControllerFactory, issue_tls, load_hall

MINIMAL = ROOT / "config" / "hall-minimal.yaml"


def lan_address() -> str | None:
    """A non-loopback IPv4 address of this machine (None when it has none)."""
    for probe in ("192.0.2.1", "203.0.113.1", "10.255.255.255"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect((probe, 9))  # UDP connect: picks a route, sends nothing
            except OSError:
                continue
            ip = str(s.getsockname()[0])
        if not ipaddress.ip_address(ip).is_loopback:
            return ip
    return None


def tls_hall(tmp_path: Path, tls: dict[str, str], **broker: Any) -> HallConfig:
    """hall-minimal with a managed broker that has a TLS listener."""
    b = BrokerConfig(
        port=free_port(),
        tls_port=free_port(),
        tls_ca=tls["ca"],
        tls_cert=tls["cert"],
        tls_key=tls["key"],
        **broker,
    )
    return load_hall(broker=b, data_dir=str(tmp_path / "data"))


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, str]:
    return issue_tls(tmp_path / "tls", "127.0.0.1")


def test_mqtts_url_switches_tls_on_and_mqtt_url_off() -> None:
    s = BrokerSettings.from_url("mqtts://k01:pw@hall.example:9883", tls_ca="/ca.pem")
    assert (s.uses_tls, s.host, s.port, s.tls_ca, s.username) == (
        True,
        "hall.example",
        9883,
        "/ca.pem",
        "k01",
    )
    assert BrokerSettings.from_url("mqtts://hall.example").port == 8883
    plain = BrokerSettings.from_url("mqtt://hall.example", tls_ca="/ca.pem")
    assert not plain.uses_tls and plain.tls_ca is None and plain.port == 1883


def test_controller_and_kiosk_over_mqtts_with_the_ca_from_their_configs(
    tmp_path: Path, tls_files: dict[str, str]
) -> None:
    """The managed broker built from the hall config gets a TLS listener; a controller
    whose config says ``url: mqtts://...`` (LeanClient) and a kiosk whose kiosk.yaml says
    ``broker_url: mqtts://...`` + ``tls_ca`` (HallClient) meet over it only."""
    served = tls_hall(tmp_path, tls_files)
    mq, _local = managed_broker(served, tmp_path / "data")
    try:
        assert mq.tls_port == served.broker.tls_port
        conf = mq.conf.read_text()
        assert f"listener {mq.tls_port} 127.0.0.1" in conf and f"cafile {tls_files['ca']}" in conf
        url = f"mqtts://127.0.0.1:{mq.tls_port}"
        # the controller of a hall that uses this broker as an external one
        external = load_hall(broker=BrokerConfig(url=url, tls_ca=tls_files["ca"]))
        ctl_settings = cli.broker_for(external, None)
        assert ctl_settings.uses_tls and ctl_settings.port == mq.tls_port
        ctl = ControllerFactory(mq, tmp_path)(external, settings=ctl_settings)
        # the kiosk: its CA path is relative to kiosk.yaml
        kdir = tmp_path / "kiosk"
        kdir.mkdir()
        (kdir / "ca.pem").write_text(Path(tls_files["ca"]).read_text())
        kyaml = kdir / "kiosk.yaml"
        kyaml.write_text(f"terminal_id: k01\nbroker_url: {url}\ntls_ca: ca.pem\n")
        kcfg = kiosk_settings.load(kyaml)
        ksettings = kcfg.broker_settings(url)
        assert ksettings.uses_tls and ksettings.tls_ca == str(kdir / "ca.pem")
        try:
            with HallClient(Topics("mini"), "k01", ksettings, role="kiosk") as kiosk:
                assert kiosk.wait_connected(10), kiosk.last_error
                r = kiosk.request("ticket.issue", {"service": "id_card_renew"})
                assert r.ok and r.result is not None and r.result.number == "A001"
            assert ctl.client.connected and isinstance(ctl.client._sock, ssl.SSLSocket)
        finally:
            ctl.stop()
    finally:
        mq.stop()


def test_managed_broker_exposes_only_its_tls_listener_on_the_network(tmp_path: Path) -> None:
    """bind = a network address with TLS: TLS there, the plain listener on 127.0.0.1 only
    (with auth on, no password crosses the network unencrypted)."""
    lan = lan_address()
    if lan is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    tls = issue_tls(tmp_path / "tls", "127.0.0.1", lan)
    cfg = tls_hall(tmp_path, tls, bind=lan, auth=True)
    assert cfg.broker.plain_bind == "127.0.0.1"
    mq, ctl_settings = managed_broker(cfg, tmp_path / "data")
    try:
        conf = mq.conf.read_text()
        assert f"listener {mq.port} 127.0.0.1\n" in conf
        assert f"listener {mq.tls_port} {lan}\n" in conf
        # nothing plain on the network address; the controller uses loopback
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((lan, mq.port), timeout=2).close()
        assert (ctl_settings.host, ctl_settings.port) == ("127.0.0.1", mq.port)
        assert not ctl_settings.uses_tls and ctl_settings.username == "controller"
        ctl = ControllerFactory(mq, tmp_path)(cfg, settings=ctl_settings)
        try:
            # a remote kiosk: mqtts to the network address, its password from gen-auth
            settings = cli.broker_for(cfg, f"mqtts://{lan}:{mq.tls_port}", "k01")
            assert settings.uses_tls and settings.username == "k01" and settings.password
            with HallClient(Topics("mini"), "k01", settings, role="kiosk") as kiosk:
                assert kiosk.wait_connected(10), kiosk.last_error
                r = kiosk.request("ticket.issue", {"service": "id_card_renew"})
                assert r.ok and r.result is not None and r.result.number == "A001"
        finally:
            ctl.stop()
    finally:
        mq.stop()


def test_a_loopback_bind_keeps_both_listeners_there(tls_files: dict[str, str]) -> None:
    b = BrokerConfig(
        bind="127.0.0.1",
        tls_port=8883,
        tls_ca=tls_files["ca"],
        tls_cert=tls_files["cert"],
        tls_key=tls_files["key"],
    )
    assert b.plain_bind == "127.0.0.1" and b.managed_tls
    exposed = b.model_copy(update={"bind": "0.0.0.0"})
    assert exposed.plain_bind == "127.0.0.1" and exposed.local_host == "127.0.0.1"
    # no TLS: as configured (with passwords: an open broker on the network is refused)
    assert BrokerConfig(bind="0.0.0.0", auth=True).plain_bind == "0.0.0.0"


def test_untrusted_broker_is_refused_with_a_clear_reason(
    tmp_path: Path, tls_files: dict[str, str]
) -> None:
    cfg = tls_hall(tmp_path, tls_files)
    mq, _ = managed_broker(cfg, tmp_path / "data")
    assert mq.tls_port is not None
    stranger_ca = issue_tls(tmp_path / "other", "127.0.0.1")["ca"]
    try:
        wrong = BrokerSettings.from_url(f"mqtts://127.0.0.1:{mq.tls_port}", tls_ca=stranger_ca)
        # paho (terminals, tools)
        c = HallClient(Topics("mini"), "k01", wrong, role="kiosk", presence=False)
        c.start(wait=None)
        try:
            assert not c.wait_connected(10, fail_fast=True)
            assert c.last_error is not None
            assert f"TLS: the broker at 127.0.0.1:{mq.tls_port} is not trusted" in c.last_error
            assert f"check that the CA certificate {stranger_ca} (tls_ca)" in c.last_error
        finally:
            c.stop()
        # the controller's lean client
        lean = LeanClient("ctl-wrong-ca", wrong, clean_start=True, session_expiry=0)
        with pytest.raises(BrokerCertificateError, match=r"not trusted .*\(tls_ca\)"):
            lean.connect()
        assert not lean.connected
        # mqtts without tls_ca: the system's CAs, which do not know this hall's CA
        system = BrokerSettings.from_url(f"mqtts://127.0.0.1:{mq.tls_port}")
        with pytest.raises(BrokerCertificateError, match="system's trusted CAs"):
            LeanClient("ctl-no-ca", system, clean_start=True, session_expiry=0).connect()
        # the right CA, but a name the certificate does not carry
        by_name = BrokerSettings.from_url(
            f"mqtts://localhost:{mq.tls_port}", tls_ca=tls_files["ca"]
        )
        with pytest.raises(BrokerCertificateError, match="does not name 'localhost'"):
            LeanClient("ctl-name", by_name, clean_start=True, session_expiry=0).connect()
        # mqtts:// to the plain port
        to_plain = BrokerSettings.from_url(f"mqtts://127.0.0.1:{mq.port}", tls_ca=tls_files["ca"])
        with pytest.raises(ConnectionError, match=f"is {mq.port} its plain port"):
            LeanClient("ctl-plain", to_plain, clean_start=True, session_expiry=0).connect()
        # the staff window tool says so and gives up at once
        hall_file = tmp_path / "hall.yaml"
        data = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
        data["broker"] = {"tls_ca": stranger_ca}
        hall_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        url = f"mqtts://127.0.0.1:{mq.tls_port}"
        r = run_window(hall_file, url, "status")
        assert r.returncode == 3
        assert "cannot connect to the hall's broker: TLS" in r.stderr and "not trusted" in r.stderr
        data["broker"] = {"tls_ca": tls_files["ca"]}
        hall_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        away = run_window(hall_file, url, "status")  # trusted now; no controller runs
        assert away.returncode == 3 and "did not answer" in away.stderr
    finally:
        mq.stop()


def run_window(hall_file: Path, url: str, *op: str) -> Any:
    import subprocess
    import sys

    args = ["window", "--config", str(hall_file), "--broker-url", url, "--window", "win01"]
    return subprocess.run(
        [sys.executable, "-m", "hall_controller", *args, "--timeout", "1", *op],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def line_of(path: Path, text: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if text in line:
            return i
    raise AssertionError(f"{text!r} not in {path}")


def test_missing_tls_files_are_config_errors_naming_the_field(
    tmp_path: Path, tls_files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    hall_file = tmp_path / "hall.yaml"
    # the managed broker's certificate is missing
    data["broker"] = {
        "bind": "0.0.0.0",
        "auth": True,
        "tls_ca": tls_files["ca"],
        "tls_cert": str(tmp_path / "nope" / "server.pem"),
        "tls_key": tls_files["key"],
        "tls_port": 8883,
    }
    hall_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert cli.main(["check-config", str(hall_file)]) == 1
    err = capsys.readouterr().err
    line = line_of(hall_file, "tls_cert:")
    assert f"{hall_file}:{line}: broker.tls_cert: no such file (got '{tmp_path}/nope" in err
    assert "tls_ca" not in err and "tls_key" not in err
    # `run` refuses before starting anything
    assert cli.main(["run", "--config", str(hall_file), "--data-dir", str(tmp_path / "d")]) == 1
    assert f"{hall_file}:{line}: broker.tls_cert: no such file" in capsys.readouterr().err
    # a controller on an external mqtts:// broker: its CA, relative to the working directory
    data["broker"] = {"url": "mqtts://10.0.0.5:8883", "tls_ca": "tls/nope-ca.pem"}
    hall_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert cli.main(["check-config", str(hall_file)]) == 1
    err = capsys.readouterr().err
    line = line_of(hall_file, "tls_ca:")
    assert f"{hall_file}:{line}: broker.tls_ca: no such file (got 'tls/nope-ca.pem'" in err
    assert f"looked at {Path.cwd() / 'tls' / 'nope-ca.pem'}" in err
    # the same file with the CA present is fine
    data["broker"]["tls_ca"] = tls_files["ca"]
    hall_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert cli.main(["check-config", str(hall_file)]) == 0
    # the kiosk's own CA
    kyaml = tmp_path / "kiosk.yaml"
    kyaml.write_text("terminal_id: k01\nbroker_url: mqtts://10.0.0.5:8883\ntls_ca: ca.pem\n")
    with pytest.raises(ConfigFileError) as info:
        kiosk_settings.load(kyaml)
    assert info.value.problems == [
        f"{kyaml}:3: tls_ca: no such file (got 'ca.pem', looked at {tmp_path / 'ca.pem'})"
    ]


def test_kiosk_tls_files_need_an_mqtts_url(tmp_path: Path, tls_files: dict[str, str]) -> None:
    kyaml = tmp_path / "kiosk.yaml"
    kyaml.write_text(f"broker_url: mqtt://10.0.0.5:1883\ntls_ca: {tls_files['ca']}\n")
    with pytest.raises(ConfigFileError) as info:
        kiosk_settings.load(kyaml)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"{kyaml}:1: broker_url: tls_ca/tls_cert are set")
    assert "mqtts://HOST:8883" in info.value.problems[0]
    kyaml.write_text(f"tls_key: {tls_files['key']}\n")
    with pytest.raises(ConfigFileError, match="tls_key: tls_key needs tls_cert"):
        kiosk_settings.load(kyaml)
    # No broker_url: the hall config's URL is used; a plain one with TLS files is an error
    kyaml.write_text(f"tls_ca: {tls_files['ca']}\n")
    cfg = kiosk_settings.load(kyaml)
    with pytest.raises(TlsSetupError, match=r"mqtt://127\.0\.0\.1:1883 is not TLS"):
        cfg.broker_settings("mqtt://127.0.0.1:1883")
    assert cfg.broker_settings("mqtts://127.0.0.1:8883").uses_tls
