"""The pieces of `scripts/bench.py` (`make bench`), one concept per module:

- `settings`: paths, names and limits every module shares;
- `scenarios`: what each scenario sends and for how long;
- `prompts`: request bodies (and the floor's pre-tokenized gRPC requests);
- `texts`: new text no cache holds (ASCII prose-and-code, Chinese) for the fresh scenarios;
- `procs`: the processes under test, their CPU time from /proc, core pinning;
- `http_client`: the keep-alive HTTP/1.1 load client and the `Tally` it records into;
- `window`: one measured window (closed-loop users, an optional side client) and its figures;
- `promscrape`: the gateway's event-loop lag, read from its Prometheus listener;
- `gateways`: how ours and smg are launched and when they are ready;
- `profiling`: py-spy around one window, and the summary of its output;
- `runner`: every scenario against every target;
- `embed`: the embeddings scenarios, on an embedding worker of their own;
- `kv_routing`: the `kv-routing` scenario (cache_aware vs kv_aware, one and two gateway
  replicas), on a fleet of four KV-caching mock workers of its own;
- `memory`: RSS idle and with many streams open, on a slow worker of its own;
- `report`: results.json and the markdown tables.
"""
