"""Wiring of the pipeline: capture -> ring -> VAD thread -> inference worker -> publisher.

Capture and the publisher start before the model loads, so speech during start-up is buffered in
the ring (up to `ring_s`) and transcribed once the model is ready. Shutdown (SIGINT, SIGTERM,
`stenod stop`, or the end of a file with `--exit-at-end`) stops capture, flushes the segmenter,
lets the worker publish every pending final, then closes the sockets: nothing is lost.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid

from stenod import SAMPLE_RATE
from stenod.config import Config, resolve_endpoints
from stenod.daemon.capture import Source, SourceError, open_source, parse_source
from stenod.daemon.gate import DictationGate, GateError, UtteranceGate
from stenod.daemon.infer import EndOfStream, Inbox, InferenceWorker, Timeline, status_event
from stenod.daemon.publish import ControlError, Outbox, Publisher, endpoint_in_use
from stenod.daemon.ring import Ring
from stenod.daemon.segment import Segmenter
from stenod.daemon.vad import SileroStage
from stenod.daemon.stats import Stats
from stenod.protocol import Final

log = logging.getLogger("stenod")
COMMANDS = ("status", "snapshot", "pause", "resume", "shutdown", "dictation", "ptt")


class ServiceError(RuntimeError):
    """The daemon cannot start or had to stop; the message is meant for the user."""


def sd_notify(message: str) -> None:
    """Tell systemd (Type=notify units) about readiness and state; a no-op elsewhere."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(message.encode(), addr)
    except OSError as exc:
        log.debug("sd_notify failed: %s", exc)


class VadThread(threading.Thread):
    """Reads the ring, runs the segmenter, queues its events for the inference worker."""

    def __init__(self, ring: Ring, segmenter: Segmenter, inbox: Inbox, source: Source, daemon_: "Daemon"):
        super().__init__(name="vad", daemon=True)
        self.ring, self.seg, self.inbox, self.source, self.d = ring, segmenter, inbox, source, daemon_
        self.dictation = UtteranceGate(daemon_.gate)

    def _put_all(self, events) -> None:
        for ev in events:
            for item in self.dictation.route(ev):
                self.inbox.put(item)

    def run(self) -> None:
        flushed_at_end = False
        while True:
            if self.ring.wait(0.1) and self.ring.available:
                start, pcm = self.ring.read()
                if self.d.paused.is_set():
                    if self.seg.active:
                        self._put_all(self.seg.flush())
                    continue
                self._put_all(self.seg.feed(start, pcm))
                flushed_at_end = False
                continue
            stopping = self.d.stopping.is_set()
            if self.source.finished.is_set() or stopping:
                if not flushed_at_end:
                    self._put_all(self.seg.flush())
                    flushed_at_end = True
                if stopping or self.d.exit_at_end:
                    self.inbox.put(EndOfStream())
                    return


