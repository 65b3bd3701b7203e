"""netsentinel: one Twisted daemon for addresses, checks, triggers and forwarding."""

__version__ = "0.1.0"
