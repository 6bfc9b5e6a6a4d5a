"""MkDocs hook: generate ``reference/cli.md`` from the ``nwb-dyn`` argparse parser at build time.

The reference can never drift from the code: every subcommand's ``--help`` text is rendered as it is.
"""

from __future__ import annotations

import argparse

from mkdocs.structure.files import File, Files

from nwb_dyn.cli import build_parser

PAGE = "reference/cli.md"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render_cli_reference() -> str:
    """Markdown for the whole command line: the top-level help, then each subcommand's help."""
    parser = build_parser()
    parts = [
        "# CLI reference\n",
        "Generated from the parser at documentation build time; `nwb-dyn COMMAND --help` prints the same.\n",
        "```text\n" + parser.format_help() + "```\n",
    ]
    for name, subparser in sorted(_subcommands(parser).items()):
        parts.append(f"## nwb-dyn {name}\n")
        parts.append("```text\n" + subparser.format_help() + "```\n")
    return "\n".join(parts)


def on_files(files: Files, config: dict) -> Files:
    """Add the generated page to the build."""
    files.append(File.generated(config, PAGE, content=render_cli_reference()))
    return files
