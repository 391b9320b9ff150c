"""``python -m crps_qa.cli``."""

from crps_qa.cli import main

main()
