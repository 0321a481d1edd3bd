"""Shared state: where what makes a re-run exactly-once lives (docs/gitops.md).

The state location is the local state folder (`.claude-jobs/`, `CLAUDE_JOBS_HOME`) or
a Cloud Storage prefix (`CLAUDE_JOBS_STATE=gs://bucket/prefix`, `--state`). It holds
spec locks (`locks`), destination and batch submission claims (`claims`) and, in
Cloud Storage, the stream ledgers' flushes (`ledger_objects`). Below stream/ and
batch/ so both use it; above clients (it reaches Cloud Storage through a Target).
"""

from runner.state.store import GcsStore, LocalStore, StateStore, open_state, state_uri

__all__ = ["GcsStore", "LocalStore", "StateStore", "open_state", "state_uri"]
