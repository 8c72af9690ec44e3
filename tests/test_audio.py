"""Audio loading: formats, rates, channels, and clear errors."""

import numpy as np
import pytest
import soundfile as sf

from stenod.audio import AudioError, load_audio, resample, split_windows


def tone(rate, seconds=1.0, freq=440.0):
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resample_keeps_frequency_and_length(rate):
    y = resample(tone(rate), rate)
    assert len(y) == 16000
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) - 440) <= 1


@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg")])
def test_formats_and_stereo(tmp_path, fmt, ext):
    stereo = np.stack([tone(44100), tone(44100)], axis=1)
    path = tmp_path / f"x.{ext}"
    sf.write(path, stereo, 44100, format=fmt)
    y = load_audio(path)
    assert y.dtype == np.float32 and len(y) == 16000
    assert 0.2 < np.max(np.abs(y)) < 0.4


def test_bytes_input(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, tone(16000), 16000)
    assert len(load_audio(path.read_bytes())) == 16000


@pytest.mark.parametrize("content,match", [(None, "no such file"), (b"hello, not audio", "not a readable audio"),
                                           ("empty", "no audio samples")])
def test_errors_are_clear(tmp_path, content, match):
    path = tmp_path / "bad.wav"
    if content == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioError, match=match):
        load_audio(path)


def test_split_windows_cuts_long_audio_at_quiet_points():
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(16000 * 70) * 0.1).astype(np.float32)
    audio[16000 * 26:16000 * 26 + 3200] = 0.0  # a quiet stretch inside the first search region
    parts = split_windows(audio)
    assert sum(len(p) for p in parts) == len(audio)
    assert all(len(p) <= 28 * 16000 for p in parts)
    assert 26 * 16000 <= len(parts[0]) <= 26 * 16000 + 3200
