"""The asset and vendor registers as files: their columns, and the services that check, create,
undo and export them. The engine that reads, reports and writes is the core's (secgov.exchange)."""

from __future__ import annotations

from assets import services, vendors
from assets.codes import DATA_LEVEL, LIFECYCLE, MLPS_EXTENSION, VENDOR_ORIGIN
from assets.models import Asset, AssetControl, AssetGrade, Vendor
from assets.schemas import AssetCreate, AssetQuery, VendorCreate, VendorQuery
from secgov.codes import N_
from secgov.exchange import Column, Register
from secgov.models import AuditEntry, Responsibility

ASSETS = Register(
    name="assets",
    object_type="asset",
    title=N_("Assets"),
    columns=(
        Column("code", required=True),
        Column("name", required=True),
        Column("description"),
        Column("sector", required=True),
        Column("department", required=True),
        Column("owner", required=True),
        Column("mlps_level"),
        Column("mlps_filing_number"),
        Column("mlps_extensions", cell="list", choices=MLPS_EXTENSION.codes),
        Column("is_cii", cell="bool"),
        Column("classified", cell="bool"),
        Column("data_level", cell="lower", choices=DATA_LEVEL.codes),
        Column("lifecycle", cell="lower", choices=LIFECYCLE.codes),
        Column("network_targets"),  # the schema splits and checks the targets and ports
        Column("expected_ports"),
    ),
    schema=AssetCreate,
    key="code",
    check=services.check_assets,
    create=services.create_assets,
    undo=services.remove_imported,
    filters=AssetQuery,
    records=services.export_records,
    importers=services.WRITERS,
    release=(Asset, AssetControl, AssetGrade, Responsibility, AuditEntry),
    statistics=("asset", "asset_control", "asset_grade", "responsibility"),
)

VENDORS = Register(
    name="vendors",
    object_type="vendor",
    title=N_("Vendors"),
    columns=(
        Column("name", required=True),
        Column("origin", required=True, cell="lower", choices=VENDOR_ORIGIN.codes),
        Column("country", required=True),
        Column("confidentiality_agreement_on"),
        Column("department"),  # blank: the importer's own department
    ),
    schema=VendorCreate,
    key="name",
    check=lambda session, items, actor, _config: vendors.check_vendors(session, items, actor),
    create=lambda session, items, actor, _config: vendors.create_vendors(session, items, actor),
    undo=vendors.remove_imported,
    filters=VendorQuery,
    records=vendors.export_records,
    importers=services.WRITERS,
    release=(Vendor, AuditEntry),
)
