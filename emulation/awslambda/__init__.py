"""AWS Lambda: real handlers run from their zip (``runtime.LambdaRuntime``), with AWS's
asynchronous retries, destinations and resource-based permissions."""
