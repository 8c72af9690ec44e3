"""A stand-in inference service for the remote backend's tests: the routes of `stenod serve`'s
native API and OpenAI's transcription route, over aiohttp, decoding with the real local
WhisperBackend through the wire format (serve/wire.py). Not `stenod serve` (no Ray, no batching
across clients): the tests that need a service use it through `remote_fixtures.Service`, a base
URL and a token file, so the real service can take its place.

    python tests/remote_standin.py PORT TOKEN_FILE [MODEL]
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import threading
from pathlib import Path

import numpy as np
import soundfile
from aiohttp import web

from stenod.asr.backend import load_backend
from stenod.asr.guards import compression_ratio
from stenod.serve.token import load_or_create_token
from stenod.serve.wire import WireError, request_from_wire, status_to_wire, transcript_to_wire


def make_app(backend, token: str) -> web.Application:
    lock = threading.Lock()  # one decode at a time: the backend is not thread-safe

    async def run(fn, *args):
        def locked():
            with lock:
                return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(None, locked)

    @web.middleware
    async def auth(request, handler):
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        return await handler(request)

    async def decode(request):
        try:
            reqs = [request_from_wire(r) for r in (await request.json())["requests"]]
        except (WireError, KeyError, TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        results = await run(backend.transcribe_batch, reqs)
        return web.json_response({"results": [transcript_to_wire(t) for t in results]})

    async def prompt(request):
        body = await request.json()
        tokens = await run(backend.encode_prompt, body["vocabulary"], body["context"], body["max_tokens"])
        return web.json_response({"tokens": tokens})

    async def status(request):
        return web.json_response(status_to_wire(backend.name, backend.device, backend.status()))

    async def transcriptions(request):
        form = await request.post()
        if form.get("response_format") != "verbose_json":
            return web.json_response({"error": "this stand-in answers verbose_json only"}, status=400)
        audio, rate = soundfile.read(io.BytesIO(form["file"].file.read()), dtype="float32")
        if rate != 16000:
            return web.json_response({"error": "16 kHz only"}, status=400)
        text = form.get("prompt") or ""
        prompt_ids = await run(backend.encode_prompt, [], text, 223) if text else []
        t = await run(lambda: backend.transcribe(np.asarray(audio), prompt=prompt_ids))
        seg = {"id": 0, "start": 0.0, "end": len(audio) / 16000, "text": t.text, "tokens": list(t.tokens),
               "avg_logprob": t.avg_logprob, "no_speech_prob": t.no_speech_prob,
               "compression_ratio": compression_ratio(t.text), "temperature": 0.0}
        return web.json_response({"task": "transcribe", "language": "english", "duration": len(audio) / 16000,
                                  "text": t.text, "segments": [seg]})

    app = web.Application(middlewares=[auth], client_max_size=64 * 1024 * 1024)
    app.add_routes([web.post("/v1/stenod/decode", decode), web.post("/v1/stenod/prompt", prompt),
                    web.get("/v1/stenod/status", status), web.post("/v1/audio/transcriptions", transcriptions)])
    return app


def main() -> None:
    port, token_file = int(sys.argv[1]), Path(sys.argv[2])
    backend = load_backend(sys.argv[3] if len(sys.argv) > 3 else "bundled:tiny.en")
    backend.warm_up()
    token = load_or_create_token(token_file)
    print(json.dumps({"ready": True, "port": port}), flush=True)
    web.run_app(make_app(backend, token), host="127.0.0.1", port=port, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
