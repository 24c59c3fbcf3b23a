"""The SLA clock: the pure ladder and deadlines, the policy, escalation jobs, sweep."""
