"""The console's operations: one function for each, called by the CLI and the web views alike.

    console.accounts     add, list, remove users, reset a password, the first admin
    console.signin       sign-in: password, account lock, per-address throttle
    console.throttle     the per-address counter of failed sign-ins (Redis)
    console.access       what each role may do

Nothing here knows about Flask or click; views and commands only turn their input into these
calls and the answers into pages or lines.
"""
