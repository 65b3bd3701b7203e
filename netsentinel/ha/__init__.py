"""keepalived pairs: follow a VRRP instance's state and run some features only on MASTER."""
