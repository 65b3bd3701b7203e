from collections.abc import Iterator

from netsentinel.docker.config import DockerConfig, parse
from netsentinel.features import Feature, SetClaim


def sets(config: DockerConfig) -> Iterator[SetClaim]:
    from netsentinel.docker.containers import zone_specs
    nft = config.nftables
    for rule in config.zones:
        for spec in zone_specs([rule]):
            yield SetClaim(nft.family, nft.table, spec.name, ("docker", "zones", rule.zone))


FEATURE = Feature("docker", parse, "netsentinel.docker.service:DockerMonitor", sets,
                  snapshot="netsentinel.docker.report:DockerStatus")
