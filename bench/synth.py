"""Synthetic asset registers for the benchmark: realistic, reproducible CSV files.

Every asset gets a code BENCH-00001…, a sector and one of the demo city's departments that
fits it, an owner among the demo officers, an MLPS level 1–4 or none, loopback network
targets (127.x.y.z, so that nothing could ever scan another machine) and expected ports.
The same seed gives the same file, byte for byte.
"""

from __future__ import annotations

import csv
import io
import random

# The header of `python -m secgov import assets`, in the order of an export. A copy rather than an
# import of the app's list: the benchmark also writes registers for other checkouts (--tree), and
# the same seed must give the same bytes whichever code is installed.
COLUMNS = (
    "code",
    "name",
    "description",
    "sector",
    "department",
    "owner",
    "mlps_level",
    "mlps_filing_number",
    "mlps_extensions",
    "is_cii",
    "classified",
    "data_level",
    "lifecycle",
    "network_targets",
    "expected_ports",
)

# sector: (weight, demo departments that run such systems, kinds of system)
SECTORS: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    "transport": (
        18,
        ("transport", "transport-signal", "transport-metro"),
        ("交通信号控制机 Traffic signal controller", "公交调度平台 Bus dispatch platform",
         "地铁综合监控 Metro integrated supervision", "停车诱导系统 Parking guidance",
         "电子警察卡口 Enforcement camera site", "隧道监控系统 Tunnel monitoring"),
    ),
    "government": (
        16,
        ("egov", "egov-dc", "city"),
        ("政务服务平台 Government service portal", "电子证照库 Electronic licence store",
         "数据共享交换平台 Data exchange hub", "协同办公系统 Office automation",
         "12345热线系统 Citizen hotline"),
    ),
    "utilities": (
        12,
        ("water", "water-supply", "utilities"),
        ("供水SCADA站点 Water SCADA outstation", "泵站监控 Pumping station control",
         "管网漏损监测 Leak detection", "智慧照明控制器 Street lighting controller",
         "垃圾转运监管 Waste transfer monitoring"),
    ),
    "healthcare": (
        11,
        ("health", "health-hospital", "health-ems"),
        ("医院信息系统 Hospital information system", "影像归档系统 PACS", "急救调度系统 EMS dispatch",
         "电子病历系统 Electronic medical records", "检验信息系统 Laboratory information system"),
    ),
    "energy": (
        10,
        ("energy", "energy-grid"),
        ("配电自动化终端 Distribution automation terminal", "变电站监控 Substation monitoring",
         "燃气管网SCADA Gas network SCADA", "充电桩运营平台 EV charging platform"),
    ),
    "public_safety": (
        9,
        ("police",),
        ("视频监控汇聚平台 Video surveillance hub", "警务指挥系统 Police command system",
         "消防物联网 Fire IoT sensors", "应急广播系统 Emergency broadcasting"),
    ),
    "finance": (
        6,
        ("finance",),
        ("社保基金系统 Social insurance fund", "非税收入系统 Non-tax revenue system",
         "公积金管理系统 Housing fund system"),
    ),
    "telecom": (5, ("cyber", "egov-dc"), ("政务外网节点 Government network node", "城市物联网平台 City IoT platform")),
    "social_management": (
        5,
        ("city", "utilities"),
        ("网格化管理平台 Grid management platform", "城市运行中心 City operations centre"),
    ),
    "education": (3, ("egov",), ("教育云平台 Education cloud", "校园安防平台 Campus security platform")),
    "tourism": (3, ("egov",), ("智慧旅游平台 Smart tourism platform",)),
    "other": (2, ("city",), ("档案数字化系统 Records digitisation",)),
}  # fmt: skip

DISTRICTS = (
    "滨海区 Binhai",
    "东城区 Dongcheng",
    "西湖区 Xihu",
    "南港区 Nangang",
    "北岸区 Beian",
    "高新区 Hi-tech zone",
)

