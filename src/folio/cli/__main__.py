"""``python -m folio.cli``: the same entry point as the ``folio`` command."""

from folio.cli.app import main

if __name__ == "__main__":  # (importing this module, as a walk of the package does, runs nothing)
    main()
