"""`kv_aware`: send a request where its prefix *is* cached, as the workers' KV events say.

Per request, in order (cache_aware's rules, with the index in place of the guess):
1. Skewed load (max − min > `balance_abs_threshold` AND max > `balance_rel_threshold` × min,
   load = in-flight + the worker's pushed or polled running + waiting) → the least loaded.
2. Otherwise each worker's cached prefix: from the KV index (kv_index.py) for a worker
   whose event stream is live, from cache_aware's radix tree for one whose stream is down.
   If the longest covers ≥ `cache_threshold` of the prompt → the least loaded of the
   workers holding that much.
3. Otherwise → the least loaded worker.
Every gateway replica reads the same events, so replicas agree on where a prefix lives;
the radix tree is still fed, so a worker whose stream drops is guessed for, not ignored.

The tokens predicted cached on the chosen worker are counted
(`sgl_router_kv_predicted_cached_tokens_total`), to compare with what workers report.
"""

from __future__ import annotations

from collections.abc import Sequence

from sglang_gw import metrics
from sglang_gw.routing._load import least_loaded
from sglang_gw.routing._radix import RadixTree, pack
from sglang_gw.routing.base import PolicyConfig, RoutableWorker, RouteRequest
from sglang_gw.routing.cache_aware import CacheAwarePolicy
from sglang_gw.routing.kv_index import KvIndexes

__all__ = ["KvAwarePolicy"]


class KvAwarePolicy(CacheAwarePolicy):
    name = "kv_aware"

    def __init__(self, config: PolicyConfig | None = None, *, seed: int | None = None,
                 indexes: KvIndexes | None = None) -> None:
        super().__init__(config, seed=seed)
        self.indexes = indexes or KvIndexes(self.config.block_size)

    def select(self, workers: Sequence[RoutableWorker], request: RouteRequest) -> RoutableWorker:
        ids = pack(request.prompt_ids) if request.prompt_ids else None
        tree = self._tree(request.model)
        matched = self._matched(workers, request, ids, tree) if ids else {}
        worker = self._pick(workers, matched, len(request.prompt_ids))
        if ids:
            tree.insert(ids, worker.url)
            # A worker computes at least the last prompt token, so it never reports it cached.
            metrics.record_kv_prediction(min(matched.get(worker.url, 0), len(request.prompt_ids) - 1))
        return worker

    def remove_worker(self, url: str) -> None:
        super().remove_worker(url)
        self.indexes.forget(url)

    def _matched(self, workers: Sequence[RoutableWorker], request: RouteRequest, ids: bytes,
                 tree: RadixTree) -> dict[str, int]:
        """Cached prefix tokens per worker: the index's for live streams, the tree's guess
        for the rest."""
        urls = [w.url for w in workers]
        found = self.indexes.model(request.model).matches(urls, request.prompt_ids, request.lora or "")
        guessed = [u for u in urls if u not in found]
        if guessed:
            length, holders = tree.match(ids, set(guessed))
            found.update(dict.fromkeys(holders, length))
        return found

    def _pick(self, workers: Sequence[RoutableWorker], matched: dict[str, int], n_tokens: int) -> RoutableWorker:
        if len(workers) == 1:
            return workers[0]
        if self._skewed(workers) or not n_tokens:
            return least_loaded(workers, self.rng)
        best = max(matched.values(), default=0)
        hit = best > 0 and best / n_tokens >= self.config.cache_threshold
        metrics.record_cache_lookup(hit)
        if hit:
            return least_loaded([w for w in workers if matched.get(w.url, 0) == best], self.rng)
        return least_loaded(workers, self.rng)
