"""The online routes of the local Vertex AI server: rawPredict, streamRawPredict, count-tokens.

Checks run in Vertex's order: auth, model, body, headers, quota; then a fault
may be injected; then the simulated Claude answers (JSON or SSE).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from urllib.parse import unquote

import orjson
from aiohttp import web

from runner.local import claude_sim, faults
from runner.local.checks import Reject, check_model_limits, invalid, validate_messages_body
from runner.local.config import ServerConfig, catalog_or_none
from runner.local.faults import FaultPicker
from runner.local.quota import QuotaBook, base_model

PREDICT_PATH = "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{tail:.+}"
LOGGED_HEADERS = (
    "authorization",
    "anthropic-beta",
    "content-type",
    "user-agent",
    "x-goog-user-project",
    "idempotency-key",
)
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
_LOG_BODY_LIMIT = 16 * 1024  # bigger bodies are logged as their size only


class OnlineState:
    """Everything the online routes share; rebuilt in place when the config changes."""

    def __init__(self, config: ServerConfig):
        self.log: deque[dict] = deque(maxlen=config.request_log_size)
        self.stats: Counter[str] = Counter()
        self.configure(config)

    def configure(self, config: ServerConfig) -> None:
        self.simulator = claude_sim.Simulator.from_config(config)  # may refuse
        self.config = config
        self.quota = QuotaBook(config)
        self.faults = FaultPicker(config.faults)
        if self.log.maxlen != config.request_log_size:
            self.log = deque(self.log, maxlen=config.request_log_size)

    def reset(self) -> None:
        self.log.clear()
        self.stats.clear()
        self.configure(self.config)

    def catalog_entry(self, model: str):
        """The catalog's ModelInfo for `model`, or None (no catalog, or `models` set in the config)."""
        if self.config.models is not None:
            return None
        known = catalog_or_none()
        return known.get(model) if known is not None else None

    def known_model(self, model: str, location: str) -> bool:
        """Configured ids, else the catalog's in their regions, else any `claude-*` id."""
        if model in self.config.disabled_models:
            return True
        if self.config.models is not None:
            return model in self.config.models
        if catalog_or_none() is None:
            return model.startswith("claude-")
        entry = self.catalog_entry(model)
        return entry is not None and location in entry.regions


STATE = web.AppKey("runner.local.online", OnlineState)
# The live config as a one-item list, so that POST /_local/config is seen by every module.
CONFIG = web.AppKey("runner.local.config", list)


def _json(status: int, body: dict) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


# -- checks -------------------------------------------------------------------


def _check_auth(request: web.Request) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Reject(401, faults.google_error(401, "UNAUTHENTICATED", faults.UNAUTHENTICATED))


def _check_model(state: OnlineState, project: str, location: str, model: str) -> None:
    name = f"projects/{project}/locations/{location}/publishers/anthropic/models/{model}"
    if not state.known_model(model, location):
        raise Reject(404, faults.google_error(404, "NOT_FOUND", f"Publisher Model `{name}` not found."))
    if model in state.config.disabled_models:
        raise Reject(
            400,
            faults.google_error(
                400,
                "FAILED_PRECONDITION",
                f"Project `{project}` is not allowed to use Publisher Model `{name}`",
            ),
        )


def _check_betas(state: OnlineState, request: web.Request) -> None:
    values = [
        v.strip()
        for header in request.headers.getall("anthropic-beta", [])
        for v in header.split(",")
        if v.strip()
    ]
    unknown = [v for v in values if v not in state.config.supported_betas]
    if unknown:
        raise invalid(
            f"Unexpected value(s) `{', '.join(unknown)}` for the `anthropic-beta` "
            "header. Please consult our documentation at docs.anthropic.com or try "
            "again without the header."
        )


def _too_large(limit: int) -> Reject:
    return Reject(
        413,
        faults.google_error(
            413, "INVALID_ARGUMENT", f"Request payload size exceeds the limit: {limit} bytes."
        ),
    )


