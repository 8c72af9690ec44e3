"""The Ray Serve application of `stenod serve`: one deployment, a FastAPI ingress.

Each replica owns one backend (the daemon's `load_backend`, so the same model resolution, guards and
speculative decoding) and one thread that decodes with it. Every decode request, whether it came
from a daemon (`/v1/stenod/decode`) or an OpenAI client (`/v1/audio/transcriptions`), goes through
Serve's dynamic batching (`@serve.batch`) into `transcribe_batch`, so requests from several
clients decode together. Every route needs `Authorization: Bearer <token>`. Errors answer in
OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`.

For a Serve config file (`serve run` / `serve deploy`), the import path is
`stenod.serve.app:build_app`; see README.md, "stenod serve".
"""

import asyncio
import logging
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from ray import serve

from stenod.serve.openai import MEDIA_TYPES, OpenAIError, check_format, error_body, render, segments
from stenod.serve.settings import ServeSettings, load_settings
from stenod.serve.wire import WireError, request_from_wire, status_to_wire, transcript_to_wire
from stenod.types import DecodeRequest, Transcript

log = logging.getLogger("stenod.serve")
APP_NAME = "stenod"
MAX_REQUESTS = 64  # decode requests in one native call
MAX_UPLOAD = 200 * 1024 * 1024

api = FastAPI(title="stenod", docs_url=None, redoc_url=None, openapi_url=None)


