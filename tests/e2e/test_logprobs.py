"""Log-probabilities on the local model through a real `basalt serve`: Chat Completions' logprobs (streamed and
not), the legacy Completions API's echo and logprobs held to llama.cpp's own, and lm-evaluation-harness running a
log-likelihood task and a generation task from local files against the server, with no hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import openai
import pytest
from llama_cpp import Llama

from .conftest import Server

DATA = Path(__file__).resolve().parent.parent / "data" / "lmeval"
ASK = [{"role": "user", "content": "Name a colour."}]
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def reference(model_path: Path) -> Iterator[Llama]:
    """llama.cpp's own log-probabilities (llama-cpp-python's Llama, every position's logits), with the KV cache the
    engine runs: keys in Q8_0, unrotated, and flash attention (engine/core.py). With F16 keys llama.cpp itself scores
    differently, by up to ~0.1 nats a token on this model."""
    before = os.environ.get("LLAMA_ATTN_ROT_DISABLE")
    os.environ["LLAMA_ATTN_ROT_DISABLE"] = "1"
    try:
        llm = Llama(str(model_path), n_ctx=512, logits_all=True, type_k=8, flash_attn=True, n_threads=2, verbose=False)
    finally:
        if before is None:
            del os.environ["LLAMA_ATTN_ROT_DISABLE"]
        else:
            os.environ["LLAMA_ATTN_ROT_DISABLE"] = before
    yield llm
    llm.close()


def scores(llm: Llama, tokens: list[int]) -> list[float]:
    """Each token's log-probability given those before it (from the second token on)."""
    llm.reset()
    llm.eval(tokens)
    logprobs = Llama.logits_to_logprobs(np.array(llm.scores[: len(tokens)], dtype=np.float32))
    return [float(logprobs[i - 1][tokens[i]]) for i in range(1, len(tokens))]


def completions(server: Server, **body: Any) -> httpx.Response:
    return httpx.post(server.url + "/v1/completions", json={"model": "gpt-4o-mini", **body}, timeout=120)


def test_chat_logprobs_streamed_and_not_are_the_models_and_only_when_asked(server: Server) -> None:
    client = server.openai()
    whole = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=ASK,
        max_tokens=6,
        temperature=0,
        logprobs=True,
        top_logprobs=3,  # type: ignore[arg-type]
    )
    choice = whole.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    content = choice.logprobs.content
    assert "".join(entry.token for entry in content) == choice.message.content
    for entry in content:
        assert bytes(entry.bytes or []).decode() == entry.token and entry.logprob <= 0
        alternatives = [alt.logprob for alt in entry.top_logprobs]
        assert len(alternatives) == 3 and alternatives == sorted(alternatives, reverse=True)
        assert entry.top_logprobs[0].token == entry.token  # greedy: the chosen token is the most likely one
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=ASK,
        max_tokens=6,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
        stream=True,  # type: ignore[arg-type]
    )
    streamed = [
        e
        for chunk in stream
        if chunk.choices and chunk.choices[0].logprobs
        for e in chunk.choices[0].logprobs.content or []
    ]
    assert [(e.token, round(e.logprob, 6)) for e in streamed] == [(e.token, round(e.logprob, 6)) for e in content]
    plain = client.chat.completions.create(model="gpt-4o-mini", messages=ASK, max_tokens=6, temperature=0)  # type: ignore[arg-type]
    assert plain.choices[0].logprobs is None and plain.choices[0].message.content == choice.message.content
    for bad in ({"top_logprobs": 21, "logprobs": True}, {"top_logprobs": 2}):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="gpt-4o-mini", messages=ASK, max_tokens=2, **bad)  # type: ignore[arg-type, call-overload]
        assert caught.value.param == "top_logprobs"  # type: ignore[attr-defined]


def test_echo_logprobs_equal_llama_cpps_own(server: Server, reference: Llama) -> None:
    text = "The capital of France is Paris. The capital of Germany is"
    tokens = httpx.post(server.url + "/tokenize", json={"prompt": text, "add_special_tokens": False}).json()["tokens"]
    expected = scores(reference, tokens)
    for prompt in (text, [tokens]):  # as text, and as token ids
        body = completions(server, prompt=prompt, max_tokens=1, echo=True, logprobs=2, temperature=0).json()
        logprobs = body["choices"][0]["logprobs"]
        got = logprobs["token_logprobs"]
        assert got[0] is None and logprobs["top_logprobs"][0] is None  # nothing predicts the first token
        assert len(got) == len(tokens) + 1  # the prompt's, then the one generated token's
        assert np.allclose(got[1 : len(tokens)], expected, atol=TOLERANCE, rtol=0)
        assert body["choices"][0]["text"].startswith(text) and body["usage"]["prompt_tokens"] == len(tokens)
        assert logprobs["text_offset"][:3] == [0, 3, 11]  # "The", " capital", " of"
    # The prefix cache holds this prompt now: asked again, every position is still computed.
    again = completions(server, prompt=[tokens], max_tokens=0, echo=True, logprobs=0).json()["choices"][0]
    assert np.allclose(again["logprobs"]["token_logprobs"][1:], expected, atol=TOLERANCE, rtol=0)
    assert again["text"] == text and again["finish_reason"] == "length"


