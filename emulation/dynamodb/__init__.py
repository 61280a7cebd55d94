"""Amazon DynamoDB: each write, its condition included, applied atomically
(``atomic_writes.AtomicWrites``)."""
