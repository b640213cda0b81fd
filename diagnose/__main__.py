"""`python -m diagnose` runs the virtdiag command line."""

from diagnose.cli import main

main()