class Daemon:
    def __init__(self, cfg: Config, model_explicit: bool):
        self.cfg, self.model_explicit = cfg, model_explicit
        self.session = str(uuid.uuid4())
        self.paused, self.stopping, self.done = threading.Event(), threading.Event(), threading.Event()
        self.exit_at_end = cfg.source.exit_at_end
        self.state = "starting"
        self.error: str | None = None
        self.stats = Stats()
        self.started = time.monotonic()
        self.backend = None
        self.gate = DictationGate(cfg.dictation.start == "on")

    # -- control requests (called from the publisher thread) ----------------------------------
    def control(self, req: dict) -> dict:
        cmd = req["cmd"]
        if cmd == "status":
            return self.status()
        if cmd == "pause":
            if self.state in ("ready", "loading"):
                self.paused.set()
                self._set_state("paused")
            return {"state": self.state}
        if cmd == "resume":
            if self.paused.is_set():
                self.paused.clear()
                self._set_state("ready" if self.backend is not None else "loading")
            return {"state": self.state}
        if cmd == "shutdown":
            self.request_stop("shutdown requested over the control socket")
            return {"state": "stopping"}
        if cmd in ("dictation", "ptt"):
            try:
                change = self.gate.command(req, lambda s: self.outbox.put(status_event(self.state, dictation=s)))
            except GateError as exc:
                raise ControlError(str(exc)) from None
            return {"dictation": change.state}
        raise ControlError(f"unknown command {cmd!r}; known: {', '.join(COMMANDS)}")

    def status(self) -> dict:
        snap = self.stats.snapshot()
        counters = {"utterances": 0, "finals": 0, "partials": 0, "guard_drops": 0, "decode_errors": 0,
                    **snap["counters"], "overruns": self.ring.overruns, "dropped_samples": self.ring.dropped_samples,
                    "bad_requests": self.publisher.bad_requests}
        b = self.backend
        decoding = {"mode": getattr(b, "mode", "plain"), "dtype": str(getattr(b, "dtype", "")).replace("torch.", "")}
        if "assistant_acceptance_rate" in snap:
            decoding["assistant_acceptance_rate"] = snap["assistant_acceptance_rate"]
        if getattr(b, "assistant_name", None):
            decoding["assistant_model"] = b.assistant_name
        return {"state": self.state, "dictation": self.gate.state, "model": b.name if b else None,
                "device": b.device if b else None, "source": str(self.spec), "uptime_s": round(time.monotonic() - self.started, 1),
                "counters": counters, "latency_ms": snap["latency_ms"], "decoding": decoding,
                "stream_origin_mono_ns": self.source.origin_ns}

    def _set_state(self, state: str, **detail) -> None:
        self.state = state
        self.gate.report(lambda s: self.outbox.put(status_event(state, dictation=s, **detail)))
        sd_notify(f"STATUS={state}")

    def request_stop(self, why: str) -> None:
        if not self.stopping.is_set():
            log.info("stopping: %s", why)
            self.stopping.set()
            sd_notify("STOPPING=1")

    # -- worker callbacks ----------------------------------------------------------------------
    def _on_ready(self, backend) -> None:
        self.backend = backend
        log.info("model %s ready on %s (%.1f s after start)", backend.name, backend.device,
                 time.monotonic() - self.started)
        self._set_state("paused" if self.paused.is_set() else "ready", model=backend.name, device=backend.device)
        sd_notify("READY=1")

    def _on_done(self, error: str | None) -> None:
        self.error = error
        self.done.set()

    def _load(self):
        from stenod.asr.backend import BackendOptions, load_backend

        m = self.cfg.model
        backend = load_backend(m.name if self.model_explicit else None, BackendOptions.from_config(m))
        backend.warm_up()
        return backend

    def _log_final(self, event) -> None:
        if isinstance(event, Final):
            log.info("final %d (%s ms after speech end): %s", event.utt,
                     _latency(event), event.text or "(retracted)")

    # -- lifecycle ------------------------------------------------------------------------------
    def run(self) -> int:
        cfg = self.cfg
        events_ep, control_ep = resolve_endpoints(cfg.sockets)
        if endpoint_in_use(control_ep):
            raise ServiceError(f"another stenod daemon is already running at {control_ep} "
                               "(stop it with `stenod stop`, or use --control/--events)")
        try:
            self.spec = parse_source(cfg.source.source)
            self.ring = Ring(int(cfg.source.ring_s * SAMPLE_RATE))
            block = int(cfg.source.block_ms * SAMPLE_RATE / 1000)
            self.source = open_source(self.spec, self.ring, block, cfg.source.speed)
        except SourceError as exc:
            raise ServiceError(str(exc)) from None
        self.outbox = Outbox()
        self.publisher = Publisher(events_ep, control_ep, self.outbox, self.control, self.session,
                                   cfg.stream.heartbeat_s, cfg.stream.snapshot_finals)
        timeline = Timeline(lambda: self.source.origin_ns, cfg.source.speed)
        self.publisher.on_publish(lambda ev: self.stats.published(ev, timeline.mono_ns))
        self.publisher.on_publish(self._log_final)
        self.publisher.start()
        self.publisher.ready.wait()
        if self.publisher.error:
            raise ServiceError(self.publisher.error)
        log.info("session %s: events on %s, control on %s", self.session, events_ep, control_ep)
        self._set_state("loading")
        inbox = Inbox()
        self.source.start()
        log.info("capturing from %s", self.spec)
        neural = SileroStage() if cfg.vad.neural else None
        VadThread(self.ring, Segmenter(cfg.vad, neural=neural), inbox, self.source, self).start()
        worker = InferenceWorker(self._load, inbox, self.outbox.put, timeline, cfg.stream.partial_interval_s,
                                 cfg.vad.preroll_ms / 1000, self.stats, self._on_ready, self._on_done, cfg.decode)
        worker.start()
        self._install_signals()
        while not self.done.wait(0.2):
            if self.source.error and not self.stopping.is_set():
                self.error = f"audio source failed: {self.source.error}"
                self.request_stop(self.error)
            if self.stopping.is_set():
                self.source.stop()  # the VAD thread then flushes and the worker finishes
        self.source.stop()
        self._set_state("stopped" if not self.error else "error", **({"error": self.error} if self.error else {}))
        self.publisher.stop()
        self.publisher.join(timeout=10)
        self.outbox.close()
        if self.error:
            raise ServiceError(self.error)
        return 0

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda s, f: self.request_stop(signal.Signals(s).name))


def _latency(event: Final) -> str:
    end = event.timings.get("speech_end_mono_ns")
    return f"{(event.t_mono_ns - end) / 1e6:.0f}" if end else "?"
