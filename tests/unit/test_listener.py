import numpy as np

from parley.hear.listener import _AudioBuffer


def test_listener_audio_buffer_keeps_absolute_positions():
    buf = _AudioBuffer()
    samples = np.arange(200_000, dtype=np.float32)
    for i in range(0, len(samples), 320):
        buf.append(samples[i : i + 320])
        buf.keep_last(5000)
    assert buf.end == 200_000 and buf.start <= 195_000
    assert np.array_equal(buf.between(196_000, 196_010), samples[196_000:196_010])
    assert np.array_equal(buf.between(0, 10), np.zeros(0))  # long gone
    assert len(buf.between(199_990, 300_000)) == 10
