"""One audio stream of the daemon: its label, source, ring, segmenter (in its own VAD thread) and
inbox to the shared inference worker, with the counters `stenod status` shows for it.

A daemon runs one stream per `--source` (`[source] streams`): ``LABEL=SOURCE``, e.g.
``me=mic`` and ``them=monitor``; an unlabelled source is the stream ``main``. Every stream has its
own timeline (sample 0 = its own start), its own utterance numbers and its own prompt context;
all share one worker and one model.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from stenod import SAMPLE_RATE
from stenod.config import SourceConfig
from stenod.daemon.capture import Source, SourceError, SourceSpec, open_source, parse_source
from stenod.daemon.gate import UtteranceGate
from stenod.daemon.inbox import EndOfStream, Inbox, StreamInput, Timeline
from stenod.daemon.ring import Ring
from stenod.daemon.segment import Segmenter
from stenod.daemon.supervise import fault_point
from stenod.protocol import DEFAULT_STREAM, Final, Partial, SpeechStart

_LABELLED = re.compile(r"([A-Za-z][A-Za-z0-9_-]{0,31})=(.+)")


@dataclass(frozen=True)
class StreamSpec:
    label: str
    source: SourceSpec

    def __str__(self) -> str:
        return f"{self.label}={self.source}"


def parse_stream(text: str) -> StreamSpec:
    """``LABEL=SOURCE`` or a bare source (the stream ``main``); a file whose name starts with a
    label and ``=`` needs the ``file:`` prefix."""
    m = _LABELLED.fullmatch(text)
    if m is None:
        return StreamSpec(DEFAULT_STREAM, parse_source(text))
    return StreamSpec(m.group(1), parse_source(m.group(2)))


def stream_specs(cfg: SourceConfig) -> list[StreamSpec]:
    """The streams `[source]` names: `streams` if set, else the one `source`."""
    specs = [parse_stream(text) for text in (cfg.streams or (cfg.source,))]
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise SourceError(f"streams: labels must differ, got {', '.join(labels)}")
    if sum(s.source.kind == "stdin" for s in specs) > 1:
        raise SourceError("streams: only one stream can read stdin (-)")
    return specs


@dataclass
class StreamCounters:
    """What was published for one stream (updated by the publisher thread, read by `status`)."""

    utterances: int = 0
    partials: int = 0
    finals: int = 0

    def published(self, event) -> None:
        if isinstance(event, SpeechStart):
            self.utterances += 1
        elif isinstance(event, Partial):
            self.partials += 1
        elif isinstance(event, Final):
            self.finals += 1


@dataclass
class Stream:
    spec: StreamSpec
    ring: Ring
    source: Source
    inbox: Inbox
    timeline: Timeline
    counters: StreamCounters = field(default_factory=StreamCounters)

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def input(self) -> StreamInput:
        return StreamInput(self.label, self.inbox, self.timeline)

    def status(self) -> dict:
        """The stream as `stenod status` lists it (see docs/protocol.md)."""
        c = self.counters
        state = "lost" if self.source.interrupted.is_set() else "ended" if self.source.finished.is_set() \
            else "capturing"
        return {"label": self.label, "source": str(self.spec.source), "state": state,
                "counters": {"utterances": c.utterances, "partials": c.partials, "finals": c.finals,
                             "overruns": self.ring.overruns, "dropped_samples": self.ring.dropped_samples,
                             "audio_gaps": len(self.source.gaps)},
                "lag_ms": {"vad": round(self.ring.available / SAMPLE_RATE * 1000),
                           "worker": round(self.inbox.backlog_s * 1000)},
                "stream_origin_mono_ns": self.source.origin_ns}


def open_stream(spec: StreamSpec, cfg: SourceConfig, bell: threading.Event, on_gap) -> Stream:
    """Open the stream's source (raises SourceError with a message for the user)."""
    ring = Ring(int(cfg.ring_s * SAMPLE_RATE))
    block = int(cfg.block_ms * SAMPLE_RATE / 1000)
    source = open_source(spec.source, ring, block, cfg.speed, on_gap)
    return Stream(spec, ring, source, Inbox(bell), Timeline(lambda: source.origin_ns, cfg.speed))


class VadThread(threading.Thread):
    """Reads one stream's ring, runs its segmenter, queues its events for the inference worker."""

    def __init__(self, stream: Stream, segmenter: Segmenter, daemon_):
        super().__init__(name=f"vad-{stream.label}" if stream.label != DEFAULT_STREAM else "vad", daemon=True)
        self.ring, self.seg, self.inbox, self.source, self.d = stream.ring, segmenter, stream.inbox, stream.source, daemon_
        self.dictation = UtteranceGate(daemon_.gate)

    def _put_all(self, events) -> None:
        for ev in events:
            for item in self.dictation.route(ev):
                self.inbox.put(item)

    def run(self) -> None:
        flushed_at_end = False
        while True:
            fault_point("vad")
            for verdict in self.inbox.take_verdicts():  # text-aware endpointing (daemon/endpoint.py)
                self._put_all(self.seg.sentence_end(verdict))
            if self.ring.wait(0.1) and self.ring.available:
                start, pcm = self.ring.read()
                if self.d.state.paused.is_set():
                    if self.seg.active:
                        self._put_all(self.seg.flush())
                    continue
                self._put_all(self.seg.feed(start, pcm))
                flushed_at_end = False
                continue
            if self.source.interrupted.is_set() and self.seg.active:
                self._put_all(self.seg.flush())  # the input is lost: finalise with the audio we have
            stopping = self.d.stopping.is_set()
            if self.source.finished.is_set() or stopping:
                if not flushed_at_end:
                    self._put_all(self.seg.flush())
                    flushed_at_end = True
                if stopping or self.d.exit_at_end:
                    self.inbox.put(EndOfStream())
                    return
