from netsentinel.features import Feature
from netsentinel.traffic.config import parse
from netsentinel.traffic.service import TrafficService

FEATURE = Feature("traffic", parse, TrafficService)
