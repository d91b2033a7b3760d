"""One producer contract, two SDKs: the golden vectors in ``schemas/vectors/`` checked against
the Python SDK, and the Go SDK (``clients/go``) checked end to end against a real broker and the
Python worker."""
