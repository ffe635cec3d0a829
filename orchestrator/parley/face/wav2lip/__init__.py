"""Wav2Lip for GPU machines: the network (PyTorch, for export), its mel features, and an
onnxruntime renderer that batches frames. The weights are the user's (research licence)."""
