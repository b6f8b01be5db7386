"""``python -m pptrain_core`` runs the ``pptrain`` command line."""

from pptrain_core.cli import main

if __name__ == "__main__":
    main()
