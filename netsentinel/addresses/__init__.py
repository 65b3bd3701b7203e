"""The address monitor (IPMon + rust-network-mgr): netlink → nft sets, files, proxy, action."""
