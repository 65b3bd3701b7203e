from netsentinel.features import Feature
from netsentinel.ha.config import holds, parse

FEATURE = Feature("ha", parse, "netsentinel.ha.service:HaService", holds=holds,
                  snapshot="netsentinel.ha.report:HaStatus")
