"""The open-loop engine every workload shares: rate profiles, the schedule, bounded queues, live progress."""
