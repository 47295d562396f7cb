"""Conversations and commands, written once against channel-agnostic types."""
