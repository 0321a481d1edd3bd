"""The schemas are valid JSON Schema 2020-12 documents, found the same way in a checkout and a wheel."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from runner.paths import schemas_dir
from spec.support import EXAMPLES, REPO

SCHEMAS = ["job.schema.json", "catalog.schema.json"]


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_against_the_2020_12_metaschema(name):
    schema = json.loads((REPO / "schemas" / name).read_text())
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_declares_its_dialect_and_id(name):
    schema = json.loads((REPO / "schemas" / name).read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/schemas/{name}")


def test_schemas_are_loaded_from_the_repository_folder_in_a_checkout():
    assert schemas_dir() == REPO / "schemas"


@pytest.mark.parametrize("spec", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_starts_with_the_editor_schema_modeline(spec):
    first = spec.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/job.schema.json"
    assert (spec.parent / "../../schemas/job.schema.json").resolve().is_file()


def test_every_unknown_key_is_rejected_by_the_schema_alone():
    """Editors only see the schema: typos must fail there too, at every level."""
    import yaml

    validator = Draft202012Validator(json.loads((REPO / "schemas" / "job.schema.json").read_text()))
    spec = yaml.safe_load((EXAMPLES / "stream-template-csv-image.yaml").read_text())
    assert not list(validator.iter_errors(spec))
    spec["template"]["messages"][0]["content"][1]["source"]["paht"] = "x"
    spec["stream"]["concurency"] = 2
    spec["template"]["temprature"] = 0
    assert len(list(validator.iter_errors(spec))) == 3


def test_schema_defaults_are_the_defaults_the_runner_applies():
    """Editors show the schema's defaults; they must be what JobSpec really uses."""
    from runner.spec.build import ANTHROPIC_VERSION
    from runner.spec.context import DEFAULT_REGION
    from runner.spec.model import BatchOptions, StreamOptions
    from runner.spec.rules import DEFAULT_MAX_TOKENS

    schema = json.loads((REPO / "schemas" / "job.schema.json").read_text())
    defs = schema["$defs"]
    assert schema["properties"]["region"]["default"] == DEFAULT_REGION
    assert defs["requestFields"]["properties"]["max_tokens"]["default"] == DEFAULT_MAX_TOKENS
    assert defs["requestFields"]["properties"]["anthropic_version"]["default"] == ANTHROPIC_VERSION
    for block, options in (("stream", StreamOptions()), ("batch", BatchOptions())):
        for key, value in defs[block]["properties"].items():
            if "default" in value:
                assert value["default"] == getattr(options, key), f"{block}.{key}"
