"""Decoding a Message Batch: the envelope is refused up front naming the request; each bad `params` becomes that
item's error with the message a single call gets."""

from __future__ import annotations

from typing import Any

import pytest

from basalt.batches.ids import batch_id, item_request_id
from basalt.canonical import parse_messages_request
from basalt.dialects.anthropic_batches import decode_batch
from basalt.errors import BasaltError, InvalidRequest

OK = {"model": "m", "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"requests": [{"custom_id": "a", "params": OK}] * 3}, "requests: a batch holds from 1 to 2 requests; got 3"),
        ({"requests": [], "extra": 1}, "extra: Extra inputs are not permitted"),
        ({"requests": {"custom_id": "a"}}, "requests: Input should be a valid list"),
        ({"requests": ["a"]}, "requests.0: Input should be a valid dictionary"),
        ({"requests": [{"custom_id": "a", "params": OK, "x": 1}]}, "requests.0.x: Extra inputs are not permitted"),
        ({"requests": [{"custom_id": "a" * 65, "params": OK}]}, "requests.0.custom_id: String should match"),
        ({"requests": [{"custom_id": 7, "params": OK}]}, "requests.0.custom_id: String should match"),
        ({"requests": [{"custom_id": "a", "params": OK}, {"custom_id": "a", "params": OK}]}, "used by requests.0"),
    ],
)
def test_the_envelope_is_refused_naming_the_request(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(")):
        decode_batch(body, max_requests=2)


def test_bad_params_become_the_items_error_as_a_single_call_gets_it() -> None:
    bad = {**OK, "max_tokens": -1}
    items = decode_batch({"requests": [{"custom_id": "ok", "params": OK}, {"custom_id": "bad", "params": bad},
                                       {"custom_id": "worse", "params": [1]}]}, 10)  # fmt: skip
    assert items[0].request is not None and items[0].error is None and items[0].endpoint == "messages"
    assert items[1].request is None and items[1].error is not None
    with pytest.raises(BasaltError) as single:
        parse_messages_request(bad)
    assert items[1].error.message == single.value.message
    assert items[2].error is not None and "params: Input should be a valid dictionary" in items[2].error.message


def test_ids_sort_by_time_and_request_ids_are_fixed() -> None:
    assert batch_id("msgbatch", 1000.0) < batch_id("msgbatch", 1000.002) < batch_id("msgbatch", 2000.0)
    assert len(batch_id("batch")) <= 40 and batch_id("batch").startswith("batch_")
    assert item_request_id("msgbatch_x", 3) == item_request_id("msgbatch_x", 3) != item_request_id("msgbatch_x", 4)
    assert len(item_request_id("b" * 40, 99_999)) <= 40
