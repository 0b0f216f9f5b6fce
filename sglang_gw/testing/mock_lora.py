"""The LoRA adapters a mock worker holds: a table with a capacity that evicts the least
recently used unpinned adapter, as SGLang's `--max-loaded-loras` does.

Each adapter gets an id derived from its name and path (a real worker makes a uuid); a
`GenerateRequest` names the adapter by that id in `lora_id`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from sglang_gw.proto import sglang_scheduler_pb2 as pb

__all__ = ["LoraTable"]


class LoraTable:
    """Loaded adapters by name, least recently used first."""

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self._by_name: OrderedDict[str, pb.LoadedLoRAAdapter] = OrderedDict()

    def ids(self) -> list[str]:
        return [a.lora_id for a in self._by_name.values()]

    def listing(self) -> list[pb.LoadedLoRAAdapter]:
        return list(self._by_name.values())

    def load(self, req: pb.LoadLoRAAdapterRequest) -> pb.LoadLoRAAdapterResponse:
        if not req.lora_name or not req.lora_path:
            return self._load_answer(False, "lora_name and lora_path are required")
        if req.lora_name in self._by_name:
            self._by_name.move_to_end(req.lora_name)
            return self._load_answer(True, f"{req.lora_name} already loaded")
        if len(self._by_name) >= self.capacity and not self._evict():
            return self._load_answer(False, f"all {self.capacity} adapter slots hold pinned adapters")
        lora_id = req.lora_id or hashlib.sha256(f"{req.lora_name}\0{req.lora_path}".encode()).hexdigest()[:16]
        self._by_name[req.lora_name] = pb.LoadedLoRAAdapter(lora_id=lora_id, lora_name=req.lora_name,
                                                             lora_path=req.lora_path, pinned=req.pinned)
        return self._load_answer(True, f"loaded {req.lora_name}")

    def unload(self, req: pb.UnloadLoRAAdapterRequest) -> pb.UnloadLoRAAdapterResponse:
        name = req.lora_name or next((n for n, a in self._by_name.items() if a.lora_id == req.lora_id), "")
        if self._by_name.pop(name, None) is None:
            return pb.UnloadLoRAAdapterResponse(success=False, message=f"adapter {name or req.lora_id!r} is not loaded",
                                                loaded_lora_ids=self.ids())
        return pb.UnloadLoRAAdapterResponse(success=True, message=f"unloaded {name}", loaded_lora_ids=self.ids())

    def use(self, lora_id: str) -> bool:
        """Mark the adapter with this id as just used; False if none has it."""
        for name, adapter in self._by_name.items():
            if adapter.lora_id == lora_id:
                self._by_name.move_to_end(name)
                return True
        return False

    def _evict(self) -> bool:
        victim = next((n for n, a in self._by_name.items() if not a.pinned), None)
        if victim is None:
            return False
        del self._by_name[victim]
        return True

    def _load_answer(self, ok: bool, message: str) -> pb.LoadLoRAAdapterResponse:
        return pb.LoadLoRAAdapterResponse(success=ok, message=message, loaded_lora_ids=self.ids())
