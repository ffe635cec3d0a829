# Shared by the TensorRT-LLM build scripts: where TensorRT-LLM's example converters are, and refusing
# to start on a machine that cannot build engines.
#
# trtllm-build and the tensorrt_llm package are in NVIDIA's Triton TensorRT-LLM image
# (nvcr.io/nvidia/tritonserver:24.11-trtllm-python-py3); the per-model convert_checkpoint.py scripts
# are not: they live in TensorRT-LLM's examples/, which a checkout of tensorrtllm_backend at the tag
# of the image's tensorrt_llm version carries as its tensorrt_llm/ submodule. Point TRTLLM_EXAMPLES
# at that examples/ folder.

need_gpu_tools() {
  command -v trtllm-build >/dev/null \
    || die "trtllm-build is not installed here: run this inside nvcr.io/nvidia/tritonserver:24.11-trtllm-python-py3"
  command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 \
    || die "no NVIDIA GPU is visible: TensorRT engines are built on (and for) the GPU that will run them"
}

# converter MODEL: the convert_checkpoint.py for a model family (its folder moved in later releases).
converter() {
  [ -n "${TRTLLM_EXAMPLES:-}" ] \
    || die "set TRTLLM_EXAMPLES to TensorRT-LLM's examples/ folder (in a tensorrtllm_backend checkout: tensorrt_llm/examples)"
  for candidate in "$TRTLLM_EXAMPLES/$1/convert_checkpoint.py" "$TRTLLM_EXAMPLES/models/core/$1/convert_checkpoint.py"; do
    [ -f "$candidate" ] && { echo "$candidate"; return; }
  done
  die "no $1/convert_checkpoint.py under $TRTLLM_EXAMPLES"
}

die() { echo "error: $*" >&2; exit 1; }
