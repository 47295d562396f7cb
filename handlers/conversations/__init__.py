"""The conversations, one module per flow; `handlers.registry` lists them."""
