"""The traffic triggers' Prometheus families, declared once for the snapshot that fills them."""

from __future__ import annotations

from netsentinel.metrics import counter, gauge

STATE = gauge("netsentinel_traffic_trigger_state",
              "1 for the trigger's current state (standby, starting, active, cancelling, "
              "stopping), 0 for the others.", "trigger", "state")
ACTIVATIONS = counter("netsentinel_traffic_activations_total",
                      "Times traffic started the trigger's command.", "trigger")
FAILURES = counter("netsentinel_traffic_command_failures_total",
                   "Start or stop commands that failed (non-zero, killed, dropped).", "trigger")
PACKETS = counter("netsentinel_traffic_packets_total",
                  "Packets read by the trigger's sources (a busy trigger's sources rest, "
                  "so this counts what was read, not all traffic).", "trigger")
