"""Fault-injection and fuzz runs on the real processes: `make chaos` and `make fuzz`.

    .venv/bin/python -m tests.faults.chaos     # kills, restarts and outages while events flow
    .venv/bin/python -m tests.faults.fuzz      # thousands of hostile requests at the receiver

Both start every part as `make run` does (`bench.stack.Stack`), print their figures and exit
non-zero with a report when an assertion fails. docs/reliability.md says what each asserts.
The pure helpers here (the fault plan, the request generator, the verdict, the keeper that
restarts processes, the option types) have unit tests beside them that `make test` runs.
"""
