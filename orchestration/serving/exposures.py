"""The dashboard's pages in Dagster's lineage: one external asset per dbt exposure.

dagster-dbt loads models, seeds and tests but not exposures; each dashboard exposure of the dbt
project (models/marts/_dashboard__exposures.yml) becomes an asset ``dashboard/<page>`` that
Dagster shows but never materialises, downstream of the marts it reads and of
``published/marts`` (the copy it reads them from).
"""

from pathlib import Path

import dagster as dg
from dagster_dbt.dbt_manifest import validate_manifest

from orchestration.dbt.assets import translator
from orchestration.serving.assets import PUBLISHED_KEY


def dashboard_specs(manifest_path: Path) -> list[dg.AssetSpec]:
    # dagster-dbt's cached parse: the dbt assets have already read this manifest at import
    manifest = validate_manifest(Path(manifest_path))
    specs = []
    for exposure in sorted(manifest.get("exposures", {}).values(), key=lambda e: e["name"]):
        if exposure["type"] != "dashboard":
            continue
        reads = [translator.get_asset_key(manifest["nodes"][uid]) for uid in exposure["depends_on"]["nodes"]]
        specs.append(
            dg.AssetSpec(
                key=dg.AssetKey(["dashboard", exposure["name"].removeprefix("dashboard_")]),
                deps=[PUBLISHED_KEY, *reads],
                description=exposure.get("description"),
                group_name="dashboard",
                kinds={"streamlit"},
                metadata={
                    "url": dg.MetadataValue.url(exposure["url"]),
                    "reads": ", ".join(k.to_user_string() for k in reads),
                    "dbt_exposure": exposure["unique_id"],
                },
            )
        )
    return specs
