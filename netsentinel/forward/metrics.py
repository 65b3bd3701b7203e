"""The forward feature's metric families, declared apart so the snapshot can fill them
without importing the service that builds it."""

from __future__ import annotations

from netsentinel.metrics import counter, gauge

UP = gauge("netsentinel_forward_up", "1 while the service is accepting connections.", "service")
OPEN = gauge("netsentinel_forward_open_connections", "Connections open now.", "service")
CLIENT_IPS = gauge("netsentinel_forward_client_ips",
                   "Distinct client addresses with an open connection.", "service")
ACCEPTED = counter("netsentinel_forward_accepted_total",
                   "Connections admitted since the service started.", "service")
CLOSED = counter("netsentinel_forward_closed_total", "Connections closed, by reason.",
                 "service", "reason")
REJECTED = counter("netsentinel_forward_rejected_total",
                   "Connections refused at accept, by reason (blacklist or a limit).",
                   "service", "reason")
BACKEND_FAILURES = counter("netsentinel_forward_backend_failures_total",
                           "Connections whose backend could not be reached.", "service")
BYTES = counter("netsentinel_forward_bytes_total",
                "Bytes relayed, open connections included: up is client to backend, "
                "down is backend to client.", "service", "direction")
BLACKLIST = gauge("netsentinel_forward_blacklist_entries",
                  "Addresses and networks on the service's blacklist.", "service")
BANS_ACTIVE = gauge("netsentinel_forward_bans_active",
                    "Clients (or IPv6 prefixes) banned in the kernel now.", "service")
BANS_ADDED = counter("netsentinel_forward_bans_added_total",
                     "Bans made since the daemon started (thresholds crossed and "
                     "`forward ban`).", "service")
BANNED_SEEN = counter("netsentinel_forward_banned_refused_total",
                      "Connections or datagrams of banned clients that reached the daemon "
                      "anyway (refused there; the kernel drops the rest).", "service")
DATAGRAMS = counter("netsentinel_forward_datagrams_total",
                    "UDP datagrams relayed: up is client to backend, down is backend to "
                    "client.", "service", "direction")
EVICTED = counter("netsentinel_forward_sessions_evicted_total",
                  "UDP sessions ended early to admit a new one at the session cap.",
                  "service")