def test_legacy_completions_stream_batch_and_bounds(server: Server) -> None:
    client = server.openai()
    streamed = client.completions.create(
        model="gpt-4o-mini", prompt="Once upon a", max_tokens=4, temperature=0, stream=True
    )
    text = "".join(chunk.choices[0].text for chunk in streamed if chunk.choices)
    whole = client.completions.create(
        model="gpt-4o-mini", prompt=["Once upon a", "One, two,"], max_tokens=4, temperature=0
    )
    assert [c.index for c in whole.choices] == [0, 1] and whole.choices[0].text == text
    assert whole.usage is not None and 0 < whole.usage.completion_tokens <= 8  # both prompts' calls, summed
    bad: list[tuple[dict[str, Any], str]] = [
        ({"prompt": "x", "logprobs": 6}, "logprobs"),
        ({"prompt": [[49152]]}, "prompt"),
        ({"prompt": []}, "prompt"),
        ({"prompt": "x", "n": 2}, "n"),
        ({"prompt": ["a", "b"], "stream": True}, "prompt"),
        ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
        ({"prompt": [[1] * 5000]}, "prompt"),  # longer than the context window
    ]
    for body, param in bad:
        response = completions(server, **body)
        assert response.status_code == 400, body
        assert response.json()["error"]["param"].split(".")[0] == param, (body, response.json())


def _encode_pair(llm: Llama, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's split of a request into context and continuation tokens (TemplateLM._encode_pair)."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = llm.tokenize((context + continuation).encode(), add_bos=False, special=True)
    context_tokens = llm.tokenize(context.encode(), add_bos=False, special=True)
    return context_tokens, whole[len(context_tokens) :]


def _task(folder: Path, name: str, data: str, body: str) -> None:
    (folder / f"{name}.yaml").write_text(
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {DATA / data}\n"
        f"test_split: test\n{body}"
    )


def test_lm_eval_runs_a_loglikelihood_and_a_generation_task_against_basalt(
    server: Server, reference: Llama, tmp_path: Path
) -> None:
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    _task(tasks, "basalt_capitals", "capitals.jsonl", (
        "output_type: multiple_choice\ndoc_to_text: \"Question: {{question}}\\nAnswer:\"\n"
        "doc_to_choice: \"{{choices}}\"\ndoc_to_target: \"{{answer}}\"\nmetric_list:\n  - metric: acc\n"
    ))  # fmt: skip
    _task(tasks, "basalt_answers", "answers.jsonl", (
        "output_type: generate_until\ndoc_to_text: \"{{question}}\"\ndoc_to_target: \"{{answer}}\"\n"
        "generation_kwargs:\n  until: [\"\\n\", \".\"]\n  max_gen_toks: 8\n  do_sample: false\n  temperature: 0\n"
        "metric_list:\n  - metric: exact_match\n    ignore_case: true\n    ignore_punctuation: true\n"
    ))  # fmt: skip
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"), "OPENAI_API_KEY": "test-key",
    }  # fmt: skip
    url = f"{server.url}/v1/completions"
    args = f"base_url={url},model=gpt-4o-mini,tokenizer_backend=remote,num_concurrent=4,max_retries=1"
    script = Path(__file__).with_name("run_lm_eval.py")
    cmd = [sys.executable, str(script), str(tasks), "basalt_capitals,basalt_answers", args]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    results = out["results"]
    assert results["basalt_capitals"]["acc,none"] >= 0.6  # the small model knows most capitals
    assert "exact_match,none" in results["basalt_answers"]
    samples = out["samples"]["basalt_capitals"]
    assert len(samples) == 5
    for sample in samples:
        for (context_text, continuation_text), response in zip(sample["arguments"], sample["resps"], strict=True):
            context, continuation = _encode_pair(reference, context_text, continuation_text)
            expected = sum(scores(reference, context + continuation)[len(context) - 1 :])
            assert abs(float(response[0][0]) - expected) < TOLERANCE, (context_text, continuation_text, response)
    answers = out["samples"]["basalt_answers"]
    assert len(answers) == 3 and all(isinstance(a["resps"][0][0], str) for a in answers)
