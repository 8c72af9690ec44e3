"""`stenod serve`: the shared inference service (Ray Serve), for daemons with `--remote` and for any
OpenAI client. Ray is imported only here and in `stenod.serve.app`."""

from __future__ import annotations

import argparse
import errno
import os
import re
import signal
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

from stenod.commands.options import add_config_file_options, parse_sets

INSTALL_HINT = "pip install 'stenod[serve]'"


def register(sub) -> None:
    p = sub.add_parser(
        "serve", help="serve the model over HTTP on Ray Serve (native endpoint for daemons, OpenAI-compatible API)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the model as a Ray Serve application: POST /v1/stenod/decode for daemons with a remote "
                    "backend, POST /v1/audio/transcriptions for OpenAI clients, with dynamic batching across "
                    "clients and one replica per GPU. Every request needs the bearer token, generated at first "
                    "use in $XDG_CONFIG_HOME/stenod/serve.token (mode 0600). Runs until Ctrl-C or SIGTERM.",
        epilog="examples:\n  stenod serve --model bundled:tiny.en\n"
               "  stenod serve --model distil-whisper/distil-medium.en --host 0.0.0.0 --port 8000\n"
               "  stenod serve --address auto --min-replicas 1 --max-replicas 4   # on a running Ray cluster\n"
               "  curl -H \"Authorization: Bearer $(cat ~/.config/stenod/serve.token)\" \\\n"
               "       -F file=@talk.wav -F model=whisper http://127.0.0.1:8000/v1/audio/transcriptions")
    p.add_argument("--model", default=None, help="hub id, local directory or bundled:tiny.en (default: [model] name)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    p.add_argument("--token-file", type=Path, default=None,
                   help="bearer token file, created (0600) at first use (default $XDG_CONFIG_HOME/stenod/serve.token)")
    p.add_argument("--address", default=None, metavar="ADDRESS",
                   help="Ray cluster to run on: auto (the one `ray start` began on this host), HOST:PORT or "
                        "ray://HOST:10001 (default: start a local Ray with this machine's CPUs)")
    r = p.add_argument_group("replicas")
    r.add_argument("--replicas", type=int, default=None, metavar="N", help="a fixed number of replicas (default 1)")
    r.add_argument("--min-replicas", type=int, default=None, metavar="N", help="autoscaling: at least N replicas")
    r.add_argument("--max-replicas", type=int, default=None, metavar="N", help="autoscaling: at most N replicas")
    r.add_argument("--num-gpus", default="auto", metavar="auto|N",
                   help="GPUs per replica: auto = 1 where the cluster has GPUs, else 0 (CPU replicas); "
                        "0.5 puts two replicas on one GPU")
    r.add_argument("--num-cpus", type=float, default=None, metavar="N",
                   help="CPUs per replica (default: 1 with a GPU; else the cluster's CPUs over the most replicas)")
    b = p.add_argument_group("batching")
    b.add_argument("--max-batch-size", type=int, default=8, metavar="N",
                   help="decode requests one replica decodes together (default 8)")
    b.add_argument("--batch-wait-ms", type=float, default=10.0, metavar="MS",
                   help="how long a batch waits for more requests after its first (default 10)")
    add_config_file_options(p, example="model.dtype=float16")
    p.set_defaults(func=run)


def _replica_counts(args) -> tuple[int, int]:
    from stenod.cli import UserError

    if args.replicas is not None and (args.min_replicas is not None or args.max_replicas is not None):
        raise UserError("--replicas is a fixed count: drop it or --min-replicas/--max-replicas")
    lo = args.replicas if args.replicas is not None else (args.min_replicas if args.min_replicas is not None else 1)
    hi = args.replicas if args.replicas is not None else (args.max_replicas if args.max_replicas is not None
                                                          else max(lo, 1))
    if lo < (1 if args.replicas is not None else 0) or hi < 1 or hi < lo:
        raise UserError(f"replicas: need 0 <= --min-replicas <= --max-replicas and at least 1, got {lo}..{hi}")
    return lo, hi


def _num_gpus(value: str) -> float | None:
    """None for auto."""
    from stenod.cli import UserError

    if value == "auto":
        return None
    try:
        n = float(value)
    except ValueError:
        n = -1
    if n < 0:
        raise UserError(f"--num-gpus: expected auto or a number >= 0, got {value!r}")
    return n


