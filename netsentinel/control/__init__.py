"""The control socket: AMP for ``netsentinel-ctl``, plain lines for socat."""
