"""The ``findimage`` command line: the one entry point that wires api and worker together."""
