"""Route netlink as reactor readers: change notifications and full dumps."""
