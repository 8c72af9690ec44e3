"""Wiring of the pipeline: capture -> ring -> VAD thread -> inference worker -> publisher.

Capture and the publisher start before the model loads, so speech during start-up is buffered in
the ring (up to `ring_s`) and transcribed once the model is ready. Shutdown (SIGINT, SIGTERM,
`stenod stop`, or the end of a file with `--exit-at-end`) stops capture, flushes the segmenter,
lets the worker publish every pending final, then closes the sockets: nothing is lost.
"""

from __future__ import annotations

import importlib.util
import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable

from stenod.config import SECTIONS, Config, ConfigError, ModelConfig, journal_dir, resolve_endpoints, runtime_dir
from stenod.daemon.capture import AudioGap, SourceError
from stenod.daemon.endpoint import SentenceRule
from stenod.daemon.gate import DictationGate, GateError
from stenod.daemon.inbox import EndOfStream, ReloadModel
from stenod.daemon.infer import InferenceWorker, status_event
from stenod.daemon.journal import Journal
from stenod.daemon.notify import sd_notify
from stenod.daemon.publish import ControlError, Outbox, Publisher, endpoint_in_use
from stenod.daemon.schedule import Scheduler
from stenod.daemon.segment import Segmenter
from stenod.daemon.state import DaemonState
from stenod.daemon.vad_onnx import NeuralStageError, neural_stage
from stenod.daemon.stats import Stats
from stenod.daemon.stream import Stream, VadThread, open_stream, stream_specs
from stenod.daemon.supervise import Supervisor
from stenod.keys import CurveKeyError, Keys, is_tcp, keys_dir
from stenod.protocol import STREAM_EVENTS, Final, ProtocolError, check_fields

log = logging.getLogger("stenod")
STOP_GRACE_S = 5.0
"""After a stop request, how long the worker gets to publish the finals still pending."""
COMMAND_FIELDS = {"dictation": ("state",), "ptt": ("action",)}
"""The fields a control command takes besides ``cmd`` (the others take none)."""


class ServiceError(RuntimeError):
    """The daemon cannot start or had to stop; the message is meant for the user."""


