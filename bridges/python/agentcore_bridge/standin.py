"""A stand-in for the existing AgentCore: the same run() shape, no model, one real tool (a calculator).

It answers word by word. A first line `!dev` steers it like agent-chat's dev agent, so the same tests and the
conformance check drive both: words=N, delay_ms=N, fail_after=N (N words, then an exception), calc=EXPR, echo.
Without it: calc <expression> calls the calculator; anything else gets a short answer that names the prompt.
"""

from __future__ import annotations

import ast
import asyncio
import operator
from typing import Any, AsyncIterator, Dict, List

from .adapter import Event, Metadata, TextDelta, ToolCall, ToolError, ToolResult

VOCABULARY = "the stand-in agentcore streams this deterministic answer one word at a time for tests".split()


class StandInFailure(RuntimeError):
    pass


class AgentCore:
    """What the bridge needs of an AgentCore: `run(messages, ...)` yielding bridge events."""

    def __init__(self) -> None:
        self.cancelled: List[str] = []

    async def run(self, messages: List[Dict[str, Any]], *, conversation_id: str, user_id: str, message_id: str) -> AsyncIterator[Event]:
        try:
            options, prompt = parse_prompt(last_user_text(messages))
            delay = int(options.get("delay_ms", "0")) / 1000
            yield Metadata({"agent": "python-stand-in", "model": "stand-in"})
            expression = options.get("calc") or (prompt[5:].strip() if prompt.startswith("calc ") else None)
            if expression:
                call_id = f"calc-{message_id}"
                yield ToolCall(call_id, "calculator", {"expression": expression})
                try:
                    result = calculate(expression)
                except (ValueError, ZeroDivisionError, SyntaxError) as error:
                    yield ToolError(call_id, str(error))
                    answer = f"I could not compute {expression}: {error}."
                else:
                    yield ToolResult(call_id, {"result": result})
                    answer = f"The result of {expression} is {result}."
            else:
                answer = answer_text(options, prompt)
            fail_after = int(options["fail_after"]) if "fail_after" in options else None
            for i, word in enumerate(split_words(answer)):
                if fail_after is not None and i == fail_after:
                    raise StandInFailure(f"the stand-in AgentCore failed on purpose after {fail_after} words")
                if delay:
                    await asyncio.sleep(delay)
                yield TextDelta(word)
        except asyncio.CancelledError:
            self.cancelled.append(message_id)
            raise


def last_user_text(messages: List[Dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return "".join(p.get("text", "") for p in message.get("parts", []) if p.get("type") == "text")
    return ""


def parse_prompt(text: str) -> "tuple[Dict[str, str], str]":
    first, _, rest = text.partition("\n")
    if not (first == "!dev" or first.startswith("!dev ")):
        return {}, text
    options: Dict[str, str] = {}
    for token in first[4:].split():
        key, _, value = token.partition("=")
        options[key] = value
    return options, rest


def answer_text(options: Dict[str, str], prompt: str) -> str:
    if "echo" in options:
        return prompt or "(empty prompt)"
    if "words" in options:
        n = int(options["words"])
        return " ".join(VOCABULARY[i % len(VOCABULARY)] for i in range(n))
    return f'This is the Python stand-in AgentCore, with no model behind it. You wrote: "{prompt[:80]}".'


def split_words(text: str) -> List[str]:
    """Word-sized pieces ("word ") that join back to exactly `text`."""
    pieces: List[str] = []
    for word in text.split(" "):
        if pieces and word == "":
            pieces[-1] += " "
        else:
            pieces.append(word + " ")
    if pieces:
        pieces[-1] = pieces[-1][:-1]
    return [p for p in pieces if p]


_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def calculate(expression: str) -> str:
    """Arithmetic on numbers with + - * / % ** and parentheses, read by Python's parser; no eval."""
    if len(expression) > 200:
        raise ValueError("expression longer than 200 characters")

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            if isinstance(node.op, ast.Pow) and abs(value(node.right)) > 100:
                raise ValueError("exponent too large")
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.operand))
        raise ValueError("only numbers and + - * / % ** ( ) are allowed")

    result = value(ast.parse(expression.replace("^", "**"), mode="eval").body)
    return f"{float(result):.12g}"
