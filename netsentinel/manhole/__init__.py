"""The manhole: a Python prompt inside the running daemon, over SSH on loopback or a unix socket."""
