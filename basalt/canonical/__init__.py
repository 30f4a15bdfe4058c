"""The canonical form every request and answer passes through: the Anthropic Messages model."""

from .fold import fold_events
from .types import (
    ContentBlock,
    Forwarded,
    Message,
    MessagesRequest,
    Tool,
    ToolChoice,
    new_message_id,
    new_tool_use_id,
    parse_messages_request,
)

__all__ = [
    "ContentBlock",
    "Forwarded",
    "Message",
    "MessagesRequest",
    "Tool",
    "ToolChoice",
    "fold_events",
    "new_message_id",
    "new_tool_use_id",
    "parse_messages_request",
]
