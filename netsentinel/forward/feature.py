from netsentinel.features import Feature
from netsentinel.forward.config import parse

FEATURE = Feature("forward", parse, "netsentinel.forward.service:Forwarding")
