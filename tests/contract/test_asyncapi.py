"""docs/asyncapi.yaml: generated from the code, valid AsyncAPI 3.0, complete."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hall_contract.asyncapi import render
from hall_contract.messages import REQUESTS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "asyncapi.yaml"
SCHEMA = ROOT / "tests" / "data" / "asyncapi-3.0.0.schema.json"  # @asyncapi/specs 6.11.1


def load() -> dict[str, Any]:
    return dict(yaml.safe_load(DOC.read_text(encoding="utf-8")))


def test_committed_document_is_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.yaml is stale: run `python -m hall_contract.asyncapi > docs/asyncapi.yaml`"
    )


def test_valid_against_the_official_asyncapi_3_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(load()))
    assert errors == []


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [
            r for v in node.values() for r in _refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves() -> None:
    doc = load()
    for ref in _refs(doc):
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            assert part in node, f"dangling $ref {ref}"
            node = node[part]


def test_every_channel_parameter_is_declared_and_every_op_has_a_channel() -> None:
    doc = load()
    for cid, ch in doc["channels"].items():
        used = set(re.findall(r"\{(\w+)\}", ch["address"]))
        assert used == set(ch.get("parameters", {})), cid
    addresses = {ch["address"] for ch in doc["channels"].values()}
    for op in REQUESTS:
        assert f"hall/{{hall}}/t/{{terminal}}/req/{op}" in addresses
    for op in doc["operations"].values():
        assert op["action"] in ("send", "receive")
