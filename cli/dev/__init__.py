"""`socialbridge dev`, what `make run` runs: `run` starts everything, `supervisor` keeps it up."""
