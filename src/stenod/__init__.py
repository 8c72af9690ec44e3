"""stenod: real-time streaming dictation daemon built on (Distil-)Whisper."""

__version__ = "0.1.0"
SAMPLE_RATE = 16000
