from netsentinel.features import Feature
from netsentinel.manhole.config import parse

FEATURE = Feature("manhole", parse, "netsentinel.manhole.service:ManholeService",
                  snapshot="netsentinel.manhole.report:ManholeStatus")
