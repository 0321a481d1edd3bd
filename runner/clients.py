"""The one place that builds official clients for a target.

A target is either a real Google Cloud project or the local stack. The only
difference between them is here: endpoints and credentials. Every other module
receives clients (or a `Target`) and never asks which one it is talking to.
Heavy client libraries are imported inside the builders so that commands such
as `validate` never load them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from runner.errors import ConfigError, UsageError
from runner.paths import PROJECT_ID

DEFAULT_REGION = "us-east5"
LOCAL_PROJECT = "claude-jobs-local"
LOCAL_TOKEN = "local-stack-token"
TOKEN_TIMEOUT_S = 30  # one token fetch before a cloud run; google-auth's default is 120 s


@dataclass(frozen=True)
class Target:
    """Where jobs run. `*_url` are None for Google's own endpoints."""

    project: str
    region: str = DEFAULT_REGION
    local: bool = False
    vertex_url: str | None = None  # e.g. http://127.0.0.1:8790 (no /v1)
    storage_url: str | None = None  # e.g. http://127.0.0.1:4443
    bigquery_url: str | None = None  # e.g. http://127.0.0.1:9050

    @property
    def description(self) -> str:
        if self.local:
            return f"local stack (simulated Claude) at {self.vertex_url}, project {self.project}"
        return f"Vertex AI project {self.project}"

    # -- builders -----------------------------------------------------------

    def anthropic(self, region: str | None = None):
        """An `AsyncAnthropicVertex` with SDK retries off (the runner owns the one retry policy), on the
        SDK's aiohttp transport: about 40 % less CPU a call than its default httpx one, which is
        what bounds a stream run's rows/s per core (docs/stream.md#throughput-per-core)."""
        from anthropic import AsyncAnthropicVertex, DefaultAioHttpClient

        region = region or self.region
        if self.local:
            return AsyncAnthropicVertex(
                region=region,
                project_id=self.project,
                base_url=f"{self.vertex_url}/v1",
                access_token=LOCAL_TOKEN,
                max_retries=0,
                http_client=DefaultAioHttpClient(),
            )
        # Application Default Credentials; the SDK refreshes expired tokens itself.
        return AsyncAnthropicVertex(
            region=region, project_id=self.project, max_retries=0, http_client=DefaultAioHttpClient()
        )

    def job_service(self, region: str | None = None):
        """`aiplatform_v1.JobServiceClient` for batch prediction jobs in `region`."""
        from google.cloud import aiplatform_v1

        region = region or self.region
        if self.local:
            from google.auth.credentials import AnonymousCredentials

            return aiplatform_v1.JobServiceClient(
                transport="rest",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": self.vertex_url},
            )
        if region == "global":
            raise UsageError(
                "batch prediction needs a regional location, not 'global'",
                where="region",
                hint="set region: us-east5 in the spec",
            )
        return aiplatform_v1.JobServiceClient(
            client_options={"api_endpoint": f"{region}-aiplatform.googleapis.com"}
        )

    def storage(self):
        from google.cloud import storage

        if self.local:
            from google.auth.credentials import AnonymousCredentials

            return storage.Client(
                project=self.project,
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": self.storage_url},
            )
        return storage.Client(project=self.project)

    def bigquery(self, location: str | None = None):
        from google.cloud import bigquery

        if self.local:
            from google.api_core.client_options import ClientOptions
            from google.auth.credentials import AnonymousCredentials

            return bigquery.Client(
                project=self.project,
                credentials=AnonymousCredentials(),
                location=location,
                client_options=ClientOptions(api_endpoint=self.bigquery_url),
            )
        return bigquery.Client(project=self.project, location=location)


def configured_project(project_flag: str | None) -> str | None:
    """The GCP project from `--project` or the environment, or None (then the local stack is used).

    An unset or empty variable means "no project"; one holding only blanks, or blanks inside an
    id, is a mistake (a CI secret that did not expand) and is refused rather than silently
    falling back to the local stack.
    """
    if project_flag is not None:
        return _project_id(
            project_flag, "--project", "pass --project MY_PROJECT, or omit it to use the local stack"
        )
    for var in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        value = os.environ.get(var)
        if value:
            return _project_id(
                value,
                var,
                f"set {var} to a project id such as my-project, or unset it to use the local stack",
            )
    return None


def _project_id(value: str, where: str, hint: str) -> str:
    project = value.strip()
    if not project:
        raise UsageError("empty project id", where=where, hint=hint)
    if any(ch.isspace() or ord(ch) < 32 for ch in project):
        raise UsageError(f"{project!r} is not a project id (it contains blanks)", where=where, hint=hint)
    if not PROJECT_ID.match(project):
        shown = project if len(project) <= 40 else project[:37] + "..."
        raise UsageError(
            f"{shown!r} is not a Google Cloud project id "
            "(6-30 lowercase letters, digits or hyphens, starting with a letter)",
            where=where,
            hint=hint,
        )
    return project


def cloud_target(project: str, region: str = DEFAULT_REGION) -> Target:
    """A real project; checks that Application Default Credentials exist before anything runs."""
    try:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise ConfigError(f"google-auth is not installed: {exc}", hint="pip install claude-jobs") from None
    try:
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except DefaultCredentialsError:
        raise ConfigError(
            f"no Google credentials for project {project}",
            where="GOOGLE_APPLICATION_CREDENTIALS",
            hint="run `gcloud auth application-default login`, use Workload Identity "
            "Federation in CI, or drop --project/GOOGLE_CLOUD_PROJECT to use the local stack",
        ) from None
    _check_token(credentials)
    return Target(project=project, region=region)


def _check_token(credentials) -> None:
    """Fetch one access token now, so revoked, expired or unreachable credentials fail up front
    with exit 3 instead of deep inside a run (or after minutes of a client's retries)."""
    from google.auth.exceptions import GoogleAuthError
    from google.auth.transport.requests import Request

    from runner.errors import translate

    request = Request()

    def bounded(*args, **kwargs):
        kwargs.setdefault("timeout", TOKEN_TIMEOUT_S)
        return request(*args, **kwargs)

    try:
        credentials.refresh(bounded)
    except GoogleAuthError as exc:
        error = translate(exc)
        if error is None:
            raise
        raise error from None
