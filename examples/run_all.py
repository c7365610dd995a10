"""Run every example on several seeds and rewrite the results table of ``examples/README.md`` (slow; not in CI).

    python examples/run_all.py --seeds 0-4                    # every row on seeds 0..4, one run at a time
    python examples/run_all.py --seeds 0-4 --only mnist01 fashion
    python examples/run_all.py --table-only                   # rebuild the table from the runs already there
    python examples/run_all.py --seeds 0-4 --skip-done        # only the runs without results yet
    python examples/run_all.py --fashion-root DIR             # add the full 2,000-image Fashion-MNIST test row

Each run is one ``qml-bridge train`` command with ``--seed K`` (its exact command is in
``examples/results.json``) writing into ``runs/examples/ROW-seedK``. The table gives, per example and profile,
the minimum, median and maximum of the metric over the seeds and on how many seeds the target was met; a target
counts as met only when it is met on every seed. The table names the commit whose code produced it; when
``bridge/``, ``examples/`` or ``devices/`` change afterwards, ``--table-only`` lists the changed files under the
table (``tests/app/test_results_fresh.py`` fails until it does), so stale numbers are visible.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUNS = ROOT / "runs" / "examples"
IMAGES = ("mnist01", "mnist37", "mnist3", "mnist10", "fashion")
MEASURED = ("bridge", "examples", "devices")  # what a result depends on
NOT_MEASURED = ("examples/README.md", "examples/results.json")  # what the sweep itself writes
SOURCE = {
    "mnist01": "100 % on 100 test images (textbook)",
    "mnist37": "91 % (blog)",
    "mnist3": "not reported",
    "mnist10": "none of the sources tried it",
    "fashion": "images only",
    "calculator": "L1 error 0.0697 on one pair",
    "hello": "plots only",
    "qaoa": "not reported",
    "meta": "plots only",
}
GOAL = {"mnist01": 0.99, "mnist37": 0.97, "mnist3": 0.95, "mnist10": 0.90, "fashion": 0.97}
TARGET = {
    **{name: f"≥ {goal:.2f}" for name, goal in GOAL.items()},
    "calculator": "MAE ≤ 0.03",
    "hello": "exact ≤ 1e-3, shots within 3σ",
    "qaoa": "optimal at p = 3 on every graph",
    "meta": "fewer steps than Adam",
}


@dataclass
class Row:
    """One example on one profile with some options: run once per seed."""

    example: str
    profile: str
    options: list[str] = field(default_factory=list)
    label: str = ""
    held_to_target: bool = True  # False: reported beside the target's row, not held to it

    @property
    def name(self) -> str:
        return "-".join([self.example, self.profile, *(o.strip("-").replace("/", "_") for o in self.options)])

    def out(self, seed: int) -> Path:
        return RUNS / f"{self.name}-seed{seed}"

    def command(self, seed: int = 0) -> list[str]:
        return [
            sys.executable,
            "-m",
            "bridge",
            "train",
            self.example,
            "--device",
            self.profile,
            "--seed",
            str(seed),
            "--no-progress",
            "--overwrite",  # a rerun replaces the row's earlier run (moved into its earlier-run-* folder)
            "--out",
            str(self.out(seed)),
            *self.options,
        ]

    def twin(self) -> Row:
        """The classical ablation of the same row."""
        return Row(self.example, self.profile, [*self.options, "--classical"], self.label, self.held_to_target)


def rows(fashion_root: str | None) -> list[Row]:
    """Every row: the image classifiers exact, classical and with 1024 shots; the problems on ``aer``."""
    table = []
    for name in IMAGES:
        table += [Row(name, "aer"), Row(name, "aer", ["--classical"]), Row(name, "aer-shots")]
    if fashion_root:
        table += [
            Row("fashion", "aer", ["--data-root", fashion_root], "full test set"),
            Row("fashion", "aer", ["--data-root", fashion_root, "--classical"], "full test set"),
        ]
    table += [
        Row("calculator", "aer"),
        Row("calculator", "aer", ["--classical"]),
        Row("calculator", "aer-shots", held_to_target=False),  # one ⟨Z⊗Z⟩ of 1024 shots: σ up to 1/32 per sum
        Row("hello", "aer"),
        Row("qaoa", "aer"),
        Row("meta", "aer"),
    ]
    return table


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → ``[0, 1, 2, 3, 4]``; ``"0,2,5"`` → ``[0, 2, 5]``."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds += range(int(low), int(high or low) + 1)
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"seeds are integers ≥ 0 such as 0-4 or 0,2,5, got {text!r}")
    return sorted(set(seeds))


def run(job: tuple[Row, int]) -> None:
    row, seed = job
    started = time.perf_counter()
    log = RUNS / f"{row.name}-seed{seed}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as f:
        code = subprocess.call(row.command(seed), stdout=f, stderr=subprocess.STDOUT)
    state = "done" if code == 0 else f"FAILED ({code})"
    print(f"{state} {row.name} seed {seed} in {time.perf_counter() - started:.0f} s", flush=True)


def metric(metrics: dict) -> float:
    """The number the target is about (accuracy, MAE, graphs solved, …)."""
    example = metrics["example"]
    if example in IMAGES:
        return float(metrics["test_accuracy"])
    if example == "calculator":
        return float(metrics["test_mae"])
    if example == "hello":
        return float(sum(r["passed"] for r in metrics["runs"]))
    if example == "qaoa":
        return float(sum(r["optimal"] for r in metrics["results"] if r["depth"] == 3))
    if example == "meta":
        return float(metrics["learned_mean_steps"])
    raise ValueError(example)


def met(metrics: dict) -> bool:
    example = metrics["example"]
    if example in GOAL:
        return bool(metrics["test_accuracy"] >= GOAL[example])
    return bool(
        {
            "calculator": lambda m: m["test_mae"] <= 0.03,
            "hello": lambda m: m["all_passed"],
            "qaoa": lambda m: m["all_optimal_at_deepest"],
            "meta": lambda m: m["learned_beats_adam"],
        }[example](metrics)
    )


def spread(example: str, values: list[float]) -> str:
    """min / median / max of a row's metric over its seeds, in the metric's own format."""
    if example in IMAGES:
        form = "{:.3f}"
    elif example == "calculator":
        form = "{:.4f}"
    else:
        form = "{:.2f}" if example == "meta" else "{:.0f}"
    low, mid, high = min(values), statistics.median(values), max(values)
    return " / ".join(form.format(v) for v in (low, mid, high))


def unit(example: str, metrics: dict) -> str:
    if example in IMAGES:
        return f"test accuracy, {metrics['test_images']} images"
    units = {  # called lazily: each reads only its own example's fields
        "calculator": lambda: f"MAE, {metrics.get('test_pairs', '?')} pairs",
        "hello": lambda: f"runs passed of {len(metrics['runs'])}",
        "qaoa": lambda: f"graphs optimal at p = 3 of {sum(r['depth'] == 3 for r in metrics['results'])}",
        "meta": lambda: "mean steps of the learned optimizer",
    }
    return units[example]()


def _load(row: Row, seeds: list[int], recorded: dict[tuple[str, int], dict]) -> dict[int, dict]:
    """A row's metrics per seed: from its run folder when there is one, else as ``results.json`` recorded them
    (a fresh clone has no ``runs/``: ``--table-only`` must rebuild the same table, not an empty one)."""
    found = {}
    for seed in seeds:
        path = row.out(seed) / "metrics.json"
        if path.is_file():
            found[seed] = json.loads(path.read_text())
        elif (row.name, seed) in recorded:
            found[seed] = recorded[(row.name, seed)]
    return found


def table(all_rows: list[Row], seeds: list[int], recorded: dict[tuple[str, int], dict]) -> tuple[str, list[dict]]:
    header = (
        "| example | profile | shots | epochs | seeds | metric | hybrid min / median / max | met on | classical "
        "min / median / max | target (met on every seed?) | s per run (median) | source result |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    lines, records = [header], []
    for row in all_rows:
        if "--classical" in row.options:
            continue
        runs = _load(row, seeds, recorded)
        if not runs:
            continue
        first = next(iter(runs.values()))
        values = [metric(m) for m in runs.values()]
        passed = sum(met(m) for m in runs.values())
        twin = _load(row.twin(), seeds, recorded)
        classical = spread(row.example, [metric(m) for m in twin.values()]) if twin else "—"
        shots = first["shots"]
        shots_text = "exact / 100 / 10,000" if isinstance(shots, list) else "exact" if shots is None else str(shots)
        if row.example == "qaoa" and shots is None:
            shots_text = f"exact (sampled {first['sample_shots']})"
        every = passed == len(runs) == len(seeds)
        seconds = statistics.median(m["seconds"] for m in runs.values())
        verdict = f"{TARGET[row.example]} ({'yes' if every else 'no'})"
        if not row.held_to_target:
            verdict = f"reported only ({TARGET[row.example]}: {passed}/{len(runs)}); the target is exact"
        lines.append(
            f"| {row.example} | {row.profile}{f' ({row.label})' if row.label else ''} | {shots_text} | "
            f"{first['epochs']} | {','.join(map(str, sorted(runs)))} | {unit(row.example, first)} | "
            f"{spread(row.example, values)} | {passed}/{len(runs)} | {classical} | {verdict} | {seconds:.0f} | "
            f"{SOURCE[row.example]} |"
        )
        for each, found in ((row, runs), (row.twin(), twin)):  # the hybrid's runs, then its classical ablation's
            for seed, metrics in sorted(found.items()):
                records.append(
                    {
                        "row": each.name,
                        "seed": seed,
                        "command": " ".join(["qml-bridge", *each.command(seed)[3:]]),
                        "metrics": metrics,
                        "met": met(metrics),
                    }
                )
    return "\n".join(lines), records


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()


def changed_since(commit: str) -> list[str]:
    """Files under ``bridge/``, ``examples/`` or ``devices/`` that differ between ``commit`` and the working tree
    (committed or not), less the sweep's own outputs."""
    names = git("diff", "--name-only", commit, "--", *MEASURED).splitlines()
    untracked = git("ls-files", "--others", "--exclude-standard", "--", *MEASURED).splitlines()
    return sorted({n for n in [*names, *untracked] if n and n not in NOT_MEASURED})


