from typing import Iterator

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


FEATURE = Feature("addresses", parse, "netsentinel.addresses.service:AddressMonitor", sets)
