"""Command line: ``python -m lazylinops demo [--size N] [--coils C] [--iters K] [--device D] [--out DIR]``."""

import sys

from .demo import main as demo


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["demo"]:
        return demo(argv[1:])
    print("usage: python -m lazylinops demo [--help]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
