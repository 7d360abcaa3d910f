"""`python src/main.py --help`: the usage and every config key with its default and one-line doc, read
from default.yaml's own comments (its sections, `# --- run ---`, become headings), then the keys that
components declare themselves (utils/component_config.py), under the component that owns them."""

from __future__ import annotations

import os
import re

from utils.config_loader import CONFIG_DIR, available
from utils.registries import all_declared_keys

USAGE = """usage: python src/main.py --config=ALG --env-config=ENV [with key=value ...]
       python src/main.py with resume=<sacred run folder or results/models/<token>> [key=value ...]

  --config       algorithm config in src/config/algs/ ({algs})
  --env-config   environment config in src/config/envs/ ({envs})
  with k=v       overrides, nested with dots: with t_max=200000 env_args.key=Foraging-8x8-2p-3f-v3 seed=3

The config is default.yaml, updated by envs/ENV.yaml, then algs/ALG.yaml, then the overrides. Keys and
their defaults in default.yaml (env and alg configs change some of them):
"""
_KEY = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*):\s*(?P<value>[^#]*?)\s*(?:#\s*(?P<doc>.*))?$")
_SECTION = re.compile(r"^#\s*---\s*(?P<title>.*?)\s*(?:---\s*)?$")


def key_docs(path: str | None = None) -> list[tuple[str, str, str, str]]:
    """(section, key, default as written, doc) for each top-level key of default.yaml, in file order."""
    path = path or os.path.join(CONFIG_DIR, "default.yaml")
    section = ""
    docs = []
    with open(path) as f:
        for line in f:
            heading = _SECTION.match(line)
            if heading:
                section = heading.group("title").rstrip(".")
                continue
            match = _KEY.match(line.rstrip("\n"))
            if match:
                docs.append((section, match.group("key"), match.group("value"), match.group("doc") or ""))
    return docs


def help_text() -> str:
    lines = [USAGE.format(algs=", ".join(available("algs")), envs=", ".join(available("envs"))).rstrip()]
    section = None
    for sec, key, value, doc in key_docs():
        if sec != section:
            lines.append(f"\n{sec}:" if sec else "")
            section = sec
        lines.append(f"  {key + ' = ' + value:<36} {doc}".rstrip())
    owner = None
    for declared in all_declared_keys():
        if declared.owner != owner:
            lines.append(f"\nkeys of {declared.owner} (valid only when the run selects it):")
            owner = declared.owner
        lines.append(f"  {declared.name + ' = ' + str(declared.default):<36} {declared.doc}".rstrip())
    return "\n".join(lines)
