"""Routing policies: `POLICIES.get(name)(config)` gives a policy whose `select(workers,
request)` picks one of the eligible workers for one request.

- `base.py`: the contract (`Policy`, `PolicyConfig`, `RouteRequest`, `RoutableWorker`).
- `simple.py`: `random`, `round_robin`, `power_of_two`, `least_load`.
- `hashing.py`: `consistent_hashing` (routing key) and `prefix_hash` (prompt head).
- `cache_aware.py`: prefix-cache locality over `_radix.py`, an approximate radix tree.
- `kv_aware.py`: prefix-cache locality from the workers' KV events (`kv_index.py`, whose
  block names are SGLang's page-hash chain, `kv_hash.py`).
- `_ring.py`, `_load.py`: the hash ring and the load helpers (private).

Registered names and aliases are CLI values (`--policy`, `--prefill-policy`,
`--decode-policy`), spelled as smg spells them. Plugins: entry point group
`sglang_gw.policies` (`name = "pkg.module:Class"`) or `POLICIES.register(name)` on a
`Policy` subclass. See docs/routing.md.
"""

from __future__ import annotations

from sglang_gw.registry import Registry
from sglang_gw.routing.base import Policy, PolicyConfig, RoutableWorker, RouteRequest

__all__ = ["POLICIES", "Policy", "PolicyConfig", "RoutableWorker", "RouteRequest"]

_R = "sglang_gw.routing"

POLICIES: Registry[Policy] = Registry(
    "routing policy",
    {
        "random": f"{_R}.simple:RandomPolicy",
        "round_robin": f"{_R}.simple:RoundRobinPolicy",
        "power_of_two": f"{_R}.simple:PowerOfTwoPolicy",
        "least_load": f"{_R}.simple:LeastLoadPolicy",
        "cache_aware": f"{_R}.cache_aware:CacheAwarePolicy",
        "kv_aware": f"{_R}.kv_aware:KvAwarePolicy",
        "consistent_hashing": f"{_R}.hashing:ConsistentHashingPolicy",
        "prefix_hash": f"{_R}.hashing:PrefixHashPolicy",
    },
    # Hyphenated spellings are what people type after `--policy`; accept them explicitly.
    aliases={
        "round-robin": "round_robin",
        "power-of-two": "power_of_two",
        "least-load": "least_load",
        "cache-aware": "cache_aware",
        "kv-aware": "kv_aware",
        "consistent-hashing": "consistent_hashing",
        "prefix-hash": "prefix_hash",
    },
    entry_point_group="sglang_gw.policies",
)
