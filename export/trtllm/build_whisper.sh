#!/usr/bin/env bash
# Build Whisper's TensorRT-LLM engines (encoder + decoder) for Triton's TensorRT-LLM backend.
#
#   export/trtllm/build_whisper.sh MODEL_DIR MODEL_NAME OUT_DIR
#
#   MODEL_DIR   a folder holding OpenAI's checkpoint MODEL_NAME.pt (e.g. tiny.en.pt, large-v3.pt)
#   MODEL_NAME  tiny.en, base.en, small.en, medium.en, large-v2, large-v3, ...
#   OUT_DIR     receives encoder/ and decoder/ (the engines volume in docker-compose.yml: /engines/whisper)
#
# Environment: TRTLLM_EXAMPLES (see common.sh), PRECISION (float16), MAX_BATCH (16: concurrent
# utterances across sessions), MAX_BEAM (1: Parley decodes greedily), WEIGHT_ONLY (int8 or int4 to
# quantise the weights; empty: none).
set -euo pipefail
source "$(dirname "$0")/common.sh"

[ $# -eq 3 ] || die "usage: $0 MODEL_DIR MODEL_NAME OUT_DIR"
model_dir=$1 name=$2 out=$3
precision=${PRECISION:-float16} max_batch=${MAX_BATCH:-16} max_beam=${MAX_BEAM:-1}
[ -f "$model_dir/$name.pt" ] || die "$model_dir/$name.pt not found"
need_gpu_tools

checkpoint=$(mktemp -d)
trap 'rm -rf "$checkpoint"' EXIT
quant=()
[ -n "${WEIGHT_ONLY:-}" ] && quant=(--use_weight_only --weight_only_precision "$WEIGHT_ONLY")
python3 "$(converter whisper)" --model_dir "$model_dir" --model_name "$name" --dtype "$precision" \
  --output_dir "$checkpoint" "${quant[@]}"

# The encoder always sees a 30 s window: 3000 mel frames.
trtllm-build --checkpoint_dir "$checkpoint/encoder" --output_dir "$out/encoder" \
  --moe_plugin disable --gemm_plugin disable --bert_attention_plugin "$precision" \
  --max_batch_size "$max_batch" --max_input_len 3000 --max_seq_len 3000

# The longest prompt model_repository/gpu/asr sends: <|startofprev|>, the vocabulary prompt's last 223
# tokens (as faster-whisper keeps them), <|startoftranscript|>, language and task (multilingual models)
# and <|notimestamps|>: 228 (tests/served/test_models_gpu_python.py checks it against the model's own
# prompts). Whisper's text context is 448 tokens, prompt and transcript together.
max_prompt=228
trtllm-build --checkpoint_dir "$checkpoint/decoder" --output_dir "$out/decoder" \
  --moe_plugin disable --gemm_plugin "$precision" --bert_attention_plugin "$precision" \
  --gpt_attention_plugin "$precision" --max_beam_width "$max_beam" --max_batch_size "$max_batch" \
  --max_input_len "$max_prompt" --max_seq_len 448 --max_encoder_input_len 3000

echo "Whisper engines in $out/encoder and $out/decoder"
