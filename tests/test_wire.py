"""The native wire format of `stenod serve`: what goes out comes back the same."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stenod.asr.api import BackendStatus
from stenod.serve.wire import (WireError, request_from_wire, request_to_wire, status_from_wire, status_to_wire,
                               transcript_from_wire, transcript_to_wire)
from stenod.types import DecodeRequest, DecodeStats, Transcript


def test_int16_audio_and_every_field_survive_the_round_trip():
    pcm = np.random.default_rng(1).integers(-32768, 32767, 16000, dtype=np.int16)
    req = DecodeRequest(audio=pcm.astype(np.float32) / 32768, prefix=(1, 2), prompt=(7,), draft=(3, 4, 5), beams=2)
    back = request_from_wire(json.loads(json.dumps(request_to_wire(req))))
    assert np.array_equal(back.audio, req.audio)
    assert (back.prefix, back.prompt, back.draft, back.beams) == ((1, 2), (7,), (3, 4, 5), 2)


def test_transcripts_and_status_survive_the_round_trip():
    t = Transcript(text=" Hello.", tokens=(50, 51), no_speech_prob=0.01, avg_logprob=-0.2, token_logprobs=(-0.1, -0.3),
                   audio_s=1.5, encode_ms=10.0, decode_ms=20.0, stats=DecodeStats(draft_tokens=2, draft_accepted=1))
    assert transcript_from_wire(json.loads(json.dumps(transcript_to_wire(t)))) == t
    assert transcript_from_wire(transcript_to_wire(None)) is None
    s = BackendStatus(mode="plain", device="cpu", dtype="float32", attention="sdpa")
    assert status_from_wire(json.loads(json.dumps(status_to_wire("tiny.en", "cpu", s)))) == ("tiny.en", "cpu", s)


@pytest.mark.parametrize("bad, message", [
    ([], "JSON object"),
    ({}, "'audio' is missing"),
    ({"audio": "***"}, "base64"),
    ({"audio": "AAAA"}, "odd number"),
    ({"audio": "", "beams": 0}, "'beams'"),
    ({"audio": "", "prompt": ["a"]}, "'prompt'"),
    ({"audio": "", "speed": 2}, "unknown request field(s): speed"),
])
def test_malformed_requests_are_refused_by_name(bad, message):
    with pytest.raises(WireError, match=message.replace("(", r"\(").replace(")", r"\)")):
        request_from_wire(bad)
    with pytest.raises(WireError, match="wire version"):
        status_from_wire({"name": "x"})


def test_the_token_is_created_once_private_and_refused_when_readable(tmp_path):
    from stenod.serve.token import TokenError, load_or_create_token, read_token, token_path

    path = token_path({"XDG_CONFIG_HOME": str(tmp_path), "HOME": str(tmp_path)})
    assert path == tmp_path / "stenod" / "serve.token"
    with pytest.raises(TokenError, match="start `stenod serve` once"):
        read_token(path)
    token = load_or_create_token(path)
    assert len(token) >= 32 and load_or_create_token(path) == token and (path.stat().st_mode & 0o777) == 0o600
    path.chmod(0o644)
    with pytest.raises(TokenError, match="chmod 600"):
        read_token(path)
