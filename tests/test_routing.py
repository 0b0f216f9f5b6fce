"""Routing policies: each policy's choice, the registry, cache locality, ring stability."""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint

import pytest

import sglang_gw.registry as registry_module
from sglang_gw.errors import ConfigError
from sglang_gw.registry import Registry
from sglang_gw.routing import (
    POLICIES,
    Policy,
    PolicyConfig,
    RoutableWorker,
    RouteRequest,
)
from sglang_gw.routing._radix import RadixTree, pack
from sglang_gw.routing.cache_aware import CacheAwarePolicy
from sglang_gw.routing.hashing import ConsistentHashingPolicy, PrefixHashPolicy

NAMES = ["random", "round_robin", "power_of_two", "least_load", "cache_aware", "consistent_hashing", "prefix_hash"]


@dataclass
class FakeWorker:
    url: str
    inflight: int = 0
    load: int = 0


def fleet(n: int) -> list[FakeWorker]:
    return [FakeWorker(f"grpc://w{i}:30000") for i in range(n)]


def make(name: str, seed: int = 0, **config: float) -> Policy:
    cls = POLICIES.get(name)
    config_obj = PolicyConfig(**config)  # type: ignore[arg-type]
    return cls(config_obj) if name == "round_robin" else cls(config_obj, seed=seed)  # type: ignore[call-arg]


def tokens(rng: random.Random, n: int) -> list[int]:
    return [rng.randrange(150_000) for _ in range(n)]


def req(ids: Sequence[int] = (), key: str | None = None, model: str = "m") -> RouteRequest:
    return RouteRequest(model=model, prompt_ids=ids, routing_key=key)


# -- registry ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_every_policy_is_registered_and_handles_one_worker(name: str) -> None:
    policy = make(name)
    assert isinstance(policy, Policy) and type(policy).name == name
    only = FakeWorker("grpc://only:1", inflight=7)
    for r in (req(), req([1, 2, 3], key="k")):
        assert policy.select([only], r) is only
    policy.remove_worker("grpc://never-seen:1")  # forgetting a stranger is a no-op


def test_unknown_policy_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        POLICIES.get("fastest")
    assert "fastest" in str(err.value) and all(n in str(err.value) for n in NAMES)


ALIASES = [("round-robin", "round_robin"), ("power-of-two", "power_of_two"), ("cache-aware", "cache_aware"),
           ("prefix-hash", "prefix_hash"), ("consistent-hashing", "consistent_hashing"), ("least-load", "least_load")]


@pytest.mark.parametrize(("alias", "name"), ALIASES)
def test_aliases(alias: str, name: str) -> None:
    assert POLICIES.canonical(alias) == name
    assert POLICIES.get(alias) is POLICIES.get(name)


class FirstPolicy(Policy):
    name = "first"

    def select(self, workers: Sequence[RoutableWorker], request: RouteRequest) -> RoutableWorker:
        return workers[0]


def test_plugin_registered_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(POLICIES, "_loaded", dict(POLICIES._loaded))  # undone after the test
    POLICIES.register("first")(FirstPolicy)
    assert "first" in POLICIES.names()
    workers = fleet(3)
    assert POLICIES.get("first")().select(workers, req()) is workers[0]


def test_plugin_from_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    group = "sglang_gw.policies"
    ep = EntryPoint("first", f"{__name__}:FirstPolicy", group)
    monkeypatch.setattr(registry_module, "_entry_points", lambda g: [ep] if g == group else [])
    fresh: Registry[Policy] = Registry("routing policy", {}, entry_point_group=group)
    assert fresh.get("first") is FirstPolicy


# -- simple policies --------------------------------------------------------------------

def test_random_reaches_everyone_and_is_reproducible() -> None:
    workers = fleet(4)
    policy_a, policy_b = make("random", seed=3), make("random", seed=3)
    picks = [policy_a.select(workers, req()).url for _ in range(400)]
    assert picks == [policy_b.select(workers, req()).url for _ in range(400)]
    counts = Counter(picks)
    assert len(counts) == 4 and min(counts.values()) > 60


def test_round_robin_cycles() -> None:
    workers = fleet(3)
    policy = make("round_robin")
    assert [policy.select(workers, req()).url for _ in range(6)] == [w.url for w in workers] * 2


