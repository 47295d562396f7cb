"""The bulletin: model, compiling, normalisation and renderings. Pure, no I/O."""
