"""Derive a Distil-Whisper-style student from a Whisper checkpoint.

Distil-Whisper initialises its student from the teacher: the whole encoder is copied (and frozen
during distillation) and the decoder keeps only a few of the teacher's layers, maximally spaced,
starting with the first and ending with the last. This module performs that initialisation
without the distillation training. The result is a worse recogniser than its teacher, but it
shares the teacher's encoder and vocabulary and agrees with it often, which makes it a useful
speculative-decoding assistant for testing: it exercises both acceptance and rejection of drafts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from stenod.asr.resolve import ModelError, ModelRef, cache_root, is_converted

DEFAULT_KEEP = (0, -1)  # the first and the last decoder layer, as Distil-Whisper's 2-layer students


def normalise_layers(keep, n_layers: int) -> list[int]:
    """Layer indices (negative counts from the end) as a sorted list of distinct valid indices."""
    out = set()
    for i in keep:
        j = int(i) + n_layers if int(i) < 0 else int(i)
        if not 0 <= j < n_layers:
            raise ModelError(f"decoder layer {i} does not exist (the teacher has {n_layers} decoder layers)")
        out.add(j)
    if not out:
        raise ModelError("keep at least one decoder layer")
    return sorted(out)


def parse_layers(text: str) -> tuple[int, ...]:
    """'0,-1' -> (0, -1); raises ValueError on anything else."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError("expected comma-separated decoder layer indices, e.g. 0,-1")
    return tuple(int(p) for p in parts)


def default_student_dir(ref: ModelRef, layers: list[int]) -> Path:
    """Where `derive_student` puts a student by default: next to the converted models."""
    base = Path(ref.location).name if ref.local else ref.name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-") or "model"
    return cache_root() / "models" / f"{slug}-student-L{'-'.join(map(str, layers))}"


def derive_student(ref: ModelRef, dst: Path | None = None, keep=DEFAULT_KEEP, force: bool = False) -> Path:
    """Write a student of the model `ref` keeping decoder layers `keep` (teacher indices, negative
    from the end) into `dst` (default: the stenod model cache) and return its directory.

    An existing complete student at `dst` is reused unless `force`. The directory is written
    under a temporary name and renamed into place, so it is never seen half-written."""
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    try:
        teacher = WhisperForConditionalGeneration.from_pretrained(ref.location, local_files_only=True,
                                                                  dtype=torch.float32)
        processor = WhisperProcessor.from_pretrained(ref.location, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load {ref.name} to derive a student: {str(exc).splitlines()[0]}") from None
    n = teacher.config.decoder_layers
    layers = normalise_layers(keep, n)
    dst = Path(dst) if dst is not None else default_student_dir(ref, layers)
    if is_converted(dst) and not force:
        return dst

    config = teacher.config.to_dict()
    config["decoder_layers"] = len(layers)
    student_config = type(teacher.config).from_dict(config)
    student = WhisperForConditionalGeneration(student_config).eval()
    state = {}
    for key, value in teacher.state_dict().items():
        m = re.match(r"model\.decoder\.layers\.(\d+)\.(.*)", key)
        if m is None:
            state[key] = value
        elif int(m.group(1)) in layers:
            state[f"model.decoder.layers.{layers.index(int(m.group(1)))}.{m.group(2)}"] = value
    student.load_state_dict(state, strict=True)
    student.tie_weights()

    gen = teacher.generation_config
    student.generation_config = gen
    heads = getattr(gen, "alignment_heads", None)
    if heads:  # cross-attention heads used for word timestamps, renumbered to the kept layers
        gen.alignment_heads = [[layers.index(l), h] for l, h in heads if l in layers] or None

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.tmp-", dir=dst.parent))
    try:
        student.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "stenod-source.json").write_text(json.dumps(
            {"teacher": ref.name, "teacher_location": ref.location, "kept_decoder_layers": layers,
             "teacher_decoder_layers": n, "format": "student"}))
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(tmp, dst)
    except OSError as exc:
        raise ModelError(f"cannot write the student to {dst}: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dst
