"""Command-line tools: ``netsentinel-ctl``."""
