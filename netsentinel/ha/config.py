"""The ``ha:`` section.

```yaml
ha:
  keepalived:
    notify_fifo: /run/keepalived/notify.fifo
    instance: VI_WAN
    track_file: /run/keepalived/netsentinel.track
  master_only: [forward, ddns, failover]    # features, or checks' ddns/failover monitors
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from netsentinel.schema import (
    Section,
    integer,
    invalid,
    ip_address,
    list_of,
    number,
    string,
    writable_path,
)


@attrs.frozen
class HaConfig:
    notify_fifo: str                 # keepalived's global_defs notify_fifo
    instance: str                    # the vrrp_instance whose state we follow
    track_file: str | None = None    # keepalived's vrrp_track_file: we write the weight
    master_only: tuple[str, ...] = ()
    weight: int = 50                 # written while every uplink is up; 0 when all are down
    interval: float = 1.0            # how often the weight is recomputed and the FIFO checked
    vip: str | None = None           # at start, held features run if this address is local


# monitors of checks that can be master-only on their own (the feature's parts): ddns
# updates the name from one node only, failover sets the routes from one node only, while
# their uplink probes keep running on both for the track weight
PARTS = {"ddns": "checks.ddns", "failover": "checks.failover"}


def feature_key(value: Any) -> str:
    from netsentinel.features import load_features
    key = string(value)
    known = sorted(f.key for f in load_features() if f.key != "ha")
    if key in ("ping", "updown"):
        raise invalid(f"{key!r} is a monitor of checks that only watches: keep it running on "
                      f"both nodes (master-only monitors: {', '.join(PARTS)}), or name checks")
    if key not in known and key not in PARTS:
        raise invalid(f"{key!r} is not a feature (one of: {', '.join(known)}) nor a "
                      f"master-only monitor of checks ({', '.join(PARTS)})")
    return key


def parse(section: Section, options: Mapping[str, Any]) -> HaConfig | None:
    if not section.keys():
        return None
    keepalived = section.section("keepalived", required=True)
    config = HaConfig(
        notify_fifo=keepalived.get("notify_fifo", writable_path),
        instance=keepalived.get("instance", string),
        track_file=keepalived.get("track_file", writable_path, None),
        master_only=section.get("master_only", list_of(feature_key), ()),
        weight=keepalived.get("weight", integer(1, 254), 50),
        interval=section.get("interval", number(0.1, 60), 1.0),
        vip=section.get("vip", lambda v: str(ip_address(v)), None),
    )
    if len(set(config.master_only)) != len(config.master_only):
        section.problem("a feature is named twice", section.line_of("master_only"),
                        "master_only")
    parts = sorted(k for k in config.master_only if k in PARTS)
    if parts and "checks" in config.master_only:
        section.problem(f"checks moves as a whole already: {', '.join(parts)} in it too",
                        section.line_of("master_only"), "master_only")
    keepalived.done()
    section.done()
    return config


def switch_key(name: str) -> str:
    """A ``master_only`` entry as the daemon's switch names it (``checks.ddns``)."""
    return PARTS.get(name, name)


def holds(config: HaConfig) -> tuple[str, ...]:
    """The features (and parts of checks) the daemon leaves stopped until this one
    starts them."""
    return tuple(switch_key(name) for name in config.master_only)
