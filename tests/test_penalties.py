"""OpenAI's repetition penalties across upstreams: passed to those that have them, a 400 from those that do not."""

from __future__ import annotations

import anthropic
import openai
import pytest

from basalt import InProcess, Settings
from basalt.config import Deployment

from .fakes.upstream import fake_upstream

ASK = [{"role": "user", "content": "Hi"}]


def test_penalties_reach_a_chat_completions_upstream_and_are_refused_by_others() -> None:
    with fake_upstream() as (url, script):
        deployments = [
            Deployment(name="gpt", provider="openai", model="up", base_url=url),
            Deployment(name="claude", provider="anthropic", model="up", base_url=url.removesuffix("/v1")),
            Deployment(name="nova", provider="bedrock", model="amazon.nova-lite-v1:0", base_url=url),
        ]
        with InProcess(Settings(serve_local=False, deployments=deployments)) as basalt:
            client = basalt.openai(max_retries=0)
            client.chat.completions.create(model="gpt", messages=ASK, frequency_penalty=0.5, presence_penalty=0.25)  # type: ignore[arg-type]
            sent = script.requests[-1]
            assert (sent["frequency_penalty"], sent["presence_penalty"]) == (0.5, 0.25)
            client.chat.completions.create(model="gpt", messages=ASK, frequency_penalty=0)  # type: ignore[arg-type]
            assert "frequency_penalty" not in script.requests[-1]
            for model in ("claude", "nova"):
                with pytest.raises(openai.BadRequestError, match="frequency_penalty cannot be expressed"):
                    client.chat.completions.create(model=model, messages=ASK, frequency_penalty=0.5)  # type: ignore[arg-type]
            # In the Anthropic dialect they are Basalt extensions, like seed: carried to upstreams that have them.
            claude = basalt.anthropic(max_retries=0)
            claude.messages.create(model="gpt", max_tokens=5, messages=ASK, extra_body={"presence_penalty": 1.5})
            assert script.requests[-1]["presence_penalty"] == 1.5
            with pytest.raises(anthropic.BadRequestError, match="presence_penalty"):
                claude.messages.create(model="gpt", max_tokens=5, messages=ASK, extra_body={"presence_penalty": 9})