class Daemon:
    def __init__(self, cfg: Config, model_explicit: bool, reload: Callable[[], Config] | None = None):
        """`reload()` reads the configuration again (at SIGHUP); raises ConfigError."""
        self.cfg, self.model_explicit, self._reload_config = cfg, model_explicit, reload
        self._hup = threading.Event()
        self.session = str(uuid.uuid4())
        self.stopping, self.done = threading.Event(), threading.Event()
        self.exit_at_end = cfg.source.exit_at_end
        self.state = DaemonState(self._announce)
        self.worker_error: str | None = None
        self.stats = Stats()
        self.started = time.monotonic()
        self.backend = None
        self.gate = DictationGate(cfg.dictation.start == "on")
        self.handlers: dict[str, Callable[[dict], dict]] = {
            "status": lambda req: self.status(),
            "pause": self._cmd_pause,
            "resume": self._cmd_resume,
            "shutdown": self._cmd_shutdown,
            "dictation": self._cmd_dictation,
            "ptt": self._cmd_dictation,
        }
        """Control commands (called from the publisher thread): name -> handler(request) -> reply fields.
        ``snapshot`` is answered by the publisher itself."""

    # -- control requests (called from the publisher thread) ----------------------------------
    def control(self, req: dict) -> dict:
        handler = self.handlers.get(req["cmd"])
        if handler is None:
            known = ", ".join(sorted([*self.handlers, "snapshot"]))
            raise ControlError(f"unknown command {req['cmd']!r}; known: {known}")
        try:
            check_fields(req, COMMAND_FIELDS.get(req["cmd"], ()))
        except ProtocolError as exc:
            raise ControlError(str(exc)) from None
        return handler(req)

    def _cmd_pause(self, req: dict) -> dict:
        return {"state": self.state.update(paused=True)}

    def _cmd_resume(self, req: dict) -> dict:
        return {"state": self.state.update(paused=False)}

    def _cmd_shutdown(self, req: dict) -> dict:
        self.request_stop("shutdown requested over the control socket")
        return {"state": "stopping"}

    def _cmd_dictation(self, req: dict) -> dict:
        """`dictation` and `ptt`: the gate's change is announced under the state's lock, then the
        gate's (the order every status event takes), so status events keep the order of changes."""
        def apply(state: str):
            return self.gate.command(req, lambda on: self.outbox.put(status_event(state, dictation=on)))
        try:
            change = self.state.report(apply)
        except GateError as exc:
            raise ControlError(str(exc)) from None
        return {"dictation": change.state}

    def status(self) -> dict:
        snap = self.stats.snapshot()
        streams = [stream.status() for stream in self.streams]
        counters = {"utterances": 0, "finals": 0, "partials": 0, "guard_drops": 0, "decode_errors": 0,
                    **snap["counters"],
                    **{key: sum(s["counters"][key] for s in streams)
                       for key in ("overruns", "dropped_samples", "audio_gaps")},
                    "bad_requests": self.publisher.bad_requests,
                    "journal_errors": self.publisher.journal_errors}
        b = self.backend
        st = b.status() if b is not None else None
        decoding = {"mode": st.mode if st else "plain", "dtype": st.dtype if st else "",
                    "batching": st.batching if st else False}
        if "assistant_acceptance_rate" in snap:
            decoding["assistant_acceptance_rate"] = snap["assistant_acceptance_rate"]
        if st is not None and st.assistant_model:
            decoding["assistant_model"] = st.assistant_model
        first = self.streams[0]
        return {"state": self.state.name, "dictation": self.gate.state, "model": b.name if b else None,
                "device": b.device if b else None,
                "source": ", ".join(str(s.spec.source) if len(self.streams) == 1 else str(s.spec)
                                    for s in self.streams),
                "uptime_s": round(time.monotonic() - self.started, 1),
                "counters": counters, "latency_ms": snap["latency_ms"], "decoding": decoding,
                "lag_ms": {"vad": max(s["lag_ms"]["vad"] for s in streams),
                           "worker": max(s["lag_ms"]["worker"] for s in streams)},
                "stream_origin_mono_ns": first.source.origin_ns, "streams": streams}

    def _announce(self, state: str, detail: dict) -> None:
        """Publish a state change (called by DaemonState under its lock, so events keep its order),
        with the dictation state (under the gate's lock, for the same reason)."""
        self.gate.report(lambda on: self.outbox.put(status_event(state, dictation=on, **detail)))
        sd_notify(f"STATUS={state}")

    def _audio_gap(self, label: str, gap: AudioGap) -> None:
        """A capture thread lost its input (`end_mono_ns` None) or got it back: a status event."""
        self.state.report(lambda state: self.gate.report(
            lambda on: self.outbox.put(status_event(state, dictation=on, audio_gap=gap.detail(), stream=label))))

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
        self.state.update(loaded=True, announce=True, model=backend.name, device=backend.device)
        sd_notify("READY=1")

    def _on_done(self, error: str | None) -> None:
        self.worker_error = error
        self.done.set()

    def _load(self, m: ModelConfig | None = None, local: bool = False):
        """The backend of `m` (default: the configuration's): the service at ``remote``, or the local model."""
        explicit = self.model_explicit or m is not None
        model = m or self.cfg.model
        if model.remote and not local:
            from stenod.remote.load import load_remote

            return load_remote(model, self._remote_status, lambda: self._load(m, local=True))
        if importlib.util.find_spec("torch") is None:
            raise ServiceError("decoding locally needs the model stack: pip install 'stenod[local]' "
                               "(or decode on a service with --remote URL)")
        from stenod.asr.backend import BackendOptions, load_backend

        backend = load_backend(model.name if explicit else None, BackendOptions.from_config(model))
        backend.warm_up()
        return backend

    def _remote_status(self, detail: dict) -> None:
        """The inference service became unreachable or reachable again: a status event."""
        self.state.report(lambda state: self.gate.report(
            lambda on: self.outbox.put(status_event(state, dictation=on, remote=detail))))

    def _reload(self, inbox) -> None:
        """SIGHUP: read the configuration again; a changed [model] is loaded by the worker while
        audio keeps flowing; other sections take effect at the next start."""
        sd_notify("RELOADING=1")
        try:
            new = self._reload_config() if self._reload_config else self.cfg
        except ConfigError as exc:
            log.error("reload: %s; keeping the running configuration", exc)
            sd_notify("READY=1")
            return
        changed = [name for name in SECTIONS if getattr(new, name) != getattr(self.cfg, name)]
        later = [name for name in changed if name != "model"]
        if later:
            log.warning("reload: [%s] changed; that takes effect at the next start", "], [".join(later))
        if "model" in changed:
            log.info("reload: loading model %s", new.model.name)
            inbox.put(ReloadModel(lambda m=new.model: self._load(m)))  # READY=1 once it is ready
        else:
            log.info("reload: %s", "nothing to apply now" if later else "configuration unchanged")
            sd_notify("READY=1")
        self.cfg = new

    def _log_final(self, event) -> None:
        if isinstance(event, Final):
            log.info("final %s%d (%s ms after speech end): %s", "" if len(self.streams) == 1 else f"{event.stream}/",
                     event.utt, _latency(event), event.text or "(retracted)")

    # -- lifecycle ------------------------------------------------------------------------------
    def run(self) -> int:
        cfg = self.cfg
        self._install_signals()  # first: building the stages (silero-vad's model) takes a while
        events_ep, control_ep = resolve_endpoints(cfg.sockets)
        if endpoint_in_use(control_ep):
            raise ServiceError(f"another stenod daemon is already running at {control_ep} "
                               "(stop it with `stenod stop`, or use --control/--events)")
        bell = threading.Event()  # rung by every stream's inbox: the worker waits on it
        self.streams: list[Stream] = []
        try:
            for spec in stream_specs(cfg.source):
                self.streams.append(open_stream(spec, cfg.source, bell,
                                                lambda gap, label=spec.label: self._audio_gap(label, gap)))
        except SourceError as exc:
            self._stop_sources()  # the streams opened before the one that failed
            raise ServiceError(str(exc)) from None
        keys = self._curve_keys(events_ep, control_ep)
        self.outbox = Outbox()
        self.publisher = Publisher(events_ep, control_ep, self.outbox, self.control, self.session,
                                   cfg.stream.heartbeat_s, cfg.stream.snapshot_finals, own_dir=runtime_dir(),
                                   journal=self._open_journal(), keys=keys)
        by_label = {stream.label: stream for stream in self.streams}
        self.publisher.on_publish(self._count_published(by_label))
        self.publisher.on_publish(self._log_final)
        remote = cfg.model.remote is not None
        try:  # one neural stage per stream: it keeps the stream's state
            vads = [VadThread(stream, Segmenter(cfg.vad, neural=neural_stage(remote) if cfg.vad.neural else None,
                                                verdicts=True), self)
                    for stream in self.streams]
        except NeuralStageError as exc:
            self._stop_sources()
            raise ServiceError(str(exc)) from None
        worker = InferenceWorker(self._load, [stream.input for stream in self.streams], self.outbox.put,
                                 cfg.stream.partial_interval_s, cfg.vad.preroll_ms / 1000, self.stats,
                                 self._on_ready, self._on_done, cfg.decode,
                                 SentenceRule(cfg.vad.sentence_logprob) if cfg.vad.text_endpoint else None,
                                 Scheduler(cfg.stream.max_batch))
        supervisor = Supervisor(lambda limit: worker.busy_since is not None
                                and time.monotonic() - worker.busy_since > limit)
        supervisor.watch(self.publisher)
        for vad, stream in zip(vads, self.streams):
            supervisor.watch(vad, may_end=lambda source=stream.source: self.stopping.is_set()
                             or (self.exit_at_end and source.finished.is_set()))
        supervisor.watch(worker, may_end=self.done.is_set)
        supervisor.install()
        try:
            self.publisher.start()
            self.publisher.ready.wait()
            if self.publisher.error:
                raise ServiceError(self.publisher.error)
            log.info("session %s: events on %s, control on %s", self.session, events_ep, control_ep)
            self.state.update()
            for stream in self.streams:
                stream.source.start()
                log.info("capturing from %s", stream.spec if len(self.streams) > 1 else stream.spec.source)
            for vad in vads:
                vad.start()
            worker.start()
            error = self._supervise(supervisor, vads)
        finally:
            supervisor.uninstall()
        self._stop_sources()
        self.state.update(stopped=True, error=error)
        if not supervisor.dead(self.publisher.name):
            self.publisher.stop()
            self.publisher.join(timeout=10)
        self.outbox.close()
        if error:
            raise ServiceError(error)
        return 0

    def _count_published(self, by_label: dict[str, Stream]) -> Callable[[object], None]:
        """The publisher's hook for the statistics: latencies on the event's own stream timeline."""
        def count(ev) -> None:
            stream = by_label.get(ev.stream) if isinstance(ev, STREAM_EVENTS) else None
            self.stats.published(ev, stream.timeline.mono_ns if stream else None)
            if stream is not None:
                stream.counters.published(ev)
        return count

    def _stop_sources(self) -> None:
        for stream in self.streams:
            stream.source.stop()

    def _curve_keys(self, *endpoints: str) -> Keys | None:
        """tcp:// endpoints only with CURVE keys (and authorized clients): refused otherwise."""
        tcp = [ep for ep in endpoints if is_tcp(ep)]
        if not tcp:
            return None
        keys = Keys(keys_dir(self.cfg.sockets.keys_dir))
        try:
            keys.server()
        except CurveKeyError as exc:
            raise ServiceError(f"refusing {', '.join(tcp)}: tcp endpoints need CURVE keys, so that only "
                               f"authorized clients get in; {exc}") from None
        log.info("tcp endpoints with CURVE; authorized client keys in %s", keys.authorized)
        return keys

    def _open_journal(self) -> Journal | None:
        j = self.cfg.journal
        if not j.enabled:
            return None
        path = journal_dir(j)
        try:
            return Journal(path, j.max_bytes, j.keep)
        except OSError as exc:
            raise ServiceError(f"cannot open the journal in {path}: {exc.strerror or exc}") from None

    def _supervise(self, supervisor: Supervisor, vads: list[VadThread]) -> str | None:
        """The main loop: watch the threads until the worker is done; the error that stopped us, if any."""
        fault: str | None = None
        stop_deadline: float | None = None
        while not self.done.wait(0.2):
            fault = fault or supervisor.check()
            if self._hup.is_set():
                self._hup.clear()
                if self.backend is not None and not self.stopping.is_set():
                    self._reload(self.streams[0].inbox)
            if fault is not None and not self.stopping.is_set():
                log.error("%s", fault)
                self.request_stop(fault)
                for vad in vads:
                    if supervisor.dead(vad.name):
                        vad.inbox.put(EndOfStream())  # the worker still publishes what it has
                if supervisor.dead(self.publisher.name):
                    return fault  # nothing can be published any more
            failed = [s for s in self.streams if s.source.error]
            if failed and fault is None:
                s = failed[0]
                fault = f"audio source failed: {s.source.error}" if len(self.streams) == 1 \
                    else f"audio source of stream {s.label} failed: {s.source.error}"
                self.request_stop(fault)
            if self.stopping.is_set() and self.backend is None:
                log.info("stopped before the model was ready")
                return fault
            if self.stopping.is_set():
                if stop_deadline is None:
                    self._stop_sources()  # the VAD threads then flush and the worker finishes
                    stop_deadline = time.monotonic() + STOP_GRACE_S
                if time.monotonic() > stop_deadline:
                    return fault or f"the inference worker did not finish within {STOP_GRACE_S:.0f} s of the stop"
        return fault or self.worker_error

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda s, f: self.request_stop(signal.Signals(s).name))
        signal.signal(signal.SIGHUP, lambda s, f: self._hup.set())


def _latency(event: Final) -> str:
    end = event.timings.get("speech_end_mono_ns")
    return f"{(event.t_mono_ns - end) / 1e6:.0f}" if end else "?"
