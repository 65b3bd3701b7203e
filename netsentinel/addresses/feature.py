from netsentinel.addresses.config import parse
from netsentinel.features import Feature

FEATURE = Feature("addresses", parse, "netsentinel.addresses.service:AddressMonitor")
