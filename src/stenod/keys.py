"""CURVE keys for tcp:// endpoints: where they live, generating them, and applying them to sockets.

The keys directory (``[sockets] keys_dir``, default ``$XDG_CONFIG_HOME/stenod/keys``, mode 0700)
holds ZeroMQ certificate files as written by pyzmq's :mod:`zmq.auth`: ``server.key`` /
``server.key_secret`` (the daemon), ``client.key`` / ``client.key_secret`` (this user's clients),
and ``authorized/``, the public keys of the clients let in (checked by a ZAP authenticator).
Secret key files are 0600; the daemon refuses readable ones. Only tcp:// sockets use CURVE: ipc
sockets are protected by their directory's 0700 mode.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class CurveKeyError(Exception):
    """Keys missing or unsafe; the message says what to do."""


def keys_dir(configured: str | None, env: Mapping[str, str] | None = None) -> Path:
    if configured:
        return Path(configured).expanduser()
    from stenod.config import default_config_path

    return default_config_path(env).parent / "keys"


def is_tcp(endpoint: str) -> bool:
    return endpoint.startswith("tcp://")


@dataclass(frozen=True)
class Keys:
    dir: Path

    @property
    def authorized(self) -> Path:
        return self.dir / "authorized"

    def _secret(self, name: str) -> tuple[bytes, bytes]:
        import zmq.auth

        path = self.dir / f"{name}.key_secret"
        if not path.is_file():
            raise CurveKeyError(f"no CURVE key {path}: run `stenod keys generate` (tcp:// endpoints need it)")
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise CurveKeyError(f"{path} is readable by other users (mode {mode:o}): chmod 600 {path}")
        public, secret = zmq.auth.load_certificate(str(path))
        if secret is None:
            raise CurveKeyError(f"{path} holds no secret key")
        return public, secret

    def _public(self, name: str) -> bytes:
        import zmq.auth

        path = self.dir / f"{name}.key"
        if not path.is_file():
            raise CurveKeyError(f"no CURVE public key {path}: run `stenod keys generate`")
        return zmq.auth.load_certificate(str(path))[0]

    def server(self) -> tuple[bytes, bytes]:
        """(public, secret) of the daemon; checks there are authorized client keys too."""
        pair = self._secret("server")
        if not self.authorized.is_dir() or not any(self.authorized.glob("*.key")):
            raise CurveKeyError(f"no authorized client keys in {self.authorized}: run `stenod keys generate`, or "
                            "copy a client's client.key there")
        return pair

    def apply_server(self, sock) -> None:
        public, secret = self.server()
        sock.curve_server = True
        sock.curve_publickey, sock.curve_secretkey = public, secret

    def apply_client(self, sock) -> None:
        sock.curve_publickey, sock.curve_secretkey = self._secret("client")
        sock.curve_serverkey = self._public("server")

    def generate(self, force: bool = False) -> list[Path]:
        import zmq.auth

        if (self.dir / "server.key_secret").exists() and not force:
            raise CurveKeyError(f"keys already exist in {self.dir} (use --force to replace them)")
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        self.authorized.mkdir(mode=0o700, exist_ok=True)
        written = []
        old = os.umask(0o077)  # the secret files are created 0600
        try:
            for name in ("server", "client"):
                public, secret = zmq.auth.create_certificates(str(self.dir), name)
                os.chmod(secret, 0o600)
                written += [Path(public), Path(secret)]
        finally:
            os.umask(old)
        shutil.copy(self.dir / "client.key", self.authorized / "client.key")
        return written


def client_keys_for(endpoint: str) -> Keys | None:
    """For a client: the configured keys when `endpoint` is tcp://, else None."""
    if not is_tcp(endpoint):
        return None
    from stenod.config import load_config

    return Keys(keys_dir(load_config().sockets.keys_dir))