def _check_port(host: str, port: int) -> None:
    from stenod.cli import UserError

    if not 1 <= port <= 65535:
        raise UserError(f"--port: must be in 1..65535, got {port}")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} on {host} is in use (another `stenod serve`?); pick one with --port") from None
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def run(args) -> int:
    from stenod.cli import UserError
    from stenod.config import ConfigError
    from stenod.serve.token import TokenError

    lo, hi = _replica_counts(args)
    gpus = _num_gpus(args.num_gpus)
    try:
        import ray
        from ray import serve
    except ImportError:
        raise UserError(f"stenod serve needs Ray Serve: {INSTALL_HINT}") from None
    try:
        from stenod.serve.app import APP_NAME
    except ImportError as exc:
        raise UserError(f"stenod serve needs Ray Serve and FastAPI ({exc}): {INSTALL_HINT}") from None
    from stenod.serve.settings import load_settings

    if args.address is None:
        _check_port(args.host, args.port)
    try:
        settings = load_settings(args.model, args.config, parse_sets(args.set), args.token_file,
                                 args.max_batch_size, args.batch_wait_ms)
    except (ConfigError, ValueError, TokenError) as exc:
        raise UserError(str(exc)) from None

    local = args.address is None
    try:
        ray.init(address=args.address or "local", num_cpus=os.cpu_count() if local else None,
                 include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UserError(f"cannot start or reach Ray at {args.address or 'this machine'}: {exc}") from None
    signal.signal(signal.SIGTERM, _interrupt)  # after ray.init, which installs its own
    try:
        _deploy(args, settings, lo, hi, gpus)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        print("stenod: stopping the service", file=sys.stderr, flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave Ray half shut down
        try:
            if local:
                serve.shutdown()
            else:
                serve.delete(APP_NAME)
        finally:
            ray.shutdown()


def _deploy(args, settings, lo: int, hi: int, gpus: float | None) -> None:
    """Start Serve's HTTP proxy and the application; returns once every replica is up."""
    import ray
    from ray import serve

    from stenod.cli import UserError
    from stenod.serve.app import APP_NAME, StenodService
    from stenod.serve.token import token_path

    cluster = ray.cluster_resources()
    if gpus is None:
        gpus = 1.0 if cluster.get("GPU", 0) >= 1 else 0.0
    cpus = args.num_cpus if args.num_cpus is not None else (
        1.0 if gpus else max(1.0, float(int(cluster.get("CPU", 1) // hi))))
    settings = replace(settings, threads=0 if gpus else max(1, int(cpus)))
    scaling = ({"num_replicas": hi} if lo == hi else
               {"autoscaling_config": {"min_replicas": lo, "max_replicas": hi,
                                       "target_ongoing_requests": settings.max_batch_size}})
    app = StenodService.options(ray_actor_options={"num_cpus": cpus, "num_gpus": gpus},
                                max_ongoing_requests=settings.max_ongoing_requests, **scaling).bind(settings)
    serve.start(http_options={"host": args.host, "port": args.port})
    print(f"stenod: loading {settings.cfg.model.name} in {lo}..{hi} replica(s) of {cpus:g} CPU and {gpus:g} GPU",
          file=sys.stderr, flush=True)
    try:
        serve.run(app, name=APP_NAME, route_prefix="/")
    except RuntimeError as exc:
        raise UserError(f"the service did not start: {_replica_error(serve, exc)}") from None
    url = f"http://{args.host}:{args.port}"
    print(f"stenod: serving at {url} (native: {url}/v1/stenod/decode, OpenAI: {url}/v1/audio/transcriptions); "
          f"bearer token in {args.token_file or token_path()}", file=sys.stderr, flush=True)
    print(url, flush=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _replica_error(serve, exc: RuntimeError) -> str:
    """The replica's own exception (its last line) from Serve's status of the failed deployment."""
    import ray

    from stenod.serve.app import APP_NAME

    try:
        app = serve.status().applications.get(APP_NAME)
        message = "\n".join(d.message for d in app.deployments.values() if d.message) if app else ""
    except (RuntimeError, AttributeError, ray.exceptions.RayError):  # a courtesy: the failure is reported anyway
        message = ""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception)\b", ln)]
    return errors[-1] if errors else (lines[-1] if lines else str(exc))
