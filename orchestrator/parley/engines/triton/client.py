"""What the Triton engines share: requests to one model over gRPC, and the switch to an in-process
engine while Triton is unreachable.

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

from parley.config import Settings, TritonConfig
from parley.engines import engine_class
from parley.errors import ParleyError
from parley.interfaces import Cancelled, CancelToken

log = logging.getLogger("parley.triton")

# The in-process engine of each stage, serving the same model as Triton (same stack settings).
IN_PROCESS = {"llm": "llama_cpp", "tts": "piper", "asr": "faster_whisper"}

# How often a blocking request looks at its turn's cancel token.
_CANCEL_POLL_S = 0.02


class TritonUnavailable(ParleyError):
    """Triton failed a request and this stage has no in-process fallback."""


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
        self.name = name
        self.client = self.new_client()

    def new_client(self) -> grpcclient.InferenceServerClient:
        return grpcclient.InferenceServerClient(self.config.url)

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
        """One request; raises ``Cancelled`` soon after ``cancel`` is set (the RPC is cancelled too)."""
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


class Failover:
    """Sends a stage to Triton while it answers and to the in-process engine (``local``) after a failure;
    a background probe sends it back once the server and model report ready.

    With no ``local`` engine every call goes to Triton and a failure raises ``TritonUnavailable``, so
    the turn fails with a message and the next turn tries Triton again.
    """

    def __init__(self, stage: str, remote: TritonModel, local=None) -> None:
        self.stage = stage
        self.remote = remote
        self.local = local
        self._lock = threading.Lock()
        self._probe: threading.Thread | None = None
        self._closed = threading.Event()
        self.on_triton = True
        if not remote.ready():
            if local is not None:
                self._switch_to_local(f"not ready at {remote.config.url}")
            else:
                log.warning("%s: Triton not ready at %s and no fallback: requests fail until it is",
                            stage, remote.config.url)

    @classmethod
    def build(cls, stage: str, settings: Settings, store, model: str) -> "Failover":
        """The failover for ``stage``, loading its in-process engine now if the config asks for one:
        a caller whose server just died must not wait for a model to load."""
        config = settings.stack.triton
        local = None
        if stage in config.fallback:
            local = engine_class(stage, IN_PROCESS[stage]).from_settings(settings, store)
        return cls(stage, TritonModel(config, model), local)

    def failed(self, exc: BaseException) -> None:
        """Triton failed a call: switch to the in-process engine, or raise if there is none."""
        if self.local is None:
            raise TritonUnavailable(
                f"{self.stage}: Triton at {self.remote.config.url} failed ({describe(exc)}) "
                f"and triton.fallback does not include {self.stage}"
            ) from exc
        self._switch_to_local(f"failed ({describe(exc)})")

    def call(self, remote: Callable, local: Callable):
        """``remote()`` on Triton, or ``local(engine)`` on the fallback when Triton is down or fails."""
        if self.on_triton:
            try:
                return remote()
            except TRITON_ERRORS as exc:
                self.failed(exc)
        return local(self.local)

    def close(self) -> None:
        self._closed.set()

    def _switch_to_local(self, reason: str) -> None:
        with self._lock:
            if self.on_triton:
                log.warning("%s: Triton %s; using the in-process %s engine until it is ready again",
                            self.stage, reason, IN_PROCESS[self.stage])
            self.on_triton = False
            if self._probe is None:
                self._probe = threading.Thread(target=self._probe_until_ready, name=f"triton-probe-{self.stage}",
                                               daemon=True)
                self._probe.start()

    def _probe_until_ready(self) -> None:
        while not self._closed.wait(self.remote.config.probe_interval_s):
            if self.remote.reconnect():
                with self._lock:
                    self.on_triton = True
                    self._probe = None  # a later failure starts a new probe
                log.warning("%s: Triton at %s is ready again; back on Triton", self.stage, self.remote.config.url)
                return
