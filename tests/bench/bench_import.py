"""CSV import benchmark: a 100,000-row file of customer scores, as Dutch Excel saves it, imported
with `spiegel import` into a fresh database (run by hand; pytest does not collect tests/bench):

    .venv/bin/python tests/bench/bench_import.py                  # 100,000 rows, 3 runs
    .venv/bin/python tests/bench/bench_import.py --rows 200000 --runs 1

It writes the file (BOM, `;`, dd-mm-jjjj dates, decimal commas, a quoted comment with a line
break in every 50th row, contact references in half the rows) into a temporary folder, makes 20
teams with `spiegel team add`, then, in every run on a fresh copy of that database, times each
of these in its own `spiegel` process (wall time from start to exit; CPU time and peak memory
from the kernel's rusage of that process):

- `spiegel import --dry-run FILE` (read and check every row);
- `spiegel import FILE` (check, then store every row in one transaction);
- `spiegel import FILE` again (every row found already there; nothing stored).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

SPIEGEL = str(Path(sys.executable).with_name("spiegel"))
TEAMS = [f"Team {i:02d}" for i in range(20)]


def write_file(path: Path, rows: int) -> None:
    rng = random.Random(7)
    start = date.today() - timedelta(days=365)
    lines = ["Datum;Team;Soort;Score;Contact reference;Opmerking"]
    for i in range(rows):
        day = (start + timedelta(days=rng.randrange(365))).strftime("%d-%m-%Y")
        kind, score = (
            ("csat", f"{rng.randint(1, 5)},0") if i % 4 else ("nps", str(rng.randint(0, 10)))
        )
        ref = f"TCK-{i:07d}" if i % 2 else ""
        comment = '"Snel geholpen;\r\nbedankt"' if i % 50 == 0 else ""
        lines.append(f"{day};{rng.choice(TEAMS)};{kind};{score};{ref};{comment}")
    path.write_bytes("\ufeff".encode() + "\r\n".join(lines).encode("utf-8") + b"\r\n")


def run(env: dict[str, str], *args: str) -> tuple[float, float, float, str]:
    """Seconds, CPU seconds and peak memory (MB) of this child, from its own rusage, and its
    last line of output."""
    with tempfile.TemporaryFile("w+") as out:
        began = time.perf_counter()
        child = subprocess.Popen([SPIEGEL, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        took = time.perf_counter() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        said = out.read().strip()
    if child.returncode != 0:
        raise SystemExit(f"spiegel {' '.join(args)} failed:\n{said}")
    cpu = usage.ru_utime + usage.ru_stime
    return took, cpu, usage.ru_maxrss / 1024, said.splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        teams = Path(folder) / "teams.db"
        env = {**os.environ, "SPIEGEL_DATABASE": str(teams)}
        for name in TEAMS:
            subprocess.run([SPIEGEL, "team", "add", "--name", name], env=env, check=True,
                           capture_output=True)  # fmt: skip
        csv_file = Path(folder) / "scores.csv"
        write_file(csv_file, args.rows)
        size = csv_file.stat().st_size / 1e6
        print(f"{args.rows:,} rows, {size:.1f} MB, python {sys.version.split()[0]}")
        for number in range(1, args.runs + 1):
            database = Path(folder) / f"run{number}.db"
            shutil.copy(teams, database)
            env["SPIEGEL_DATABASE"] = str(database)
            print(f"run {number} (load average {os.getloadavg()[0]:.1f})")
            for label, extra in (("dry run", ["--dry-run"]), ("import", []), ("again", [])):
                took, cpu, peak, said = run(env, "import", *extra, str(csv_file))
                print(f"  {label:<8} {took:6.2f} s  cpu {cpu:5.2f} s  peak {peak:4.0f} MB  {said}")


if __name__ == "__main__":
    main()
