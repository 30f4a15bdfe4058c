"""Observability hung on the flow's observers: metrics, traces and the access log (one module each)."""
