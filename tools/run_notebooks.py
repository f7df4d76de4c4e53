"""Execute every notebook in order with no network and save the executed copies.

python tools/run_notebooks.py [--out build/executed]
"""

import argparse
import sys
import time
from pathlib import Path

import nbformat

from notebooks import ROOT, NotebookError, execute, notebook_paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "executed")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in notebook_paths():
        start = time.perf_counter()
        try:
            nb, _ = execute(path)
        except NotebookError as error:
            sys.exit(f"FAILED: {error}")
        nbformat.write(nb, args.out / path.name)
        print(f"{path.name}: executed in {time.perf_counter() - start:.1f} s")
    print(f"Executed notebooks are in {args.out}")


if __name__ == "__main__":
    main()
