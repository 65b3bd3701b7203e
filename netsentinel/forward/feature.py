from collections.abc import Iterator

from netsentinel.features import Feature, SetClaim
from netsentinel.forward.config import ForwardConfig, parse


def sets(config: ForwardConfig) -> Iterator[SetClaim]:
    for service in config.services:
        ref = service.blacklist_set
        if ref is not None:
            for name in (ref.name, ref.name6):
                yield SetClaim(ref.family, ref.table, name,
                               ("forward", service.name, "blacklist_set"))
        ban = service.ban
        if ban is not None:
            for name in filter(None, (ban.set, ban.set6, ban.set6_prefix)):
                yield SetClaim(*ban.where, name, ("forward", service.name, "ban", "set"))


FEATURE = Feature("forward", parse, "netsentinel.forward.service:Forwarding", sets,
                  snapshot="netsentinel.forward.report:ForwardStatus")
