"""The only package that imports rq: queues, enqueueing, job functions and the worker."""
