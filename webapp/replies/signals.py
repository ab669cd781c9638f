"""The signals a model gives beside its reply ("I could not answer this"), offered as tools or
asked for as a first-line marker, and read back out of its answer: the customer never sees them.

A model whose catalog entry lists "tools" is offered one tool per signal; any other model is
asked to start its reply with the signal's marker line. A new signal is one more `Signal` in
SIGNALS: the tools, the instruction and the reading all follow from the table.
"""

import json
import re
from dataclasses import dataclass

from ..clients.openrouter import ToolCall

MAX_ARGUMENT = 500  # characters kept of a signal's argument


@dataclass(frozen=True)
class Signal:
    name: str  # the tool's name, and the signal's name wherever it is recorded
    argument: str  # the tool's one argument
    argument_says: str  # what the model is to put in it
    marker: str  # the first line a model without tools writes instead of calling the tool
    when: str  # when to give it, said to the model
    then: str  # what to do with the reply all the same, said to the model


CANNOT_ANSWER = Signal(
    name="cannot_answer",
    argument="question",
    argument_says="The customer's question that you could not answer, short, in their words.",
    marker="CANNOT_ANSWER",
    when="the prompt and the knowledge you were given do not cover the customer's question",
    then="answer as well as you can, for example say that you will find out and get back to them",
)
HAND_TO_PERSON = Signal(
    name="hand_to_person",
    argument="reason",
    argument_says="Why the customer needs a person, short, for the team.",
    marker="HAND_TO_PERSON",
    when="the customer asks for a person, or needs something only a person can do (a "
    "complaint, a refund, an exception to the rules)",
    then="say in one short sentence that someone from the team will take over",
)
SIGNALS = (CANNOT_ANSWER, HAND_TO_PERSON)
TOOL_RESULT = "Noted. Now reply to the customer."  # what the model hears after a tool call


@dataclass(frozen=True)
class Given:
    """A signal the model gave, with its argument ("" when it gave none we could read)."""

    name: str
    argument: str = ""


def tools(offered: tuple[Signal, ...] = SIGNALS) -> list[dict]:
    """The tools of the request, one per signal, in OpenAI's (and OpenRouter's) shape."""
    return [
        {
            "type": "function",
            "function": {
                "name": signal.name,
                "description": f"Call this when {signal.when}. Then {signal.then}.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        signal.argument: {"type": "string", "description": signal.argument_says}
                    },
                    "required": [signal.argument],
                },
            },
        }
        for signal in offered
    ]


def instruction(offered: tuple[Signal, ...] = SIGNALS) -> str:
    """The lines added to the system message of a model that cannot be offered tools."""
    return "\n".join(
        f"If {signal.when}, start your reply with the line {signal.marker} and then "
        f"{signal.then}. That first line is never shown to the customer."
        for signal in offered
    )


def offer(
    messages: list[dict], takes_tools: bool, offered: tuple[Signal, ...] = SIGNALS
) -> tuple[list[dict], dict]:
    """The messages and the extra request fields that offer `offered` signals to a model."""
    if not offered:
        return messages, {}
    if takes_tools:
        return messages, {"tools": tools(offered), "tool_choice": "auto"}
    return _with_instruction(messages, instruction(offered)), {}


def _with_instruction(messages: list[dict], words: str) -> list[dict]:
    """`messages` with `words` after the last leading system message (a new one if none)."""
    leading = 0
    while leading < len(messages) and messages[leading].get("role") in ("system", "developer"):
        leading += 1
    if not leading:
        return [{"role": "system", "content": words}, *messages]
    last = dict(messages[leading - 1])
    if isinstance(last.get("content"), list):  # parts (a cached block): the words as one more
        last["content"] = [*last["content"], {"type": "text", "text": words}]
    else:
        last["content"] = f"{last.get('content') or ''}\n\n{words}".lstrip()
    return [*messages[: leading - 1], last, *messages[leading:]]


def follow_up(messages: list[dict], calls: list[ToolCall]) -> list[dict]:
    """The conversation after a model that only called tools: its calls, each answered, so its
    next answer is the words for the customer."""
    said = {"role": "assistant", "content": "", "tool_calls": [c.as_sent() for c in calls]}
    heard = [{"role": "tool", "tool_call_id": c.id, "content": TOOL_RESULT} for c in calls]
    return [*messages, said, *heard]


def read(text: str, calls: list[ToolCall]) -> tuple[str, list[Given]]:
    """The reply without any marker line, and the signals the answer gave (by tool call or
    marker), each once."""
    given: dict[str, Given] = {}
    by_name = {signal.name: signal for signal in SIGNALS}
    for call in calls:
        if call.name in by_name:
            _keep(given, Given(call.name, _argument(call.arguments, by_name[call.name])))
    lines = text.strip().splitlines()
    kept = []
    for line in lines:
        signal, rest = _marker(line, first=not any(words.strip() for words in kept))
        if signal is None:
            kept.append(line)
            continue
        _keep(given, Given(signal.name))
        if rest:
            kept.append(rest)
    return "\n".join(kept).strip(), list(given.values())


def _keep(given: dict[str, Given], signal: Given) -> None:
    if signal.name not in given or not given[signal.name].argument:
        given[signal.name] = signal


def _argument(arguments: str, signal: Signal) -> str:
    """The signal's argument out of the call's JSON; "" when the JSON is broken or lacks it."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return ""
    if isinstance(value, dict):
        value = value.get(signal.argument)
    return " ".join(value.split())[:MAX_ARGUMENT] if isinstance(value, str) else ""


# Markdown and punctuation a model may wrap a marker line in: **CANNOT_ANSWER**, `…`, "…:".
DRESSING = re.compile(r"[\s*_`#>\[\]()\"'.:!-]+")


def _marker(line: str, first: bool) -> tuple[Signal | None, str]:
    """The signal a line gives and what else the line says: a line that is only a marker (in
    any case, dressed in markdown, even with a space for the underscore), anywhere; or the
    marker's exact word starting the reply's first line, followed by words for the customer."""
    bare = DRESSING.sub("", line).upper()
    for signal in SIGNALS:
        if bare == signal.marker.replace("_", ""):
            return signal, ""
        if first:
            start = re.match(rf"[\s*_`#>]*{signal.marker}[\s*_`:.!-]*", line, re.IGNORECASE)
            if start:
                return signal, line[start.end() :].strip()
    return None, line
