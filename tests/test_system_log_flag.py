"""imon's SYSLOGFLAG follows where the daemon's lines go (0: syslog or journald)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile

from netsentinel.logs import logs_to_system_log


def test_syslog_option_and_journald_logger_mean_system_log() -> None:
    with tempfile.TemporaryFile() as stream:
        assert logs_to_system_log(["twistd", "--syslog", "netsentinel"], {}, stream)
        assert logs_to_system_log(["twistd", "--logger=netsentinel.logs.journald"], {}, stream)
        assert not logs_to_system_log(["twistd", "-n", "netsentinel"], {}, stream)


def test_journal_stream_counts_only_for_our_own_stream() -> None:
    with tempfile.TemporaryFile() as ours, tempfile.TemporaryFile() as other:
        info = os.fstat(ours.fileno())
        env = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        assert logs_to_system_log(["twistd"], env, ours)
        assert not logs_to_system_log(["twistd"], env, other)   # output redirected elsewhere


def test_the_soft_open_files_limit_is_raised_to_the_hard_one() -> None:
    code = ("import resource; from netsentinel.tap import raise_fd_limit; raise_fd_limit(); "
            "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    result = subprocess.run(["prlimit", f"--nofile=256:{hard}", sys.executable, "-c", code],
                            check=True, capture_output=True, text=True)
    assert int(result.stdout) == hard
