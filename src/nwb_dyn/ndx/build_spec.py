"""Builder of the ``ndx-dyn`` extension spec: the source of truth for ``spec/ndx-dyn.*.yaml``.

Run ``python src/nwb_dyn/ndx/build_spec.py`` after changing a type; the generated YAML is checked in and shipped inside
the wheel (``nwb_dyn/spec``), and loaded when :mod:`nwb_dyn.ndx` is imported.
"""

from __future__ import annotations

from pathlib import Path

from pynwb.spec import NWBAttributeSpec, NWBDatasetSpec, NWBGroupSpec, NWBNamespaceBuilder

NAMESPACE = "ndx-dyn"
VERSION = "0.1.0"


def build_types() -> list[NWBGroupSpec]:
    """The extension's neurodata types, each inheriting a core type so NWB tools render it without nwb-dyn."""
    latent_series = NWBGroupSpec(
        neurodata_type_def="LatentSeries",
        neurodata_type_inc="TimeSeries",
        doc=(
            "Continuous latent state of a fitted dynamics model, time x latent dimension; trials are concatenated "
            "along time with timestamps on the source session's clock."
        ),
        datasets=[
            NWBDatasetSpec(
                name="data",
                dtype="float32",
                shape=[[None], [None, None]],
                dims=[["num_times"], ["num_times", "num_latents"]],
                doc="Latent values, (time, latent dimension).",
                attributes=[
                    NWBAttributeSpec(
                        name="unit", dtype="text", default_value="a.u.", doc="Latents are unitless.", required=False
                    )
                ],
            )
        ],
        attributes=[
            NWBAttributeSpec(
                name="estimate",
                dtype="text",
                doc="Which estimate these latents are: 'posterior_mean', 'filtering_mean', 'smoothed' or 'sample'.",
            )
        ],
    )
    dynamics_model = NWBGroupSpec(
        neurodata_type_def="DynamicsModel",
        neurodata_type_inc="NWBDataInterface",
        doc="A fitted dynamics model: its family, hyperparameters, weights, training summary and provenance.",
        attributes=[
            NWBAttributeSpec(name="family", dtype="text", doc="Model family, e.g. 'lowrank' or 'srnn'."),
            NWBAttributeSpec(name="hyperparameters", dtype="text", doc="Resolved fit configuration, JSON text."),
            NWBAttributeSpec(name="provenance", dtype="text", doc="Source identity, versions, seed, command, JSON."),
            NWBAttributeSpec(name="training_summary", dtype="text", doc="Epochs, objective and metrics, JSON text."),
        ],
    )
    return [latent_series, dynamics_model]


def write_spec(output_dir: Path) -> None:
    """Write ``ndx-dyn.namespace.yaml`` and ``ndx-dyn.extensions.yaml`` into ``output_dir``."""
    builder = NWBNamespaceBuilder(
        doc="Outputs of neural-dynamics models fitted by nwb-dyn: latents, discrete states, fixed points, models.",
        name=NAMESPACE,
        version=VERSION,
        author=["nwb-dyn developers"],
        contact=["nwb-dyn@users.noreply.github.com"],
    )
    builder.include_namespace("core")
    for spec in build_types():
        builder.add_spec(f"{NAMESPACE}.extensions.yaml", spec)
    output_dir.mkdir(parents=True, exist_ok=True)
    cwd = Path.cwd()
    try:
        import os

        os.chdir(output_dir)
        builder.export(f"{NAMESPACE}.namespace.yaml")
    finally:
        os.chdir(cwd)


if __name__ == "__main__":
    write_spec(Path(__file__).resolve().parents[3] / "spec")
