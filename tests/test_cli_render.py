"""netsentinel-ctl's text rendering of replies."""

from __future__ import annotations

import datetime

from netsentinel.cli.render import render


def test_monconn_integer_accessed_time_is_shown_as_a_date() -> None:
    when = 1714557600
    shown = datetime.datetime.fromtimestamp(when).isoformat(sep=" ", timespec="seconds")
    assert render({"accessed": when, "uptime": 5}).splitlines() == [
        f"accessed  {shown}", "uptime    5"]


def test_comma_joined_ips_stay_one_value() -> None:
    assert render({"ips": "10.0.0.1,10.0.0.2"}) == "ips  10.0.0.1,10.0.0.2"
