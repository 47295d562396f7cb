"""The conversations, their runtime and the services the scheduler calls."""
