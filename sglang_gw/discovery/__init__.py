"""Workers found at run time: Kubernetes pods by label selector, or a file of worker bodies.

    config.py      DiscoveryConfig, KubernetesConfig (built by the CLI)
    registry.py    Registry: the seam to the gateway (add a body, drain and remove a url)
    reconcile.py   Reconciler: one source's wanted set, diffed and applied in order per url
    kubernetes.py  KubernetesSource: list + watch with kubernetes_asyncio (bookmarks, 410)
    file.py        FileSource: --discovery-file, polled and diffed
    service.py     Discovery: the sources of one gateway, started and stopped together

A source speaks in `POST /workers` bodies, passed through untouched, so every field of the
`/workers` API works in a discovery file too.
"""

from sglang_gw.discovery.config import DiscoveryConfig, KubernetesConfig
from sglang_gw.discovery.reconcile import Reconciler
from sglang_gw.discovery.registry import Body, Registry
from sglang_gw.discovery.service import Discovery

__all__ = ["Body", "Discovery", "DiscoveryConfig", "KubernetesConfig", "Reconciler", "Registry"]
