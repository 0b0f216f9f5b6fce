"""The process the gateway runs in: its garbage-collector settings (`heap.py`) and the
event-loop lag monitor (`loop_lag.py`). Started by the gateway, read by `/metrics`."""
