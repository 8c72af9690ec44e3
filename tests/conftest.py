"""Shared test fixtures: the synthesized speech corpus, a private PulseAudio with a virtual
microphone, a headless X server, and ZeroMQ endpoints under the test's tmp dir.

Fixtures that start processes hand back small objects whose ``env`` holds only the variables they
set (so several can be merged) and whose ``environ()`` returns a full environment for children::

    subprocess.run(cmd, env={**os.environ, **pulse.env, **xvfb.env})
    subprocess.run(cmd, env=pulse.environ(STENOD_FOO="1"))
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# Speech corpus
# ---------------------------------------------------------------------------------------------


def shared_dir() -> Path:
    """The shared directory beside the repository (``../shared``), or ``$STENOD_SHARED``."""
    return Path(os.environ.get("STENOD_SHARED") or REPO.parent / "shared").resolve()


@dataclass(frozen=True)
class Corpus:
    """A built corpus: ``dir`` and the raw ``manifest``; the helpers give absolute paths."""

    dir: Path
    manifest: dict[str, Any]

    @property
    def sample_rate(self) -> int:
        return int(self.manifest["sample_rate"])

    def _abs(self, entry: dict[str, Any]) -> dict[str, Any]:
        return {**entry, "path": str(self.dir / entry["path"])}

    @property
    def clips(self) -> list[dict[str, Any]]:
        """Single utterances: ``id``, ``path`` (absolute), ``text``, ``voice``, ``speech``."""
        return [self._abs(c) for c in self.manifest["clips"]]

    @property
    def session(self) -> dict[str, Any]:
        """The continuous recording: ``path`` (absolute), ``utterances``, ``nonspeech``."""
        return self._abs(self.manifest["sessions"][0])

    @property
    def noise(self) -> list[dict[str, Any]]:
        """Files without speech: ``path`` (absolute), ``kind``."""
        return [self._abs(n) for n in self.manifest["noise"]]

    def clip(self, clip_id: str) -> dict[str, Any]:
        for c in self.clips:
            if c["id"] == clip_id:
                return c
        raise KeyError(clip_id)


def _build_corpus(cache_root: Path) -> Path:
    shared = shared_dir()
    generator = shared / "corpus" / "make_corpus.py"
    sentences = shared / "corpus" / "sentences.txt"
    for f in (generator, sentences):
        if not f.is_file():
            pytest.fail(
                f"corpus generator input missing: {f}\n"
                f"The tests need the shared directory beside the repository ({REPO.parent / 'shared'}) "
                "or STENOD_SHARED pointing at it.",
                pytrace=False,
            )
    key = hashlib.sha256(generator.read_bytes() + b"\0" + sentences.read_bytes()).hexdigest()[:16]
    target = cache_root / key
    if (target / "manifest.json").is_file():
        return target

    cache_root.mkdir(parents=True, exist_ok=True)
    for stale in cache_root.iterdir():  # corpora built from older generator/sentences
        if stale.is_dir() and stale.name != key and ".tmp-" not in stale.name:
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{key}.tmp-", dir=cache_root))
    out = tmp / "corpus"
    cmd = [sys.executable, str(generator), str(sentences), str(out)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not (out / "manifest.json").is_file():
            pytest.fail(
                f"building the corpus failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                f"{proc.stdout[-2000:]}{proc.stderr[-4000:]}\n"
                "Are the TTS packages installed? Run scripts/setup.sh.",
                pytrace=False,
            )
        try:
            out.rename(target)
        except OSError:  # another run finished first; use its copy
            if not (target / "manifest.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def synthesize(sentences: list[str], out: Path, *args: str) -> Path:
    """A small corpus of ``sentences`` made by the shared generator in ``out`` (``args``: more of
    its options, e.g. ``--voices``); returns the directory of its manifest."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "sentences.txt").write_text("\n".join(sentences) + "\n")
    subprocess.run([sys.executable, str(shared_dir() / "corpus" / "make_corpus.py"), str(out / "sentences.txt"),
                    str(out / "c"), *args], check=True, capture_output=True, timeout=300)
    return out / "c"


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    """The speech corpus, built once and cached in ``<repo>/.corpus/<hash of its inputs>/``."""
    d = _build_corpus(Path(os.environ.get("STENOD_CORPUS_CACHE") or REPO / ".corpus"))
    return Corpus(dir=d, manifest=json.loads((d / "manifest.json").read_text()))


