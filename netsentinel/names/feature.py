from collections.abc import Iterator

from netsentinel.features import Feature, SetClaim
from netsentinel.names.config import NamesConfig, parse


def sets(config: NamesConfig) -> Iterator[SetClaim]:
    for entry in config.sets:
        for name in entry.set_names:
            yield SetClaim(entry.family, entry.table, name, ("names", "sets", entry.key))


FEATURE = Feature("names", parse, "netsentinel.names.service:NameFollower", sets,
                  snapshot="netsentinel.names.report:NamesStatus")
