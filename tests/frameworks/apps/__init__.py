"""One small real app per framework, shared by the contract and the framework-specific tests."""
