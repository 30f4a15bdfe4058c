"""The ranges every number a client sends must fall in: what the usage ledger's columns, the engine and the
upstreams can hold. A value outside is a 400 naming the field, before anything is admitted or stored.

The caps are storage bounds, not model limits (a model's own output limit is the provider's to enforce): token
counts fit a PostgreSQL `integer` (the ledger's `reserved_output_tokens` holds max_tokens), a seed fits the int64
that OpenAI documents and JSON encoders write, and a float is finite."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

TokenCount = Annotated[StrictInt, Field(ge=1, le=INT32_MAX)]
Seed = Annotated[StrictInt, Field(ge=INT64_MIN, le=INT64_MAX)]
TopK = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]  # llama.cpp's top-k is an int32_t
TokenId = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]  # a llama_token; the model's vocabulary bounds it further
TopLogprobs = Annotated[StrictInt, Field(ge=0, le=20)]  # alternatives per token: OpenAI's documented bound
Temperature = Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0, allow_inf_nan=False)]  # OpenAI's repetition penalties; 0 is off
