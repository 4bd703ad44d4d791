"""``python -m azarr``: the ``azarr`` command line."""

from azarr.cli import console_main

if __name__ == "__main__":
    console_main()
