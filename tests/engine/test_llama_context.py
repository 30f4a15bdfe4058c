"""The llama.cpp context settings Basalt relies on reach llama.cpp."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from basalt.engine.llama import ContextConfig, LlamaContext, LlamaModel


def last_logits(model: LlamaModel, rotate_k: bool) -> np.ndarray:
    config = ContextConfig(n_ctx=512, n_batch=64, n_seq_max=1, n_threads=2, flash_attn=1, type_k=8, rotate_k=rotate_k)
    ctx = LlamaContext(model, config)
    try:
        ctx.batch.add(model.tokenize("The capital of France is a city called"), 0, 0, True)
        assert ctx.decode() == 0
        return ctx.logits(1)[0].copy()
    finally:
        ctx.close()


def test_the_key_rotation_setting_changes_the_computation_and_leaves_the_environment_alone(
    model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = LlamaModel(model_path)
    try:
        monkeypatch.delenv("LLAMA_ATTN_ROT_DISABLE", raising=False)
        rotated, unrotated = last_logits(model, True), last_logits(model, False)
        assert "LLAMA_ATTN_ROT_DISABLE" not in os.environ
        assert not np.array_equal(rotated, unrotated)  # the rotation changes how keys are quantized
        assert np.array_equal(unrotated, last_logits(model, False))  # and each setting is deterministic
        assert int(rotated.argmax()) == int(unrotated.argmax())
        # A value the caller had set is put back, and the context's own setting wins over it meanwhile.
        monkeypatch.setenv("LLAMA_ATTN_ROT_DISABLE", "1")
        assert np.array_equal(last_logits(model, True), rotated)
        assert os.environ["LLAMA_ATTN_ROT_DISABLE"] == "1"
    finally:
        model.close()
