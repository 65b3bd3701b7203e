from netsentinel.docker.config import parse
from netsentinel.features import Feature

FEATURE = Feature("docker", parse, "netsentinel.docker.service:DockerMonitor")