# ---------------------------------------------------------------------------------------------
# Process helpers
# ---------------------------------------------------------------------------------------------


def _require(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.fail(f"missing programs: {', '.join(missing)} (run scripts/setup.sh)", pytrace=False)


def _stop(proc: subprocess.Popen | None, timeout: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def _short_tmpdir(prefix: str) -> Path:
    """A private dir with a short path: unix socket paths are limited to about 107 bytes."""
    base = tempfile.gettempdir()
    if len(base) > 40:
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


@dataclass
class _EnvProvider:
    env: dict[str, str] = field(default_factory=dict)

    def environ(self, **extra: str) -> dict[str, str]:
        """``os.environ`` with this fixture's variables (and ``extra``) on top."""
        return {**os.environ, **self.env, **extra}


# ---------------------------------------------------------------------------------------------
# PulseAudio with a virtual microphone
# ---------------------------------------------------------------------------------------------

PULSE_RATE = 48000  # what a typical USB microphone delivers; clients resample as they would live


@dataclass
class Pulse(_EnvProvider):
    """A private PulseAudio server: audio played to sink ``vsink`` comes out of source ``vmic``.

    ``env`` points clients (pactl, paplay, the ALSA ``pulse``/``default`` device that
    sounddevice/PortAudio opens) at this server and makes ``vmic`` their default source.
    """

    sink: str = "vsink"
    source: str = "vmic"
    socket: Path = Path()
    log: Path = Path()

    def play(self, path: str | os.PathLike, *, wait: bool = True, timeout: float = 120):
        """Play an audio file into the virtual microphone, in real time.

        Blocks until done and returns the CompletedProcess, or with ``wait=False`` returns the
        running Popen (the caller waits on it).
        """
        cmd = ["paplay", f"--device={self.sink}", str(path)]
        if not wait:
            return subprocess.Popen(cmd, env=self.environ())
        return subprocess.run(cmd, env=self.environ(), check=True, timeout=timeout,
                              capture_output=True)

    def sink_latency(self) -> float:
        """Current latency of ``vsink`` in seconds."""
        text = self.pactl("list", "sinks")
        match = re.search(r"^\s*Latency: (\d+) usec", text, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no sink latency in pactl output:\n{text}")
        return int(match.group(1)) / 1e6

    def pactl(self, *args: str) -> str:
        return subprocess.run(["pactl", *args], env=self.environ(), check=True,
                              capture_output=True, text=True, timeout=10).stdout


@pytest.fixture(scope="session")
def pulse() -> Iterator[Pulse]:
    """A PulseAudio daemon of our own, with a null sink ``vsink`` and its monitor as ``vmic``."""
    _require("pulseaudio", "pactl", "pacat", "paplay")
    root = _short_tmpdir("stenod-pa-")
    runtime, home = root / "run", root / "home"
    runtime.mkdir(mode=0o700)
    home.mkdir(mode=0o700)
    socket = runtime / "native"
    client_conf = root / "client.conf"
    client_conf.write_text(f"autospawn = no\ndefault-server = unix:{socket}\n")
    env = {
        "XDG_RUNTIME_DIR": str(runtime),
        "PULSE_SERVER": f"unix:{socket}",
        "PULSE_CLIENTCONFIG": str(client_conf),
        "PULSE_SOURCE": "vmic",
        "PULSE_SINK": "vsink",
    }
    # The daemon gets a throwaway HOME so its cookie and state never touch the real one;
    # clients keep the real HOME (model caches live there) and need no cookie (anonymous auth).
    daemon_env = {**os.environ, **env, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    daemon_env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    log = root / "pulseaudio.log"
    cmd = [
        "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
        "--use-pid-file=no", "--no-cpu-limit", "--realtime=no", "--high-priority=no",
        "--log-target=stderr", "--log-level=warning",
        "-L", f"module-native-protocol-unix auth-anonymous=1 socket={socket}",
        "-L", f"module-null-sink sink_name=vsink rate={PULSE_RATE} channels=1 "
              "sink_properties=device.description=stenod-virtual-speaker",
        "-L", "module-remap-source source_name=vmic master=vsink.monitor "
              "source_properties=device.description=stenod-virtual-mic",
    ]
    if os.geteuid() == 0:
        # Allowed as root (with a warning); --system would mean a very different setup.
        cmd.append("--system=no")
    p = Pulse(env=env, socket=socket, log=log)
    logf = open(log, "wb")
    daemon = subprocess.Popen(cmd, env=daemon_env, stdout=logf, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    keepalive = None
    try:
        deadline = time.monotonic() + 15
        while True:
            if daemon.poll() is not None:
                pytest.fail(f"pulseaudio exited with {daemon.returncode}:\n{log.read_text()}",
                            pytrace=False)
            r = subprocess.run(["pactl", "info"], env=p.environ(), capture_output=True, timeout=10)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"pulseaudio did not answer within 15 s:\n{log.read_text()}",
                            pytrace=False)
            time.sleep(0.1)
        p.pactl("set-default-sink", "vsink")
        p.pactl("set-default-source", "vmic")
        # A null sink with no low-latency client renders audio in 2 s blocks, and its monitor
        # (our microphone) hands capture clients nothing until a block is done: a new recording
        # would start up to 2 s late and lose what was played meanwhile. A silent stream asking
        # for 20 ms keeps the sink rendering in small blocks for the whole session; then wait
        # until the 2 s block rendered before it connected has drained.
        keepalive = subprocess.Popen(
            ["pacat", "--playback", "--device=vsink", "--raw", "--format=s16le",
             f"--rate={PULSE_RATE}", "--channels=1", "--latency-msec=20",
             "--stream-name=stenod-keepalive", "/dev/zero"],
            env=p.environ(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while (latency := p.sink_latency()) > 0.05:
            if keepalive.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"virtual sink latency stays at {latency:.2f} s "
                            f"(keep-alive stream exit code {keepalive.poll()}):\n{log.read_text()}",
                            pytrace=False)
            time.sleep(0.05)
        yield p
    finally:
        _stop(keepalive)
        _stop(daemon)
        logf.close()
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Headless X server
# ---------------------------------------------------------------------------------------------


@dataclass
class Xvfb(_EnvProvider):
    """A running Xvfb; ``env`` holds ``DISPLAY``."""

    display: str = ""


@pytest.fixture(scope="session")
def xvfb() -> Iterator[Xvfb]:
    """``Xvfb`` on a free display (it picks the number itself via ``-displayfd``), 1280x720x24."""
    _require("Xvfb")
    log = tempfile.TemporaryFile()
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    os.close(w)
    try:
        with os.fdopen(r, "rb") as fd:
            number = fd.readline().strip()  # written once the server accepts connections
        if not number:
            proc.wait(5)
            log.seek(0)
            pytest.fail(f"Xvfb failed to start: {log.read().decode(errors='replace')}",
                        pytrace=False)
        display = f":{number.decode()}"
        yield Xvfb(env={"DISPLAY": display}, display=display)
    finally:
        _stop(proc)
        log.close()


# ---------------------------------------------------------------------------------------------
# ZeroMQ endpoints
# ---------------------------------------------------------------------------------------------

_endpoint_counter = itertools.count()


def free_endpoint(tmp_path: Path, name: str) -> str:
    """An unused ``ipc://`` endpoint named after ``name`` under ``tmp_path``.

    Falls back to a short private dir when the path would exceed the unix socket limit.
    """
    base = Path(tmp_path)
    path = base / f"{name}.ipc"
    while path.exists():
        path = base / f"{name}-{next(_endpoint_counter)}.ipc"
    if len(str(path)) > 100:
        path = _short_tmpdir("stenod-zmq-") / f"{name[:40]}.ipc"
    return f"ipc://{path}"


@pytest.fixture
def endpoint(tmp_path: Path):
    """``endpoint("events")`` → a fresh ``ipc://`` endpoint under this test's tmp dir."""
    return lambda name: free_endpoint(tmp_path, name)
