"""A reference bridge between agent-chat and a Python AgentCore: AgentCore.run() served as an AI SDK UI message stream."""

from .adapter import Data, Metadata, ReasoningDelta, TextDelta, ToolCall, ToolError, ToolResult, ui_chunks
from .app import create_app
from .ui_stream import DONE, HEADERS, UIMessageStream, encode

__all__ = [
    "DONE",
    "HEADERS",
    "Data",
    "Metadata",
    "ReasoningDelta",
    "TextDelta",
    "ToolCall",
    "ToolError",
    "ToolResult",
    "UIMessageStream",
    "create_app",
    "encode",
    "ui_chunks",
]
