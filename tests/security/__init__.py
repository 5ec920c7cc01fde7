"""Security tests: who may do what, rate limits, hostile input, production settings."""
