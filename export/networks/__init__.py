"""The lip-sync networks in PyTorch, with the official parameter names so a user's checkpoint loads
unchanged: what export/wav2lip.py and export/musetalk.py turn into ONNX, and what the tests and
perf/gpu_check.py run as the reference. Serving runs the exports and never imports PyTorch."""
