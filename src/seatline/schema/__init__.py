"""Strawberry types, inputs, error types and the root schema."""
