"""The conversation framework: declarations, the registry behind the menus, the turn runtime."""
