"""The virtual microphone really works: what is played into ``vsink`` is captured from ``vmic``,
both by PulseAudio's own tools and by sounddevice (PortAudio → ALSA → pulse plugin), the way the
daemon captures a real microphone. Also checks the Xvfb and endpoint helpers."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import numpy as np

from conftest import free_endpoint

SR = 16000


def write_wav(path: Path, x: np.ndarray, sr: int = SR) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes())


def read_wav(path: str | Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == SR and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768


def active_seconds(x: np.ndarray, thresh_db: float = -40.0, frame: int = 160) -> float:
    n = len(x) // frame
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    return float(np.sum(20 * np.log10(rms) > thresh_db)) * frame / SR


def dominant_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec)) * SR / len(x)


def best_correlation(recorded: np.ndarray, reference: np.ndarray) -> float:
    """Peak normalized cross-correlation of ``reference`` within ``recorded`` (1.0 = identical)."""
    n = len(recorded) + len(reference)
    size = 1 << (n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(recorded, size) * np.conj(np.fft.rfft(reference, size)), size)
    lag = int(np.argmax(xc))
    seg = recorded[lag: lag + len(reference)]
    if len(seg) < len(reference):
        return 0.0
    return float(np.dot(seg, reference) / (np.linalg.norm(seg) * np.linalg.norm(reference) + 1e-12))


def test_pulse_server_has_virtual_devices(pulse):
    sinks = pulse.pactl("list", "short", "sinks")
    sources = pulse.pactl("list", "short", "sources")
    assert "vsink" in sinks
    assert "vmic" in sources
    info = pulse.pactl("info")
    assert "Default Source: vmic" in info and "Default Sink: vsink" in info


def test_parecord_captures_what_paplay_plays(pulse, tmp_path):
    tone = 0.3 * np.sin(2 * np.pi * 1000 * np.arange(SR) / SR)  # 1 s, 1 kHz, about -13 dBFS
    src = tmp_path / "tone.wav"
    write_wav(src, tone)
    out = tmp_path / "rec.raw"
    rec = subprocess.Popen(
        ["parecord", "--device=vmic", "--raw", "--format=s16le", f"--rate={SR}", "--channels=1",
         str(out)], env=pulse.environ())
    try:
        time.sleep(0.3)
        pulse.play(src)  # right away: the start of what is played must not be lost
        time.sleep(0.3)
    finally:
        rec.send_signal(signal.SIGINT)
        rec.wait(10)
    x = np.frombuffer(out.read_bytes(), np.int16).astype(np.float32) / 32768
    assert len(x) > 1.2 * SR, f"recorded only {len(x) / SR:.2f} s"
    assert 0.9 <= active_seconds(x) <= 1.1
    assert 0.2 < np.max(np.abs(x)) < 0.4  # unity gain through sink → monitor → remap source
    loud = np.nonzero(np.abs(x) > 0.05)[0]
    assert abs(dominant_hz(x[loud[0]: loud[-1]]) - 1000) < 5


SD_RECORDER = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import sounddevice as sd

    seconds, out = float(sys.argv[1]), sys.argv[2]
    devices = [dict(name=d["name"], inputs=d["max_input_channels"]) for d in sd.query_devices()]
    default_in = sd.default.device[0]
    print(json.dumps({"devices": devices, "default_input": default_in,
                      "default_name": sd.query_devices(kind="input")["name"]}), flush=True)
    blocks, status_flags = [], []

    def callback(indata, frames, t, status):
        if status:
            status_flags.append(str(status))
        blocks.append(indata.copy())

    with sd.InputStream(samplerate=16000, channels=1, dtype="float32", blocksize=320,
                        callback=callback):
        print("READY", flush=True)
        time.sleep(seconds)
    np.save(out, np.concatenate(blocks)[:, 0])
    print(json.dumps({"status": status_flags}), flush=True)
""")


def test_sounddevice_in_child_captures_virtual_mic(pulse, corpus, tmp_path):
    clip = corpus.clips[0]
    reference = read_wav(clip["path"])
    seconds = len(reference) / SR + 1.5
    out = tmp_path / "sd.npy"
    errors = tmp_path / "stderr.txt"
    # The child starts after pulseaudio is up: PortAudio enumerates devices only once, at init.
    with open(errors, "w") as err, subprocess.Popen(
            [sys.executable, "-c", SD_RECORDER, str(seconds), str(out)], env=pulse.environ(),
            stdout=subprocess.PIPE, stderr=err, text=True) as child:
        try:
            info = json.loads(child.stdout.readline() or "null")
            assert info, errors.read_text()
            assert any(d["inputs"] > 0 for d in info["devices"]), info
            assert info["default_input"] >= 0, info
            assert child.stdout.readline().strip() == "READY", errors.read_text()
            pulse.play(clip["path"])
            tail = child.stdout.read()
            assert child.wait(seconds + 20) == 0, errors.read_text()
        finally:
            if child.poll() is None:
                child.kill()
    recorded = np.load(out)
    assert len(recorded) >= 0.95 * seconds * SR
    # The played clip comes back nearly unchanged (16 kHz → 48 kHz sink → 16 kHz capture).
    corr = best_correlation(recorded, reference)
    assert corr > 0.9, (corr, info["default_name"], tail)


def test_xvfb_display_answers(xvfb):
    r = subprocess.run(["xdpyinfo"], env=xvfb.environ(), capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    assert "1280x720" in r.stdout


def test_free_endpoint_is_short_and_unused(tmp_path):
    a = free_endpoint(tmp_path, "events")
    assert a.startswith("ipc://") and not Path(a[6:]).exists()
    Path(a[6:]).touch()
    b = free_endpoint(tmp_path, "events")
    assert b != a and not Path(b[6:]).exists()
    long = free_endpoint(tmp_path / ("x" * 120), "control")
    assert len(long) - len("ipc://") <= 100
    os.rmdir(Path(long[6:]).parent)
