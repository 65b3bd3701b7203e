"""The Debian package: built once per session by ``scripts/build-deb``, then read with
dpkg-deb, extracted, and its programs run from the extracted tree.

Nothing is installed on this machine: the packaged programs run in a private mount
namespace where the extracted ``/opt/netsentinel`` is mounted at its real path, so
their ``#!`` lines and the ``/usr/bin/netsentinel-ctl`` symlink resolve as installed.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.lab import ROOT, Lab, control, require, wait_for

UNIT = ROOT / "etc" / "netsentinel.service"
EXAMPLE = ROOT / "etc" / "netsentinel.yaml"
CONFIG = "/etc/netsentinel/netsentinel.yaml"
VENV = "/opt/netsentinel"
NFTABLES_BINDING = "/usr/lib/python3/dist-packages/nftables"
Running = tuple[Lab, str, str, "subprocess.Popen[bytes]"]   # lab, namespace, socket, daemon

# mounts the extracted venv at /opt/netsentinel for this process tree only
_AT_OPT = ('mount -t tmpfs tmpfs /opt && mkdir /opt/netsentinel'
           ' && mount --bind "$0/opt/netsentinel" /opt/netsentinel && exec "$@"')


@pytest.fixture(scope="session")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .deb, built once per test session (about a minute: a venv and pip)."""
    out = tmp_path_factory.mktemp("deb")
    result = subprocess.run([str(ROOT / "scripts" / "build-deb"), str(out)],
                            check=False, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    (path,) = out.glob("netsentinel_*.deb")
    return path


@pytest.fixture(scope="session")
def root(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's files as dpkg would lay them out, under a throwaway directory, then
    what the postinst does to them (bytecode, twistd's plugin cache) done there too."""
    tree = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg-deb", "--extract", str(deb), str(tree)], check=True)
    result = subprocess.run(packaged(tree, ["sh", "-ec", own_postinst(deb), "postinst",
                                            "configure"]), check=False, capture_output=True,
                            text=True, timeout=300, env=clean_env(), cwd=str(tree))
    assert result.returncode == 0, result.stdout + result.stderr
    _CONFIGURED[tree] = time.time_ns()
    return tree


_CONFIGURED: dict[Path, int] = {}    # root -> when its postinst part was done


def own_postinst(deb: Path) -> str:
    """The postinst's own part, before debhelper's (which would touch this machine's
    systemd state)."""
    text = subprocess.run(["sh", "-c", 'dpkg-deb --ctrl-tarfile "$0" | tar -xOf - ./postinst',
                           str(deb)], capture_output=True, text=True, check=True).stdout
    return text.split("# Automatically added by dh_", 1)[0]


# / seen through an overlay whose writes land in a tmpfs, in a private mount namespace:
# dpkg and the maintainer scripts run for real, and the machine is left as it was
_THROWAWAY = """
set -e
d=$0; deb=$1; shift
mount -t tmpfs tmpfs "$d"
mkdir "$d/upper" "$d/work" "$d/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$d/upper,workdir=$d/work" "$d/root"
mount -t proc proc "$d/root/proc"
mount --rbind /dev "$d/root/dev"
mkdir -p "$d/root/tmp/pkg"
cp "$deb" "$d/root/tmp/pkg/netsentinel.deb"
exec chroot "$d/root" sh -ec "$1"
"""


def in_throwaway_root(deb: Path, directory: Path, script: str) -> str:
    """Output of ``script`` run in a copy-on-write root holding the .deb as
    /tmp/pkg/netsentinel.deb."""
    result = subprocess.run(["unshare", "--mount", "sh", "-c", _THROWAWAY, str(directory),
                             str(deb), script], check=False, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def packaged(root: Path, argv: Sequence[str]) -> list[str]:
    """``argv`` run as if the package were installed (see the module docstring)."""
    return ["unshare", "--mount", "sh", "-c", _AT_OPT, str(root), *argv]


def clean_env() -> dict[str, str]:
    """No PYTHONPATH pointing at the checkout: the package must stand on its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def run_packaged(root: Path, argv: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(packaged(root, argv), check=False, capture_output=True, text=True,
                          timeout=60, env=clean_env(), cwd=cwd)


def unit_value(text: str, key: str) -> str:
    """The value of ``key`` in a unit file, continuation lines joined."""
    joined = text.replace("\\\n", " ")
    (value,) = [line.split("=", 1)[1] for line in joined.splitlines()
                if line.startswith(f"{key}=")]
    return value


def dpkg_field(deb: Path, field: str) -> str:
    return subprocess.run(["dpkg-deb", "--field", str(deb), field], capture_output=True,
                          text=True, check=True).stdout.strip()


def changed_files(deb: Path, root: Path) -> list[str]:
    """Packaged files whose content differs from the package's md5sums."""
    sums = subprocess.run(["dpkg-deb", "--info", str(deb), "md5sums"], capture_output=True,
                          text=True, check=True).stdout
    return [name for digest, name in (line.split(None, 1) for line in sums.splitlines())
            if hashlib.md5((root / name).read_bytes()).hexdigest() != digest]


def test_unit_passes_systemd_analyze_verify(root: Path, tmp_path: Path) -> None:
    require("systemd-analyze")
    shipped = root / "lib/systemd/system/netsentinel.service"
    assert shipped.read_text() == UNIT.read_text()
    # verify checks that ExecStart exists: point it at the packaged wrapper
    unit = tmp_path / "netsentinel.service"
    unit.write_text(shipped.read_text().replace("/usr/sbin/", f"{root}/usr/sbin/"))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)],
                            check=False, capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_unit_runs_in_foreground_logging_to_journal_and_reloads_on_sighup() -> None:
    text = UNIT.read_text()
    assert shlex.split(unit_value(text, "ExecStart")) == [
        "/usr/sbin/netsentinel", "--config", CONFIG]
    assert unit_value(text, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert unit_value(text, "Restart") == "on-failure"
    capabilities = unit_value(text, "CapabilityBoundingSet").split()
    assert {"CAP_NET_ADMIN", "CAP_NET_RAW"} <= set(capabilities)
    assert "AF_NETLINK" in unit_value(text, "RestrictAddressFamilies").split()


def test_wrapper_runs_twistd_in_foreground_with_logs_on_stdout(root: Path) -> None:
    wrapper = root / "usr/sbin/netsentinel"
    assert os.access(wrapper, os.X_OK)
    command = [line for line in wrapper.read_text().splitlines() if line.startswith("exec ")]
    assert shlex.split(command[0]) == [
        "exec", f"{VENV}/bin/twistd", "--nodaemon", "--pidfile=", "--logfile=-",
        "netsentinel", "$@"]


def test_package_version_follows_setup_py(deb: Path) -> None:
    setup = (ROOT / "setup.py").read_text()
    upstream = setup.split('version="', 1)[1].split('"', 1)[0]
    assert dpkg_field(deb, "Version").split("-")[0] == upstream


def test_package_depends_on_nftables_libpcap_and_debian_python(deb: Path) -> None:
    names = {alternative.split()[0] for alternative in dpkg_field(deb, "Depends").split(", ")}
    assert {"nftables", "libnftables1", "python3-nftables", "libpcap0.8", "python3",
            "python3.11"} <= names


def test_configuration_is_the_annotated_example_as_a_conffile(deb: Path, root: Path) -> None:
    conffiles = subprocess.run(["dpkg-deb", "--info", str(deb), "conffiles"],
                               capture_output=True, text=True, check=True).stdout.split()
    assert conffiles == [CONFIG]
    assert (root / CONFIG.lstrip("/")).read_text() == EXAMPLE.read_text()


def test_package_holds_unit_daemon_ctl_and_venv(deb: Path) -> None:
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True,
                             text=True, check=True).stdout
    entries = {line.split(None, 5)[5] for line in listing.splitlines()}
    assert {"./lib/systemd/system/netsentinel.service", "./usr/sbin/netsentinel",
            "./usr/share/doc/netsentinel/packaging.md",   # the unit's Documentation=
            f"./usr/bin/netsentinel-ctl -> {VENV}/bin/netsentinel-ctl",
            f".{VENV}/bin/twistd", f".{VENV}/bin/netsentinel-ctl",
            f".{VENV}/lib/python3.11/site-packages/twisted/plugins/netsentinel_plugin.py",
            f".{VENV}/lib/python3.11/site-packages/nftables -> {NFTABLES_BINDING}"} <= entries
    # the postinst makes twistd's plugin cache: dpkg's file dates would make it stale
    assert not any(entry.endswith("/dropin.cache") for entry in entries)
    # ...and the bytecode; and the bundled distributions' VCS files stay out
    assert not any("__pycache__" in entry or entry.endswith((".pyc", "/.gitignore"))
                   for entry in entries)
    assert {"./usr/share/man/man8/netsentinel.8.gz", "./usr/share/man/man8/netsentinel-ctl.8.gz",
            "./usr/share/man/man5/netsentinel.yaml.5.gz",
            "./usr/share/bash-completion/completions/netsentinel-ctl"} <= entries


def test_package_passes_lintian_but_for_the_venvs_inherent_tags(deb: Path) -> None:
    """No error or warning; the overrides kept (debian/netsentinel.lintian-overrides)
    are the venv's and each says why, and every one of them is still needed."""
    require("lintian")
    result = subprocess.run(["lintian", "--info", "--fail-on", "error,warning", str(deb)],
                            capture_output=True, text=True, check=False, timeout=600)
    tags = [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert (result.returncode, tags) == (0, [])
    assert "unused-override" not in result.stdout and "mismatched-override" not in result.stdout
    overrides = (ROOT / "debian/netsentinel.lintian-overrides").read_text().split("\n\n")
    kept = [block for block in overrides[1:] if block.strip()]
    assert {block.splitlines()[-1].split()[0] for block in kept} == {
        "dir-or-file-in-opt", "unusual-interpreter", "initial-upload-closes-no-bugs"}
    assert all(block.startswith("# ") for block in kept)


def test_package_ships_manual_pages_that_render_and_the_completion(
        root: Path, tmp_path: Path) -> None:
    require("man")
    env = dict(clean_env(), LC_ALL="C.UTF-8", MANWIDTH="80")
    for page in ("man8/netsentinel.8.gz", "man8/netsentinel-ctl.8.gz",
                 "man5/netsentinel.yaml.5.gz"):
        result = subprocess.run(["man", "--warnings", "-l", str(root / "usr/share/man" / page)],
                                capture_output=True, text=True, check=False, env=env)
        assert (result.returncode, result.stderr) == (0, ""), page
        assert "SEE ALSO" in result.stdout
    completion = root / "usr/share/bash-completion/completions/netsentinel-ctl"
    assert completion.read_bytes() == (ROOT / "contrib/bash-completion/netsentinel-ctl").read_bytes()


def test_package_ships_prometheus_rules_and_grafana_dashboard(root: Path) -> None:
    share = root / "usr/share/netsentinel"
    for shipped, source in (("prometheus/netsentinel-rules.yml", "contrib/prometheus"),
                            ("prometheus/netsentinel-rules.test.yml", "contrib/prometheus"),
                            ("grafana/netsentinel.json", "contrib/grafana")):
        path = share / shipped
        assert path.read_bytes() == (ROOT / source / path.name).read_bytes(), shipped
        assert oct(path.stat().st_mode & 0o777) == "0o644"
    require("promtool")    # the shipped copy's tests pass where it is installed
    result = subprocess.run(["promtool", "test", "rules", "netsentinel-rules.test.yml"],
                            cwd=share / "prometheus", capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_is_not_enabled_on_install(deb: Path, tmp_path: Path) -> None:
    """The example names eth0/eth1: the admin edits it, then ``systemctl enable --now``."""
    subprocess.run(["dpkg-deb", "--control", str(deb), str(tmp_path)], check=True)
    postinst = (tmp_path / "postinst").read_text()
    enables = [line.strip() for line in postinst.splitlines()
               if "deb-systemd-helper enable" in line]
    assert enables == ["deb-systemd-helper enable 'netsentinel.service' >/dev/null || true"]
    assert "was-enabled" in postinst   # ...and that one line only re-enables on upgrade


def test_venv_keeps_no_trace_of_the_build_directory(root: Path) -> None:
    leaked = [str(path) for path in (root / VENV.lstrip("/")).rglob("*")
              if path.is_file() and not path.is_symlink()
              and b"/debian/netsentinel/" in path.read_bytes()]
    assert leaked == []


def test_packaged_python_uses_its_venv_and_debian_nftables_binding(
        root: Path, tmp_path: Path) -> None:
    probe = ("import sys, netsentinel.tap, nftables, pcapy, icmplib, twisted; "
             "print(netsentinel.tap.__file__); print(nftables.__file__); "
             "print('/usr/lib/python3/dist-packages' in sys.path); "
             "print(netsentinel.tap.makeService.__code__.co_filename)")
    result = run_packaged(root, [f"{VENV}/bin/python", "-c", probe], tmp_path)
    assert result.returncode == 0, result.stderr
    own, binding, system_site, compiled_from = result.stdout.split()
    assert own == f"{VENV}/lib/python3.11/site-packages/netsentinel/tap.py"
    assert compiled_from == own     # tracebacks from the postinst's bytecode show real paths
    assert binding == f"{VENV}/lib/python3.11/site-packages/nftables/__init__.py"
    assert system_site == "False"


def test_packaged_ctl_accepts_the_shipped_configuration(root: Path, tmp_path: Path) -> None:
    config = root / CONFIG.lstrip("/")
    result = run_packaged(root, [str(root / "usr/bin/netsentinel-ctl"), "check-config",
                                 str(config)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{config}: OK")


def test_packaged_ctl_rejects_a_broken_configuration(root: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("addresses:\n  delay: 0.2\n  colour: blue\n")
    result = run_packaged(root, [str(root / "usr/bin/netsentinel-ctl"), "check-config",
                                 str(broken)], tmp_path)
    assert result.returncode == 2
    assert str(broken) in result.stderr and "colour" in result.stderr


def test_package_installs_keeps_edited_conffile_on_upgrade_and_purges(
        deb: Path, tmp_path: Path) -> None:
    conf = CONFIG
    cache = f"{VENV}/lib/python3.11/site-packages/twisted/plugins/dropin.cache"
    output = in_throwaway_root(deb, tmp_path, f"""
        dpkg -i /tmp/pkg/netsentinel.deb >/dev/null
        netsentinel-ctl check-config {conf}
        dpkg --verify netsentinel && echo verified
        test -s {cache} && echo plugin cache made
        test -f {VENV}/lib/python3.11/site-packages/netsentinel/__pycache__/tap.cpython-311.pyc \
            && echo bytecode compiled
        man -w netsentinel-ctl
        systemctl is-enabled netsentinel.service || true
        echo '# edited here' >> {conf}
        dpkg -i /tmp/pkg/netsentinel.deb >/dev/null
        tail -n 1 {conf}
        dpkg --remove netsentinel >/dev/null
        test -e {VENV} || echo venv removed
        tail -n 1 {conf}
        dpkg --purge netsentinel >/dev/null
        test -e /etc/netsentinel || echo configuration purged
    """)
    checked, *lines = output.splitlines()
    assert checked.startswith(f"{conf}: OK")
    assert lines == [
        "verified", "plugin cache made", "bytecode compiled",
        "/usr/share/man/man8/netsentinel-ctl.8.gz", "disabled",
        "# edited here", "venv removed", "# edited here", "configuration purged"]


# a client that holds one connection through the forwarder across the upgrade
_HOLDER = """
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"before\\n"); assert s.recv(100) == b"before\\n"
print("held", flush=True)
while not os.path.exists("/tmp/go"):
    time.sleep(0.05)
s.sendall(b"after\\n"); print("echoed", s.recv(100).decode().strip(), flush=True)
"""


def test_upgrade_hands_over_to_a_new_daemon_and_cuts_no_connection(
        deb: Path, tmp_path: Path) -> None:
    """dpkg -i over a running daemon: the postinst's ``netsentinel-ctl restart`` starts
    a daemon of the new version on the same listener; a connection open through the old
    one keeps working. (No systemd here: the daemon is started by hand, as the unit's
    ExecStart would.)"""
    front, back = 19431, 19432
    output = in_throwaway_root(deb, tmp_path, f"""
        dpkg -i /tmp/pkg/netsentinel.deb >/dev/null
        printf 'forward:\\n  up: {{listen: "127.0.0.1:{front}", backend: "127.0.0.1:{back}", wait_timeout: 20}}\\n' > /tmp/fw.yaml
        socat TCP-LISTEN:{back},bind=127.0.0.1,reuseaddr,fork EXEC:cat & echo_pid=$!
        /usr/sbin/netsentinel --config /tmp/fw.yaml >/tmp/daemon.log 2>&1 &
        old=$! new=
        trap 'kill $echo_pid $old $new 2>/dev/null || true' EXIT
        for i in $(seq 300); do netsentinel-ctl ping >/dev/null 2>&1 && break; sleep 0.1; done
        cat > /tmp/holder.py <<'PY'
{_HOLDER}
PY
        python3 /tmp/holder.py {front} > /tmp/holder.out &
        holder=$!
        for i in $(seq 300); do grep -q held /tmp/holder.out && break; sleep 0.1; done
        reply=$(dpkg -i /tmp/pkg/netsentinel.deb | grep '^netsentinel:')
        new=$(echo "$reply" | sed -n 's/.* daemon \\([0-9]*\\) took over.*/\\1/p')
        echo "$reply" | sed 's/[0-9][0-9]*/N/g'
        netsentinel-ctl ping
        kill -0 $old && echo old daemon drains
        touch /tmp/go
        wait $holder
        cat /tmp/holder.out
        printf 'new\\n' | socat -t5 - TCP:127.0.0.1:{front}
    """)
    assert output.splitlines() == [
        "netsentinel: OK: daemon N took over N listening sockets; pid N drains N "
        "connections (up to wait_timeout)",
        "PONG", "old daemon drains", "held", "echoed after", "new"]


@pytest.fixture
def unit_daemon(root: Path, lab: Lab, tmp_path: Path) -> Iterator[Running]:
    """The unit's ExecStart with the shipped configuration, in a namespace that has
    that configuration's eth0 and eth1 and its ``inet filter`` sets."""
    ns = lab.netns("pkg")
    lab.veth(ns, "eth0", None, "eth1")
    lab.nft(ns, "table inet filter {\n" + "".join(
        f"  set {zone}_{suffix} {{ type {kind}; }}\n" for zone in ("wan", "lan")
        for suffix, kind in (("ips", "ipv4_addr"), ("ipv6", "ipv6_addr"))) + "}\n")
    socket_path = str(tmp_path / "ctl.sock")
    argv = [str(root / CONFIG.lstrip("/")) if arg == CONFIG else arg
            for arg in shlex.split(unit_value(UNIT.read_text(), "ExecStart"))]
    argv[0] = str(root / argv[0].lstrip("/"))
    with open(tmp_path / "journal.log", "wb") as log:
        process = lab.popen(ns, packaged(root, [*argv, "--socket", socket_path]),
                            stdout=log, stderr=subprocess.STDOUT, env=clean_env(),
                            cwd=str(tmp_path))
    yield lab, ns, socket_path, process
    if process.poll() is None:
        process.kill()


def test_unit_command_runs_the_daemon_on_the_shipped_configuration(
        unit_daemon: Running, deb: Path, root: Path, tmp_path: Path) -> None:
    lab, ns, socket_path, process = unit_daemon

    def answers() -> bool:
        assert process.poll() is None, (tmp_path / "journal.log").read_text()
        try:
            return control(socket_path, "ping") == "PONG"
        except OSError:
            return False
    wait_for(answers, timeout=30, what="packaged daemon answering ping")
    lab.run(ns, "ip", "addr", "add", "192.0.2.1/24", "dev", "eth0")
    wait_for(lambda: lab.nft_set(ns, "inet", "filter", "wan_ips") == {"192.0.2.1"},
             what="eth0's address in wan_ips")
    process.send_signal(signal.SIGHUP)    # the unit's ExecReload
    # eth1 is watched before the reload too: only the log line shows the reload happened
    wait_for(lambda: "configuration reloaded" in (tmp_path / "journal.log").read_text(),
             what="the SIGHUP reload done")
    lab.run(ns, "ip", "addr", "add", "198.51.100.1/24", "dev", "eth1")
    wait_for(lambda: lab.nft_set(ns, "inet", "filter", "lan_ips") == {"198.51.100.1"},
             what="eth1's address in lan_ips after the reload")
    process.terminate()                   # what systemctl stop sends
    # twistd ends by re-raising SIGTERM, which systemd counts as a clean stop
    assert process.wait(timeout=20) in (0, -signal.SIGTERM)
    journal = (tmp_path / "journal.log").read_text()
    assert "configuration reloaded" in journal and "Traceback" not in journal
    # the postinst's bytecode is valid as unpacked: running rewrote none of the package's
    # files and wrote no new one (no __pycache__, no plugin cache) under /opt
    assert changed_files(deb, root) == []
    written = [str(path) for path in (root / "opt").rglob("*")
               if path.lstat().st_mtime_ns > _CONFIGURED[root] and not path.is_dir()]
    assert written == []
