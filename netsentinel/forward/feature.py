from netsentinel.features import Feature
from netsentinel.forward.config import parse
from netsentinel.forward.service import Forwarding

FEATURE = Feature("forward", parse, Forwarding)
