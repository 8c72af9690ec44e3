"""The benchmark corpus: reader for the manifest format of DESIGN.md ("Test corpus"), a subset
writer (small corpora for tests and quick runs), and the stream plan that lays noise files,
sessions and a silent stretch end to end on one timeline for the streaming run.

Manifest::

    {"sample_rate": 16000,
     "clips":    [{"id", "path", "text", "voice", "speech": [start_s, end_s]}],
     "sessions": [{"path", "utterances": [{"text", "voice", "start", "end"}], "nonspeech": [[s, e]]}],
     "noise":    [{"path", "kind"}]}

Paths are relative to the manifest's directory. This module reads and writes audio with numpy and
soundfile only; no model, no I/O beyond the files it is asked about.
"""

from __future__ import annotations

import json
import shutil
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stenod import SAMPLE_RATE


class CorpusError(ValueError):
    """The corpus directory or its manifest is unusable; the message says what is wrong."""


@dataclass(frozen=True)
class Clip:
    id: str
    path: Path
    text: str
    voice: str = ""
    speech: tuple[float, float] | None = None


@dataclass(frozen=True)
class Utterance:
    text: str
    start: float
    end: float
    voice: str = ""


@dataclass(frozen=True)
class Session:
    path: Path
    utterances: tuple[Utterance, ...]
    nonspeech: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Noise:
    path: Path
    kind: str


@dataclass(frozen=True)
class Corpus:
    dir: Path
    sample_rate: int
    clips: tuple[Clip, ...]
    sessions: tuple[Session, ...]
    noise: tuple[Noise, ...]


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise CorpusError(f"{where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CorpusError(f"{where}: field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _span(value: Any, where: str) -> tuple[float, float]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not 0 <= value[0] <= value[1]):
        raise CorpusError(f"{where}: expected [start_s, end_s] with 0 <= start <= end, got {value!r}")
    return float(value[0]), float(value[1])


def _file(root: Path, rel: str, where: str) -> Path:
    path = (root / rel).resolve()
    if not path.is_file():
        raise CorpusError(f"{where}: audio file {rel!r} not found under {root}")
    return path


