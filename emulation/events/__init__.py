"""Amazon EventBridge: scheduled rules fire on a clock, and events reach the right targets
(``scheduler.Scheduler``)."""
