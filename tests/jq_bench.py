#!/usr/bin/env python3
"""Times libjq (PyPI `jq`, as Port's Python framework runs it) on the GitHub pull-request mapping of the
corpus, over the corpus pull_request payload: the reference side of the mapping benchmark
(`cargo bench -p ocean-runtime --bench hot_path`, `map_pull_request`).

Every leaf is compiled once, with the reference's rewriting; each item is handed to each leaf with
`input_value(...).first()`, as the reference evaluates a mapping. Python's per-call overhead is included:
it is part of how the reference maps.

Usage: .venv-jq/bin/pip install pyyaml && .venv-jq/bin/python tests/jq_bench.py [ITERATIONS]
"""
import json
import sys
import time
from pathlib import Path

import jq
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jq_reference import compile_program  # noqa: E402

ROOT = Path(__file__).resolve().parent / "corpus"


def leaves(node, out):
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, dict):
        for v in node.values():
            leaves(v, out)
    elif isinstance(node, list):
        for v in node:
            leaves(v, out)


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    config = yaml.safe_load((ROOT / "port-app-configs/github.yml").read_text())
    resource = next(r for r in config["resources"] if r["kind"] == "pull-request")
    programs = [resource["selector"]["query"]]
    leaves(resource["port"]["entity"]["mappings"], programs)
    compiled = [compile_program(p, False) for p in programs]
    payload = json.loads((ROOT / "payloads/github/pull_request/opened.payload.json").read_text())
    item = dict(payload["pull_request"], __repository="Hello-World")
    for c in compiled:
        c.input_value(item).first()
    start = time.perf_counter()
    for _ in range(iterations):
        for c in compiled:
            try:
                c.input_value(item).first()
            except Exception:
                pass
    secs = time.perf_counter() - start
    print(json.dumps({"leaves": len(programs), "iterations": iterations, "us_per_item": secs / iterations * 1e6}))


if __name__ == "__main__":
    main()
