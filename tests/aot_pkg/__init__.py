"""A small package of operators for the ahead-of-time tests (tests/test_aot.py, test_cli.py)."""
