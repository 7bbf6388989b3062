"""Read infra/template.yaml with its CloudFormation short tags; turn it into compact JSON.

The tests (tests/infra/) read the template through :func:`load_template`. ``deploy`` sends
the compact JSON form inline: CloudFormation takes a template body of at most 51,200
bytes, the YAML with its comments is larger, and the first deployment has no bucket yet
to upload a larger template to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

INLINE_LIMIT = 51_200


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that reads short tags (!Ref, !Sub, !GetAtt …) as their JSON form."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"bad !{suffix}", node.start_mark)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _short_tag)


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain data, short tags turned into ``Ref`` / ``Fn::…`` objects."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return data


def compact_json(path: Path) -> str:
    """The template as JSON without whitespace or checkov's suppression notes.

    A resource's ``Metadata.checkov`` only serves the static check of the YAML; it is
    dropped here, leaving more room under the inline limit.
    """
    template = load_template(path)
    for resource in template["Resources"].values():
        metadata = resource.get("Metadata", {})
        metadata.pop("checkov", None)
        if "Metadata" in resource and not metadata:
            del resource["Metadata"]
    return json.dumps(template, separators=(",", ":"))
