"""The traffic model: seeded tenants, events and the Redis key design, with no server in sight."""
