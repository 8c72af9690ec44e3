"""Reader for CTranslate2 `model.bin` files.

Layout (ctranslate2 `specs/model_spec.py`, binary version 6): uint32 version, spec name
(uint16 length + bytes incl. NUL), uint32 revision, uint32 variable count; per variable:
uint16 name length + name, uint8 rank, rank x uint32 dims, uint8 dtype id, uint32 byte
count, raw little-endian data; then uint32 alias count and (alias, target) name pairs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
BFLOAT16 = 5
SUPPORTED_VERSIONS = (5, 6)


class Ct2FormatError(ValueError):
    """The file is not a CTranslate2 model this reader understands."""


@dataclass(frozen=True)
class Ct2Model:
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]

    def get(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]


class _Cursor:
    def __init__(self, buf: bytes, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise Ct2FormatError(f"{self.path}: truncated at byte {self.pos}")
        value = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value[0] if len(value) == 1 else value

    def string(self) -> str:
        n = self.unpack("<H")
        raw = self.take(n)
        return raw.rstrip(b"\0").decode("utf-8")

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise Ct2FormatError(f"{self.path}: truncated at byte {self.pos}")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def _bf16_to_f32(raw: bytes) -> np.ndarray:
    u16 = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
    return u16.view(np.float32)


def read_model_bin(path: Path) -> Ct2Model:
    """Parse a CTranslate2 model.bin into numpy arrays (copies, native dtypes)."""
    path = Path(path)
    cur = _Cursor(path.read_bytes(), path)
    version = cur.unpack("<I")
    if version not in SUPPORTED_VERSIONS:
        raise Ct2FormatError(f"{path}: unsupported CTranslate2 binary version {version}")
    spec = cur.string()
    revision = cur.unpack("<I")
    count = cur.unpack("<I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(count):
        name = cur.string()
        rank = cur.unpack("<B")
        dims = [cur.unpack("<I") for _ in range(rank)]
        dtype_id = cur.unpack("<B")
        nbytes = cur.unpack("<I")
        raw = cur.take(nbytes)
        if dtype_id == BFLOAT16:
            arr = _bf16_to_f32(raw)
        elif dtype_id in DTYPES:
            arr = np.frombuffer(raw, dtype=DTYPES[dtype_id]).copy()
        else:
            raise Ct2FormatError(f"{path}: variable {name} has unknown dtype id {dtype_id}")
        expected = int(np.prod(dims)) if dims else 1
        if arr.size != expected:
            raise Ct2FormatError(f"{path}: variable {name}: {arr.size} values for shape {dims}")
        variables[name] = arr.reshape(dims) if dims else arr.reshape(())
    aliases: dict[str, str] = {}
    if cur.pos < len(cur.buf):
        for _ in range(cur.unpack("<I")):
            alias = cur.string()
            aliases[alias] = cur.string()
    if cur.pos != len(cur.buf):
        raise Ct2FormatError(f"{path}: {len(cur.buf) - cur.pos} trailing bytes")
    return Ct2Model(spec=spec, revision=revision, variables=variables, aliases=aliases)
