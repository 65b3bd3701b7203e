from netsentinel.checks.config import parse
from netsentinel.features import Feature

FEATURE = Feature("checks", parse, "netsentinel.checks.service:ChecksService",
                  snapshot="netsentinel.checks.report:ChecksStatus")
