""":class:`OpenAIModel`: any OpenAI-compatible chat endpoint as a :class:`~emberjit.models.Model`.

Built on the official ``openai`` client (``pip install 'emberjit[openai]'``), so it works with
hosted OpenAI and with servers that speak the same API: vLLM, llama.cpp's server, Ollama,
LM Studio. ``OpenAIModel("gpt-4o-mini")(prompt, temperature=0.7)`` returns the reply's text;
``await model.acall(prompt)`` is the same on an event loop.

Retries (429 and 5xx, connection errors, timeouts) are the client's own, with exponential backoff
and ``retry-after`` honoured; :attr:`OpenAIModel.retries` counts those taken by successful calls.
What still fails after them raises a :class:`ModelEndpointError` (or a subclass) naming the
endpoint, the model, what happened and the fix; the ``openai`` exception is its ``__cause__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from typing import Any

from .errors import EmberJitError
from .executors import off_loop_executor

try:
    import openai
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        "emberjit's OpenAIModel needs the openai package: pip install 'emberjit[openai]'"
    ) from exc

__all__ = [
    "ModelAuthenticationError",
    "ModelConnectionError",
    "ModelEndpointError",
    "ModelRateLimitError",
    "ModelTimeoutError",
    "OpenAIModel",
]

#: Seconds one request may take (the whole request; each retry gets the same again).
DEFAULT_TIMEOUT = 60.0
#: Placeholder key for local servers (vLLM, llama.cpp, Ollama) that check none.
_NO_KEY = "not-needed"


class ModelEndpointError(EmberJitError):
    """A model endpoint failed even after retries. ``endpoint``, ``model``, ``status`` (HTTP, or
    None) say where; the message says what happened and how to fix it."""

    def __init__(self, endpoint: str, model: str, problem: str, fix: str,
                 status: int | None = None) -> None:
        self.endpoint, self.model, self.status = endpoint, model, status
        super().__init__(f"{endpoint} (model {model!r}): {problem}. Fix: {fix}")


class ModelAuthenticationError(ModelEndpointError, PermissionError):
    """The endpoint rejected the API key (HTTP 401/403)."""


class ModelConnectionError(ModelEndpointError, ConnectionError):
    """The endpoint could not be reached (server down, wrong host or port)."""


class ModelTimeoutError(ModelEndpointError, TimeoutError):
    """The endpoint did not answer within ``timeout`` seconds (on every try)."""


class ModelRateLimitError(ModelEndpointError):
    """The endpoint kept answering 429 (rate limited) through every retry."""


class OpenAIModel:
    """A chat model behind an OpenAI-compatible endpoint; thread-safe and asyncio-safe.

    ``model``: the model name the endpoint serves (``"gpt-4o-mini"``, ``"llama3.1"``).
    ``base_url``: the API root, ending in ``/v1`` (``http://localhost:8000/v1`` for vLLM,
    ``http://localhost:11434/v1`` for Ollama); default ``$OPENAI_BASE_URL`` or OpenAI's.
    ``api_key``: default ``$OPENAI_API_KEY``; with a ``base_url`` and no key, a placeholder is
    sent (local servers check none). ``max_concurrency``: at most this many requests in flight
    from this model object (threads and tasks together count separately: one limit each);
    None for no limit. ``timeout``: seconds per request try. ``max_retries``: retries of
    429/5xx/connection failures/timeouts (the ``openai`` client's backoff). ``system``: an
    optional system message sent before every prompt. Extra keyword arguments of a call
    (``temperature``, ``max_tokens``, ...) go to ``chat.completions.create``.
    """

    #: a leaf (see emberjit.leaves): plans start its calls as concurrent call sites
    __emberjit_leaf__ = True

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 max_concurrency: int | None = None, timeout: float = DEFAULT_TIMEOUT,
                 max_retries: int = 2, system: str | None = None) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"OpenAIModel needs a model name, got {model!r}")
        if max_concurrency is not None and (isinstance(max_concurrency, bool)
                                            or not isinstance(max_concurrency, int)
                                            or max_concurrency < 1):
            raise ValueError(f"OpenAIModel max_concurrency must be an int >= 1 or None, "
                             f"got {max_concurrency!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"OpenAIModel timeout must be a number of seconds > 0, "
                             f"got {timeout!r}")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if key is None and self.base_url is None:
            raise ModelAuthenticationError(
                "https://api.openai.com/v1", model, "no API key was given",
                "pass OpenAIModel(..., api_key=...) or set OPENAI_API_KEY; for a local server "
                "pass base_url='http://HOST:PORT/v1'")
        self._api_key = key or _NO_KEY
        self.max_concurrency = max_concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.system = system
        self.calls = 0  # requests that returned a reply
        self.retries = 0  # retries the client took for those calls
        #: whether the endpoint honours ``n`` (k choices a request): None until a sample asks
        self.n_supported: bool | None = None
        self.requests_saved = 0  # requests that sample's n made unnecessary
        self._lock = threading.Lock()
        self._client = openai.OpenAI(api_key=self._api_key, base_url=self.base_url,
                                     timeout=self.timeout, max_retries=max_retries)
        self.endpoint = str(self._client.base_url).rstrip("/") + "/chat/completions"
        self._slots: threading.BoundedSemaphore | None = (
            threading.BoundedSemaphore(max_concurrency) if max_concurrency else None)
        # one async client and semaphore per event loop (both are bound to the loop they run on)
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[openai.AsyncOpenAI, asyncio.Semaphore | None]
        ] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        limit = f", max_concurrency={self.max_concurrency}" if self.max_concurrency else ""
        return f"OpenAIModel({self.model!r}, base_url={self.endpoint.rsplit('/chat', 1)[0]!r}" \
               f"{limit})"

    def __emberjit_cache_key__(self) -> dict[str, Any]:
        """What its replies depend on (for :class:`emberjit.ResultCache` keys): the model, the
        endpoint and the system prompt; not the key, the client or the counters."""
        return {"model": self.model, "endpoint": self.endpoint, "system": self.system}

    # -- calls ---------------------------------------------------------------------------------

    def __call__(self, prompt: str, **params: Any) -> str:
        """The model's reply to ``prompt`` (blocks this thread; other threads run meanwhile)."""
        slots = self._slots if self._slots is not None else contextlib.nullcontext()
        with slots:
            try:
                raw = self._client.chat.completions.with_raw_response.create(
                    model=self.model, messages=self._messages(prompt), **params)
            except openai.OpenAIError as exc:
                raise self._translate(exc) from exc
        return self._text(raw)

    async def acall(self, prompt: str, **params: Any) -> str:
        """The model's reply to ``prompt``, awaited on the running event loop."""
        client, slots = self._for_loop()
        async with slots if slots is not None else contextlib.nullcontext():
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    model=self.model, messages=self._messages(prompt), **params)
            except openai.OpenAIError as exc:
                raise self._translate(exc) from exc
        return self._text(raw)

    def sample(self, prompt: str, k: int, **params: Any) -> list[str]:
        """``k`` replies to ``prompt`` (``k`` draws at ``params``' temperature) in one request
        for ``k`` choices (the chat API's ``n``), where the endpoint honours ``n``. An endpoint
        that rejects ``n`` (HTTP 400) or returns fewer choices gets separate requests for the
        rest, made at once, and is remembered (``n_supported``), so no answer is lost and the
        next sample does not try again. ``requests_saved`` counts the requests ``n`` saved."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"OpenAIModel.sample needs k >= 1 replies, got {k!r}")
        texts: list[str] = []
        if k > 1 and self.n_supported is not False:
            texts = self._choices(prompt, k, params)
        if len(texts) < k:
            rest = k - len(texts)
            texts += list(off_loop_executor(None).map(lambda _: self(prompt, **params),
                                                      range(rest)))
        return texts

    def _choices(self, prompt: str, k: int, params: dict[str, Any]) -> list[str]:
        """Up to ``k`` choices from one request with ``n=k`` ([] when the endpoint refuses it)."""
        slots = self._slots if self._slots is not None else contextlib.nullcontext()
        with slots:
            try:
                raw = self._client.chat.completions.with_raw_response.create(
                    model=self.model, messages=self._messages(prompt), n=k, **params)
            except openai.BadRequestError:
                self.n_supported = False  # this endpoint does not take n: never ask again
                return []
            except openai.OpenAIError as exc:
                raise self._translate(exc) from exc
        choices = self._texts(raw)
        self.n_supported = len(choices) >= k
        with self._lock:
            self.requests_saved += len(choices[:k]) - 1
        return choices[:k]

    def close(self) -> None:
        """Close the HTTP connections of the sync client (async ones close with their loop)."""
        self._client.close()

    # -- helpers -------------------------------------------------------------------------------

    def _for_loop(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore | None]:
        loop = asyncio.get_running_loop()
        found = self._async.get(loop)
        if found is None:
            client = openai.AsyncOpenAI(api_key=self._api_key, base_url=self.base_url,
                                        timeout=self.timeout, max_retries=self.max_retries)
            slots = asyncio.Semaphore(self.max_concurrency) if self.max_concurrency else None
            found = self._async.setdefault(loop, (client, slots))
        return found

    def _messages(self, prompt: str) -> list[Any]:
        if not isinstance(prompt, str):
            raise TypeError(f"OpenAIModel({self.model!r}) takes a str prompt, "
                            f"got {type(prompt).__name__}")
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": prompt}]

    def _text(self, raw: Any) -> str:
        return self._texts(raw)[0]

    def _texts(self, raw: Any) -> list[str]:
        """The text of every choice of a reply (counted as one call)."""
        completion = raw.parse()
        with self._lock:
            self.calls += 1
            self.retries += int(getattr(raw, "retries_taken", 0))
        choices = getattr(completion, "choices", None) or []
        texts = [c.message.content for c in choices if c.message.content is not None]
        if not texts:
            raise ModelEndpointError(
                self.endpoint, self.model, "the reply held no text (no choices or empty content)",
                "check that the model is a chat model and that the endpoint speaks the "
                "OpenAI chat completions API")
        return [str(t) for t in texts]

    def _translate(self, exc: openai.OpenAIError) -> ModelEndpointError:
        """The emberjit error for an ``openai`` failure: what happened at which endpoint, and
        the fix."""
        where, model, tries = self.endpoint, self.model, f"{self.max_retries} retries"
        if isinstance(exc, openai.APITimeoutError):
            return ModelTimeoutError(
                where, model, f"no reply within timeout={self.timeout:g} s (after {tries})",
                "raise OpenAIModel(timeout=...), lower max_concurrency, or check why the "
                "server hangs")
        if isinstance(exc, openai.APIConnectionError):
            return ModelConnectionError(
                where, model, f"cannot connect ({exc.__cause__ or exc}) after {tries}",
                "start the server, or fix base_url (scheme, host, port, and the /v1 suffix)")
        if not isinstance(exc, openai.APIStatusError):
            return ModelEndpointError(where, model, str(exc), "see the cause above")
        status, detail = exc.status_code, _detail(exc)
        if status in (401, 403):
            return ModelAuthenticationError(
                where, model, f"the API key was rejected (HTTP {status}: {detail})",
                "pass OpenAIModel(..., api_key=...) or set OPENAI_API_KEY to a key this "
                "endpoint accepts", status)
        if status == 429:
            return ModelRateLimitError(
                where, model, f"still rate limited (HTTP 429) after {tries}: {detail}",
                "lower max_concurrency (or execution_options(max_workers=...)), or raise "
                "max_retries", status)
        if status == 404:
            return ModelEndpointError(
                where, model, f"not found (HTTP 404: {detail})",
                "check the model name (GET .../v1/models lists them) and that base_url ends "
                "in /v1", status)
        if status >= 500:
            return ModelEndpointError(
                where, model, f"server error HTTP {status} after {tries}: {detail}",
                "check the server's logs; raise max_retries for a flaky server", status)
        return ModelEndpointError(where, model, f"request rejected (HTTP {status}: {detail})",
                                  "check the call's parameters against the endpoint's API",
                                  status)


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("error", {})
        if isinstance(message, dict):
            message = message.get("message")
        if message:
            return str(message)
    return str(exc.message)
