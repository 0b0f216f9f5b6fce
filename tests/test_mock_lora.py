"""The mock worker's adapter table: capacity, LRU eviction of unpinned adapters, ids."""

from __future__ import annotations

from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.mock_lora import LoraTable


def load(table: LoraTable, name: str, pinned: bool = False) -> pb.LoadLoRAAdapterResponse:
    return table.load(pb.LoadLoRAAdapterRequest(lora_name=name, lora_path=f"/a/{name}", pinned=pinned))


def names(table: LoraTable) -> list[str]:
    return [a.lora_name for a in table.listing()]


def test_the_least_recently_used_unpinned_adapter_is_evicted() -> None:
    table = LoraTable(capacity=2)
    load(table, "a")
    load(table, "b")
    assert table.use(table.listing()[0].lora_id)  # a is now the most recent
    assert load(table, "c").success
    assert names(table) == ["a", "c"]


def test_pinned_adapters_stay_and_a_full_pinned_table_refuses() -> None:
    table = LoraTable(capacity=1)
    load(table, "a", pinned=True)
    answer = load(table, "b")
    assert not answer.success and names(table) == ["a"]


def test_unload_by_name_or_id_and_unknown() -> None:
    table = LoraTable()
    load(table, "a")
    load(table, "b")
    b_id = table.listing()[1].lora_id
    assert table.unload(pb.UnloadLoRAAdapterRequest(lora_id=b_id)).success
    assert table.unload(pb.UnloadLoRAAdapterRequest(lora_name="a")).loaded_lora_ids == []
    assert not table.unload(pb.UnloadLoRAAdapterRequest(lora_name="a")).success
    assert not table.use(b_id)
