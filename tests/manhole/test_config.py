"""The ``manhole:`` section: loopback only, keys only, every mistake with its file and line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from netsentinel.config import parse_config
from netsentinel.manhole.config import DEFAULT_HOST_KEY, ManholeConfig
from netsentinel.schema import ConfigError, Endpoint


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.yaml")
    return [str(p) for p in caught.value.problems]


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """An authorized_keys file holding one key made by ssh-keygen."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")],
                   check=True)
    path = tmp_path / "authorized_keys"
    path.write_text("# the admin\n" + (tmp_path / "id.pub").read_text())
    return path


@pytest.mark.parametrize("listen", ["0.0.0.0:2222", ":2222", "[::]:2222", "192.0.2.1:2222"])
def test_listen_off_loopback_is_refused_with_its_line(listen: str, keys: Path) -> None:
    assert problems(f"manhole:\n  authorized_keys: {keys}\n  listen: '{listen}'\n") == [
        f"test.yaml:3: manhole.listen: the manhole listens on loopback only "
        f"(127.0.0.1:PORT or [::1]:PORT), got '{listen}'"]


def test_loopback_ssh_with_keys_and_socket(keys: Path, tmp_path: Path) -> None:
    config = parse_config(f"manhole:\n  listen: '[::1]:2222'\n  authorized_keys: {keys}\n"
                          f"  socket: {tmp_path}/m.sock\n", "test.yaml").features["manhole"]
    assert isinstance(config, ManholeConfig)
    assert config.listen == Endpoint("::1", 2222)
    assert config.socket == f"{tmp_path}/m.sock"
    assert config.host_key == DEFAULT_HOST_KEY
    assert config.authorized_keys is not None and len(config.authorized_keys.blobs) == 1


def test_ssh_without_authorized_keys_is_refused() -> None:
    assert problems("manhole:\n  listen: 127.0.0.1:2222\n") == [
        "test.yaml:2: manhole.authorized_keys: SSH logs in with public keys only: "
        "authorized_keys is required"]


def test_neither_ssh_nor_socket_is_refused(keys: Path) -> None:
    assert problems(f"manhole:\n  authorized_keys: {keys}\n") == [
        "test.yaml:2: manhole: set listen (SSH on loopback), socket (unix), or both"]


def test_bad_line_in_authorized_keys_names_both_files(keys: Path) -> None:
    keys.write_text(keys.read_text() + 'from="10.0.0.1" ssh-ed25519 AAAA\n')
    assert problems(f"manhole:\n  listen: 127.0.0.1:2222\n  authorized_keys: {keys}\n") == [
        f"test.yaml:3: manhole.authorized_keys: {keys}:3: not a public key "
        "(TYPE BASE64 [COMMENT]; key options are not supported)"]


def test_authorized_keys_without_a_key_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "authorized_keys"
    empty.write_text("# nobody yet\n")
    [problem] = problems(f"manhole:\n  listen: 127.0.0.1:2222\n  authorized_keys: {empty}\n")
    assert problem.endswith(f"no public key in {empty}: nobody could log in")


def test_socket_in_a_missing_directory_is_refused() -> None:
    [problem] = problems("manhole:\n  socket: /nonexistent/m.sock\n")
    assert problem == "test.yaml:2: manhole.socket: directory does not exist: /nonexistent"


def test_example_parses(keys: Path, tmp_path: Path) -> None:
    """etc/examples/manhole.yaml, with its key file and state path made real."""
    path = Path(__file__).resolve().parents[2] / "etc" / "examples" / "manhole.yaml"
    text = (path.read_text().replace("/etc/netsentinel/manhole_keys", str(keys))
            .replace("/run/", f"{tmp_path}/"))
    config = parse_config(text, str(path)).features["manhole"]
    assert config.listen == Endpoint("127.0.0.1", 2222)
    assert config.socket == f"{tmp_path}/netsentinel-manhole.sock"
