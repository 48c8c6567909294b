"""``python -m keras_lrsched``: the same as the ``keras-lrsched`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
