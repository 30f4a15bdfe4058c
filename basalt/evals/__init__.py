"""Evaluations: the OpenAI Evals API's evals, runs and output items over the batch engine (runs.Evals), its graders
(graders.py), and text similarity metrics that reports reuse (text_metrics.py)."""

from .runs import Evals, output_item_id
from .store import Row

__all__ = ["Evals", "Row", "output_item_id"]
