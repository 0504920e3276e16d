"""Command line: ``python -m lazylinops demo``."""

import sys

from .demo import main as demo


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["demo"]:
        demo()
        return 0
    print("usage: python -m lazylinops demo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
