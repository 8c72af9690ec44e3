"""`stenod serve` end to end: a real local Ray, the bundled model, the corpus, plain HTTP clients."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from model_fixtures import STENOD
from serve_fixtures import Server, serve_server  # noqa: F401
from stenod.audio import load_audio
from stenod.bench.metrics import wer
from stenod.serve.wire import request_to_wire, status_from_wire, transcript_from_wire
from stenod.types import DecodeRequest

pytestmark = pytest.mark.slow
N_CLIPS = 6


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body, as any HTTP client would send an OpenAI transcription request."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 "Content-Type: audio/wav\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def transcribe(server: Server, path: str, token: str | None = "", **fields: str) -> tuple[int, bytes]:
    with open(path, "rb") as f:
        body, ctype = multipart({"model": "whisper-1", **fields}, os.path.basename(path), f.read())
    return server.call("POST", "/v1/audio/transcriptions", body, ctype, token=token)


def native(server: Server, paths: list[str]) -> list:
    reqs = [request_to_wire(DecodeRequest(load_audio(p))) for p in paths]
    status, body = server.json("POST", "/v1/stenod/decode", {"requests": reqs})
    assert status == 200, body
    return [transcript_from_wire(t) for t in body["results"]]


@pytest.fixture(scope="module")
def clips(corpus):
    return corpus.clips[:N_CLIPS]


@pytest.fixture(scope="module")
def local_texts(clips, stenod_env, bundled_model) -> dict[str, str]:
    """The local backend's text for each clip (`stenod transcribe`, the daemon's model and guards)."""
    out = subprocess.run(STENOD + ["transcribe", "--model", "bundled:tiny.en", "--json", *[c["path"] for c in clips]],
                         env=stenod_env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return {r["path"]: r["text"] for r in map(json.loads, out.stdout.splitlines())}


def test_openai_endpoint_answers_in_openai_formats(serve_server, clips):
    hyps = []
    for clip in clips:
        status, body = transcribe(serve_server, clip["path"])
        assert status == 200, body
        hyps.append(json.loads(body)["text"])
    assert wer([c["text"] for c in clips], hyps) < 15.0, hyps
    status, text = transcribe(serve_server, clips[0]["path"], response_format="text")
    assert status == 200 and text.decode().strip() == hyps[0]
    status, body = transcribe(serve_server, clips[0]["path"], response_format="verbose_json", prompt="Quarterly")
    assert status == 200, body
    verbose = json.loads(body)
    duration = len(load_audio(clips[0]["path"])) / 16000
    assert verbose["duration"] == pytest.approx(duration, abs=0.01) and verbose["text"]
    (seg,) = verbose["segments"]
    assert seg["start"] == 0.0 and seg["end"] == pytest.approx(duration, abs=0.01) and seg["text"] == verbose["text"]
    assert -5 < seg["avg_logprob"] < 0 and 0 <= seg["no_speech_prob"] < 0.5 and 0.5 < seg["compression_ratio"] < 2.4
    assert seg["tokens"] and all(isinstance(t, int) for t in seg["tokens"])
    status, srt = transcribe(serve_server, clips[0]["path"], response_format="srt")
    assert status == 200 and srt.decode().startswith("1\n00:00:00,000 --> 00:00:0")
    status, models = serve_server.json("GET", "/v1/models")
    assert status == 200 and models["data"][0]["id"] == "bundled:tiny.en"


def test_long_file_is_cut_into_windows(serve_server, corpus, tmp_path):
    import soundfile as sf

    audio = np.concatenate([load_audio(c["path"]) for c in corpus.clips[:9]])  # about 40 s
    path = tmp_path / "long.flac"
    sf.write(path, audio, 16000)
    status, body = transcribe(serve_server, str(path), response_format="verbose_json")
    assert status == 200, body
    segs = json.loads(body)["segments"]
    assert len(segs) == 2 and segs[0]["end"] == segs[1]["start"] and segs[0]["end"] <= 28.0
    assert segs[1]["end"] == pytest.approx(len(audio) / 16000, abs=0.01)
    refs = " ".join(c["text"] for c in corpus.clips[:9])
    assert wer([refs], [" ".join(s["text"] for s in segs)]) < 20.0


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_requests_without_the_token_get_401(serve_server, clips, token):
    status, body = transcribe(serve_server, clips[0]["path"], token=token)
    assert status == 401 and json.loads(body)["error"]["type"] == "authentication_error"
    reqs = [request_to_wire(DecodeRequest(load_audio(clips[0]["path"])))]
    for method, path, payload in (("POST", "/v1/stenod/decode", {"requests": reqs}), ("GET", "/v1/stenod/status", None),
                                  ("POST", "/v1/stenod/prompt", {"max_tokens": 8}), ("GET", "/v1/models", None),
                                  ("POST", "/v1/audio/transcriptions", None),  # malformed too: still 401 first
                                  ("GET", "/v1/no-such-route", None)):
        status, body = serve_server.json(method, path, payload, token=token)
        assert status == 401 and "bearer token" in body["error"]["message"], (path, body)


def test_native_decode_equals_the_local_backend_and_batches(serve_server, clips, local_texts):
    paths = [c["path"] for c in clips]
    together = native(serve_server, paths)  # one call, several requests: one Serve batch
    assert [t.text for t in together] == [local_texts[p] for p in paths]
    with ThreadPoolExecutor(len(paths)) as pool:  # several clients at once
        apart = list(pool.map(lambda p: native(serve_server, [p])[0], paths))
    assert [t.text for t in apart] == [local_texts[p] for p in paths]
    sizes = [t.stats.batch_size for t in together + apart]
    assert max(sizes) > 1, sizes
    t = together[0]
    assert t.tokens and len(t.token_logprobs) > 0 and t.audio_s == pytest.approx(len(load_audio(paths[0])) / 16000)
    status, body = serve_server.json("GET", "/v1/stenod/status")
    assert status == 200
    name, device, st = status_from_wire(body)
    assert (name, device, st.mode, st.batching) == ("bundled:tiny.en", "cpu", "plain", True)


def test_native_prompt_and_draft(serve_server, clips, local_texts):
    status, body = serve_server.json("POST", "/v1/stenod/prompt",
                                     {"vocabulary": ["Kubernetes"], "context": "the report", "max_tokens": 20})
    assert status == 200 and body["tokens"] and all(isinstance(t, int) for t in body["tokens"])
    audio = load_audio(clips[0]["path"])
    (first,) = native(serve_server, [clips[0]["path"]])
    req = request_to_wire(DecodeRequest(audio, draft=first.tokens, prompt=tuple(body["tokens"])))
    status, answer = serve_server.json("POST", "/v1/stenod/decode", {"requests": [req]})
    assert status == 200, answer
    t = transcript_from_wire(answer["results"][0])
    assert t.text and t.stats.draft_tokens == len(first.tokens)


@pytest.mark.parametrize("path,payload,field", [
    ("/v1/stenod/decode", {}, "'requests'"),
    ("/v1/stenod/decode", {"requests": "x"}, "'requests'"),
    ("/v1/stenod/decode", {"requests": [{"audio": "not base64!"}]}, "requests[0]: 'audio'"),
    ("/v1/stenod/decode", {"requests": [{"audio": "AAAAAA==", "beams": 0}]}, "requests[0]: 'beams'"),
    ("/v1/stenod/decode", {"requests": [{"audio": "AAAAAA==", "drafts": []}]}, "drafts"),
    ("/v1/stenod/decode", {"requests": [{"audio": "AAAAAA==", "prompt": ["a"]}]}, "'prompt'"),
    ("/v1/stenod/decode", [1, 2], "JSON object"),
    ("/v1/stenod/prompt", {"vocabulary": "x", "max_tokens": 4}, "'vocabulary'"),
    ("/v1/stenod/prompt", {"max_tokens": 999}, "'max_tokens'"),
])
def test_malformed_native_requests_get_400_naming_the_field(serve_server, path, payload, field):
    status, body = serve_server.json("POST", path, payload)
    assert status == 400 and field in body["error"]["message"], body


def test_malformed_openai_requests_get_400_naming_the_field(serve_server, clips, tmp_path):
    status, body = transcribe(serve_server, clips[0]["path"], response_format="xml")
    assert status == 400 and json.loads(body)["error"]["param"] == "response_format"
    (tmp_path / "notes.txt").write_text("not audio")
    status, body = transcribe(serve_server, str(tmp_path / "notes.txt"))
    err = json.loads(body)["error"]
    assert status == 400 and err["param"] == "file" and "notes.txt" in err["message"]
    body, ctype = multipart({"model": "whisper-1"}, "x.wav", b"")
    status, body = serve_server.call("POST", "/v1/audio/transcriptions", body.replace(b'name="file"', b'name="f"'),
                                     ctype)
    assert status == 400 and json.loads(body)["error"]["param"] == "file"
    status, body = serve_server.call("POST", "/v1/stenod/decode", b"{not json", "application/json")
    assert status == 400 and b"JSON" in body


def test_a_killed_replica_is_replaced_and_the_service_recovers(serve_server, clips, local_texts):
    """Run last in this module: the replica's worker process dies with SIGKILL, Ray starts another."""
    status, body = serve_server.json("GET", "/v1/stenod/status")
    old = body["replica"]["pid"]
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 240
    while True:
        try:
            status, body = serve_server.json("GET", "/v1/stenod/status", timeout=10)
        except OSError:  # the proxy may drop a connection to the dead replica
            status = 0
        if status == 200 and body["replica"]["pid"] != old:
            break
        assert time.monotonic() < deadline, "no replica replaced the killed one"
        time.sleep(1)
    paths = [c["path"] for c in clips[:3]]
    assert [t.text for t in native(serve_server, paths)] == [local_texts[p] for p in paths]
    status, body = transcribe(serve_server, clips[0]["path"])
    assert status == 200 and json.loads(body)["text"] == local_texts[clips[0]["path"]]
