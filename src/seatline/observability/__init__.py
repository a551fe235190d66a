"""Metrics, structured logs, health checks and graceful shutdown."""
