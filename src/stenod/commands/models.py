"""`stenod models`: what models are available, cached or bundled; convert the bundled one."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("models", help="list available models; convert the bundled model",
                       description="List the default, bundled and locally cached Whisper models. "
                                   "'stenod models convert' converts the bundled tiny.en now (it is "
                                   "otherwise converted on first use).")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    msub = p.add_subparsers(dest="models_cmd", metavar="ACTION")
    c = msub.add_parser("convert", help="convert the bundled model into the transformers format now")
    c.add_argument("name", nargs="?", default="bundled:tiny.en", help="bundled model (default bundled:tiny.en)")
    c.add_argument("--force", action="store_true", help="convert again even if cached")
    c.set_defaults(func=convert)
    p.set_defaults(func=list_models)


def _hub_cached() -> list[dict]:
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir()
    except Exception:  # noqa: BLE001 - no cache directory yet, or an unreadable one: nothing cached
        return []
    return [{"name": r.repo_id, "size_mb": round(r.size_on_disk / 1e6, 1), "path": str(r.repo_path)}
            for r in info.repos if r.repo_type == "model" and "whisper" in r.repo_id.lower()]


def list_models(args) -> int:
    from stenod.asr.resolve import BUNDLED_PREFIX, BUNDLED_VARIANTS, DEFAULT_MODEL, ModelError, \
        bundled_cache_dir, is_converted

    rows = []
    for v in BUNDLED_VARIANTS:
        try:
            path = bundled_cache_dir(v)
            state = "converted" if is_converted(path) else "bundled (converted on first use)"
            rows.append({"name": BUNDLED_PREFIX + v, "state": state, "path": str(path)})
        except ModelError as exc:
            rows.append({"name": BUNDLED_PREFIX + v, "state": f"unavailable: {exc}", "path": None})
    cached = _hub_cached()
    for r in cached:
        rows.append({"name": r["name"], "state": f"cached ({r['size_mb']} MB)", "path": r["path"]})
    if not any(r["name"] == DEFAULT_MODEL for r in cached):
        rows.append({"name": DEFAULT_MODEL, "state": "default; not cached (downloaded on first use when online)",
                     "path": None})
    if args.json:
        print(json.dumps({"default": DEFAULT_MODEL, "models": rows}))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['state']}" + (f"\n{'':<{width}}  {r['path']}" if r["path"] else ""))
    return 0


def convert(args) -> int:
    import shutil

    from stenod.asr.resolve import BUNDLED_PREFIX, ModelError, bundled_cache_dir, ensure_bundled
    from stenod.cli import UserError

    if not args.name.startswith(BUNDLED_PREFIX):
        raise UserError(f"only bundled models need converting, e.g. {BUNDLED_PREFIX}tiny.en")
    variant = args.name[len(BUNDLED_PREFIX):]
    try:
        if args.force:
            shutil.rmtree(bundled_cache_dir(variant), ignore_errors=True)
        path = ensure_bundled(variant)
    except ModelError as exc:
        raise UserError(str(exc)) from None
    print(f"{args.name}: {path}")
    return 0
