"""Follow-up calls (回访): the officer calls back a resident who rated low or said
"没有修好" twice; the task's clock, its page parts and its figures."""
