"""What the Triton engines share: requests to one model over gRPC, with server failures reported as
``EngineUnavailable`` (the fallback adapter in ``parley.engines.fallback`` switches on it).

``tritonclient`` is imported here only, and this module only by the Triton engines, so a stack without
them never loads it.
"""

from __future__ import annotations

import logging
import threading

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

    def ready(self, client: grpcclient.InferenceServerClient | None = None) -> bool:
        client = client or self.client
        timeout = self.config.connect_timeout_s
        try:
            return bool(client.is_server_ready(client_timeout=timeout)
                        and client.is_model_ready(self.name, client_timeout=timeout))
        except InferenceServerException:
            return False

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