def load_corpus(directory: str | Path) -> Corpus:
    """Read and check ``DIR/manifest.json``; every path in the result is absolute."""
    root = Path(directory).resolve()
    manifest = root / "manifest.json"
    if not manifest.is_file():
        raise CorpusError(f"{root}: no manifest.json (build a corpus with "
                          "make_corpus.py sentences.txt OUTDIR, see DESIGN.md)")
    try:
        m = json.loads(manifest.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{manifest}: not valid JSON ({exc})") from None
    rate = _get(m, "sample_rate", int, "manifest")
    clips = []
    for i, c in enumerate(m.get("clips") or []):
        where = f"clips[{i}]"
        speech = _span(c["speech"], where + ".speech") if isinstance(c, dict) and "speech" in c else None
        clips.append(Clip(str(_get(c, "id", (str, int), where)), _file(root, _get(c, "path", str, where), where),
                          _get(c, "text", str, where), str(c.get("voice", "")), speech))
    sessions = []
    for i, s in enumerate(m.get("sessions") or []):
        where = f"sessions[{i}]"
        utts = []
        for j, u in enumerate(_get(s, "utterances", list, where)):
            w = f"{where}.utterances[{j}]"
            start, end = _span([_get(u, "start", (int, float), w), _get(u, "end", (int, float), w)], w)
            utts.append(Utterance(_get(u, "text", str, w), start, end, str(u.get("voice", ""))))
        nonspeech = tuple(_span(v, f"{where}.nonspeech[{k}]") for k, v in enumerate(s.get("nonspeech") or []))
        sessions.append(Session(_file(root, _get(s, "path", str, where), where), tuple(utts), nonspeech))
    noise = [Noise(_file(root, _get(n, "path", str, f"noise[{i}]"), f"noise[{i}]"), str(n.get("kind", f"noise{i}")))
             for i, n in enumerate(m.get("noise") or [])]
    if not clips and not sessions:
        raise CorpusError(f"{manifest}: no clips and no sessions")
    return Corpus(root, rate, tuple(clips), tuple(sessions), tuple(noise))


# ------------------------------------------------------------------------------- audio helpers


def read_pcm(path: Path) -> np.ndarray:
    """A file as 16 kHz mono int16 (resampled and mixed down when needed)."""
    from stenod.audio import load_audio

    return (np.clip(load_audio(path), -1.0, 1.0) * 32767).astype(np.int16)


def write_wav(path: Path, pcm: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())


def write_subset(corpus: Corpus, out_dir: str | Path, *, clips: int | None = None, utterances: int | None = None,
                 noise: list[str] | None = None) -> Path:
    """Write a smaller corpus to ``out_dir``: the first ``clips`` clips, the first session cut after
    its first ``utterances`` utterances (halfway into the following pause; the nonspeech spans
    before the cut are kept), and the noise files whose kind is in ``noise`` (None: all).
    Returns ``out_dir``."""
    out = Path(out_dir)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    (out / "noise").mkdir(exist_ok=True)
    m: dict[str, Any] = {"sample_rate": corpus.sample_rate, "clips": [], "sessions": [], "noise": []}
    for c in corpus.clips[:clips]:
        shutil.copyfile(c.path, out / "clips" / c.path.name)
        m["clips"].append({"id": c.id, "path": f"clips/{c.path.name}", "text": c.text, "voice": c.voice,
                           **({"speech": list(c.speech)} if c.speech else {})})
    if corpus.sessions and utterances != 0:
        s = corpus.sessions[0]
        pcm = read_pcm(s.path)
        utts = s.utterances[:utterances]
        total = len(pcm) / SAMPLE_RATE
        nxt = s.utterances[len(utts)].start if len(utts) < len(s.utterances) else total
        cut = min(total, (utts[-1].end + nxt) / 2 if utts else total)
        write_wav(out / "session.wav", pcm[: int(cut * SAMPLE_RATE)])
        m["sessions"].append({
            "path": "session.wav",
            "utterances": [{"text": u.text, "voice": u.voice, "start": u.start, "end": u.end} for u in utts],
            "nonspeech": [list(span) for span in s.nonspeech if span[1] <= cut]})
    for n in corpus.noise:
        if noise is None or n.kind in noise:
            shutil.copyfile(n.path, out / "noise" / n.path.name)
            m["noise"].append({"path": f"noise/{n.path.name}", "kind": n.kind})
    (out / "manifest.json").write_text(json.dumps(m, indent=1), encoding="utf-8")
    return out


# --------------------------------------------------------------------------------- stream plan


@dataclass(frozen=True)
class Span:
    """Something placed on the stream timeline (seconds from sample 0 of the stream)."""

    kind: str  # "utterance" | "nonspeech" | "noise" | "idle" | "session"
    start: float
    end: float
    label: str = ""
    text: str = ""


@dataclass(frozen=True)
class StreamPlan:
    """Where everything lies in the replayed stream: noise files first (they also cover the
    daemon's start-up, which buffers audio while the model loads), then the sessions, then a
    silent stretch for the idle-CPU measurement."""

    wav: Path
    duration: float
    utterances: tuple[Span, ...]
    nonspeech: tuple[Span, ...]
    noise: tuple[Span, ...]
    sessions: tuple[Span, ...]
    idle: Span | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def spans(items):
            return [vars(s) for s in items]
        return {"wav": str(self.wav), "duration": self.duration, "utterances": spans(self.utterances),
                "nonspeech": spans(self.nonspeech), "noise": spans(self.noise),
                "sessions": spans(self.sessions), "idle": vars(self.idle) if self.idle else None}


def build_stream(corpus: Corpus, wav: str | Path, *, gap_s: float = 1.0, idle_s: float = 12.0,
                 with_noise: bool = True) -> StreamPlan:
    """Write the stream WAV (noise files separated by ``gap_s`` of silence, the sessions, then
    ``idle_s`` of silence) and return where each part lies on its timeline."""
    wav = Path(wav)
    parts: list[np.ndarray] = []
    pos = 0.0
    noise, utts, nonspeech, sessions = [], [], [], []

    def add(pcm: np.ndarray) -> tuple[float, float]:
        nonlocal pos
        start = pos
        parts.append(pcm)
        pos += len(pcm) / SAMPLE_RATE
        return start, pos

    def silence(seconds: float) -> None:
        if seconds > 0:
            add(np.zeros(int(round(seconds * SAMPLE_RATE)), np.int16))

    if with_noise:
        for n in corpus.noise:
            start, end = add(read_pcm(n.path))
            noise.append(Span("noise", start, end, n.kind))
            silence(gap_s)
    for k, s in enumerate(corpus.sessions):
        start, end = add(read_pcm(s.path))
        sessions.append(Span("session", start, end, s.path.name))
        for u in s.utterances:
            utts.append(Span("utterance", start + u.start, start + u.end, u.voice, u.text))
        for a, b in s.nonspeech:
            nonspeech.append(Span("nonspeech", start + a, start + b, f"session {k}"))
        if k + 1 < len(corpus.sessions):
            silence(gap_s)
    idle = None
    if idle_s > 0:
        start = pos
        silence(idle_s)
        idle = Span("idle", start, pos, "silence")
    pcm = np.concatenate(parts) if parts else np.zeros(SAMPLE_RATE, np.int16)
    write_wav(wav, pcm)
    return StreamPlan(wav, len(pcm) / SAMPLE_RATE, tuple(utts), tuple(nonspeech), tuple(noise), tuple(sessions), idle)
