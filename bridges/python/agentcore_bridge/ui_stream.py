"""A writer of the AI SDK UI message stream, protocol v1 (agent-chat SPEC §5).

Each method returns the chunks (plain dicts) that say one thing, opening and closing text and reasoning parts as
needed, so the stream is always well ordered: a part is started before its deltas and ended before another begins.
`encode` frames a chunk as a server-sent event; the stream ends with `DONE`.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

Chunk = Dict[str, Any]

HEADERS = {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "x-vercel-ai-ui-message-stream": "v1",
    "x-accel-buffering": "no",
}

DONE = b"data: [DONE]\n\n"


def encode(chunk: Chunk) -> bytes:
    """One chunk as one SSE event."""
    return b"data: " + json.dumps(chunk, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n\n"


class UIMessageStream:
    """The chunks of one assistant message."""

    def __init__(self, message_id: Optional[str] = None) -> None:
        self.message_id = message_id
        self._open: Optional[tuple] = None  # ("text" | "reasoning", id)
        self._parts = 0
        self._in_step = False

    def start(self, metadata: Optional[Dict[str, Any]] = None) -> List[Chunk]:
        chunk: Chunk = {"type": "start"}
        if self.message_id:
            chunk["messageId"] = self.message_id
        if metadata is not None:
            chunk["messageMetadata"] = metadata
        return [chunk]

    def start_step(self) -> List[Chunk]:
        out = self.finish_step()
        self._in_step = True
        return out + [{"type": "start-step"}]

    def finish_step(self) -> List[Chunk]:
        if not self._in_step:
            return []
        self._in_step = False
        return self._close() + [{"type": "finish-step"}]

    def text(self, delta: str) -> List[Chunk]:
        return self._delta("text", delta)

    def reasoning(self, delta: str) -> List[Chunk]:
        return self._delta("reasoning", delta)

    def tool_input_start(self, call_id: str, name: str) -> List[Chunk]:
        return self._close() + [{"type": "tool-input-start", "toolCallId": call_id, "toolName": name}]

    def tool_input_delta(self, call_id: str, delta: str) -> List[Chunk]:
        return [{"type": "tool-input-delta", "toolCallId": call_id, "inputTextDelta": delta}]

    def tool_input_available(self, call_id: str, name: str, tool_input: Any) -> List[Chunk]:
        return self._close() + [
            {"type": "tool-input-available", "toolCallId": call_id, "toolName": name, "input": tool_input}
        ]

    def tool_output_available(self, call_id: str, output: Any) -> List[Chunk]:
        return self._close() + [{"type": "tool-output-available", "toolCallId": call_id, "output": output}]

    def tool_output_error(self, call_id: str, error_text: str) -> List[Chunk]:
        return self._close() + [{"type": "tool-output-error", "toolCallId": call_id, "errorText": error_text}]

    def data(self, name: str, value: Any, part_id: Optional[str] = None, transient: bool = False) -> List[Chunk]:
        chunk: Chunk = {"type": f"data-{name}", "data": value}
        if part_id is not None:
            chunk["id"] = part_id
        if transient:
            chunk["transient"] = True
        return [chunk]

    def metadata(self, value: Dict[str, Any]) -> List[Chunk]:
        return [{"type": "message-metadata", "messageMetadata": value}]

    def error(self, error_text: str) -> List[Chunk]:
        """Ends the message as failed: what was sent before stays (the open part is closed first)."""
        return self._close() + [{"type": "error", "errorText": error_text}]

    def finish(self, finish_reason: str = "stop", metadata: Optional[Dict[str, Any]] = None) -> List[Chunk]:
        chunk: Chunk = {"type": "finish", "finishReason": finish_reason}
        if metadata is not None:
            chunk["messageMetadata"] = metadata
        return self.finish_step() + [chunk]

    def _delta(self, kind: str, delta: str) -> List[Chunk]:
        out: List[Chunk] = []
        if not self._in_step:
            out += self.start_step()
        if self._open is None or self._open[0] != kind:
            out += self._close()
            self._parts += 1
            self._open = (kind, f"{kind}-{self._parts}")
            out.append({"type": f"{kind}-start", "id": self._open[1]})
        out.append({"type": f"{kind}-delta", "id": self._open[1], "delta": delta})
        return out

    def _close(self) -> List[Chunk]:
        if self._open is None:
            return []
        kind, part_id = self._open
        self._open = None
        return [{"type": f"{kind}-end", "id": part_id}]