async def _read_body(request: web.Request, state: OnlineState) -> dict:
    limit = state.config.max_body_bytes
    if (request.content_length or 0) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    while chunk := await request.content.read(1 << 20):  # read() returns what has arrived
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
    raw = b"".join(chunks)
    request["raw_size"] = len(raw)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid("There was an error parsing the body of your request as JSON.") from None
    request["body"] = body
    if not isinstance(body, dict):
        raise invalid("Input should be a valid dictionary")
    return body


# -- logging ------------------------------------------------------------------


def _record(
    state: OnlineState, request: web.Request, endpoint: str, status: int, fault: str | None = None
) -> None:
    state.stats["requests"] += 1
    state.stats[f"endpoint.{endpoint}"] += 1
    state.stats[f"status.{status}"] += 1
    if fault:
        state.stats[f"fault.{fault}"] += 1
    body = request.get("body")
    if request.get("raw_size", 0) > _LOG_BODY_LIMIT:
        body = {"_truncated_bytes": request["raw_size"]}
    state.log.append(
        {
            "time": time.time(),
            "method": request.method,
            "endpoint": endpoint,
            "raw_path": request.raw_path.split("?", 1)[0],
            "path": request.path,
            "query": request.query_string,
            "headers": {k: v for k in LOGGED_HEADERS if (v := request.headers.get(k)) is not None},
            "body": body,
            "status": status,
            "fault": fault,
        }
    )


# -- the routes ---------------------------------------------------------------


async def predict(request: web.Request) -> web.StreamResponse:
    """`.../models/{model}:rawPredict|streamRawPredict` and `.../models/count-tokens:rawPredict`."""
    state = request.app[STATE]
    project = request.match_info["project"]
    location = request.match_info["location"]
    model, sep, action = unquote(request.match_info["tail"]).rpartition(":")
    count_only = model == "count-tokens"
    if not sep or action not in ("rawPredict", "streamRawPredict") or (count_only and action != "rawPredict"):
        _record(state, request, "unknown", 404)
        return _json(
            404, faults.google_error(404, "NOT_FOUND", f"The requested URL {request.path} was not found.")
        )
    endpoint = "countTokens" if count_only else action
    try:
        _check_auth(request)
        if count_only:
            return await _count_tokens(request, state, project, location)
        _check_model(state, project, location, model)
        body = await _read_body(request, state)
        if "model" in body:
            raise invalid("model: Extra inputs are not permitted")
        validate_messages_body(body)
        _check_betas(state, request)
        outcome = state.simulator.respond(body, model)
        if outcome.status != 200:
            raise Reject(outcome.status, outcome.payload)
        message = outcome.payload
        check_model_limits(body, message["usage"]["input_tokens"], state.catalog_entry(model))
        exceeded = state.quota.admit(model, location, message["usage"]["input_tokens"])
        if exceeded:
            state.stats["quota_exceeded"] += 1
            raise Reject(429, faults.quota_error(exceeded.metric, exceeded.base_model))
        fault = state.faults.draw()
        answer = faults.status_fault(fault, base_model(model))
        if answer is not None:
            _record(state, request, endpoint, answer[0], fault)
            return _json(*answer)
        state.quota.charge_output(model, location, message["usage"]["output_tokens"])
    except Reject as reject:
        _record(state, request, endpoint, reject.status)
        return _json(reject.status, reject.body)
    if fault == "stream_error" and action != "streamRawPredict":
        fault = None  # only a stream can fail after its HTTP 200
    _record(state, request, endpoint, 200, fault)
    if action == "streamRawPredict":
        return await _stream(request, state, message, fault)
    return await _respond_json(request, state, message, fault)


async def _count_tokens(
    request: web.Request, state: OnlineState, project: str, location: str
) -> web.Response:
    if location == "global":
        raise Reject(
            400,
            faults.google_error(
                400,
                "INVALID_ARGUMENT",
                "count-tokens is not supported in location global; use a regional endpoint.",
            ),
        )
    body = await _read_body(request, state)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model: Field required")
    _check_model(state, project, location, model)
    validate_messages_body(body, count_only=True)
    _check_betas(state, request)
    _record(state, request, "countTokens", 200)
    return _json(200, {"input_tokens": claude_sim.count_tokens(body)})