@api.middleware("http")
async def _bearer_token(request: Request, call_next):
    """Every request needs the token, checked before anything else (even a malformed request
    without it gets 401, not a validation error). The replica puts the token in the app's state."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    expected = getattr(request.app.state, "token", None)
    if expected is None or scheme.lower() != "bearer" \
            or not secrets.compare_digest(token.strip().encode(), expected.encode()):
        return JSONResponse(error_body("missing or wrong bearer token (Authorization: Bearer "
                                       "<the token `stenod serve` printed the path of>)", "authentication_error"),
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return await call_next(request)


@api.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse(error_body(str(exc.detail), "invalid_request_error"), status_code=exc.status_code)


@api.exception_handler(RequestValidationError)
async def _form_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    field = str(first.get("loc", ["", "?"])[-1])
    return JSONResponse(error_body(f"'{field}': {first.get('msg', 'invalid')}", param=field), status_code=400)


@api.exception_handler(OpenAIError)
async def _openai_error(request: Request, exc: OpenAIError) -> JSONResponse:
    return JSONResponse(error_body(str(exc), exc.kind, param=exc.param), status_code=exc.status)


@api.exception_handler(Exception)
async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("request failed")
    return JSONResponse(error_body(f"internal error: {type(exc).__name__}: {exc}", "server_error"), status_code=500)


def _bad(message: str) -> HTTPException:
    return HTTPException(status_code=400, detail=message)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _bad("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    return body


@serve.deployment(name="StenodService", max_constructor_retry_count=1, graceful_shutdown_timeout_s=5)
@serve.ingress(api)
class StenodService:
    def __init__(self, settings: ServeSettings):
        from stenod.cli import quiet_libraries

        quiet_libraries()  # before transformers is imported: no progress bars in the replica's log
        from stenod.asr.backend import load_backend
        from stenod.asr.options import BackendOptions

        self.settings = settings
        api.state.token = settings.token  # for the token check of every request (_bearer_token)
        options = BackendOptions.from_config(settings.cfg.model, threads=settings.threads)
        self.backend = load_backend(settings.cfg.model.name if settings.explicit else None, options)
        self.backend.warm_up()
        self.beams = settings.cfg.decode.beams_for(self.backend.device)
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="stenod-decode")  # the backend's one thread
        self.decode_one.set_max_batch_size(settings.max_batch_size)
        self.decode_one.set_batch_wait_timeout_s(settings.batch_wait_s)
        log.info("stenod replica %d: %s on %s", os.getpid(), self.backend.name, self.backend.device)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def decode_one(self, requests: list[DecodeRequest]) -> list[Transcript | None]:
        """Serve gathers concurrent calls into `requests`; they decode as one batch."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self.backend.transcribe_batch, requests)

    async def on_pool(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    @api.post("/v1/stenod/decode")
    async def native_decode(self, request: Request) -> dict:
        body = await _json_object(request)
        items = body.get("requests")
        if not isinstance(items, list) or not items:
            raise _bad("'requests' must be a non-empty list of decode requests")
        if len(items) > MAX_REQUESTS:
            raise _bad(f"'requests' holds {len(items)} requests; at most {MAX_REQUESTS} per call")
        reqs = []
        for i, item in enumerate(items):
            try:
                reqs.append(request_from_wire(item))
            except WireError as exc:
                raise _bad(f"requests[{i}]: {exc}") from None
        results = await asyncio.gather(*(self.decode_one(r) for r in reqs))
        return {"results": [transcript_to_wire(t) for t in results]}

    @api.post("/v1/stenod/prompt")
    async def native_prompt(self, request: Request) -> dict:
        body = await _json_object(request)
        vocabulary, context, max_tokens = body.get("vocabulary", []), body.get("context", ""), body.get("max_tokens")
        if not isinstance(vocabulary, list) or not all(isinstance(w, str) for w in vocabulary):
            raise _bad("'vocabulary' must be a list of strings")
        if not isinstance(context, str):
            raise _bad("'context' must be a string")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 0 <= max_tokens <= 223:
            raise _bad("'max_tokens' must be an integer from 0 to 223")
        return {"tokens": await self.on_pool(self.backend.encode_prompt, vocabulary, context, max_tokens)}

    @api.get("/v1/stenod/status")
    async def native_status(self) -> dict:
        out = status_to_wire(self.backend.name, self.backend.device, self.backend.status())
        out["replica"] = {"pid": os.getpid(), "id": serve.get_replica_context().replica_id.unique_id}
        return out

    @api.get("/v1/models")
    async def models(self) -> dict:
        return {"object": "list", "data": [{"id": self.backend.name, "object": "model", "created": 0,
                                            "owned_by": "stenod"}]}

    @api.post("/v1/audio/transcriptions")
    async def transcriptions(self, file: UploadFile = File(...), model: str | None = Form(None),
                             prompt: str = Form(""), language: str | None = Form(None),
                             temperature: float = Form(0.0), response_format: str = Form("json")) -> Response:
        from stenod import SAMPLE_RATE
        from stenod.audio import AudioError, load_audio, split_windows

        fmt = check_format(response_format)
        if not 0.0 <= temperature <= 1.0:
            raise OpenAIError("temperature must be between 0 and 1", param="temperature")
        data = await file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise OpenAIError(f"file is larger than {MAX_UPLOAD >> 20} MiB", param="file", status=413)
        try:
            audio = load_audio(data)
        except AudioError as exc:
            raise OpenAIError(str(exc).replace("<stdin>", file.filename or "file"), param="file") from None
        vocab, n = self.settings.cfg.decode.vocabulary, self.settings.cfg.decode.prompt_tokens
        tokens = tuple(await self.on_pool(self.backend.encode_prompt, vocab, prompt, n)) if (prompt or vocab) else ()
        windows = split_windows(audio)
        results = await asyncio.gather(*(self.decode_one(DecodeRequest(w, prompt=tokens, beams=self.beams))
                                         for w in windows))
        segs = segments([len(w) for w in windows], [t for t in results if t is not None], temperature)
        return Response(render(fmt, segs, len(audio) / SAMPLE_RATE), media_type=MEDIA_TYPES[fmt])


def build_app(args: dict[str, Any]):
    """The application for a Serve config file: `import_path: stenod.serve.app:build_app` with `args`
    `model`, `config` (a stenod config file), `set` (``{"section.key": value}``), `token_file`,
    `max_batch_size`, `batch_wait_ms`, `threads`. Replicas, CPUs and GPUs go in the file's
    `deployments:` section (name `StenodService`)."""
    known = {"model", "config", "set", "token_file", "max_batch_size", "batch_wait_ms", "threads"}
    unknown = set(args) - known
    if unknown:
        raise ValueError(f"unknown stenod serve argument(s): {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(sorted(known))})")
    sets = {str(k): str(v) for k, v in (args.get("set") or {}).items()}
    settings = load_settings(args.get("model"), Path(args["config"]) if args.get("config") else None, sets,
                             Path(args["token_file"]) if args.get("token_file") else None,
                             int(args.get("max_batch_size", 8)), float(args.get("batch_wait_ms", 10.0)),
                             int(args.get("threads", 0)))
    return StenodService.options(max_ongoing_requests=settings.max_ongoing_requests).bind(settings)
