"""python -m secgov …"""

from secgov.cli import main

main(prog_name="python -m secgov")
