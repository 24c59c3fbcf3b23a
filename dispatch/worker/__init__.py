"""Workers: rq queues, the scheduler thread, the minute ticker, health, command."""
