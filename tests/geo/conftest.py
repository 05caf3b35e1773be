"""Shared fixtures: the Porto network is imported once per test session into a tmp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo.network import DEMO_EXTRACT, Network, import_network

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory of this session's own, never the user's."""
    return tmp_path_factory.mktemp("nachtroute-data")


@pytest.fixture(scope="session")
def porto(data_dir: Path) -> Network:
    """The demo region's real network (Porto), imported once."""
    return import_network(DEMO_EXTRACT, name="porto", data_dir_path=data_dir)


@pytest.fixture(scope="session")
def testdorp(data_dir: Path) -> Network:
    """The fictional village with Dutch addresses."""
    return import_network(DATA / "fictional_addresses.osm", name="testdorp", data_dir_path=data_dir)
