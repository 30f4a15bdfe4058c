"""Scale-out: prefix affinity for replicas with prefix caches, and the local engine served by Ray Serve.

The policy (`affinity`) is plain Python that the upstream router and the Ray Serve request router share; the Ray side
(`ray_serve`) imports Ray and loads only with `engine.backend: ray`.
"""

from .affinity import Affinity, prefix_key, rank

__all__ = ["Affinity", "prefix_key", "rank"]
