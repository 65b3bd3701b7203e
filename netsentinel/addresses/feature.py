from netsentinel.addresses.config import parse
from netsentinel.addresses.service import AddressMonitor
from netsentinel.features import Feature

FEATURE = Feature("addresses", parse, AddressMonitor)
