"""Mutants made by rule, not from memory of the tests: for the modules on the public paths, every `if`
condition negated, every comparison turned to its neighbour (< to <=, == to !=, ...), every numeric or boolean
default of a public function changed, and the first two arguments of every call with two or more positional
arguments swapped. A seeded sample of them (--per-module) is run against the tests that import the module (the
command-line tests for cli/), in a scratch copy as scripts/mutants.py does; the score is what fraction the
suite catches.

    python scripts/rule_mutants.py --per-module 3 --json docs/mutation/rule_mutants.json
    python scripts/rule_mutants.py --list            # every mutant the rules make, without running any
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from scratch_copy import NO_TESTS, check_imports_the_copy, copy_tree, run_tests

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "stylebank"
# the modules a user's command goes through (stylize, serve, video, train, add-style, info)
MODULES = ("backends/pytorch.py", "backends/auto.py", "images.py", "fusion.py", "backends/tiling.py", "tensors.py",
           "backends/stylizer.py", "backends/onnx_runtime.py", "training/data.py", "training/batches.py",
           "checkpoint.py", "lossnet.py", "cli/stylize.py", "cli/options.py", "cli/training.py", "cli/models.py",
           "web/jobs.py", "web/forms.py", "web/limits.py", "video/pipeline.py", "video/reader.py",
           "video/coherence.py", "training/quick_style.py", "web/learning.py", "web/app.py")
NEIGHBOURS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
              ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}


@dataclass(frozen=True)
class RuleMutant:
    module: str
    rule: str
    line: int
    original: str  # the node's source
    mutated: str
    start: tuple[int, int]  # (line, column) of the node, 1-based line
    end: tuple[int, int]


def changed_default(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return str(not node.value)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return repr(node.value * 2 if node.value else 1)
    return None


def mutants_of(module: str) -> list[RuleMutant]:
    source = (PACKAGE / module).read_text()
    found = []

    def add(rule: str, node: ast.AST, mutated: str) -> None:
        original = ast.get_source_segment(source, node)
        if original is not None and original != mutated:
            found.append(RuleMutant(module, rule, node.lineno, original, mutated, (node.lineno, node.col_offset),
                                    (node.end_lineno, node.end_col_offset)))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.If, ast.IfExp, ast.While)):
            add("negate-condition", node.test, f"(not ({ast.get_source_segment(source, node.test)}))")
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in NEIGHBOURS:
            flipped = ast.Compare(node.left, [NEIGHBOURS[type(node.ops[0])]()], node.comparators)
            add("flip-comparison", node, ast.unparse(flipped))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
                value = changed_default(default)
                if value is not None:
                    add("change-default", default, value)
        elif isinstance(node, ast.Call) and len(node.args) >= 2 and not any(
                isinstance(a, ast.Starred) for a in node.args[:2]):
            swapped = ast.Call(node.func, [node.args[1], node.args[0], *node.args[2:]], node.keywords)
            add("swap-arguments", node, ast.unparse(swapped))
    return found


def offset(source: str, position: tuple[int, int]) -> int:
    """The character index of (line, column); ast's columns count UTF-8 bytes."""
    lines = source.splitlines(keepends=True)
    line = lines[position[0] - 1]
    return sum(map(len, lines[:position[0] - 1])) + len(line.encode()[:position[1]].decode())


def applied(source: str, mutant: RuleMutant) -> str:
    start, end = offset(source, mutant.start), offset(source, mutant.end)
    assert source[start:end] == mutant.original, (mutant, source[start:end])
    return source[:start] + mutant.mutated + source[end:]


def tests_for(module: str) -> tuple[str, ...]:
    """The test files that import the module (by its dotted name) or, for a module the package's top level
    re-exports (``stylebank.load`` is api's), that import ``stylebank``; for the command line's modules, those
    that run the command line. -m 'not slow' keeps each run short."""
    dotted = "stylebank." + module.removesuffix(".py").replace("/", ".")
    top_level = f"from .{dotted.removeprefix('stylebank.')} import" in (PACKAGE / "__init__.py").read_text()
    wanted = ["stylebank.cli"] if module.startswith("cli/") else [dotted, *(["import stylebank\n"] * top_level)]
    files = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests").glob("test_*.py")
                   if any(name in path.read_text() for name in wanted) and path.name != "test_other_machines.py")
    return (*files, "-m", "not slow")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-module", type=int, default=3, help="mutants drawn per module (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--list", action="store_true", help="print every mutant the rules make and exit")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--modules", nargs="+", choices=MODULES, default=MODULES, help="only these (default all)")
    args = parser.parse_args()
    every = {module: mutants_of(module) for module in args.modules}
    if args.list:
        for module, found in every.items():
            for m in found:
                print(f"{module}:{m.line} {m.rule}: {m.original[:60]!r} -> {m.mutated[:60]!r}")
        print(f"{sum(map(len, every.values()))} mutants in {len(every)} modules")
        return
    rng = random.Random(args.seed)
    chosen = [m for found in every.values() for m in rng.sample(found, min(args.per_module, len(found)))]
    results = []
    with tempfile.TemporaryDirectory(prefix="stylebank-rule-mutants-") as folder:
        work = Path(folder)
        copy_tree(ROOT, work)
        check_imports_the_copy(work)
        for mutant in chosen:
            path = work / "src" / "stylebank" / mutant.module
            original = path.read_text()
            path.write_text(applied(original, mutant))
            started = time.perf_counter()
            try:
                code, _ = run_tests(work, tests_for(mutant.module), args.timeout)
            finally:
                path.write_text(original)
            # a time-out is neither: the selection may just be long (it is reported, and not scored)
            outcome = "timed out" if code is None else "survived" if code == 0 or code in NO_TESTS else "caught"
            results.append({**asdict(mutant), "outcome": outcome, "exit_code": code,
                            "seconds": round(time.perf_counter() - started, 1)})
            print(f"{outcome:8s} {mutant.module}:{mutant.line} {mutant.rule}: {mutant.original[:50]!r} -> "
                  f"{mutant.mutated[:50]!r} ({results[-1]['seconds']} s)", flush=True)
            if args.json:  # after each mutant: a stopped run keeps what it measured
                write_results(args.json, results, chosen, every, args)
    caught = sum(r["outcome"] == "caught" for r in results)
    scored = sum(r["outcome"] != "timed out" for r in results)
    print(f"\n{caught} of {scored} rule mutants caught, {len(results) - scored} timed out (drawn from "
          f"{sum(map(len, every.values()))}, seed {args.seed})")


def write_results(path: str, results: list[dict], chosen: list[RuleMutant], every: dict, args) -> None:
    Path(path).write_text(json.dumps({
        "caught": sum(r["outcome"] == "caught" for r in results), "run": len(results), "drawn": len(chosen),
        "made": sum(map(len, every.values())), "seed": args.seed, "per_module": args.per_module,
        "mutants": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
