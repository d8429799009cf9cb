"""The `rnnbench` console script: `--version` answers at once; every other command loads the CLI
(and with it torch, 1.5-3.5 s) first."""
from __future__ import annotations

import sys
from typing import Sequence

from . import __version__


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        print(f"rnnbench {__version__}")
        return 0
    from .cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
