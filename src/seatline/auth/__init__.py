"""Bearer tokens, scopes and permission checks."""
