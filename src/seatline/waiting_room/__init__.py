"""The virtual waiting room: queue state in Redis and signed admission passes."""