def stale_note(commit: str) -> str:
    """The line under the table: current, or the files changed since the commit that measured it."""
    changed = changed_since(commit)
    if not changed:
        return f"Measured on commit {commit}; no file of `bridge/`, `examples/` or `devices/` changed since."
    return (
        f"**Stale**: measured on commit {commit}; changed since (rerun the sweep): "
        + ", ".join(f"`{name}`" for name in changed)
        + "."
    )


def write_readme(text: str, note: str, command: str) -> None:
    readme = HERE / "README.md"
    before, _, rest = readme.read_text().partition("<!-- results -->")
    _, _, after = rest.partition("<!-- /results -->")
    block = f"Generated by `{command}`.\n\n{text}\n\n<!-- stale -->{note}<!-- /stale -->"
    readme.write_text(f"{before}<!-- results -->\n{block}\n<!-- /results -->{after}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=parse_seeds, default=None, help="seeds such as 0-4 (default: the table's)")
    parser.add_argument("--only", nargs="+", default=None, help="examples to rerun (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1: honest seconds)")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table and its stale note")
    parser.add_argument("--skip-done", action="store_true", help="skip runs that already have a metrics.json")
    parser.add_argument("--fashion-root", default=None, help="a root holding the full FashionMNIST/raw files")
    args = parser.parse_args(argv)
    results = HERE / "results.json"
    earlier = json.loads(results.read_text()) if results.is_file() else {}
    earlier = earlier if isinstance(earlier, dict) else {}
    seeds = args.seeds or earlier.get("seeds") or [0, 1, 2, 3, 4]
    fashion_root = args.fashion_root or earlier.get("fashion_root")
    all_rows = rows(fashion_root)
    commit = earlier.get("commit", "")
    if not args.table_only:
        if git("status", "--porcelain", "--", *MEASURED, *(f":!{n}" for n in NOT_MEASURED)):
            parser.error("commit bridge/, examples/ and devices/ first: the table names the commit that produced it")
        commit = git("rev-parse", "--short=12", "HEAD")
        todo = [(r, s) for r in all_rows if args.only is None or r.example in args.only for s in seeds]
        if args.skip_done:
            todo = [(r, s) for r, s in todo if not (r.out(s) / "metrics.json").is_file()]
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(run, todo))
    recorded = {(r["row"], r["seed"]): r["metrics"] for r in earlier.get("runs", [])}
    text, records = table(all_rows, seeds, recorded)
    if len(records) < len(recorded):
        parser.error(f"only {len(records)} of the {len(recorded)} recorded runs were found: not rewriting results")
    command = f"python examples/run_all.py --seeds {seeds[0]}-{seeds[-1]}" + (
        " --fashion-root DIR" if fashion_root else ""
    )
    write_readme(text, stale_note(commit), command)
    results.write_text(
        json.dumps(
            {"commit": commit, "seeds": seeds, "fashion_root": fashion_root, "command": command, "runs": records},
            indent=2,
        )
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
