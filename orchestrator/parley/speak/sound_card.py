"""Playing replies on the local sound card, when there is one (optional: ``pip install parley[audio]``)."""

from __future__ import annotations

import queue
import threading

import numpy as np


def _output(sample_rate: int):
    """The sounddevice module if it can play mono audio at ``sample_rate`` here, else None."""
    try:
        import sounddevice
    except (ImportError, OSError):  # OSError: the PortAudio library itself is missing
        return None
    try:
        sounddevice.check_output_settings(samplerate=sample_rate, channels=1)
    except Exception:  # PortAudioError or ValueError: no output device
        return None
    return sounddevice


class SoundCard:
    """Plays chunks in order on a background thread, so speech starts with the first chunk."""

    def __init__(self, sample_rate: int) -> None:
        self._device = _output(sample_rate)
        self.available = self._device is not None
        self._queue: queue.Queue = queue.Queue()
        if self.available:
            threading.Thread(target=self._run, daemon=True, name="parley-playback").start()

    def play(self, audio: np.ndarray, sample_rate: int) -> None:
        if self.available:
            self._queue.put((audio, sample_rate))

    def wait(self) -> None:
        if self.available:
            self._queue.join()

    def _run(self) -> None:
        while True:
            audio, rate = self._queue.get()
            try:
                self._device.play(audio, rate, blocking=True)
            except Exception:
                self.available = False
            finally:
                self._queue.task_done()
