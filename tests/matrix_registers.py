"""Role x route rows of the register import and export of every register (core pages and API)."""

from matrix import ALL, ASSET_WRITERS, Route
from matrix_scans import READERS as SCAN_READERS

# A valid small register of each kind, inside bureau "a" of the matrix world.
ASSETS_CSV = {
    "file": ("assets.csv", b"code,name,sector,department,owner\r\nMX-1,Matrix import,transport,a1,victim.a1\r\n")
}
VENDORS_CSV = {"file": ("vendors.csv", b"name,origin,country\r\nMatrix Vendor Co,domestic,CN\r\n")}
# A risk and a draft assessment of the world's asset in unit a1 (its owner owns the risk).
RISKS_CSV = {"file": ("risks.csv", b"asset,title,likelihood,impact\r\nA-IN,Matrix risk,3,4\r\n")}
ASSESSMENTS_CSV = {"file": ("assessments.csv", b"asset,kind,started_on\r\nA-IN,self_inspection,2025-01-06\r\n")}

ROUTES = [
    Route("registers.import_form", "GET", "/registers/import", ASSET_WRITERS),
    Route("registers.import_assets", "POST", "/registers/import/assets", ASSET_WRITERS, files=ASSETS_CSV),
    Route("registers.import_vendors", "POST", "/registers/import/vendors", ASSET_WRITERS, files=VENDORS_CSV),
    Route("registers.import_risks", "POST", "/registers/import/risks", ASSET_WRITERS, files=RISKS_CSV),
    Route(
        "registers.import_assessments", "POST", "/registers/import/assessments", ASSET_WRITERS, files=ASSESSMENTS_CSV
    ),
    Route("registers.export_assets", "GET", "/registers/export/assets?format=csv", ALL),
    Route("registers.export_risks", "GET", "/registers/export/risks?format=csv&status=live", ALL),
    Route("registers.export_assessments", "GET", "/registers/export/assessments?format=xlsx", ALL),
    Route("registers.export_vendors", "GET", "/registers/export/vendors?format=xlsx", ALL),
    Route(
        "registers.export_scan_findings", "GET", "/registers/export/scan_findings?format=csv&status=open", SCAN_READERS
    ),
    Route("registers.export_scans", "GET", "/registers/export/scans?format=xlsx", SCAN_READERS),
    Route("registers_api.assets_import", "POST", "/api/v1/assets/import", ASSET_WRITERS, files=ASSETS_CSV),
    Route(
        "registers_api.vendors_import", "POST", "/api/v1/vendors/import?partial=true", ASSET_WRITERS, files=VENDORS_CSV
    ),
    Route("registers_api.risks_import", "POST", "/api/v1/risks/import", ASSET_WRITERS, files=RISKS_CSV),
    Route(
        "registers_api.assessments_import", "POST", "/api/v1/assessments/import", ASSET_WRITERS, files=ASSESSMENTS_CSV
    ),
    Route("registers_api.assets_export", "GET", "/api/v1/assets/export?format=xlsx", ALL),
    Route("registers_api.risks_export", "GET", "/api/v1/risks/export?format=xlsx&level=high", ALL),
    Route("registers_api.assessments_export", "GET", "/api/v1/assessments/export?format=csv", ALL),
    Route("registers_api.vendors_export", "GET", "/api/v1/vendors/export?format=csv", ALL),
    Route("registers_api.scan_findings_export", "GET", "/api/v1/scan_findings/export?format=xlsx", SCAN_READERS),
    Route("registers_api.scans_export", "GET", "/api/v1/scans/export?format=csv&status=failed", SCAN_READERS),
]
