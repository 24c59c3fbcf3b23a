"""The officer's board: login and roles, navigation, the queue, tickets, filing."""
