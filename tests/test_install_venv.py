"""``pip install`` of netsentinel into a plain venv (no system site-packages), as a user
or pipx does it, then the daemon run from that venv in a lab namespace.

The nftables binding comes from PyPI there (pip-nftables, the file Debian ships as
python3-nftables, driving Debian 12's libnftables1 through ctypes): the daemon starts
and fills its sets. In a venv without the binding it refuses to start with one line
naming what to install, and ``check-config`` says the same. The wheel is built once per
session from a copy of the checkout's files; both venvs are made once per module.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from netsentinel.nft.client import NEEDED
from tests.lab import ROOT, Lab, control, wait_for

TABLE = "nsvenv"
CONFIG = f"""\
addresses:
  nftables: {{table: inet {TABLE}, create: true}}
  interfaces:
    eth0: {{zone: wan}}
    lo: {{zone: lan}}
"""
PYPI = "https://pypi.org/simple/pip-nftables/"


def clean_env() -> dict[str, str]:
    """Nothing pointing at the checkout or the test suite's venv."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def _pip(venv: Path, *args: str) -> None:
    result = subprocess.run([str(venv / "bin/pip"), "--disable-pip-version-check", *args],
                            capture_output=True, text=True, timeout=600, env=clean_env())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """netsentinel's wheel, built from the checkout's tracked and new files (not .venv)."""
    try:
        urllib.request.urlopen(PYPI, timeout=15).close()
    except OSError as e:
        pytest.skip(f"PyPI unreachable ({PYPI}: {e}): cannot install into a plain venv")
    src = tmp_path_factory.mktemp("src")
    subprocess.run(["sh", "-ec", "git ls-files -z --cached --others --exclude-standard |"
                    " tar --null --files-from=- --ignore-failed-read -cf - | tar -xf - -C \"$0\"",
                    str(src)], cwd=ROOT, check=True, capture_output=True)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(["/usr/bin/python3", "-m", "pip", "wheel", "--no-deps", "-q",
                             "-w", str(out), str(src)], capture_output=True, text=True,
                            timeout=600, env=clean_env())
    assert result.returncode == 0, result.stderr[-4000:]
    (path,) = out.glob("netsentinel-*.whl")
    return path


def _venv(wheel: Path, directory: Path, binding: bool) -> Path:
    venv = directory / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True,
                   env=clean_env())
    _pip(venv, "install", "-q", str(wheel))
    if not binding:
        _pip(venv, "uninstall", "-q", "-y", "pip-nftables")
    return venv


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install netsentinel.whl``: the dependencies, pip-nftables included, from PyPI."""
    return _venv(wheel, tmp_path_factory.mktemp("venv"), binding=True)


@pytest.fixture(scope="module")
def bare_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, then ``pip uninstall pip-nftables``: no nftables binding at all."""
    return _venv(wheel, tmp_path_factory.mktemp("bare"), binding=False)


def _python(venv: Path, code: str) -> str:
    result = subprocess.run([str(venv / "bin/python"), "-c", code], capture_output=True,
                            text=True, timeout=60, env=clean_env(), cwd="/")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_plain_venv_gets_the_binding_from_pypi(venv: Path) -> None:
    probe = ("import sys, site, nftables, netsentinel; print(nftables.__file__);"
             " print(netsentinel.__file__); print('/usr/lib/python3/dist-packages' in sys.path);"
             " print(nftables.Nftables().json_cmd({'nftables': [{'list': {'tables': None}}]})[0]"
             " is not None)")
    binding, own, system_site, answered = _python(venv, probe).split()
    site = str(venv / "lib/python3.11/site-packages")
    assert binding.startswith(site) and own.startswith(site)
    assert (system_site, answered) == ("False", "True")
    assert _python(venv, "import nftables; c = nftables.Nftables(); print("
                   f"all(callable(getattr(c, n, None)) for n in {NEEDED!r}))") == "True"


@pytest.fixture
def namespace(lab: Lab) -> Iterator[str]:
    ns = lab.netns("venv")
    lab.veth(ns, "eth0", None, "eth1")
    yield ns


def _daemon(venv: Path, config: Path, socket: Path) -> list[str]:
    return [str(venv / "bin/twistd"), "-n", "--pidfile=", "netsentinel", "--config",
            str(config), "--socket", str(socket)]


def test_daemon_from_the_venv_starts_and_fills_its_sets(
        venv: Path, lab: Lab, namespace: str, tmp_path: Path) -> None:
    config, socket, log_path = (tmp_path / "netsentinel.yaml", tmp_path / "ctl.sock",
                                tmp_path / "daemon.log")
    config.write_text(CONFIG)
    with open(log_path, "wb") as log:
        process = lab.popen(namespace, _daemon(venv, config, socket), stdout=log,
                            stderr=subprocess.STDOUT, env=clean_env(), cwd=str(tmp_path))

    def answers() -> bool:
        assert process.poll() is None, log_path.read_text()
        try:
            return '"ready": true' in control(str(socket), "status")
        except OSError:
            return False
    wait_for(answers, timeout=30, what="the venv's daemon ready")
    wait_for(lambda: lab.nft_set(namespace, "inet", TABLE, "lan_ips") == {"127.0.0.1"},
             what="lo's address in lan_ips")
    lab.run(namespace, "ip", "addr", "add", "192.0.2.7/24", "dev", "eth0")
    wait_for(lambda: lab.nft_set(namespace, "inet", TABLE, "wan_ips") == {"192.0.2.7"},
             what="eth0's new address in wan_ips")
    process.terminate()
    process.wait(timeout=20)
    assert "Traceback" not in log_path.read_text()


def _one_line_naming_the_binding(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "addresses: uses nftables" in lines[0], lines[0]
    assert "No module named 'nftables'" in lines[0]
    assert "pip install pip-nftables" in lines[0] and "apt install python3-nftables" in lines[0]


def test_daemon_without_the_binding_refuses_in_one_line(
        bare_venv: Path, lab: Lab, namespace: str, tmp_path: Path) -> None:
    config, socket = tmp_path / "netsentinel.yaml", tmp_path / "ctl.sock"
    config.write_text(CONFIG)
    result = subprocess.run(["ip", "netns", "exec", namespace,
                             *_daemon(bare_venv, config, socket)], capture_output=True,
                            text=True, timeout=60, env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    _one_line_naming_the_binding(result.stderr)
    assert not socket.exists()
    assert lab.nft_set(namespace, "inet", TABLE, "lan_ips") is None   # nothing was made


def test_check_config_without_the_binding_says_the_same(
        bare_venv: Path, tmp_path: Path) -> None:
    config = tmp_path / "netsentinel.yaml"
    config.write_text(CONFIG)
    result = subprocess.run([str(bare_venv / "bin/netsentinel-ctl"), "check-config",
                             str(config)], capture_output=True, text=True, timeout=60,
                            env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    _one_line_naming_the_binding(result.stderr)
    assert result.stderr.startswith(f"{config}: ")
