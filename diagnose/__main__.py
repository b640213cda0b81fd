"""`python -m diagnose` runs the virtdiag command line."""

from diagnose.commands import main

main()
