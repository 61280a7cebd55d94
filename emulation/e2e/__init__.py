"""`make e2e`: the whole chain on a site (the embedded twin, or LocalStack beside the twin),
started through AWS APIs and read back through them.

    sites.py     where the chain runs: clients, firing the schedule, failure extras
    stages.py    timed, reported stages and the polling helper
    probes.py    what the chain looks at while it waits (instance, jobs, objects, queues)
    chain.py     deploy, upload, fire and follow
    readback.py  the run summary, read back after the run
    report.py    the printed table and the files kept under runs/
    cli.py       ``python -m emulation e2e``

A package of its own inside ``emulation`` rather than a top-level one: it is a client of any
backend, but it starts the embedded twin, and the project's top level is fixed (pipeline,
emulation, deploy, ...).
"""
