"""What the Triton engines share: requests to one model over gRPC, with server failures reported as
``EngineUnavailable`` (the fallback adapter in ``parley.engines.fallback`` switches on it).

``tritonclient`` is imported here only, and this module only by the Triton engines, so a stack without
them never loads it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from parley.config import TritonConfig
from parley.core.errors import EngineUnavailable
from parley.core.interfaces import Cancelled, CancelToken

log = logging.getLogger("parley.triton")

# How often a blocking request looks at its turn's cancel token.
_CANCEL_POLL_S = 0.02


class TritonStalled(InferenceServerException):
    """The server stopped answering a stream without closing it (a hung or paused server)."""


# What counts as Triton failing (as opposed to a bug or a cancelled turn): the caller falls back.
TRITON_ERRORS = (InferenceServerException,)

# Parameters of a Python model that name the model it calls (BLS): the stage serves only when that does.
_CALLS = ("engine_model", "voice_model")


class NotServing(Exception):
    """A model of a stage's chain cannot serve now; the message says which, where and why."""


def calls(config: dict) -> str | None:
    """The model that a model (its config as Triton's JSON) calls by BLS, if any."""
    params = config.get("parameters", {})
    return next((params[p]["string_value"] for p in _CALLS if p in params), None)


def bls_chain(name: str, config_of: Callable[[str], dict]) -> list[tuple[str, dict]]:
    """``name`` and each model it calls by BLS, with its config (``config_of``), the one doing the work
    last. A stage serves only when all of them do: a Python model loads without the model it calls, and
    then fails every request. ``NotServing`` from ``config_of`` is raised with the path to that model."""
    chain: list[tuple[str, dict]] = []
    called: str | None = name
    while called is not None and all(n != called for n, _ in chain):
        try:
            config = config_of(called)
        except NotServing as exc:
            if not chain:
                raise
            raise NotServing(f"{' → '.join([n for n, _ in chain] + [called])}: {exc}") from exc
        chain.append((called, config))
        called = calls(config)
    return chain


def _load_failure(client: grpcclient.InferenceServerClient, name: str, timeout: float) -> str:
    """Why Triton did not load ``name``, as its repository index says (nothing where it cannot say)."""
    try:
        index = client.get_model_repository_index(as_json=True, client_timeout=timeout).get("models", [])
    except InferenceServerException:
        return ""
    entry = next((m for m in index if m.get("name") == name), None)
    if entry is None:
        return " (it is not in the repository)"
    said = [entry.get("state"), *(entry.get("reason") or "").strip().splitlines()[:1]]
    return f" ({': '.join(filter(None, said))})" if any(said) else ""


def describe(exc: BaseException) -> str:
    """One line for the log: tritonclient's messages carry the gRPC status and can span lines."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def tensor(name: str, value: np.ndarray) -> grpcclient.InferInput:
    """An input tensor; str arrays travel as Triton BYTES (UTF-8)."""
    if value.dtype.kind in "UO":
        value = np.array([v.encode("utf-8") if isinstance(v, str) else v for v in value.ravel()],
                         dtype=np.object_).reshape(value.shape)
        datatype = "BYTES"
    else:
        datatype = np_to_triton_dtype(value.dtype)
    item = grpcclient.InferInput(name, list(value.shape), datatype)
    item.set_data_from_numpy(value)
    return item


def text_tensor(name: str, text: str) -> grpcclient.InferInput:
    return tensor(name, np.array([text], dtype=np.object_))


def decode_text(result, name: str) -> str:
    value = result.as_numpy(name)
    if value is None or value.size == 0:
        return ""
    item = value.ravel()[0]
    return item.decode("utf-8") if isinstance(item, bytes) else str(item)


class TritonModel:
    """One model on the configured server. Unary calls share one client (tritonclient's gRPC client is
    thread-safe for them); a stream needs a client of its own (``new_client``)."""

    def __init__(self, config: TritonConfig, name: str) -> None:
        self.config = config
        self.name = name  # the model in the repository, named for its stage (llm, tts, asr)
        self.url = config.model_urls.get(name, config.url)
        self.client = self.new_client()

    def unavailable(self, exc: BaseException) -> EngineUnavailable:
        """The error a failed request becomes: it names the stage and the server."""
        return EngineUnavailable(f"{self.name}: Triton at {self.url} failed ({describe(exc)})")

    def new_client(self) -> grpcclient.InferenceServerClient:
        return grpcclient.InferenceServerClient(self.url)

    def chain(self, client: grpcclient.InferenceServerClient | None = None) -> list[tuple[str, dict]]:
        """This model and each model it calls by BLS (``bls_chain``), asked of the server; ``NotServing``
        where the server or one of them cannot serve."""
        client = client or self.client
        timeout = self.config.connect_timeout_s

        def config_of(name: str) -> dict:
            if not client.is_model_ready(name, client_timeout=timeout):
                raise NotServing(f"model {name} is not loaded on Triton at {self.url}"
                                 f"{_load_failure(client, name, timeout)}")
            return client.get_model_config(name, as_json=True, client_timeout=timeout)["config"]

        try:
            if not client.is_server_ready(client_timeout=timeout):
                raise NotServing(f"Triton at {self.url} is not ready")
            return bls_chain(self.name, config_of)
        except InferenceServerException as exc:
            raise NotServing(f"Triton at {self.url} failed ({describe(exc)})") from exc

    def ready(self, client: grpcclient.InferenceServerClient | None = None) -> bool:
        """Whether the whole chain serves (``chain``)."""
        try:
            self.chain(client)
        except NotServing:
            return False
        return True

    def reconnect(self) -> bool:
        """Whether the server and model are ready, asked on a new channel, which then serves later calls:
        a channel that saw the server die waits out gRPC's reconnect backoff (up to two minutes)."""
        client = self.new_client()
        if not self.ready(client):
            client.close()
            return False
        self.client = client
        return True

    def infer(self, inputs: list[grpcclient.InferInput], outputs: list[str], cancel: CancelToken | None = None):
        """One request; raises ``Cancelled`` soon after ``cancel`` is set (the RPC is cancelled too),
        ``EngineUnavailable`` when the server fails it."""
        try:
            return self._infer(inputs, outputs, cancel)
        except TRITON_ERRORS as exc:
            raise self.unavailable(exc) from exc

    def _infer(self, inputs: list[grpcclient.InferInput], outputs: list[str], cancel: CancelToken | None):
        done = threading.Event()
        answer: list = []

        def on_done(result, error) -> None:
            answer.append((result, error))
            done.set()

        call = self.client.async_infer(
            self.name, inputs, callback=on_done,
            outputs=[grpcclient.InferRequestedOutput(o) for o in outputs],
            client_timeout=self.config.request_timeout_s,
        )
        while not done.wait(_CANCEL_POLL_S):
            if cancel is not None and cancel.cancelled:
                call.cancel()
                raise Cancelled(cancel.reason)
        result, error = answer[0]
        if error is not None:
            raise error
        return result


class TritonEngine:
    """What every Triton engine offers the fallback adapter: a label, where it is, and whether it is
    ready again (asked on a fresh channel)."""

    label = "Triton"

    def __init__(self, model: TritonModel) -> None:
        self.model = model
        self.where = model.url

    def ready(self) -> bool:
        return self.model.reconnect()
