"""The ``hch`` command's subcommands, one module a concern; ``cli.py`` assembles them."""
