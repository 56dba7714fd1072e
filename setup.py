"""Package layout only (metadata is in pyproject.toml): `nodes/` installs as `graphflow_nodes`."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["graphflow", "graphflow.*"])
    + ["graphflow_nodes"]
    + [f"graphflow_nodes.{p}" for p in find_packages("nodes")],
    package_dir={"graphflow_nodes": "nodes"},
)
