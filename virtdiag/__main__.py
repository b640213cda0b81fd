"""`python -m virtdiag` runs the virtdiag command line, as `python -m diagnose` does."""

from diagnose.entry import main

main()
