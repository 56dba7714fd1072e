"""`python -m graphflow.server`: the same as `graphflow serve`."""

import argparse
import sys

from graphflow.server.cli import add_serve_arguments, serve

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m graphflow.server", description="Run the graphflow server.")
    add_serve_arguments(parser)
    sys.exit(serve(parser.parse_args()))
