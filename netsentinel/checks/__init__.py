"""Health checks on timers (imon's job): ping, up/down, external address, failover.

One ICMP engine (shared raw sockets read by the reactor) serves every monitor;
each monitor is a small state machine that publishes :class:`CheckEvent` on the
bus, and one sink turns those into imon-compatible action-script calls.
"""
