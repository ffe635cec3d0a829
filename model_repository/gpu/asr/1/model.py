"""`asr` on the GPU: Parley's ASR contract in front of Whisper's TensorRT-LLM engines.

Like tensorrtllm_backend's whisper_bls: log-mel features (faster-whisper's extractor, the one the
in-process engine uses) and the decoder prompt are made here on the CPU; the encoder-decoder engine
in the ``engine_model`` model (backend tensorrtllm, batched across sessions) decodes greedily.
The tokenizer is the registry Whisper model's (``model`` parameter): the English-only sizes share
one, as do the multilingual ones. As on the CPU, a decode is capped by the audio's length, repeats
are discouraged and dropped, and audio over Whisper's 30 s window is transcribed window by window.
"""

import json

import numpy as np
import tokenizers
import triton_python_backend_utils as pb_utils
from faster_whisper.feature_extractor import FeatureExtractor
from faster_whisper.tokenizer import Tokenizer

from parley.engines.faster_whisper import REPETITION_PENALTY, most_tokens, without_repeats
from parley.models.store import ModelStore

FRAMES = 3000  # the encoder always sees a 30 s window
WINDOW_SAMPLES = 30 * 16000
MAX_DECODE = 448  # Whisper's decoder context


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        model_dir = ModelStore.from_parameters(params).require(params["model"])
        multilingual = not params["model"].endswith(".en")
        self.tokenizer = Tokenizer(tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json")), multilingual,
                                   task="transcribe", language=params.get("language", "en"))
        self.features = FeatureExtractor(feature_size=int(params.get("n_mels", 80)))
        self.engine_model = params["engine_model"]

    def prompt_ids(self, prompt: str | None) -> list[int]:
        """As faster-whisper builds it: the initial prompt after <|startofprev|>, then the task tokens."""
        ids = []
        if prompt:
            ids = [self.tokenizer.sot_prev] + self.tokenizer.encode(" " + prompt.strip())[-(MAX_DECODE // 2 - 1):]
        return ids + list(self.tokenizer.sot_sequence) + [self.tokenizer.no_timestamps]

    def engine_inputs(self, audio: np.ndarray, prompt: str | None) -> dict[str, np.ndarray]:
        """One window (at most 30 s) of audio."""
        mel = self.features(audio.astype(np.float32, copy=False))[:, :FRAMES]
        mel = np.pad(mel, ((0, 0), (0, FRAMES - mel.shape[1])))
        ids = self.prompt_ids(prompt)
        most = min(MAX_DECODE - len(ids), most_tokens(len(audio) / 16000))
        return {
            "encoder_input_features": mel.T[None].astype(np.float16),
            "encoder_output_lengths": np.array([[FRAMES // 2]], np.int32),
            "input_lengths": np.array([[FRAMES]], np.int32),
            "decoder_input_ids": np.array([ids], np.int32),
            "request_output_len": np.array([[most]], np.int32),
            "repetition_penalty": np.array([[REPETITION_PENALTY]], np.float32),
            "end_id": np.array([[self.tokenizer.eot]], np.int32),
            "pad_id": np.array([[self.tokenizer.eot]], np.int32),
        }

    def transcribe(self, audio: np.ndarray, prompt: str | None) -> str:
        windows = [audio[i : i + WINDOW_SAMPLES] for i in range(0, max(len(audio), 1), WINDOW_SAMPLES)]
        return without_repeats(" ".join(self.decode(w, prompt) for w in windows).strip())

    def decode(self, audio: np.ndarray, prompt: str | None) -> str:
        inputs = self.engine_inputs(audio, prompt)
        response = pb_utils.InferenceRequest(
            model_name=self.engine_model, requested_output_names=["output_ids"],
            inputs=[pb_utils.Tensor(k, v) for k, v in inputs.items()],
        ).exec()
        if response.has_error():
            raise pb_utils.TritonModelException(response.error().message())
        output = pb_utils.get_output_tensor_by_name(response, "output_ids").as_numpy().reshape(-1)
        return self.tokenizer.decode(output.tolist()).strip()

    def execute(self, requests):
        responses = []
        for request in requests:
            audio = pb_utils.get_input_tensor_by_name(request, "AUDIO").as_numpy()
            prompt = pb_utils.get_input_tensor_by_name(request, "PROMPT")
            try:
                text = self.transcribe(audio, prompt.as_numpy().reshape(-1)[0].decode() if prompt is not None else None)
            except pb_utils.TritonModelException as exc:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))))
                continue
            out = pb_utils.Tensor("TEXT", np.array([text.encode()], dtype=np.object_))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
