"""Which calls a result may be reused for, and why not: one answer for the cache, in-flight
merging and explain.

A call is served from the cache (and merged with an identical call in flight) only when its
result is determined by what the key holds:

- the operator is pure (``pure = False`` on it, or on an operator it holds, rules it out);
- it is not stochastic: no ``stochastic = True`` on it or on what it holds, and no model call
  at a temperature above zero (a ``temperature`` parameter, in its attributes, in those of
  the objects it holds (a model wrapper, a config, a ``functools.partial``) or in the call's
  keyword arguments), unless a ``seed`` (or ``sample_index``) sits beside it, which the key
  then holds;
- no ``preserve_stochasticity=True`` plan is running it (:func:`fresh_draws`);
- the operator and the input can be encoded (:mod:`emberjit.cache.encoding`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator, Mapping
from typing import Any

from ..inputs import CallArgs
from ..operator import Operator, impure_reason
from .encoding import Uncacheable
from .keys import call_key, operator_fingerprint

__all__ = ["NO_INPUT", "decide", "fresh_draws", "fresh_draws_now", "reason_not_cached"]

#: ``decide(op)`` without an input: whether the operator's calls can be cached at all
NO_INPUT: Any = object()
_SEEDS = ("seed", "sample_index")
_fresh: contextvars.ContextVar[bool] = contextvars.ContextVar("emberjit_fresh_draws",
                                                              default=False)


@contextlib.contextmanager
def fresh_draws() -> Iterator[None]:
    """Inside, no call is served from the cache or merged (``preserve_stochasticity=True``)."""
    token = _fresh.set(True)
    try:
        yield
    finally:
        _fresh.reset(token)


def fresh_draws_now() -> bool:
    """Whether this context is inside :func:`fresh_draws`."""
    return _fresh.get()


def decide(op: object, inputs: Any = NO_INPUT) -> tuple[str | None, str | None]:
    """``(key, None)`` for a call whose result may be reused, else ``(None, why not)``."""
    reason = reason_not_cached(op, inputs)
    if reason is not None:
        return None, reason
    try:
        if inputs is NO_INPUT:
            operator_fingerprint(op)
            return "", None
        return call_key(op, inputs), None
    except Uncacheable as exc:
        return None, exc.reason
    except RecursionError:
        return None, "its attributes nest too deep to encode"


def reason_not_cached(op: object, inputs: Any = NO_INPUT) -> str | None:
    """Why calls of ``op`` (on ``inputs``) are never served from the cache, or None."""
    if _fresh.get() or _fresh_draws_asked(op):
        return "preserve_stochasticity=True: every call is a fresh draw"
    impure = impure_reason(op)
    if impure is not None:
        return f"impure: {impure}"
    wrapped = getattr(type(op), "_emberjit_wraps", None)
    target = vars(op)[wrapped] if wrapped else op
    parts: list[tuple[str, object]] = [("", target)]
    if isinstance(target, Operator):
        parts += list(target.sub_operators(recursive=True))
    for path, part in parts:
        where = f"{path} ({type(part).__qualname__})" if path else type(part).__qualname__
        if getattr(part, "stochastic", False) is True:
            return f"stochastic: {where} says stochastic = True"
        sampled = _sampling(vars(part) if hasattr(part, "__dict__") else {})
        if sampled is not None:
            return f"stochastic: {where} samples at temperature {sampled} with no seed"
    if type(inputs) is CallArgs:
        sampled = _sampling(inputs.kwargs)
        if sampled is not None:
            return f"stochastic: the call asks for temperature {sampled} with no seed"
    return None


def _fresh_draws_asked(op: object) -> bool:
    """Whether ``op`` was jitted with ``preserve_stochasticity=True``."""
    state = vars(op).get("_emberjit_state") if hasattr(op, "__dict__") else None
    config = getattr(state, "config", None)
    return bool(getattr(config, "preserve_stochasticity", False))


def _sampling(values: Mapping[str, Any]) -> object | None:
    """The temperature above zero that ``values`` (attributes, parameters: one level of dicts
    and of the objects they hold, a model's or a config's attributes, inside too) samples at
    without a seed, or None."""
    for scope in (values, *(_scope(v) for v in values.values())):
        temperature = scope.get("temperature")
        if isinstance(temperature, int | float) and not isinstance(temperature, bool) and \
                temperature > 0 and not any(scope.get(name) is not None for name in _SEEDS):
            return temperature
    return None


def _scope(value: object) -> Mapping[str, Any]:
    """The names ``value`` holds, when it is a dict or a plain object (a model holding its own
    ``temperature``); operators are looked at as parts of their own."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, functools.partial):  # partial(model, temperature=0.7)
        return value.keywords
    if isinstance(value, Operator | type) or not hasattr(value, "__dict__"):
        return {}
    held = vars(value)
    return held if isinstance(held, Mapping) else {}
