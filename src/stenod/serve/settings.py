"""What a `stenod serve` replica needs to know, resolved once where the application is built.

`ServeSettings` travels to every replica (Ray pickles it): the configuration (the `[model]` section
says which model and how it decodes, exactly as for the daemon), the bearer token and Serve's
batching bounds. No Ray and no torch here, so the command can check its input before starting Ray.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stenod.config import Config

MAX_BATCH = 64


@dataclass(frozen=True)
class ServeSettings:
    cfg: Config
    explicit: bool  # the model was named (only the default model falls back to the bundled one)
    token: str
    max_batch_size: int = 8  # decode requests handed to one transcribe_batch call
    batch_wait_s: float = 0.010  # how long a batch waits for more requests once the first arrived
    threads: int = 0  # torch CPU threads per replica (0: torch's default)

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch_size <= MAX_BATCH:
            raise ValueError(f"max_batch_size: must be in 1..{MAX_BATCH}, got {self.max_batch_size}")
        if not 0 <= self.batch_wait_s <= 1:
            raise ValueError(f"batch_wait_ms: must be in 0..1000, got {self.batch_wait_s * 1000:g}")
        if self.threads < 0:
            raise ValueError(f"threads: must be >= 0, got {self.threads}")
        if not self.token:
            raise ValueError("token: must not be empty")

    @property
    def max_ongoing_requests(self) -> int:
        """Requests one replica accepts at a time: enough to fill two batches."""
        return max(16, 2 * self.max_batch_size)


def load_settings(model: str | None, config: Path | None, sets: Mapping[str, str], token_file: Path | None,
                  max_batch_size: int = 8, batch_wait_ms: float = 10.0, threads: int = 0) -> ServeSettings:
    """The configuration file with ``sets`` (``section.key -> value``) and ``model`` on top, and the
    token (created at first use); raises ConfigError or ValueError naming the key, or TokenError."""
    from stenod.asr.resolve import DEFAULT_MODEL
    from stenod.config import apply_overrides, load_config
    from stenod.serve.token import load_or_create_token, token_path

    overrides: dict[str, object] = dict(sets)
    if model is not None:
        overrides["model.name"] = model
    cfg = apply_overrides(load_config(config), overrides)
    token = load_or_create_token(token_file or token_path())
    return ServeSettings(cfg=cfg, explicit=cfg.model.name != DEFAULT_MODEL, token=token,
                         max_batch_size=max_batch_size, batch_wait_s=batch_wait_ms / 1000, threads=threads)
