"""The Chat Completions wire format, both directions: the public door to chat_requests.py (requests) and
chat_answers.py (completions and chunks). Encoding is canonical -> Chat Completions, decoding the reverse, on
either side: the OpenAI dialect decodes requests and encodes answers, the Chat Completions provider encodes requests
and decodes answers."""

from .chat_answers import (
    FINISH_REASONS,
    STOP_REASONS,
    ChunkDecoder,
    ChunkEncoder,
    completion_id,
    decode_completion,
    decode_finish_reason,
    decode_usage,
    encode_completion,
    encode_stop_reason,
    encode_usage,
)
from .chat_requests import (
    ChatCompletionRequest,
    decode_image,
    decode_request,
    decode_tool_call,
    encode_image,
    encode_request,
    parse_chat_request,
    tool_call,
)

__all__ = [
    "FINISH_REASONS",
    "STOP_REASONS",
    "ChatCompletionRequest",
    "ChunkDecoder",
    "ChunkEncoder",
    "completion_id",
    "decode_completion",
    "decode_finish_reason",
    "decode_image",
    "decode_request",
    "decode_tool_call",
    "decode_usage",
    "encode_completion",
    "encode_image",
    "encode_request",
    "encode_stop_reason",
    "encode_usage",
    "parse_chat_request",
    "tool_call",
]
