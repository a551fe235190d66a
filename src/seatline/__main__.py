"""Allow `python -m seatline`."""

from seatline.cli import main

main()
