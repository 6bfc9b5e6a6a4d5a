"""MkDocs hook: generate ``reference/output-format.md`` from the ``ndx-dyn`` spec YAML in ``spec/``.

The page lists every type of the extension with every attribute, dataset and sub-group, their dtypes, shapes and
docs, exactly as the spec the files carry says, so the documentation cannot drift from the format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from mkdocs.structure.files import File, Files

PAGE = "reference/output-format.md"
SPEC_DIR = Path(__file__).resolve().parents[2] / "spec"


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _shape(spec: dict[str, Any]) -> str:
    dims, shape = spec.get("dims"), spec.get("shape")
    if not dims:
        return "scalar" if "dtype" in spec and "neurodata_type_inc" not in spec else ""
    options = dims if isinstance(dims[0], list) else [dims]
    sizes = shape if shape and isinstance(shape[0], list) else [shape or [None] * len(dims)]
    return " or ".join(
        "(" + ", ".join(f"{d}" + (f"={s}" if s is not None else "") for d, s in zip(option, size)) + ")"
        for option, size in zip(options, sizes)
    )


def _quantity(spec: dict[str, Any]) -> str:
    quantity = spec.get("quantity", 1)
    return {1: "required", "?": "optional", "*": "any number", "+": "one or more"}.get(
        quantity, str(quantity)
    )


def _attribute_rows(attributes: list[dict[str, Any]]) -> list[str]:
    rows = ["| attribute | dtype | required | description |", "|---|---|---|---|"]
    for attribute in attributes:
        required = "no" if attribute.get("required") is False else "yes"
        default = f" (default `{attribute['default_value']}`)" if "default_value" in attribute else ""
        rows.append(
            f"| `{attribute['name']}` | {attribute.get('dtype', '')} | {required} | {_cell(attribute['doc'])}{default} |"
        )
    return rows


def _member_rows(members: list[dict[str, Any]]) -> list[str]:
    rows = ["| name | type | dtype | shape | quantity | description |", "|---|---|---|---|---|---|"]
    for member in members:
        name = f"`{member['name']}`" if "name" in member else "(any name)"
        kind = member.get("neurodata_type_inc", "dataset")
        rows.append(
            f"| {name} | {kind} | {member.get('dtype', '')} | {_shape(member)} | {_quantity(member)} "
            f"| {_cell(member['doc'])} |"
        )
        for attribute in member.get("attributes", []):
            default = f" (default `{attribute['default_value']}`)" if "default_value" in attribute else ""
            rows.append(
                f"| `{member.get('name', kind)}.{attribute['name']}` | attribute | {attribute.get('dtype', '')} | "
                f"| {'optional' if attribute.get('required') is False else 'required'} | {_cell(attribute['doc'])}{default} |"
            )
    return rows


def _type_section(spec: dict[str, Any]) -> list[str]:
    lines = [
        f"## {spec['neurodata_type_def']}",
        "",
        f"Extends **{spec['neurodata_type_inc']}**. {_cell(spec['doc'])}",
        "",
    ]
    if spec.get("dtype"):
        lines += [f"Data type {spec['dtype']}, shape {_shape(spec)}.", ""]
    if spec.get("attributes"):
        lines += [*_attribute_rows(spec["attributes"]), ""]
    members = spec.get("datasets", []) + spec.get("groups", [])
    if members:
        lines += [*_member_rows(members), ""]
    return lines


def render_output_format(spec_dir: Path = SPEC_DIR) -> str:
    """Markdown describing the namespace and every type in ``spec_dir``'s ``ndx-dyn`` YAML."""
    namespace = yaml.safe_load((spec_dir / "ndx-dyn.namespace.yaml").read_text())["namespaces"][0]
    extensions = yaml.safe_load((spec_dir / "ndx-dyn.extensions.yaml").read_text())
    types = extensions.get("datasets", []) + extensions.get("groups", [])
    lines = [
        "# Output format: the ndx-dyn extension",
        "",
        f"Namespace **{namespace['name']}** version {namespace['version']}: {_cell(namespace['doc'])}",
        "",
        (
            "Generated at documentation build time from `spec/ndx-dyn.extensions.yaml`, the spec every result file "
            "caches, so tools read the file without nwb-dyn installed. Where these objects sit in a result file and "
            "how to read them is in [Reading outputs](../reading-outputs.md)."
        ),
        "",
        "Types: "
        + ", ".join(f"[{t['neurodata_type_def']}](#{t['neurodata_type_def'].lower()})" for t in types)
        + ".",
        "",
    ]
    for spec in types:
        lines += _type_section(spec)
    return "\n".join(lines)


def on_files(files: Files, config: dict) -> Files:
    """Add the generated page to the build."""
    files.append(File.generated(config, PAGE, content=render_output_format()))
    return files
