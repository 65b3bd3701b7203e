from twisted.logger import LogLevel

from netsentinel.logs import format_for_journal


def test_lines_carry_syslog_priority_and_no_timestamp() -> None:
    event = {"log_format": "set {set} synced", "set": "wan_ips", "log_level": LogLevel.warn,
             "log_namespace": "netsentinel.addresses", "log_time": 0.0}
    assert format_for_journal(event) == "<4>[netsentinel.addresses] set wan_ips synced\n"


def test_multiline_messages_keep_their_priority_on_every_line() -> None:
    event = {"log_format": "a\nb", "log_level": LogLevel.error, "log_namespace": "x"}
    assert format_for_journal(event) == "<3>[x] a\n<3>[x] b\n"