async def _stall(request: web.Request, seconds: float) -> None:
    """Send nothing for `seconds`, but stop early once the client has gone."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(min(0.1, deadline - time.monotonic()))


def _drop(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


async def _respond_json(
    request: web.Request, state: OnlineState, message: dict, fault: str | None
) -> web.StreamResponse:
    payload = orjson.dumps(message)
    if fault == "stalled_stream":
        await _stall(request, state.config.faults.stall_seconds)
    elif fault == "dropped_connection":
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = len(payload)
        await response.prepare(request)
        await response.write(payload[: len(payload) // 2])
        _drop(request)
        return response
    return web.Response(status=200, body=payload, content_type="application/json")


async def _stream(
    request: web.Request, state: OnlineState, message: dict, fault: str | None
) -> web.StreamResponse:
    try:
        return await _send_events(request, state.config, message, fault)
    except ConnectionResetError:  # the client left mid-stream (e.g. its timeout fired)
        state.stats["client_disconnects"] += 1
        raise


async def _send_events(
    request: web.Request, config: ServerConfig, message: dict, fault: str | None
) -> web.StreamResponse:
    # Faults strike after message_start and part of the content, like a real mid-stream failure.
    mid_stream = fault in ("stream_error", "dropped_connection", "stalled_stream")
    pace = config.tokens_per_second
    if config.time_to_first_token > 0:
        await asyncio.sleep(config.time_to_first_token)
    if pace <= 0 and not mid_stream:
        # Headers and every event in one send: hundreds of concurrent streams stay cheap.
        return web.Response(status=200, body=claude_sim.sse_body(message), headers=SSE_HEADERS)
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await response.prepare(request)
    events = claude_sim.stream_events(message)
    strike = max(2, len(events) // 2) if mid_stream else None
    for i, (name, data, tokens) in enumerate(events):
        if i == strike:
            if fault == "stream_error":
                await response.write(claude_sim.sse("error", faults.overloaded()))
                await response.write_eof()
                return response
            if fault == "dropped_connection":
                _drop(request)
                return response
            await _stall(request, config.faults.stall_seconds)
            if request.transport is None or request.transport.is_closing():
                return response
        await response.write(claude_sim.sse(name, data))
        if pace > 0 and tokens:
            await asyncio.sleep(tokens / pace)
    await response.write_eof()
    return response


# -- /_local: what tests and benchmarks read and change ------------------------


async def local_requests(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        limit = int(request.query.get("limit", len(state.log)) or 0)
    except ValueError:
        return _json(400, faults.google_error(400, "INVALID_ARGUMENT", "limit must be an integer"))
    entries = list(state.log)[-limit:] if limit else []
    return _json(200, {"requests": entries})


async def local_stats(request: web.Request) -> web.Response:
    return _json(200, dict(request.app[STATE].stats))


async def local_config(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "POST":
        from runner.errors import ConfigError

        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ConfigError("POST /_local/config takes a JSON object of ServerConfig keys")
            config = state.config.updated(changes)
            state.configure(config)  # refuses an unreadable scripted_replies file
        except (ValueError, ConfigError) as exc:
            return _json(400, faults.google_error(400, "INVALID_ARGUMENT", str(exc)))
        request.app[CONFIG][0] = config
    return _json(200, state.config.to_dict())


async def local_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return _json(200, {})


def setup(app: web.Application, config: ServerConfig) -> None:
    """Mount the online routes and the /_local test endpoints on `app`."""
    app[STATE] = OnlineState(config)
    app[CONFIG] = [config]
    app.router.add_post(PREDICT_PATH, predict)
    app.router.add_get("/_local/requests", local_requests)
    app.router.add_get("/_local/stats", local_stats)
    app.router.add_get("/_local/config", local_config)
    app.router.add_post("/_local/config", local_config)
    app.router.add_post("/_local/reset", local_reset)
