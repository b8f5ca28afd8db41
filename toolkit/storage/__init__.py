"""Where bytes live: one location parser and one `Store` protocol for local directories, local hub
directories, `hf://` repositories and fsspec URLs, with the transfer and cache code beneath them."""
