"""The container monitor's Prometheus families, declared once for the snapshot that fills them."""

from __future__ import annotations

from netsentinel.metrics import counter, gauge

CONNECTED = gauge("netsentinel_docker_connected",
                  "1 while the Docker event stream is open.")
CONNECTS = counter("netsentinel_docker_connects_total",
                   "Connections made to the Docker Engine API (each followed by a resync).")
EVENTS = counter("netsentinel_docker_events_total", "Container events received from Docker.")
CONTAINERS = gauge("netsentinel_docker_containers", "Running containers in the last listing.")
SET_ELEMENTS = gauge("netsentinel_docker_set_elements",
                     "Elements in the nft set as last synced.", "set")
SET_ERROR = gauge("netsentinel_docker_set_error",
                  "1 while the set's last sync failed (the reason is in status).", "set")
SYNCS = counter("netsentinel_docker_syncs_total",
                "Syncs: a container listing compared with the sets.")
TRANSACTIONS = counter("netsentinel_docker_nft_transactions_total",
                       "nft transactions applied (one per sync that changed a set).")
