"""`python -m diagnose` runs the virtdiag command line."""

from diagnose.entry import main

main()