def test_power_of_two_prefers_the_lighter_candidate() -> None:
    workers = fleet(5)
    for i, w in enumerate(workers):
        w.inflight = i * 10
    policy = make("power_of_two", seed=1)
    picks = Counter(policy.select(workers, req()).url for _ in range(500))
    assert workers[-1].url not in picks  # the busiest loses every duel it is drawn into
    assert picks[workers[0].url] > picks[workers[3].url]
    pair = fleet(2)
    pair[0].load = 5
    assert all(policy.select(pair, req()) is pair[1] for _ in range(20))


def test_least_load_counts_inflight_and_reported_load() -> None:
    workers = fleet(3)
    workers[0].inflight, workers[1].load, workers[2].inflight, workers[2].load = 3, 2, 1, 2
    policy = make("least_load")
    assert policy.select(workers, req()) is workers[1]
    idle = fleet(4)
    assert len({policy.select(idle, req()).url for _ in range(100)}) == 4  # ties spread


# -- cache_aware ------------------------------------------------------------------------

def simulate(policy: Policy, workers: list[FakeWorker], prompts: list[list[int]], hold: int = 8) -> list[str]:
    """Route `prompts` in order; each keeps its worker busy for the next `hold` requests."""
    busy: deque[FakeWorker] = deque()
    chosen = []
    for ids in prompts:
        worker = policy.select(workers, req(ids))
        worker.inflight += 1
        busy.append(worker)
        if len(busy) > hold:
            busy.popleft().inflight -= 1
        chosen.append(worker.url)
    return chosen


def test_cache_aware_keeps_a_shared_prefix_together_and_spreads_the_rest() -> None:
    rng = random.Random(7)
    workers = fleet(8)
    system = tokens(rng, 1000)
    shared = [system + tokens(rng, 60) for _ in range(300)]
    unrelated = [tokens(rng, 1060) for _ in range(300)]
    order = [True] * 300 + [False] * 300
    rng.shuffle(order)
    it_s, it_u = iter(shared), iter(unrelated)
    prompts = [next(it_s) if s else next(it_u) for s in order]
    chosen = simulate(make("cache_aware", seed=1), workers, prompts)
    (hot, hits), = Counter(url for url, s in zip(chosen, order, strict=True) if s).most_common(1)
    assert hits >= 0.9 * 300
    # The hot worker is busier, so unrelated prompts go evenly to the other seven.
    spread = Counter(url for url, s in zip(chosen, order, strict=True) if not s and url != hot)
    fair = sum(spread.values()) / 7
    assert len(spread) == 7 and 0.7 * fair < min(spread.values()) <= max(spread.values()) < 1.3 * fair


def seeded_pair(policy: Policy, prefix: list[int]) -> list[FakeWorker]:
    """Two workers; the first has served `prefix`."""
    workers = fleet(2)
    workers[1].inflight = 1000  # force the seed request onto workers[0] (skew → least loaded)
    assert policy.select(workers, req(prefix)) is workers[0]
    workers[1].inflight = 0
    return workers


@pytest.mark.parametrize(("threshold", "expect_holder"), [(0.4, True), (0.6, False)])
def test_cache_aware_cache_threshold(threshold: float, expect_holder: bool) -> None:
    rng = random.Random(1)
    prefix = tokens(rng, 100)
    policy = make("cache_aware", cache_threshold=threshold)
    workers = seeded_pair(policy, prefix)
    workers[0].inflight = 3  # busier, but not skewed: only the match can win it the request
    picked = policy.select(workers, req(prefix[:50] + tokens(rng, 50)))  # 50% match
    assert (picked is workers[0]) is expect_holder


@pytest.mark.parametrize(("holder_load", "other_load", "expect_holder"),
                         [(60, 0, True),      # gap 60 ≤ abs 64: stay with the cache
                          (100, 0, False),    # gap 100 > 64 and 100 > 1.5·0: balance
                          (260, 200, True),   # gap 60, and 260 < 1.5·200
                          (400, 200, False)])  # gap 200 > 64 and 400 > 300
def test_cache_aware_balance_thresholds(holder_load: int, other_load: int, expect_holder: bool) -> None:
    rng = random.Random(2)
    prefix = tokens(rng, 200)
    policy = make("cache_aware")
    workers = seeded_pair(policy, prefix)
    workers[0].load, workers[1].load = holder_load, other_load
    assert (policy.select(workers, req(prefix)) is workers[0]) is expect_holder


