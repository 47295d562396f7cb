"""What the conversations and the scheduler share: standings, drafts, prompts, the outbox."""
