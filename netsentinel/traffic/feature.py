from netsentinel.features import Feature
from netsentinel.traffic.config import parse

FEATURE = Feature("traffic", parse, "netsentinel.traffic.service:TrafficService",
                  snapshot="netsentinel.traffic.report:TrafficStatus")
