"""Language models as operators see them: the :class:`Model` protocol, :class:`SimulatedModel`,
and :class:`OpenAIModel` (any OpenAI-compatible endpoint; imported on first use, needs
``emberjit[openai]``).

A model is anything callable as ``model(prompt, **params) -> str``. :class:`SimulatedModel` is a
deterministic stand-in for a remote LLM: it sleeps to stand for network latency and answers with a
pure function of the prompt, the parameters and its seed, so tests and demos are reproducible and
the speed-up of concurrent calls is real.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .openai_model import OpenAIModel as OpenAIModel

__all__ = ["Model", "SimulatedModel"]


def __getattr__(name: str) -> Any:
    """``OpenAIModel`` is imported on first use, so ``import emberjit`` never imports openai."""
    if name == "OpenAIModel":
        from .openai_model import OpenAIModel

        return OpenAIModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: How many alternative (non-canonical) answers a sampled call may drift to.
_ALTERNATIVES = 3
#: Probability of drifting per unit of temperature, and its cap.
_DRIFT_PER_TEMPERATURE = 0.5
_DRIFT_CAP = 0.5
#: Draws for one prompt at different temperatures step through [0, 1) by this irrational amount
#: per unit of temperature (a Weyl sequence), so they are spread evenly, not clumped by chance.
_WEYL_STEP = 61.803398875
_QUESTION = re.compile(r"[A-Z][^?.!:'\"\n]*\?")


@runtime_checkable
class Model(Protocol):
    """Anything that turns a prompt (and keyword parameters such as ``temperature``) into text."""

    def __call__(self, prompt: str, **params: Any) -> str:
        """Return the model's reply to ``prompt``."""
        ...


def _digest(*parts: object) -> bytes:
    """A stable hash (sha256) of ``parts``; unlike ``hash()`` it is the same in every process."""
    text = "\x1f".join(repr(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8")).digest()


def _unit(digest: bytes) -> float:
    """A float in [0, 1) read from the first 8 bytes of ``digest``."""
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _topic(prompt: str) -> str:
    """Something readable from ``prompt``: its last question, else the start of its last line."""
    questions = _QUESTION.findall(prompt)
    if questions:
        return str(questions[-1]).strip()
    lines = [line.strip() for line in prompt.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last if len(last) <= 40 else last[:37] + "..."


def _temperature(params: dict[str, Any]) -> float:
    """The ``temperature`` parameter (default 0), validated."""
    value = params.get("temperature", 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"temperature must be a number >= 0, got {value!r}")
    return float(value)


class SimulatedModel:
    """A deterministic, thread-safe stand-in for an LLM behind a network.

    The reply is a pure function of ``(prompt, sorted params, seed)``. With ``temperature=0``
    (the default) it is the prompt's *canonical* answer; with ``temperature=t > 0`` a call drifts
    with probability ``min(0.5 * t, 0.5)`` to one of three alternative answers, so an ensemble
    sampled at varied temperatures mostly agrees on the canonical answer and a majority vote is
    meaningful. (The draws for one prompt at different temperatures form an evenly spread Weyl
    sequence, so the number of canonical members of an ensemble stays near its expectation instead
    of clumping by chance.) Canonical answers come from ``answers`` when given (chosen by hash),
    otherwise they read ``"Answer-<hex>: on '<the prompt's question>'"``.

    Every call sleeps ``latency`` seconds (``time.sleep`` in :meth:`__call__`, ``asyncio.sleep``
    in :meth:`acall`), standing for network I/O, and increments :attr:`calls` under a lock. When
    ``fail_on(prompt)`` is true the call raises ``RuntimeError`` naming the model and the prompt.
    """

    #: a leaf (see emberjit.leaves): plans start its calls as concurrent call sites
    __emberjit_leaf__ = True

    def __init__(
        self,
        latency: float = 0.05,
        seed: int = 0,
        name: str = "simulated",
        answers: Sequence[str] | None = None,
        fail_on: Callable[[str], bool] | None = None,
    ) -> None:
        if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
            raise ValueError(
                f"SimulatedModel latency must be a number >= 0 seconds, got {latency!r}"
            )
        if answers is not None and not answers:
            raise ValueError("SimulatedModel answers must be non-empty when given")
        self.latency = float(latency)
        self.seed = seed
        self.name = name
        self.answers: tuple[str, ...] | None = tuple(answers) if answers is not None else None
        self.fail_on = fail_on
        self.calls = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SimulatedModel(name={self.name!r}, latency={self.latency:g}, seed={self.seed})"

    def __emberjit_cache_key__(self) -> dict[str, Any]:
        """What its replies depend on (for :class:`emberjit.ResultCache` keys): not its latency
        or its counters."""
        return {"name": self.name, "seed": self.seed, "answers": self.answers,
                "fail_on": self.fail_on}

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (scheduler="dask" ships models to workers): the lock is made anew."""
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- answers -------------------------------------------------------------------------------

    def canonical(self, prompt: str) -> str:
        """The answer ``prompt`` gets at temperature 0."""
        digest = _digest("canonical", prompt, self.seed)
        if self.answers is not None:
            return self.answers[int.from_bytes(digest[:8], "big") % len(self.answers)]
        return f"Answer-{digest.hex()[:8]}: on '{_topic(prompt)}'"

    def alternatives(self, prompt: str) -> list[str]:
        """The answers a sampled (temperature > 0) call on ``prompt`` may drift to."""
        canonical = self.canonical(prompt)
        if self.answers is not None:  # drift only within the given answers (maybe nowhere)
            others = [a for a in dict.fromkeys(self.answers) if a != canonical]
            return others[:_ALTERNATIVES]
        topic = _topic(prompt)
        return [f"Answer-{_digest('alternative', prompt, self.seed, i).hex()[:8]}: on '{topic}'"
                for i in range(_ALTERNATIVES)]

    def respond(self, prompt: str, **params: Any) -> str:
        """The reply to ``prompt`` with ``params``, computed at once: no sleep, not counted."""
        temperature = _temperature(params)
        canonical = self.canonical(prompt)
        if temperature == 0:
            return canonical
        others = sorted((k, v) for k, v in params.items() if k != "temperature")
        base = _unit(_digest("sample", prompt, others, self.seed))
        draw = (base + _WEYL_STEP * temperature) % 1.0
        if draw >= min(_DRIFT_PER_TEMPERATURE * temperature, _DRIFT_CAP):
            return canonical
        alternatives = self.alternatives(prompt)
        if not alternatives:
            return canonical
        pick = _digest("pick", prompt, sorted(params.items()), self.seed)
        return alternatives[pick[0] % len(alternatives)]

    # -- calls ---------------------------------------------------------------------------------

    def _start(self, prompt: str, params: dict[str, Any]) -> str:
        """Count the call, fail if asked to, and compute the reply (before any sleeping)."""
        with self._lock:
            self.calls += 1
        if self.fail_on is not None and self.fail_on(prompt):
            raise RuntimeError(f"{self.name} model failed on prompt {prompt!r}")
        return self.respond(prompt, **params)

    def __call__(self, prompt: str, **params: Any) -> str:
        """Reply to ``prompt`` after sleeping ``latency`` seconds (blocking the thread)."""
        reply = self._start(prompt, params)
        if self.latency:
            time.sleep(self.latency)
        return reply

    async def acall(self, prompt: str, **params: Any) -> str:
        """Reply to ``prompt`` after ``await asyncio.sleep(latency)``; same reply as a call."""
        reply = self._start(prompt, params)
        await asyncio.sleep(self.latency)
        return reply
