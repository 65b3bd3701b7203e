"""nftables through libnftables' JSON API."""