def test_cache_aware_evicts_least_recently_used_past_max_tree_size() -> None:
    rng = random.Random(3)
    policy = make("cache_aware", max_tree_size=100)
    assert isinstance(policy, CacheAwarePolicy)
    workers = seeded_pair(policy, a := tokens(rng, 40))
    workers[1].inflight = 1000
    b, c = tokens(rng, 40), tokens(rng, 40)
    policy.select(workers, req(b))
    policy.select(workers, req(a))  # a is fresh again; b is now the oldest
    policy.select(workers, req(c))  # 120 tokens > 100: b goes
    assert policy.cached_tokens("m", workers[0].url) == 80
    workers[1].inflight, workers[0].inflight = 0, 5
    assert policy.select(workers, req(a)) is workers[0]  # still cached there
    assert policy.select(workers, req(b)) is workers[1]  # forgotten: least loaded


def test_cache_aware_forgets_removed_workers() -> None:
    rng = random.Random(4)
    prefix = tokens(rng, 64)
    policy = make("cache_aware")
    assert isinstance(policy, CacheAwarePolicy)
    workers = seeded_pair(policy, prefix)
    policy.remove_worker(workers[0].url)
    assert policy.cached_tokens("m", workers[0].url) == 0
    workers[0].inflight = 2  # back under the same URL: no stale affinity pulls it there
    assert policy.select(workers, req(prefix)) is workers[1]


def test_cache_aware_trees_are_per_model() -> None:
    rng = random.Random(5)
    prefix = tokens(rng, 64)
    policy = make("cache_aware")
    workers = seeded_pair(policy, prefix)
    workers[0].inflight = 2
    assert policy.select(workers, req(prefix, model="other")) is workers[1]


# -- the radix tree against a brute-force reference --------------------------------------

def walk(tree: RadixTree) -> list:
    nodes, stack = [], [tree._root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.children.values())
    return nodes


