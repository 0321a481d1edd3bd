"""The batchPredictionJobs REST routes of the local Vertex AI server.

    POST   /v1/projects/{p}/locations/{loc}/batchPredictionJobs            create
    GET    /v1/projects/{p}/locations/{loc}/batchPredictionJobs            list (filter, pageSize, pageToken)
    GET    /v1/projects/{p}/locations/{loc}/batchPredictionJobs/{id}       get
    POST   /v1/projects/{p}/locations/{loc}/batchPredictionJobs/{id}:cancel

JSON is camelCase with string enums, whatever `$alt=json;enum-encoding=int`
asks for: aiplatform_v1's REST transport parses strings too, google-genai
only strings. Paths are percent-decoded; errors use Google's
`{"error": {"code", "message", "status"}}` shape.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import unquote

import orjson
from aiohttp import web

from runner.local.batch_engine import BatchEngine, BatchQuotaExceeded
from runner.local.batch_filter import FilterError
from runner.local.batch_filter import parse as parse_filter
from runner.local.config import ServerConfig
from runner.local.faults import google_error

ENGINE = web.AppKey("runner.local.batch_engine", BatchEngine)
BASE = "/v1/projects/{project}/locations/{location}/batchPredictionJobs"
MODEL_NAME = re.compile(r"^(projects/[^/]+/locations/[^/]+/)?publishers/anthropic/models/([^/]+)$")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}


class ApiError(Exception):
    def __init__(self, code: int, message: str, status: str | None = None):
        super().__init__(message)
        self.body = google_error(code, status or _STATUS[code], message)
        self.code = code


def setup(app: web.Application, config: ServerConfig, state_dir: Path) -> None:
    """Mount the routes; the engine starts and stops with the app."""
    from runner.local.predict import CONFIG

    engine = BatchEngine(state_dir, lambda: app[CONFIG][0] if CONFIG in app else config)
    app[ENGINE] = engine

    async def lifecycle(app: web.Application):
        await engine.start()
        yield
        await engine.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post(BASE, create)
    app.router.add_get(BASE, list_jobs)
    app.router.add_get(BASE + "/{job}", get)
    app.router.add_post(BASE + "/{job}", post_action)


def _json(status: int, body: dict) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _handler(func):
    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await func(
                request,
                request.app[ENGINE],
                unquote(request.match_info["project"]),
                unquote(request.match_info["location"]),
            )
        except ApiError as exc:
            return _json(exc.code, exc.body)

    wrapper.__name__ = func.__name__
    return wrapper


def _job(engine: BatchEngine, project: str, location: str, raw: str) -> dict:
    """The job `raw` names in this project and location, or Vertex's 404."""
    name = f"projects/{project}/locations/{location}/batchPredictionJobs/{raw}"
    job = engine.get(raw) if raw.isdigit() else None
    if job is None or job["name"] != name:
        raise ApiError(404, f"The BatchPredictionJob {name} does not exist.")
    return job


# -- routes -------------------------------------------------------------------------


@_handler
async def create(request, engine: BatchEngine, project: str, location: str):
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise ApiError(400, "Invalid JSON payload received.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload received: expected an object.")
    model_id = _validate(request, project, location, body)
    try:
        job = engine.create(project, location, body, model_id=model_id)
    except BatchQuotaExceeded:
        limit = engine.knobs.max_concurrent_jobs
        raise ApiError(
            429,
            (
                "The following quotas are exceeded: concurrent batch prediction jobs for Anthropic "
                f"Claude models (limit {limit} per project; simulated by the local stack)."
            ),
        ) from None
    return _json(200, job)


@_handler
async def get(request, engine: BatchEngine, project: str, location: str):
    return _json(200, _job(engine, project, location, unquote(request.match_info["job"])))


@_handler
async def post_action(request, engine: BatchEngine, project: str, location: str):
    raw, _sep, action = unquote(request.match_info["job"]).partition(":")
    if action != "cancel":
        raise ApiError(404, f"The requested URL {request.path} was not found.")
    _job(engine, project, location, raw)  # Vertex's 404 unless it exists here
    blocked = engine.cancel(raw)
    if blocked:
        raise ApiError(
            400,
            f"Cannot cancel BatchPredictionJob {raw}: it is already in state {blocked}.",
            "FAILED_PRECONDITION",
        )
    return _json(200, {})


@_handler
async def list_jobs(request, engine: BatchEngine, project: str, location: str):
    query = request.query
    try:
        size = int(query.get("pageSize") or DEFAULT_PAGE_SIZE)
    except ValueError:
        raise ApiError(400, "pageSize must be an integer.") from None
    if size < 0:
        raise ApiError(400, "pageSize must not be negative.")
    size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    try:
        predicate = parse_filter(query.get("filter", ""))
    except FilterError as exc:
        raise ApiError(400, f"Invalid filter: {exc}") from None
    jobs = [job for job in engine.jobs(project, location) if predicate(job)]
    start = _decode_token(query.get("pageToken", ""))
    page = jobs[start : start + size]
    body: dict = {"batchPredictionJobs": page} if page else {}
    if start + size < len(jobs):
        body["nextPageToken"] = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
    return _json(200, body)


