"""`make soak`'s pieces: the fleet of processes (fleet.py), the clients and the one outcome
each request ends with (traffic.py), the worker faults (faults.py), and what must hold at
the end (checks.py). scripts/soak.py runs them together."""
