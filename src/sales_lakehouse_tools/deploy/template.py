"""Read infra/template.yaml with its CloudFormation short tags; turn it into compact JSON;
derive from it the small bootstrap template of a stack's first deployment.

The tests (tests/infra/) read the template through :func:`load_template`. ``deploy`` gives
CloudFormation two compact JSON forms (``dist/template.json`` and ``dist/bootstrap.json``):

- the **full** template, uploaded to the artifacts bucket and passed by ``TemplateURL``:
  CloudFormation reads at most :data:`URL_LIMIT` bytes from S3;
- the **bootstrap** template (:func:`bootstrap_template`), passed inline (``TemplateBody``,
  at most :data:`INLINE_LIMIT` bytes) to create a new stack: a fresh account has no bucket
  to upload the full template to before the stack has made its own artifacts bucket. It is
  derived from the full template, never written by hand: every parameter and condition,
  and only the ``ArtifactsBucket`` with what it needs, each resource exactly as in the full
  template, so the update from bootstrap to full leaves those resources unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

# CloudFormation's quotas: "Template body size in a request" (TemplateBody) and "in an
# Amazon S3 object" (TemplateURL, 1 MB; older documentation said 460,800 bytes).
INLINE_LIMIT = 51_200
URL_LIMIT = 1_000_000
# The resource the first deployment must create: deploy uploads the release into it.
BOOTSTRAP_ROOT = "ArtifactsBucket"
# Resources that only protect another one: type -> the property naming what they protect.
# One is added to the bootstrap when what it protects is there and all it references is.
PROTECTORS = {"AWS::S3::BucketPolicy": "Bucket"}
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


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


def compact_template(path: Path) -> dict[str, Any]:
    """The template without checkov's suppression notes.

    A resource's ``Metadata.checkov`` only serves the static check of the YAML; it is
    dropped here, leaving more room under the limits.
    """
    template = load_template(path)
    for resource in template["Resources"].values():
        metadata = resource.get("Metadata", {})
        metadata.pop("checkov", None)
        if "Metadata" in resource and not metadata:
            del resource["Metadata"]
    return template


def to_json(template: Mapping[str, Any]) -> str:
    """Compact JSON: no whitespace."""
    return json.dumps(template, separators=(",", ":"))


def compact_json(path: Path) -> str:
    """The full template as compact JSON (``dist/template.json``)."""
    return to_json(compact_template(path))


def bootstrap_json(path: Path) -> str:
    """The bootstrap template of ``path`` as compact JSON (``dist/bootstrap.json``)."""
    return to_json(bootstrap_template(compact_template(path)))


def size_problems(full: str, bootstrap: str) -> list[str]:
    """What keeps the two JSON forms from being deployed, as sentences; [] when they fit."""
    problems = []
    full_size, bootstrap_size = len(full.encode("utf-8")), len(bootstrap.encode("utf-8"))
    if full_size > URL_LIMIT:
        problems.append(
            f"the template is {full_size:,} bytes, over CloudFormation's limit of "
            f"{URL_LIMIT:,} for a template read from S3: shorten infra/template.yaml"
        )
    if bootstrap_size > INLINE_LIMIT:
        problems.append(
            f"the bootstrap template is {bootstrap_size:,} bytes, over CloudFormation's "
            f"inline limit of {INLINE_LIMIT:,}: shorten {BOOTSTRAP_ROOT} and the resources "
            "it references in infra/template.yaml"
        )
    return problems


# ---- the bootstrap template --------------------------------------------------------------


def _names(value: Any) -> Iterator[str]:
    """Every logical name ``value`` refers to through ``Ref``, ``Fn::GetAtt`` or ``Fn::Sub``
    (parameters and pseudo parameters included; the caller keeps the resources)."""
    if isinstance(value, list):
        for item in value:
            yield from _names(item)
    elif isinstance(value, dict):
        named = _intrinsic_names(*next(iter(value.items()))) if len(value) == 1 else None
        if named is not None:
            yield from named
        else:
            for item in value.values():
                yield from _names(item)


def _intrinsic_names(key: str, argument: Any) -> list[str] | None:
    """The names ``{key: argument}`` refers to, if it is a well-formed ``Ref``,
    ``Fn::GetAtt`` (``[X, Attr]`` or ``"X.Attr"``) or ``Fn::Sub`` (``"…${X}…${X.Attr}…"`` or
    ``["…", {variables}]``, ``${!Literal}`` being no reference); None otherwise."""
    if key == "Ref" and isinstance(argument, str):
        return [argument]
    if key == "Fn::GetAtt" and isinstance(argument, str):
        return [argument.split(".", 1)[0]]
    head = argument[0] if isinstance(argument, list) and argument else None
    if key == "Fn::GetAtt" and isinstance(head, str):
        return [head, *_names(argument[1:])]
    if key == "Fn::Sub":
        text: Any = argument if isinstance(argument, str) else None
        variables: Any = {} if isinstance(argument, str) else None
        if isinstance(argument, list) and len(argument) == 2:
            text, variables = argument
        if isinstance(text, str) and isinstance(variables, dict):
            found = [
                variable.strip().split(".", 1)[0]
                for variable in _SUB_VARIABLE.findall(text)
                if not variable.startswith("!")
            ]
            return [n for n in found if n not in variables] + list(_names(list(variables.values())))
    return None


def references(resource: Mapping[str, Any], resources: Mapping[str, Any]) -> set[str]:
    """The resources of ``resources`` that ``resource`` refers to or ``DependsOn``."""
    depends = resource.get("DependsOn", [])
    found = set(_names(dict(resource))) | set([depends] if isinstance(depends, str) else depends)
    return found & set(resources)


def bootstrap_resources(template: Mapping[str, Any], root: str = BOOTSTRAP_ROOT) -> list[str]:
    """The logical ids of the bootstrap template, in the full template's order.

    ``root`` and everything it refers to, transitively; then every resource that only
    protects one of those (:data:`PROTECTORS`: a bucket's policy) when all it refers to is
    already in.
    """
    resources: Mapping[str, Any] = template["Resources"]
    if root not in resources:
        raise ValueError(f"the template has no {root} resource")
    chosen: set[str] = set()
    pending = [root]
    while pending:
        name = pending.pop()
        if name not in chosen:
            chosen.add(name)
            pending += references(resources[name], resources) - chosen
    grew = True
    while grew:
        grew = False
        for name, resource in resources.items():
            guarded = PROTECTORS.get(resource.get("Type", ""))
            if name in chosen or guarded is None:
                continue
            protected = set(_names(resource.get("Properties", {}).get(guarded))) & set(resources)
            if protected and protected <= chosen and references(resource, resources) <= chosen:
                chosen.add(name)
                grew = True
    return [name for name in resources if name in chosen]


def bootstrap_template(template: Mapping[str, Any], root: str = BOOTSTRAP_ROOT) -> dict[str, Any]:
    """The part of ``template`` a new stack is created from (see the module docstring).

    Every top-level section but ``Resources`` and ``Outputs`` as it is (parameters,
    conditions, metadata, mappings, rules); the resources of :func:`bootstrap_resources`,
    unchanged; the outputs whose resources are all there.
    """
    resources: Mapping[str, Any] = template["Resources"]
    kept = bootstrap_resources(template, root)
    bootstrap = {k: v for k, v in template.items() if k not in ("Resources", "Outputs")}
    bootstrap["Resources"] = {name: resources[name] for name in kept}
    outputs = {
        name: output
        for name, output in template.get("Outputs", {}).items()
        if set(_names(output)) & set(resources) <= set(kept)
    }
    if outputs:
        bootstrap["Outputs"] = outputs
    return bootstrap


# ---- every option switched on ----------------------------------------------------------

# Parameter values that switch on every optional part of the template (conditions).
EVERY_OPTION: dict[str, str] = {
    "EnableSlackAlerts": "true",
    "AlertPhoneNumber": "+4915112345678",
    "SourceApiUrl": "https://api.example.com/sales",
    "ConsumerReservedConcurrency": "5",
    "EnableFirehoseArchive": "true",
    "EnableOperationalSource": "true",
    "QuickSightPrincipalArn": "arn:aws:quicksight:us-east-1:123456789012:user/default/analyst",
}


def every_option_template(path: Path) -> dict[str, Any]:
    """The template with :data:`EVERY_OPTION` as its parameters' defaults, checkov notes
    kept: static checkers evaluate conditions on the defaults and skip what they switch
    off, so ``make lint`` checks this form as well."""
    template = load_template(path)
    for name, value in EVERY_OPTION.items():
        template["Parameters"][name]["Default"] = value
    return template


def main(argv: list[str] | None = None) -> int:
    """``python -m sales_lakehouse_tools.deploy.template --every-option TEMPLATE OUT``."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] != "--every-option":
        print("usage: python -m sales_lakehouse_tools.deploy.template --every-option TEMPLATE OUT")
        return 2
    Path(args[2]).write_text(
        json.dumps(every_option_template(Path(args[1])), indent=1), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
