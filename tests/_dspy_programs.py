"""DSPy programs written the way DSPy's tutorials write them (in our own words), and DSPy's own
test LM with a fixed latency, for tests/test_dspy.py (issue 17).

``slow_lm(latency)`` is ``dspy.utils.DummyLM`` in its dictionary mode (the reply to a prompt is
the one whose key the prompt's last message contains, so replies do not depend on call order),
with every request taking ``latency`` seconds (``time.sleep``; ``asyncio.sleep`` when awaited),
as a remote model would. Retrieval is a local function over a fixed corpus.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import dspy
from dspy.utils import DummyLM

CORPUS = {
    "eiffel": "The Eiffel Tower was finished in 1889 for the World's Fair in Paris.",
    "paris": "Paris is the capital of France and sits on the Seine.",
    "seine": "The Seine flows 777 km from Burgundy to the English Channel.",
    "python": "Python was created by Guido van Rossum and released in 1991.",
    "guido": "Guido van Rossum worked at Google and Dropbox after CWI.",
}


def search(query: str, k: int = 2) -> list[str]:
    """The ``k`` passages whose key appears in ``query`` (then the rest, in order)."""
    hits = [text for key, text in CORPUS.items() if key in query.lower()]
    return (hits + [t for t in CORPUS.values() if t not in hits])[:k]


# -- the LM ------------------------------------------------------------------------------------

class _Delayed:
    """An engine that waits ``latency`` seconds, then asks the one it wraps."""

    def __init__(self, inner: Any, latency: float) -> None:
        self.inner, self.latency = inner, latency

    def complete(self, request: Any) -> Any:
        time.sleep(self.latency)
        return self.inner.complete(request)

    def stream(self, request: Any) -> Any:
        time.sleep(self.latency)
        return self.inner.stream(request)

    def close(self) -> None:
        self.inner.close()


class _AsyncDelayed:
    def __init__(self, inner: Any, latency: float) -> None:
        self.inner, self.latency = inner, latency

    async def complete(self, request: Any) -> Any:
        await asyncio.sleep(self.latency)
        return self.inner.complete(request)

    async def aclose(self) -> None:
        pass


def slow_lm(answers: dict[str, dict[str, Any]], latency: float) -> DummyLM:
    """DSPy's DummyLM (dictionary mode) whose every request takes ``latency`` seconds."""
    lm = DummyLM(answers)
    sync = lm._engine_spec
    lm._engine_spec = _Delayed(sync, latency)
    lm._async_engine_spec = _AsyncDelayed(sync, latency)
    return lm


# -- programs ----------------------------------------------------------------------------------

class MultiHop(dspy.Module):
    """Multi-hop question answering: each hop writes a search query from what is known so far,
    retrieves, and adds the passages; then answers from all of them."""

    def __init__(self, hops: int = 2) -> None:
        super().__init__()
        self.write_query = [dspy.Predict("context, question -> query") for _ in range(hops)]
        self.answer = dspy.ChainOfThought("context, question -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        context: list[str] = []
        for write in self.write_query:
            query = write(context=context, question=question).query
            context = context + search(query)
        pred = self.answer(context=context, question=question)
        return dspy.Prediction(context=context, answer=pred.answer)


class CompareChains(dspy.Module):
    """Several independent reasoning attempts, then a comparison that picks the best answer."""

    def __init__(self, attempts: int = 3) -> None:
        super().__init__()
        self.attempts = [dspy.ChainOfThought("question -> answer") for _ in range(attempts)]
        self.compare = dspy.Predict("question, candidates -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        candidates = []
        for attempt in self.attempts:
            pred = attempt(question=question)
            candidates.append(pred.answer.strip())
        best = self.compare(question=question, candidates="\n".join(candidates))
        return dspy.Prediction(candidates=candidates, answer=best.answer)


class Direct(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.respond = dspy.Predict("question -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        return self.respond(question=question)


class Grounded(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.respond = dspy.ChainOfThought("context, question -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        return self.respond(context=search(question), question=question)


class Ensemble(dspy.Module):
    """An ensemble of programs of different shapes; the most common answer wins."""

    def __init__(self) -> None:
        super().__init__()
        self.programs = [Direct(), Grounded(), Direct()]

    def forward(self, question: str) -> dspy.Prediction:
        answers = [program(question=question).answer for program in self.programs]
        top, votes = Counter(answers).most_common(1)[0]
        return dspy.Prediction(answer=top, votes=votes)


class RewriteRAG(dspy.Module):
    """RAG with a rewrite step: rewrite the question for search, retrieve, answer; a check of
    the original question runs beside it."""

    def __init__(self) -> None:
        super().__init__()
        self.rewrite = dspy.Predict("question -> search_query")
        self.answer = dspy.ChainOfThought("context, question -> answer")
        self.classify = dspy.Predict("question -> topic")

    def forward(self, question: str) -> dspy.Prediction:
        rewritten = self.rewrite(question=question).search_query
        topic = self.classify(question=question).topic
        context = search(rewritten)
        answer = self.answer(context=context, question=question).answer
        return dspy.Prediction(answer=answer, topic=topic.lower(), context=context)


def lookup(term: str) -> str:
    """Look a term up in the corpus."""
    return " ".join(search(term, k=1))


class Agent(dspy.Module):
    """An agent with tools (DSPy's ReAct loop), and a summary written beside it."""

    def __init__(self) -> None:
        super().__init__()
        self.react = dspy.ReAct("question -> answer", tools=[lookup], max_iters=2)
        self.summarize = dspy.Predict("question -> summary")

    def forward(self, question: str) -> dspy.Prediction:
        acted = self.react(question=question)
        summary = self.summarize(question=question)
        return dspy.Prediction(answer=acted.answer, summary=summary.summary)


#: the LM's replies for every program above: prompt substring -> output fields
ANSWERS: dict[str, dict[str, Any]] = {
    "Which year was the tower in Paris finished?": {
        "query": "eiffel tower", "reasoning": "The passage says so.", "answer": "1889",
        "search_query": "eiffel tower paris", "topic": "History", "summary": "A date.",
        "next_thought": "I know it.", "next_tool_name": "finish", "next_tool_args": {}},
    "Who created Python?": {
        "query": "python guido", "reasoning": "From the corpus.", "answer": "Guido van Rossum",
        "search_query": "python creator", "topic": "Computing", "summary": "A person.",
        "next_thought": "Done.", "next_tool_name": "finish", "next_tool_args": {}},
}
