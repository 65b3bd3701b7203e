from netsentinel.checks.config import parse
from netsentinel.checks.service import ChecksService
from netsentinel.features import Feature

FEATURE = Feature("checks", parse, ChecksService)
