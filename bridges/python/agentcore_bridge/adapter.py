"""What AgentCore.run() yields, and how it becomes UI message stream chunks.

run() is an async iterator of the events below. A tool the agent runs itself yields ToolCall, then ToolResult or
ToolError with the same call id. An exception raised by run() ends the message with an `error` chunk after what was
already sent; cancelling the consumer cancels run() (Python delivers CancelledError at its current await).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Dict, Optional, Union

from .ui_stream import Chunk, UIMessageStream


@dataclass
class TextDelta:
    text: str


@dataclass
class ReasoningDelta:
    text: str


@dataclass
class ToolCall:
    call_id: str
    name: str
    input: Any = field(default_factory=dict)


@dataclass
class ToolResult:
    call_id: str
    output: Any


@dataclass
class ToolError:
    call_id: str
    error: str


@dataclass
class Data:
    """An app-specific part (`data-<name>`), e.g. a chart or a citation list the page knows how to show."""

    name: str
    value: Any
    part_id: Optional[str] = None


@dataclass
class Metadata:
    """Message metadata (model, usage…), merged into the stored message's metadata."""

    value: Dict[str, Any]


Event = Union[TextDelta, ReasoningDelta, ToolCall, ToolResult, ToolError, Data, Metadata]


def describe_failure(error: BaseException) -> str:
    """The errorText for an exception: its message, or its class name when it has none."""
    return str(error) or type(error).__name__


async def ui_chunks(events: AsyncIterator[Event], message_id: Optional[str] = None) -> AsyncIterator[Chunk]:
    """The chunks of one message: start, the events in order (a new step after tool results), then finish or error."""
    stream = UIMessageStream(message_id)
    for chunk in stream.start() + stream.start_step():
        yield chunk
    after_tool = False
    try:
        async for event in events:
            if after_tool and not isinstance(event, (ToolCall, ToolResult, ToolError)):
                for chunk in stream.start_step():
                    yield chunk
            after_tool = isinstance(event, (ToolResult, ToolError))
            for chunk in _chunks_of(stream, event):
                yield chunk
    except Exception as error:  # noqa: BLE001 — any failure of run() is the message's failure
        for chunk in stream.error(describe_failure(error)):
            yield chunk
        return
    for chunk in stream.finish():
        yield chunk


def _chunks_of(stream: UIMessageStream, event: Event) -> list:
    if isinstance(event, TextDelta):
        return stream.text(event.text)
    if isinstance(event, ReasoningDelta):
        return stream.reasoning(event.text)
    if isinstance(event, ToolCall):
        return stream.tool_input_start(event.call_id, event.name) + stream.tool_input_available(
            event.call_id, event.name, event.input
        )
    if isinstance(event, ToolResult):
        return stream.tool_output_available(event.call_id, event.output)
    if isinstance(event, ToolError):
        return stream.tool_output_error(event.call_id, event.error)
    if isinstance(event, Data):
        return stream.data(event.name, event.value, event.part_id)
    if isinstance(event, Metadata):
        return stream.metadata(event.value)
    raise TypeError(f"AgentCore.run() yielded {type(event).__name__}, which is not a bridge event")
