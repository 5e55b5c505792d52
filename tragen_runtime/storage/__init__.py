"""Persistence: database connections, migrations, the agent/trade repository and leases."""
