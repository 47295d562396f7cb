"""Runtime: configuration, conversation engine, channels, outbox, CLI."""