def check_invariants(tree: RadixTree, tenants: Sequence[str]) -> None:
    for node in walk(tree)[1:]:
        assert node.key and node.tenants, "no empty nodes stay attached"
        assert node.tenants <= (node.parent.tenants if node.parent is not tree._root else node.tenants)
        assert node.parent.children[node.key[:4]] is node
    for t in tenants:
        assert tree.tenant_size(t) == sum(len(n.key) // 4 for n in walk(tree) if t in n.tenants)
        assert tree.tenant_size(t) <= tree.max_tokens


def lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_radix_tree_matches_a_brute_force_reference() -> None:
    rng = random.Random(11)
    tree, sent = RadixTree(max_tokens=10**9), {f"t{i}": [] for i in range(4)}
    stems = [tokens(rng, rng.randrange(1, 30)) for _ in range(6)]
    for _ in range(300):
        ids = rng.choice(stems)[: rng.randrange(1, 30)] + tokens(rng, rng.randrange(0, 8))
        eligible = set(rng.sample(sorted(sent), rng.randrange(1, 5)))
        got_len, got = tree.match(pack(ids), eligible)
        best = {t: max((lcp(ids, p) for p in sent[t]), default=0) for t in eligible}
        want_len = max(best.values())
        assert got_len == want_len
        assert got == ({t for t, v in best.items() if v == want_len} if want_len else set())
        tenant = rng.choice(sorted(sent))
        tree.insert(pack(ids), tenant)
        sent[tenant].append(ids)
    check_invariants(tree, sorted(sent))


def test_radix_tree_stays_bounded_and_consistent_under_eviction() -> None:
    rng = random.Random(12)
    tree = RadixTree(max_tokens=120)
    stems = [tokens(rng, 40) for _ in range(5)]
    for _ in range(400):
        ids = rng.choice(stems)[: rng.randrange(1, 40)] + tokens(rng, rng.randrange(0, 30))
        tree.insert(pack(ids), f"t{rng.randrange(3)}")
    check_invariants(tree, ["t0", "t1", "t2"])
    for t in ("t0", "t1"):
        tree.remove_tenant(t)
    check_invariants(tree, ["t2"])
    assert all(n.tenants == {"t2"} for n in walk(tree)[1:])


def test_out_of_range_ids_are_routed_without_the_cache() -> None:
    workers = fleet(2)
    assert make("cache_aware").select(workers, req([-1, 5])) in workers


# -- consistent_hashing -----------------------------------------------------------------

KEYS = [f"session-{i}" for i in range(3000)]


def placement(policy: Policy, workers: Sequence[FakeWorker]) -> dict[str, str]:
    return {k: policy.select(workers, req(key=k)).url for k in KEYS}


def test_consistent_hashing_is_sticky_balanced_and_the_same_everywhere() -> None:
    workers = fleet(8)
    first = placement(make("consistent_hashing", seed=1), workers)
    assert first == placement(make("consistent_hashing", seed=2), list(reversed(workers)))
    counts = Counter(first.values())
    fair = len(KEYS) / 8
    assert len(counts) == 8 and max(counts.values()) < 1.5 * fair and min(counts.values()) > 0.6 * fair


def test_consistent_hashing_adding_a_worker_moves_about_one_nth() -> None:
    workers = fleet(9)
    policy = make("consistent_hashing")
    before = placement(policy, workers[:8])
    after = placement(policy, workers)
    moved = [k for k in KEYS if before[k] != after[k]]
    assert len(moved) <= (1 / 9 + 0.04) * len(KEYS)
    assert all(after[k] == workers[8].url for k in moved)  # only onto the newcomer


@pytest.mark.parametrize("forget", [True, False])
def test_consistent_hashing_losing_a_worker_moves_only_its_keys(forget: bool) -> None:
    workers = fleet(8)
    policy = make("consistent_hashing")
    before = placement(policy, workers)
    gone = workers[3]
    if forget:
        policy.remove_worker(gone.url)  # left the fleet; otherwise merely unhealthy
    after = placement(policy, [w for w in workers if w is not gone])
    assert all(after[k] == before[k] for k in KEYS if before[k] != gone.url)
    assert placement(policy, workers) == before  # back (or re-added): its keys return


def test_consistent_hashing_without_a_key_balances_load() -> None:
    workers = fleet(3)
    workers[0].inflight, workers[1].load = 4, 4
    assert make("consistent_hashing").select(workers, req()) is workers[2]


# -- prefix_hash ------------------------------------------------------------------------

def test_prefix_hash_same_head_same_worker_and_heads_spread() -> None:
    rng = random.Random(21)
    workers = fleet(6)
    policy = make("prefix_hash", prefix_token_count=32)
    head = tokens(rng, 32)
    assert len({policy.select(workers, req(head + tokens(rng, 20))).url for _ in range(50)}) == 1
    spread = Counter(policy.select(workers, req(tokens(rng, 40))).url for _ in range(600))
    assert len(spread) == 6 and min(spread.values()) > 50


def test_prefix_hash_escapes_an_overloaded_worker() -> None:
    rng = random.Random(22)
    workers = fleet(4)
    policy = make("prefix_hash", prefix_token_count=16)
    assert isinstance(policy, PrefixHashPolicy)
    ids = tokens(rng, 16)
    home = policy.select(workers, req(ids))
    home.inflight = 11  # average 2.75: 4× the average but only 8.25 over it (abs threshold 10)
    assert policy.select(workers, req(ids)) is home
    home.inflight = 40  # 4× the average and 30 over it: walk on
    second = policy.select(workers, req(ids))
    assert second is not home
    assert policy.select(workers, req(ids)) is second  # the escape is itself stable


def test_prefix_hash_without_prompt_balances_load() -> None:
    workers = fleet(3)
    workers[0].inflight = workers[2].inflight = 1
    assert make("prefix_hash").select(workers, req()) is workers[1]


def test_hash_policies_share_nothing_across_models() -> None:
    workers = fleet(4)
    policy = ConsistentHashingPolicy()
    a = placement(policy, workers)
    policy.select(workers[:2], req(key="x", model="small"))
    assert placement(policy, workers) == a


def test_policies_touch_only_the_workers_they_are_given() -> None:
    rng = random.Random(30)
    everyone = fleet(6)
    eligible = everyone[1:4]
    allowed = {w.url for w in eligible}
    factories: list[Callable[[], Policy]] = [lambda n=n: make(n, seed=5) for n in NAMES]
    for factory in factories:
        policy = factory()
        policy.select(everyone, req(tokens(rng, 50), key="warm"))  # warm on the full fleet
        for _ in range(30):
            assert policy.select(eligible, req(tokens(rng, 50), key=str(rng.random()))).url in allowed