def _decode_token(token: str) -> int:
    if not token:
        return 0
    try:
        kind, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "offset" and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise ApiError(400, "Invalid pageToken.")


# -- validation of a create ---------------------------------------------------------------


def _validate(request: web.Request, project: str, location: str, body: dict) -> str:
    """Refuse a bad create with Vertex's 400/404; normalise `body` in place (a `uris` string
    becomes a list, as the page's reply shows). Returns the model id the job runs."""
    if location == "global":
        raise ApiError(
            400,
            "Batch prediction jobs are not supported in location global; use a "
            "regional location such as us-east5.",
        )
    if not isinstance(body.get("displayName"), str) or not body["displayName"]:
        raise ApiError(400, "displayName is required.")
    model = body.get("model")
    match = MODEL_NAME.match(model) if isinstance(model, str) else None
    if not match:
        raise ApiError(
            400,
            f"Invalid model {model!r}: Claude batch prediction needs the full "
            "publisher model name publishers/anthropic/models/MODEL.",
        )
    model_id = _check_model(request, project, location, match.group(2))
    labels = body.get("labels", {})
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise ApiError(400, "labels must map strings to strings.")
    _check_input(body.get("inputConfig"))
    _check_output(body.get("outputConfig"))
    return model_id


def _check_model(request: web.Request, project: str, location: str, model: str) -> str:
    """The online routes' model check (known in this region, enabled), answered the same way.

    A bare name (`claude-haiku-4-5`, as the page's Python samples send) runs its newest
    version known in this location. Returns the `name@version` (or bare id) that runs.
    """
    from runner.local.predict import STATE, Reject
    from runner.local.predict import _check_model as check_online_model

    state = request.app.get(STATE)
    if state is None:
        return model
    model_id = resolve_model(state, model, location)
    try:
        check_online_model(state, project, location, model_id)
    except Reject as reject:
        error = reject.body["error"]
        raise ApiError(reject.status, error["message"].replace(model_id, model), error["status"]) from None
    return model_id


def resolve_model(state, model: str, location: str) -> str:
    """`model` itself if the server knows it; for a bare name without `@version`, its newest
    version in `location` (configured `models`, else the catalog); else `model` unchanged."""
    from runner.local.config import catalog_or_none

    if "@" in model or state.known_model(model, location):
        return model
    if state.config.models is not None:
        versions = sorted((m for m in state.config.models if m.split("@", 1)[0] == model), reverse=True)
    else:
        known = catalog_or_none()
        versions = [
            info.id for info in (known.versions_of(model) if known else []) if location in info.regions
        ]
    return versions[0] if versions else model


def _check_input(config) -> None:
    if not isinstance(config, dict):
        raise ApiError(400, "inputConfig is required.")
    fmt = config.get("instancesFormat")
    if fmt == "jsonl":
        source = config.get("gcsSource") or {}
        uris = source.get("uris")
        if isinstance(uris, str):
            # The page's REST body sends "uris": "INPUT_URIS", "a comma-separated list"; its
            # reply echoes a list. Google's JSON parser takes one value for a repeated field.
            uris = source["uris"] = [u.strip() for u in uris.split(",") if u.strip()]
        if (
            not isinstance(uris, list)
            or not uris
            or not all(isinstance(u, str) and u.startswith("gs://") for u in uris)
        ):
            raise ApiError(400, "inputConfig.gcsSource.uris must list gs:// URIs for instancesFormat jsonl.")
    elif fmt == "bigquery":
        uri = (config.get("bigquerySource") or {}).get("inputUri")
        if not isinstance(uri, str) or not re.match(r"^bq://[^.]+\.[^.]+\.[^.]+$", uri):
            raise ApiError(
                400,
                "inputConfig.bigquerySource.inputUri must be "
                "bq://PROJECT.DATASET.TABLE for instancesFormat bigquery.",
            )
    else:
        raise ApiError(400, f"Unsupported inputConfig.instancesFormat {fmt!r}: use jsonl or bigquery.")


def _check_output(config) -> None:
    if not isinstance(config, dict):
        raise ApiError(400, "outputConfig is required.")
    fmt = config.get("predictionsFormat")
    if fmt == "jsonl":
        prefix = (config.get("gcsDestination") or {}).get("outputUriPrefix")
        if not isinstance(prefix, str) or not re.match(r"^gs://[^/]+", prefix):
            raise ApiError(
                400,
                "outputConfig.gcsDestination.outputUriPrefix must be a gs:// "
                "URI for predictionsFormat jsonl.",
            )
    elif fmt == "bigquery":
        uri = (config.get("bigqueryDestination") or {}).get("outputUri")
        if not isinstance(uri, str) or not re.match(r"^bq://[^.]+(\.[^.]+){0,2}$", uri):
            raise ApiError(
                400,
                "outputConfig.bigqueryDestination.outputUri must be "
                "bq://PROJECT[.DATASET[.TABLE]] for predictionsFormat bigquery.",
            )
    else:
        raise ApiError(400, f"Unsupported outputConfig.predictionsFormat {fmt!r}: use jsonl or bigquery.")
