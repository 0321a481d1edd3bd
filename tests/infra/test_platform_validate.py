"""`claude-jobs validate --stack-outputs` checks specs against what the Pulumi program provides."""

from __future__ import annotations

import json

from infra_harness import REPO

from runner.cli import invoke

EXAMPLE = REPO / "jobs" / "examples" / "batch-gcs-to-gcs.yaml"


def test_specs_on_the_platform_bucket_pass_and_others_are_reported(platform, tmp_path, capsys):
    outputs = tmp_path / "platform.json"
    outputs.write_text(json.dumps(platform.exports))
    bucket = platform.exports["bucket"]
    on_platform = tmp_path / "on-platform.yaml"
    on_platform.write_text(
        EXAMPLE.read_text()
        .replace("gs://claude-jobs-local/", f"gs://{bucket}/")
        .replace("results/batch-gcs-to-gcs.jsonl", f"gs://{bucket}/output/results")
    )

    assert invoke(["validate", "--stack-outputs", str(outputs), str(on_platform)]) == 0
    assert invoke(["validate", "--stack-outputs", str(outputs), str(EXAMPLE)]) == 1
    reported = capsys.readouterr()
    assert f"is not the platform's bucket '{bucket}'" in reported.out + reported.err
