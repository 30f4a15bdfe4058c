# An instant OpenAI-compatible upstream: a raw ASGI app, streaming (20 chunks) or not.
import json


def CHUNK(d, f=None):
    return (
        b"data: "
        + json.dumps(
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "delta": d, "finish_reason": f}],
            }
        ).encode()
        + b"\n\n"
    )


STREAM = (
    CHUNK({"role": "assistant", "content": ""})
    + b"".join(CHUNK({"content": f"w{i} "}) for i in range(20))
    + CHUNK({}, "stop")
    + b"data: "
    + json.dumps(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 20, "total_tokens": 25},
        }
    ).encode()
    + b"\n\ndata: [DONE]\n\n"
)
FULL = json.dumps(
    {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
).encode()


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    stream = b'"stream": true' in body or b'"stream":true' in body
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream" if stream else b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": STREAM if stream else FULL})
