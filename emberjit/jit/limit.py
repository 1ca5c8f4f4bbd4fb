"""The recompile limit, one rule for every mode: after ``recompile_limit`` guard failures an
operator runs eagerly from then on (a warning, a fallback in its stats), or, under
``strict=True``, the failure is a :class:`~emberjit.errors.GuardLimitError`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import GuardLimitError, warn_user
from .stats import registry

if TYPE_CHECKING:
    from .state import JitConfig

__all__ = ["give_up"]


def give_up(root: str, config: JitConfig, reason: str, stats: Any, *, mode: str | None = None,
            warn: bool = True) -> str:
    """The limit is reached for ``root`` (last guard failure: ``reason``): raise under
    ``strict``, else record the fallback in ``stats`` (may be None), warn unless told not to
    (warned once already), and return the message."""
    where = f" in {mode} mode" if mode else ""
    message = (f"{root}: recompile limit ({config.recompile_limit}) reached{where}; last guard "
               f"failure: {reason}. Running it eagerly from now on.")
    if config.strict:
        raise GuardLimitError(message + " (strict=True makes this an error)")
    if stats is not None:
        with registry.lock:
            stats.fallbacks.append(message)
    if warn:
        warn_user(message)  # at the user's call that hit the limit
    return message
