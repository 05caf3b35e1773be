"""Drawing a night's routes over the road network: a colour per nurse, visits by urgency."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")  # files only: the command line and the service have no display

import matplotlib.pyplot as plt
import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection

from geo.network import Network
from geo.snapping import chain_lines

__all__ = ["ATTRIBUTION", "URGENCY_STYLE", "plot_plan"]

#: ODbL asks for this wherever a map made from OSM data is shown.
ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"

#: Marker colour and size per urgency class; unknown classes are drawn as planned care.
URGENCY_STYLE: Mapping[str, tuple[str, float]] = {
    "acute": ("#d62728", 90.0),
    "urgent": ("#ff7f0e", 60.0),
    "soon": ("#bcbd22", 40.0),
    "planned": ("#1f77b4", 25.0),
}


def plot_plan(
    legs: gpd.GeoDataFrame,
    out: str | os.PathLike[str],
    *,
    network: Network | None = None,
    urgencies: Mapping[str, str] | None = None,
    title: str = "nachtroute",
) -> Path:
    """Draw ``legs`` (from :func:`geo.geometry.plan_legs`) to the image file ``out``."""
    target = Path(out)
    fig, ax = plt.subplots(figsize=(10, 10), dpi=110)
    try:
        if legs.empty:
            raise ValueError("the plan has no legs to draw")
        west, south, east, north = legs.total_bounds
        pad = max(east - west, north - south) * 0.08 + 0.002
        if network is not None:
            _draw_roads(ax, network, (west - pad, south - pad, east + pad, north + pad))
        colours = plt.get_cmap("tab10")
        for n, (nurse, rows) in enumerate(legs.groupby("nurse_id", sort=True)):
            colour = colours(n % 10)
            for line in rows.geometry:
                xy = np.asarray(line.coords)
                ax.plot(xy[:, 0], xy[:, 1], color=colour, linewidth=2.2, alpha=0.9)
            ax.plot([], [], color=colour, linewidth=2.2, label=f"nurse {nurse}")
        # Where each nurse starts (the team's base, or home): a black square.
        firsts = legs[legs["leg"] == 0]
        if not firsts.empty:
            xy = np.asarray([line.coords[0] for line in firsts.geometry])
            ax.scatter(xy[:, 0], xy[:, 1], s=70, marker="s", c="black", zorder=6, label="start")
        visits = legs[legs["visit_id"].notna()]
        for urgency, (marker_colour, size) in URGENCY_STYLE.items():
            chosen = [
                line.coords[-1]
                for line, visit in zip(visits.geometry, visits["visit_id"], strict=True)
                if (urgencies or {}).get(visit, "planned") == urgency
                or (urgency == "planned" and (urgencies or {}).get(visit) not in URGENCY_STYLE)
            ]
            if chosen:
                xy = np.asarray(chosen)
                ax.scatter(
                    xy[:, 0],
                    xy[:, 1],
                    s=size,
                    c=marker_colour,
                    edgecolors="black",
                    linewidths=0.6,
                    zorder=5,
                    label=urgency,
                )
        ax.set_xlim(west - pad, east + pad)
        ax.set_ylim(south - pad, north + pad)
        ax.set_aspect(1.0 / np.cos(np.radians((south + north) / 2)))
        ax.set_title(title)
        ax.legend(loc="upper right", fontsize=8)
        ax.text(
            0.99,
            0.01,
            ATTRIBUTION,
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
            color="#444444",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        fig.savefig(target, bbox_inches="tight")
    finally:
        plt.close(fig)
    return target


def _draw_roads(ax: Axes, network: Network, box: tuple[float, float, float, float]) -> None:
    """Grey road lines inside ``box`` (lon/lat), beneath the routes."""
    lines = chain_lines(network, "car")
    x0, y0 = network.project(np.array([box[1]]), np.array([box[0]]))
    x1, y1 = network.project(np.array([box[3]]), np.array([box[2]]))
    inside = shapely.STRtree(lines).query(shapely.box(x0[0], y0[0], x1[0], y1[0]))
    segments = []
    for line in lines[inside]:
        coords = shapely.get_coordinates(line)
        lat, lon = network.unproject(coords[:, 0], coords[:, 1])
        segments.append(np.column_stack([lon, lat]))
    ax.add_collection(LineCollection(segments, colors="#c8c8c8", linewidths=0.5, zorder=0))
