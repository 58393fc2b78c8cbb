"""Speech and language providers behind small Protocols (see `base`)."""