# Demo officers: the transport bureau's officer owns most transport systems, the city's officer the rest.
CITY_OFFICER = "officer"
TRANSPORT_OFFICER = "officer.transport"

LEVELS = (("1", 14), ("2", 38), ("3", 32), ("4", 6), ("", 10))  # "" = not graded
EXTENSIONS = {"transport": ("iot",), "utilities": ("ics", "iot"), "energy": ("ics",), "government": ("cloud",)}
PORT_SETS = {
    "utilities": ("502/tcp", "502/tcp 443/tcp", "20000/tcp 443/tcp"),
    "energy": ("2404/tcp", "102/tcp 443/tcp", "502/tcp"),
    "transport": ("443/tcp 161/udp", "443/tcp", "554/tcp 443/tcp"),
    "public_safety": ("554/tcp 443/tcp", "443/tcp 5060/udp"),
}
DEFAULT_PORTS = ("443/tcp", "443/tcp 80/tcp", "22/tcp 443/tcp", "8443/tcp", "443/tcp 3306/tcp")


def loopback(n: int) -> str:
    """The n-th loopback address (n ≥ 0) from 127.1.0.1 on, never .0 or .255 in the last byte."""
    block, host = divmod(n, 254)
    return f"127.{block // 256 + 1}.{block % 256}.{host + 1}"


def assets_csv(count: int, seed: int = 2026) -> bytes:
    """A UTF-8 CSV register of count assets, with the import's header."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    sectors = list(SECTORS)
    weights = [SECTORS[s][0] for s in sectors]
    levels = [lv for lv, _w in LEVELS]
    level_weights = [w for _lv, w in LEVELS]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for i in range(1, count + 1):
        sector = rng.choices(sectors, weights)[0]
        _weight, departments, kinds = SECTORS[sector]
        department = rng.choice(departments)
        kind = rng.choice(kinds)
        district = rng.choice(DISTRICTS)
        level = rng.choices(levels, level_weights)[0]
        filing = ""
        if level and level != "1" and rng.random() > 0.03:  # a few graded systems lack a filing number
            filing = f"33{rng.randint(1000, 9999)}-{rng.randint(10000, 99999)}-{level}{i:05d}"
        extensions = ""
        if level and sector in EXTENSIONS and rng.random() < 0.4:
            extensions = rng.choice(EXTENSIONS[sector])
        critical = sector in ("transport", "utilities", "energy", "healthcare", "public_safety", "finance")
        is_cii = critical and level in ("3", "4") and rng.random() < 0.55
        classified = sector in ("public_safety", "government") and rng.random() < 0.12
        if transport_owned := department.startswith("transport"):
            owner = TRANSPORT_OFFICER if rng.random() < 0.85 else CITY_OFFICER
        else:
            owner = CITY_OFFICER
        targets = [loopback(i)]
        if rng.random() < 0.08:
            targets.append(loopback(i + 1_000_000))
        if rng.random() < 0.03:
            targets.append(f"{loopback(i + 2_000_000).rsplit('.', 1)[0]}.0/30")
        writer.writerow(
            {
                "code": f"BENCH-{i:05d}",
                "name": f"{district} {kind.split(' ', 1)[0]} #{i:05d} {kind.split(' ', 1)[1]}",
                "description": f"{kind}, {district}. Synthetic record for the SecGov benchmark"
                + (" (transport bureau)." if transport_owned else "."),
                "sector": sector,
                "department": department,
                "owner": owner,
                "mlps_level": level,
                "mlps_filing_number": filing,
                "mlps_extensions": extensions,
                "is_cii": "true" if is_cii else "false",
                "classified": "true" if classified else "false",
                "data_level": rng.choices(("core", "important", "general"), (8, 30, 62))[0],
                "lifecycle": rng.choices(("planned", "building", "operational", "retired"), (4, 8, 82, 6))[0],
                "network_targets": " ".join(targets),
                "expected_ports": rng.choice(PORT_SETS.get(sector, DEFAULT_PORTS)),
            }
        )
    return out.getvalue().encode("utf-8")
