"""The process the gateway runs in: its garbage-collector settings (`heap.py`), the
event-loop lag monitor (`loop_lag.py`), both started by the gateway and read by `/metrics`,
and the budget that makes request starts take turns with the loop (`turns.py`, used by the
edge middleware)."""
