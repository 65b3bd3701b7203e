"""Docker containers' addresses into nft sets (rust-network-mgr's Docker monitor)."""
