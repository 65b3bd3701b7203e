from collections.abc import Iterator

from netsentinel.addresses.config import AddressesConfig, parse
from netsentinel.features import Feature, SetClaim


def sets(config: AddressesConfig) -> Iterator[SetClaim]:
    from netsentinel.addresses.zones import zone_sets
    nft = config.nftables
    if nft is None:
        return
    for zone, interfaces in config.zones.items():
        for spec in zone_sets(zone, nft.networks):
            yield SetClaim(nft.family, nft.table, spec.name,
                           ("addresses", "interfaces", interfaces[0], "zone"))


def uses_nft(config: AddressesConfig) -> bool:
    """Sets, or a ruleset file loaded through libnftables after the files are written."""
    return config.nftables is not None or bool(config.files and config.files.reload_ruleset)


FEATURE = Feature("addresses", parse, "netsentinel.addresses.service:AddressMonitor", sets,
                  uses_nft, snapshot="netsentinel.addresses.report:AddressesStatus")
