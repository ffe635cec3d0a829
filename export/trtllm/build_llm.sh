#!/usr/bin/env bash
# Build a Llama-family LLM (Llama, Qwen 2, Mistral, ... in Hugging Face format) into a TensorRT-LLM engine
# for Triton's TensorRT-LLM backend with in-flight batching and a paged KV cache.
#
#   export/trtllm/build_llm.sh HF_MODEL_DIR OUT_DIR
#
#   HF_MODEL_DIR  the model's Hugging Face folder (config.json, *.safetensors, tokenizer files)
#   OUT_DIR       receives the engine (the engines volume in docker-compose.yml: /engines/llm)
#
# Environment: TRTLLM_EXAMPLES (see common.sh), FAMILY (llama; qwen for Qwen 2), PRECISION (float16),
# MAX_BATCH (64: sequences generated at once), MAX_INPUT (2048: the persona prompt and history),
# MAX_SEQ (2560: prompt + reply), WEIGHT_ONLY (int8 or int4; empty: none).
set -euo pipefail
source "$(dirname "$0")/common.sh"

[ $# -eq 2 ] || die "usage: $0 HF_MODEL_DIR OUT_DIR"
model=$1 out=$2
family=${FAMILY:-llama} precision=${PRECISION:-float16}
[ -f "$model/config.json" ] || die "$model/config.json not found: expected a Hugging Face model folder"
need_gpu_tools

checkpoint=$(mktemp -d)
trap 'rm -rf "$checkpoint"' EXIT
quant=()
[ -n "${WEIGHT_ONLY:-}" ] && quant=(--use_weight_only --weight_only_precision "$WEIGHT_ONLY")
python3 "$(converter "$family")" --model_dir "$model" --output_dir "$checkpoint" --dtype "$precision" "${quant[@]}"

# Fused attention, no padding between sequences and a paged KV cache are what in-flight batching
# needs to interleave many sessions' generations; paged context attention is what KV-cache reuse
# (enable_kv_cache_reuse in model_repository/gpu/tensorrt_llm) needs, or the model does not load.
trtllm-build --checkpoint_dir "$checkpoint" --output_dir "$out" \
  --gemm_plugin "$precision" --gpt_attention_plugin "$precision" --context_fmha enable \
  --remove_input_padding enable --paged_kv_cache enable --use_paged_context_fmha enable \
  --max_batch_size "${MAX_BATCH:-64}" --max_input_len "${MAX_INPUT:-2048}" --max_seq_len "${MAX_SEQ:-2560}"

# The backend's pre/post-processing tokenises with the model's own tokenizer files.
# Which tokenizer files a model has varies (tokenizer.json, tokenizer.model, ...): copy those present.
for file in "$model"/tokenizer* "$model"/special_tokens_map.json "$model"/generation_config.json; do
  if [ -f "$file" ]; then cp "$file" "$out/"; fi
done
echo "LLM engine in $out"
