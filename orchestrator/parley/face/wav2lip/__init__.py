"""Wav2Lip for GPU machines: its mel features and an onnxruntime renderer that batches frames over
the exported network (export/networks/wav2lip.py holds it in PyTorch). The weights are the user's
(research licence)."""
